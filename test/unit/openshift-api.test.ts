// The operator against OpenShift's real API semantics: requests addressed by
// plural (never a kind lookup), the cancel and import requests `oc` makes, and
// the comparison that sends nothing when the server merely omitted empty fields.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOmittedWhenEmpty, isSubset, KubeWriter } from '../../src/kube/client.ts';
import { dockerImageTag } from '../../src/plan/streams.ts';

interface Seen {
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
}

describe('KubeWriter: every request names its resource by plural', () => {
  const seen: Seen[] = [];
  let server: http.Server;
  let writer: KubeWriter;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString('utf8')));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        let body: unknown = data;
        try {
          body = JSON.parse(data);
        } catch {
          // not JSON
        }
        seen.push({ method: req.method ?? '', path: url.pathname, contentType: req.headers['content-type'], body });
        const taken = (body as { metadata?: { name?: string } } | undefined)?.metadata?.name === 'taken';
        const status = url.pathname.endsWith('/builds/gone') ? 404 : taken ? 409 : req.method === 'POST' ? 201 : 200;
        res.writeHead(status, { 'Content-Type': 'application/json' });
        if (url.pathname.endsWith('/imagestreamimports')) {
          res.end(JSON.stringify({ kind: 'ImageStreamImport', status: { images: [{ status: { status: 'Failure', reason: 'NotFound', message: 'manifest unknown' } }] } }));
        } else {
          res.end(JSON.stringify(status >= 400 ? { kind: 'Status', code: status, message: 'x' } : (body ?? {})));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser({ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }, { name: 'u', token: 't' });
    writer = new KubeWriter(kc, 'ns');
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const last = () => seen[seen.length - 1]!;

  it('creates a Build with POST .../builds (never buildconfigs/webhooks); AlreadyExists is false', async () => {
    const b = { apiVersion: 'build.openshift.io/v1', kind: 'Build', metadata: { name: 'b1', namespace: 'ns' }, spec: {} };
    expect(await writer.createBuild(b)).toBe(true);
    expect(last()).toMatchObject({ method: 'POST', path: '/apis/build.openshift.io/v1/namespaces/ns/builds', body: b });
    expect(await writer.createBuild({ ...b, metadata: { name: 'taken', namespace: 'ns' } })).toBe(false);
  });

  it('cancels with a merge PATCH of status.cancelled on the Build itself (no builds/status)', async () => {
    await writer.cancelBuild('b1');
    expect(last()).toMatchObject({
      method: 'PATCH',
      path: '/apis/build.openshift.io/v1/namespaces/ns/builds/b1',
      contentType: 'application/merge-patch+json',
      body: { status: { cancelled: true } },
    });
    await writer.cancelBuild('gone'); // a Build that is gone has nothing to cancel
    expect(last().path).toBe('/apis/build.openshift.io/v1/namespaces/ns/builds/gone');
  });

  it('server-side applies streams, BuildConfigs and the pool by plural', async () => {
    const is = { apiVersion: 'image.openshift.io/v1', kind: 'ImageStream', metadata: { name: 'w-base', namespace: 'ns' }, spec: { tags: [] } };
    await writer.apply(is);
    expect(last()).toMatchObject({ method: 'PATCH', path: '/apis/image.openshift.io/v1/namespaces/ns/imagestreams/w-base', contentType: 'application/apply-patch+yaml' });
    await writer.apply({ apiVersion: 'build.openshift.io/v1', kind: 'BuildConfig', metadata: { name: 'w-bc', namespace: 'ns' } });
    expect(last().path).toBe('/apis/build.openshift.io/v1/namespaces/ns/buildconfigs/w-bc');
    await writer.applyPool('worker', { annotations: { a: 'b' }, paused: true });
    expect(last()).toMatchObject({ method: 'PATCH', path: '/apis/machineconfiguration.openshift.io/v1/machineconfigpools/worker', contentType: 'application/apply-patch+yaml' });
    await writer.createIfAbsent({ apiVersion: 'build.openshift.io/v1', kind: 'BuildConfig', metadata: { name: 'w-custom', namespace: 'ns' } });
    expect(last()).toMatchObject({ method: 'POST', path: '/apis/build.openshift.io/v1/namespaces/ns/buildconfigs' });
    await expect(writer.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } })).rejects.toThrow(/no resource known for v1 Pod/);
  });

  it('re-requests an import with POST .../imagestreamimports and reads the per-image result', async () => {
    const body = { apiVersion: 'image.openshift.io/v1', kind: 'ImageStreamImport', metadata: { name: 'coreos', namespace: 'ns' }, spec: { import: true, images: [] } };
    const r = await writer.importImage(body);
    expect(last()).toMatchObject({ method: 'POST', path: '/apis/image.openshift.io/v1/namespaces/ns/imagestreamimports', body });
    expect(r).toEqual([{ status: 'Failure', reason: 'NotFound', message: 'manifest unknown' }]);
  });
});

describe('KubeWriter.imageArchitecture', () => {
  let server: http.Server;
  let writer: KubeWriter;
  const paths: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      paths.push(url.pathname);
      const name = decodeURIComponent(url.pathname.split('/').at(-1)!);
      const arch = ({ 'b@sha256:1': 'arm64', 'b@sha256:3': 'amd64\nRUN x' } as Record<string, string>)[name];
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'ImageStreamImage', image: { metadata: { name: 'sha256:x' }, dockerImageMetadata: { kind: 'DockerImage', apiVersion: 'image.openshift.io/1.0', ...(arch ? { Architecture: arch } : {}) } } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser({ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }, { name: 'u', token: 't' });
    writer = new KubeWriter(kc, 'ns');
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads what OpenShift recorded at import: GET .../imagestreamimages/<stream>@<digest>', async () => {
    expect(await writer.imageArchitecture('b', 'sha256:1')).toBe('arm64');
    expect(decodeURIComponent(paths.at(-1)!)).toBe('/apis/image.openshift.io/v1/namespaces/ns/imagestreamimages/b@sha256:1');
    expect(await writer.imageArchitecture('b', 'sha256:2')).toBe(''); // none recorded
  });

  it('refuses an architecture that is not a node label value (it becomes a nodeSelector)', async () => {
    await expect(writer.imageArchitecture('b', 'sha256:3')).rejects.toThrow(/not a node label value/);
  });
});

describe('isSubset: fields openshift/api omits when false or empty', () => {
  it('treats false, "", 0, [], {} and maps of them as equal to absent or null', () => {
    for (const v of [false, '', 0, [], {}, { scheduled: false, insecure: false }, { a: [] }]) expect(isOmittedWhenEmpty(v)).toBe(true);
    for (const v of [true, 'x', 1, [0], { a: true }]) expect(isOmittedWhenEmpty(v)).toBe(false);
  });
  it('a stream tag, as the server returns it, matches what was sent', () => {
    const sent = { spec: { tags: [dockerImageTag('latest', 'quay.io/x/y@sha256:' + 'a'.repeat(64))] } };
    const stored = {
      spec: {
        tags: [{ name: 'latest', from: { kind: 'DockerImage', name: 'quay.io/x/y@sha256:' + 'a'.repeat(64) }, importPolicy: { importMode: 'Legacy' }, referencePolicy: { type: 'Source' }, generation: 2, annotations: null }],
      },
    };
    expect(isSubset(sent, stored)).toBe(true);
    expect(isSubset({ spec: { tags: [{ ...sent.spec.tags[0]!, importPolicy: { scheduled: true } }] } }, stored)).toBe(false);
  });
  it('a BuildConfig, as the server returns it, matches what was sent', () => {
    const sent = { spec: { runPolicy: 'Serial', triggers: [], strategy: { type: 'Docker', dockerStrategy: { noCache: false, forcePull: false } }, source: { type: 'Dockerfile', dockerfile: 'FROM x\n' } } };
    const stored = { spec: { runPolicy: 'Serial', strategy: { type: 'Docker', dockerStrategy: {} }, source: { type: 'Dockerfile', dockerfile: 'FROM x\n' }, successfulBuildsHistoryLimit: 5 } };
    expect(isSubset(sent, stored)).toBe(true);
    expect(isSubset({ spec: { ...sent.spec, triggers: null } }, { spec: { ...stored.spec, triggers: [] } })).toBe(true);
    expect(isSubset(sent, { spec: { ...stored.spec, strategy: { type: 'Docker', dockerStrategy: { noCache: true } } } })).toBe(false);
    expect(isSubset(sent, { spec: { ...stored.spec, triggers: [{ type: 'ConfigChange' }] } })).toBe(false);
  });
});
