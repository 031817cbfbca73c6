// The rendered-config push against a registry that behaves like OpenShift's
// integrated one: bearer flow on /openshift/token with Basic unused:<token>,
// push by tag, nothing sent when the tag already names the digest.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.ts';
import { buildScratchImage } from '../../src/registry/scratch-image.ts';

const SA_TOKEN = 'sa-token-value';
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('RegistryClient.pushImage by tag, with the ServiceAccount token', () => {
  const log: string[] = [];
  const blobs = new Map<string, Buffer>();
  const tags = new Map<string, string>(); // repo:tag -> digest
  const manifests = new Map<string, Buffer>();
  let server: http.Server;
  let host: string;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', `http://${host}`);
        const body = Buffer.concat(chunks);
        if (url.pathname === '/openshift/token') {
          const auth = req.headers.authorization ?? '';
          const ok = auth === 'Basic ' + Buffer.from(`unused:${SA_TOKEN}`).toString('base64');
          log.push(`GET /openshift/token ${ok ? 'sa' : 'other'} ${url.searchParams.getAll('scope').join(' ')}`);
          res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' });
          res.end(ok ? JSON.stringify({ token: 'registry-token' }) : '{}');
          return;
        }
        if (req.headers.authorization !== 'Bearer registry-token') {
          res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${host}/openshift/token"` });
          res.end();
          return;
        }
        log.push(`${req.method} ${url.pathname}`);
        const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
        if (req.method === 'HEAD' && m?.[2] === 'manifests') {
          const d = m[3]!.startsWith('sha256:') ? (manifests.has(m[3]!) ? m[3] : undefined) : tags.get(`${m[1]}:${m[3]}`);
          res.writeHead(d ? 200 : 404, d ? { 'Docker-Content-Digest': d } : {});
          res.end();
          return;
        }
        if (req.method === 'HEAD' && m?.[2] === 'blobs') {
          res.writeHead(blobs.has(m[3]!) ? 200 : 404);
          res.end();
          return;
        }
        if (req.method === 'POST' && url.pathname.endsWith('/blobs/uploads/')) {
          res.writeHead(202, { Location: `/upload/${Math.random()}` });
          res.end();
          return;
        }
        if (req.method === 'PUT' && url.pathname.startsWith('/upload/')) {
          blobs.set(url.searchParams.get('digest')!, body);
          res.writeHead(201);
          res.end();
          return;
        }
        if (req.method === 'PUT' && m?.[2] === 'manifests') {
          const d = sha(body);
          manifests.set(d, body);
          if (!m[3]!.startsWith('sha256:')) tags.set(`${m[1]}:${m[3]}`, d);
          res.writeHead(201, { 'Docker-Content-Digest': d });
          res.end();
          return;
        }
        res.writeHead(404);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const image = buildScratchImage({ name: 'rendered-worker-1', machineConfig: { spec: { config: { ignition: { version: '3.4.0' } } } } });
  const repo = 'ns/worker-rendered-config';
  const tag = image.manifestDigest.replace(':', '-');

  it('gets a token with Basic unused:<ServiceAccount token>, pushes blobs and the manifest under each tag', async () => {
    const c = new RegistryClient({ registry: host, insecure: true, serviceAccountToken: SA_TOKEN });
    const r = await c.pushImage(repo, image, [tag, 'latest']);
    c.close();
    expect(r).toMatchObject({ digest: image.manifestDigest, pushed: true });
    expect(log[0]).toMatch(/^GET \/openshift\/token sa repository:ns\/worker-rendered-config:pull$/);
    expect(log.filter((l) => l.startsWith('PUT /v2/'))).toEqual([`PUT /v2/${repo}/manifests/${tag}`, `PUT /v2/${repo}/manifests/latest`]);
    expect(log.some((l) => l.includes(`/manifests/${image.manifestDigest}`) && l.startsWith('PUT'))).toBe(false);
    expect(tags.get(`${repo}:${tag}`)).toBe(image.manifestDigest);
  });

  it('HEADs the tags first and sends nothing when they already name the digest', async () => {
    log.length = 0;
    const c = new RegistryClient({ registry: host, insecure: true, serviceAccountToken: SA_TOKEN });
    const r = await c.pushImage(repo, image, [tag, 'latest']);
    c.close();
    expect(r).toEqual({ digest: image.manifestDigest, pushed: false, bytes: 0 });
    expect(log.filter((l) => !l.startsWith('GET /openshift/token'))).toEqual([`HEAD /v2/${repo}/manifests/${tag}`, `HEAD /v2/${repo}/manifests/latest`]);
  });

  it('moves only a tag that names another digest (no blob upload)', async () => {
    tags.set(`${repo}:latest`, 'sha256:' + '0'.repeat(64));
    log.length = 0;
    const c = new RegistryClient({ registry: host, insecure: true, serviceAccountToken: SA_TOKEN });
    await c.pushImage(repo, image, [tag, 'latest']);
    c.close();
    expect(log.filter((l) => l.startsWith('PUT') || l.startsWith('POST'))).toEqual([`PUT /v2/${repo}/manifests/latest`]);
  });

  it('never sends the ServiceAccount token to a realm on another origin', async () => {
    const other = http.createServer((req, res) => {
      log.push(`other ${req.headers.authorization ?? 'none'}`);
      res.writeHead(401);
      res.end();
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const realm = `http://127.0.0.1:${(other.address() as AddressInfo).port}/token`;
    const reg = http.createServer((_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}"` });
      res.end();
    });
    await new Promise<void>((r) => reg.listen(0, '127.0.0.1', r));
    log.length = 0;
    const c = new RegistryClient({ registry: `127.0.0.1:${(reg.address() as AddressInfo).port}`, insecure: true, serviceAccountToken: SA_TOKEN });
    await expect(c.pushImage(repo, image, [tag])).rejects.toThrow(/requires credentials/);
    c.close();
    expect(log).toEqual(['other none']);
    await new Promise<void>((r) => other.close(() => r()));
    await new Promise<void>((r) => reg.close(() => r()));
  });
});
