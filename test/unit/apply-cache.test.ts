// The server-side-apply request cache: an identical apply to an object still
// at the resourceVersion the server returned for it is not sent again; a new
// body, a moved resourceVersion, or a failed apply sends it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplyCache, requestHash } from '../../src/kube/apply-cache.ts';
import { KubeWriter } from '../../src/kube/client.ts';
import { RESOURCES } from '../../src/kube/types.ts';

describe('ApplyCache', () => {
  const t = { group: 'image.openshift.io', plural: 'imagestreams', namespace: 'ns', name: 'a' };
  it('answers only the same request at the same resourceVersion', () => {
    const c = new ApplyCache();
    const h = requestHash({ b: 1, a: [1, 2] });
    expect(requestHash({ a: [1, 2], b: 1 })).toBe(h); // key order does not matter
    expect(requestHash({ a: [2, 1], b: 1 })).not.toBe(h);
    expect(c.has(t, h, '5')).toBe(false);
    c.add(t, h, '5');
    expect(c.has(t, h, '5')).toBe(true);
    expect(c.has(t, h, '6')).toBe(false); // someone else changed the object
    expect(c.has(t, h, undefined)).toBe(false); // not in the informer cache (deleted, or not seen yet)
    expect(c.has(t, requestHash({ other: true }), '5')).toBe(false);
    expect(c.has({ ...t, subresource: 'status' }, h, '5')).toBe(false); // the status is another target
    c.forget(t);
    expect(c.has(t, h, '5')).toBe(false);
    expect([c.hits, c.misses]).toEqual([1, 6]);
  });

  it('keeps one entry per object and at most maxEntries', () => {
    const c = new ApplyCache(2);
    for (let i = 0; i < 5; i++) c.add(t, requestHash(i), String(i)); // the same object: one entry, the newest
    expect(c.size).toBe(1);
    expect(c.has(t, requestHash(4), '4')).toBe(true);
    for (const n of ['b', 'c', 'd']) c.add({ ...t, name: n }, 'h', '1');
    expect(c.size).toBe(2);
    expect(c.has({ ...t, name: 'd' }, 'h', '1')).toBe(true);
  });
});

describe('KubeWriter with the apply cache', () => {
  const requests: { method: string; path: string }[] = [];
  let rv = 100;
  let failNext = false;
  const versions = new Map<string, string>(); // what the "informer" holds: path -> resourceVersion
  let server: http.Server;
  let writer: KubeWriter;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString('utf8')));
      req.on('end', () => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        requests.push({ method: req.method ?? '', path });
        if (failNext) {
          failNext = false;
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', code: 500, message: 'boom' }));
          return;
        }
        const body = JSON.parse(data) as { metadata: Record<string, unknown> };
        const v = String(++rv);
        versions.set(path.replace(/\/status$/, ''), v);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ ...body, metadata: { ...body.metadata, resourceVersion: v } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser({ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }, { name: 'u', token: 't' });
    writer = new KubeWriter(kc, 'ns', undefined, {
      currentVersion: (r, name, namespace) => versions.get(`/apis/${r.group}/${r.version}/${namespace ? `namespaces/${namespace}/` : ''}${r.plural}/${name}`),
    });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const stream = (tag: string) => ({ apiVersion: 'image.openshift.io/v1', kind: 'ImageStream', metadata: { name: 'w-base', namespace: 'ns' }, spec: { tags: [{ name: tag }] } });

  it('sends an apply once, again only for a new body or a moved resourceVersion', async () => {
    const n0 = requests.length;
    expect(await writer.apply(stream('latest'))).toBe(true);
    expect(writer.applyIsCached(stream('latest'))).toBe(true);
    expect(await writer.apply(stream('latest'))).toBe(false);
    expect(requests.length - n0).toBe(1);
    expect(await writer.apply(stream('other'))).toBe(true); // another body
    expect(await writer.apply(stream('other'))).toBe(false);
    versions.set('/apis/image.openshift.io/v1/namespaces/ns/imagestreams/w-base', '1'); // an admin edited it
    expect(await writer.apply(stream('other'))).toBe(true);
    expect(requests.length - n0).toBe(3);
    expect(writer.applies).toMatchObject({ sent: 3, skipped: 2 });
  });

  it('a failed apply is sent again next time', async () => {
    const mc = { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: '99-w-layered-image' }, spec: { osImageURL: 'x@sha256:1' } };
    expect(await writer.apply(mc)).toBe(true);
    versions.set('/apis/machineconfiguration.openshift.io/v1/machineconfigs/99-w-layered-image', '7');
    failNext = true;
    await expect(writer.apply(mc)).rejects.toThrow();
    versions.set('/apis/machineconfiguration.openshift.io/v1/machineconfigs/99-w-layered-image', String(rv));
    expect(await writer.apply(mc)).toBe(true); // the failure was forgotten, not cached
  });

  it('status applies: the same status at the same resourceVersion is not written again', async () => {
    const n0 = requests.length;
    const status = { phase: 'Building', conditions: [{ type: 'Ready', status: 'False', reason: 'Building', message: 'content build w-1 runs' }] };
    for (let i = 0; i < 5; i++) await writer.applyStatus(RESOURCES.layeredPool, 'w', status);
    expect(requests.slice(n0).map((r) => `${r.method} ${r.path}`)).toEqual([`PATCH /apis/layering.mco.dev/v1alpha1/namespaces/ns/layeredpools/w/status`]);
    expect(await writer.applyStatus(RESOURCES.layeredPool, 'w', { ...status, phase: 'Idle' })).toBe(true);
  });

  it('without currentVersion every apply is sent', async () => {
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser({ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }, { name: 'u', token: 't' });
    const plain = new KubeWriter(kc, 'ns');
    const n0 = requests.length;
    expect(await plain.apply(stream('latest'))).toBe(true);
    expect(plain.applyIsCached(stream('latest'))).toBe(false);
    expect(await plain.apply(stream('latest'))).toBe(true);
    expect(requests.length - n0).toBe(2);
  });
});
