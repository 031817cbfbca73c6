// Long-lived registry clients: one per registry and credentials, reused across
// pushes; and the bound on registry operations in flight across pools.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.ts';
import { clientKey, RegistryClients } from '../../src/registry/clients.ts';
import { createHash } from 'node:crypto';
import { buildScratchImage } from '../../src/registry/scratch-image.ts';

describe('RegistryClients', () => {
  it('gives the same client for the same registry and credentials, a new one for new credentials', () => {
    const made: RegistryClient[] = [];
    const rc = new RegistryClients({ maxClients: 2, create: (o) => (made.push(new RegistryClient(o)), made[made.length - 1]!) });
    const a = rc.client({ registry: 'r.example:5000', serviceAccountToken: 't1' });
    expect(rc.client({ registry: 'r.example:5000', serviceAccountToken: 't1' })).toBe(a);
    const b = rc.client({ registry: 'r.example:5000', serviceAccountToken: 't2' }); // a rotated token
    expect(b).not.toBe(a);
    rc.client({ registry: 'other.example' });
    expect(rc.clientsMade).toBe(3);
    // a (least recently used) was closed and dropped: asking again makes a new one
    expect(rc.client({ registry: 'r.example:5000', serviceAccountToken: 't1' })).not.toBe(a);
    rc.close();
  });

  it('keys hold no credential in clear', () => {
    const k = clientKey({ registry: 'r', dockerConfigJson: '{"auths":{"r":{"auth":"c2VjcmV0"}}}', serviceAccountToken: 'sekrit' });
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(k).not.toContain('sekrit');
  });

  it('runs at most `concurrency` operations at once, all of them eventually', async () => {
    const rc = new RegistryClients({ concurrency: 3 });
    let running = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const ops = Array.from({ length: 10 }, (_, i) =>
      rc.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => gates.push(r));
        running--;
        return i;
      }),
    );
    // release them one by one as they start
    while (gates.length || rc.pending.running || rc.pending.waiting) {
      await new Promise((r) => setImmediate(r));
      gates.shift()?.();
    }
    expect(await Promise.all(ops)).toEqual([...Array(10).keys()]);
    expect(peak).toBe(3);
  });
});

describe('RegistryClients against a registry: pushes share connections', () => {
  let server: http.Server;
  let connections = 0;
  const blobs = new Set<string>();
  beforeAll(async () => {
    // A minimal distribution API: blob HEAD/upload, manifest PUT. Every answer
    // has a Content-Length, as a real registry's (without one Node closes the
    // connection after a HEAD).
    server = http.createServer((req, res) => {
      const writeHead = res.writeHead.bind(res) as (s: number, h?: Record<string, string>) => http.ServerResponse;
      res.writeHead = ((s: number, h: Record<string, string> = {}) => writeHead(s, { 'Content-Length': '0', ...h })) as typeof res.writeHead;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        const m = /^\/v2\/(.+)\/(blobs|manifests)\/(.+)$/.exec(url.pathname);
        if (req.method === 'HEAD' && m?.[2] === 'blobs') {
          res.writeHead(blobs.has(m[3]!) ? 200 : 404).end();
        } else if (req.method === 'POST' && /\/blobs\/uploads\/$/.test(url.pathname)) {
          res.writeHead(202, { Location: `${url.pathname}u1` }).end();
        } else if (req.method === 'PUT' && url.pathname.includes('/blobs/uploads/')) {
          blobs.add(url.searchParams.get('digest') ?? '');
          res.writeHead(201).end();
        } else if (req.method === 'HEAD' && m?.[2] === 'manifests') {
          res.writeHead(404).end();
        } else if (req.method === 'PUT' && m?.[2] === 'manifests') {
          res.writeHead(201, { 'Docker-Content-Digest': 'sha256:' + createHash('sha256').update(Buffer.concat(chunks)).digest('hex') }).end();
        } else {
          res.writeHead(404).end();
        }
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('20 pushes through one long-lived client open far fewer connections than one client per push', async () => {
    const registry = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const images = Array.from({ length: 20 }, (_, i) => buildScratchImage({ machineConfig: { spec: { config: { ignition: { version: '3.5.0' }, n: i } } } }));
    const rc = new RegistryClients({ concurrency: 2 });
    connections = 0;
    await Promise.all(images.map((img, i) => rc.run(() => rc.client({ registry, insecure: true }).pushImage(`ns/p${i}`, img, ['t']))));
    const shared = connections;
    rc.close();
    connections = 0;
    for (const [i, img] of images.entries()) {
      const c = new RegistryClient({ registry, insecure: true });
      await c.pushImage(`ns/q${i}`, img, ['t']);
      c.close();
    }
    expect(rc.clientsMade).toBe(1);
    expect(shared).toBeLessThanOrEqual(2);
    expect(connections).toBeGreaterThanOrEqual(20);
  });
});
