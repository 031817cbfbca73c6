import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryReader } from '../../src/registry/reader.ts';

// A plain-http registry serving one manifest: where an external image (tagged in with
// `oc tag --insecure`) may live, other than the operator's own --registry.
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 },
    layers: [],
  }),
);
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
let server: Server;
let host: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === `/v2/external/content/manifests/${digest}`) {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': digest });
      res.end(manifest);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  host = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('RegistryReader and --insecure-registries', () => {
  it('reads an image of another registry over plain http when that registry is listed as insecure', async () => {
    const reader = new RegistryReader({ registry: 'image-registry.example:5000', insecure: true, insecureRegistries: [host], timeoutMs: 5000 });
    try {
      const m = await reader.manifest(`${host}/external/content@${digest}`);
      expect(JSON.stringify(m)).toContain('application/vnd.oci.image.config.v1+json');
    } finally {
      reader.close();
    }
  });

  it('does not: TLS for another registry not listed (--registry-insecure is for the own registry only)', async () => {
    const reader = new RegistryReader({ registry: 'image-registry.example:5000', insecure: true, timeoutMs: 5000 });
    try {
      await expect(reader.manifest(`${host}/external/content@${digest}`)).rejects.toThrow(/TLS|plain http|EPROTO/);
    } finally {
      reader.close();
    }
  });
});
