import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { expectedFiles } from '../../src/plan/ignition-files.ts';
import type { ImageCheckRequest } from '../../src/plan/image-check.ts';
import { imageCheckKey } from '../../src/plan/image-check.ts';
import { RegistryError } from '../../src/registry/client.ts';
import { checkImage, ImageCheckCache } from '../../src/registry/image-checker.ts';
import { resolveParents } from '../../src/registry/layer-files.ts';
import type { ImageManifest, ImageSource } from '../../src/registry/reader.ts';

type Entry = { name: string; data?: string; mode?: number; type?: '0' | '5' | '1' | '2'; link?: string };

/** A real ustar archive. */
function tar(entries: Entry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '', 'utf8');
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 'utf8');
    h.write(`${(e.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100, 'ascii');
    h.write('0000000\0', 108, 'ascii');
    h.write('0000000\0', 116, 'ascii');
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
    h.write('00000000000\0', 136, 'ascii');
    h.fill(0x20, 148, 156);
    h.write(e.type ?? '0', 156, 'ascii');
    if (e.link) h.write(e.link, 157, 'utf8');
    h.write('ustar\0', 257, 'ascii');
    h.write('00', 263, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    out.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An in-memory registry serving images built from real layer bytes. */
class FakeRegistry implements ImageSource {
  blobs = new Map<string, Buffer>();
  manifests = new Map<string, ImageManifest>();
  missing = new Set<string>();
  down = false;
  calls = 0;
  /** An image of `layers`; its config by default as a derived bootable image has it (labels of the base, whose last layer is the first). */
  image(ref: string, layers: Buffer[], cfg: Record<string, unknown> = bootableConfig(layers)): string {
    const config = Buffer.from(JSON.stringify(cfg));
    for (const b of [config, ...layers]) this.blobs.set(sha(b), b);
    const m: ImageManifest = { schemaVersion: 2, config: { digest: sha(config), size: config.length }, layers: layers.map((l) => ({ digest: sha(l), size: l.length })) };
    const digest = sha(Buffer.from(JSON.stringify(m)));
    this.manifests.set(`${ref}@${digest}`, m);
    return `${ref}@${digest}`;
  }
  async manifest(ref: string): Promise<ImageManifest> {
    this.calls++;
    if (this.down) throw new RegistryError('Unreachable', 'reg', 'registry reg is unreachable (ECONNREFUSED)');
    const m = this.manifests.get(ref);
    if (!m) throw new RegistryError('NotFound', 'reg', `no manifest ${ref}`);
    return m;
  }
  async blobExists(_ref: string, digest: string): Promise<boolean> {
    return this.blobs.has(digest) && !this.missing.has(digest);
  }
  async blob(_ref: string, digest: string): Promise<Buffer> {
    return this.blobs.get(digest)!;
  }
}

/** diff_id: the digest of the uncompressed layer. */
const diffId = (l: Buffer) => sha(l[0] === 0x1f && l[1] === 0x8b ? gunzipSync(l) : l);
function bootableConfig(layers: Buffer[], o: { arch?: string; labels?: Record<string, string> } = {}): Record<string, unknown> {
  const diffIds = layers.map(diffId);
  return {
    architecture: o.arch ?? 'amd64',
    os: 'linux',
    config: { Labels: o.labels ?? { 'ostree.bootable': 'true', 'containers.bootc': '1', 'ostree.final-diffid': diffIds[0]! } },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
}

const ignition = {
  ignition: { version: '3.4.0' },
  storage: {
    files: [
      { path: '/etc/motd', mode: 0o644, contents: { source: 'data:,Hello%20layered%0A' } },
      { path: '/etc/secret.conf', mode: 0o600, contents: { source: 'data:;base64,' + Buffer.from('max=42\n').toString('base64') } },
    ],
  },
};

function setup(buildLayers: Entry[][], config?: (layers: Buffer[]) => Record<string, unknown>, baseEntries: Entry[] = []) {
  const reg = new FakeRegistry();
  const baseLayer = gzipSync(tar([{ name: 'usr/bin/sh', data: '#!' }, { name: 'etc/motd', data: 'base motd' }, ...baseEntries]));
  const base = reg.image('reg/ns/worker-base', [baseLayer]);
  const layers = [baseLayer, ...buildLayers.map((l) => gzipSync(tar(l)))];
  const image = reg.image('reg/ns/worker-mco-content', layers, config?.(layers));
  const files = expectedFiles(ignition);
  if (!files.ok) throw new Error(files.message);
  const r = { image, digest: image.split('@')[1]!, base, files: files.files, maxImageSize: 1024 ** 3 };
  const req: ImageCheckRequest = { key: imageCheckKey(r), ...r };
  return { reg, req };
}

const good: Entry[] = [
  { name: 'etc/', type: '5', mode: 0o755 },
  { name: 'etc/motd', data: 'Hello layered\n' },
  { name: './etc/secret.conf', data: 'max=42\n', mode: 0o600 },
];

describe('checkImage against real gzip tar layers', () => {
  it('passes an image whose added layers hold every file with its content and mode', async () => {
    const { reg, req } = setup([good]);
    expect(await checkImage(req, reg)).toEqual({ result: 'passed', sizeBytes: expect.any(Number), addedLayers: 1, files: 2 });
  });
  it('names a file missing from the added layers (a base copy does not count)', async () => {
    const { reg, req } = setup([[{ name: 'etc/secret.conf', data: 'max=42\n', mode: 0o600 }]]);
    const r = await checkImage(req, reg);
    expect(r).toEqual({ result: 'failed', message: 'file /etc/motd of the MachineConfig is not in the 1 layer(s) the build added above the base' });
  });
  it('names wrong content and wrong mode', async () => {
    const content = await checkImage(setup([[...good.slice(0, 2), { name: 'etc/secret.conf', data: 'max=1\n', mode: 0o600 }]]).req, setup([[...good.slice(0, 2), { name: 'etc/secret.conf', data: 'max=1\n', mode: 0o600 }]]).reg);
    expect(content.result === 'failed' && content.message).toMatch(/^file \/etc\/secret.conf differs from the MachineConfig's content/);
    const s = setup([[...good.slice(0, 2), { name: 'etc/secret.conf', data: 'max=42\n', mode: 0o644 }]]);
    const mode = await checkImage(s.req, s.reg);
    expect(mode).toEqual({ result: 'failed', message: 'file /etc/secret.conf has mode 0644 in the image, the MachineConfig says 0600' });
  });
  it('honours whiteouts of a later layer and a later layer rewriting the file', async () => {
    const s = setup([good, [{ name: 'etc/.wh.motd' }]]);
    const r = await checkImage(s.req, s.reg);
    expect(r.result === 'failed' && r.message).toMatch(/^file \/etc\/motd of the MachineConfig is deleted \(whiteout\) by layer sha256:/);
    const opaque = setup([good, [{ name: 'etc/.wh..wh..opq' }, { name: 'etc/motd', data: 'Hello layered\n' }, { name: 'etc/secret.conf', data: 'max=42\n', mode: 0o600 }]]);
    expect((await checkImage(opaque.req, opaque.reg)).result).toBe('passed');
  });
  it('follows a hard link in the same layer', async () => {
    const s = setup([[{ name: 'etc/motd.orig', data: 'Hello layered\n' }, { name: 'etc/motd', type: '1', link: 'etc/motd.orig', mode: 0o644 }, good[2]!]]);
    expect((await checkImage(s.req, s.reg)).result).toBe('passed');
  });
  it('fails an incomplete manifest, an absent manifest and an image over the size budget', async () => {
    const s = setup([good]);
    const layer = (await s.reg.manifest(s.req.image)).layers[1]!.digest;
    s.reg.missing.add(layer);
    expect(await checkImage(s.req, s.reg)).toEqual({ result: 'failed', message: `the manifest is incomplete: its layer 2/2 ${layer} is missing from the registry` });
    s.reg.missing.clear();
    expect(await checkImage({ ...s.req, maxImageSize: 100 }, s.reg)).toMatchObject({ result: 'failed', message: expect.stringMatching(/^the image is \d+ bytes \(layers \+ config\), above the limit --max-image-size 100$/) });
    expect(await checkImage({ ...s.req, image: 'reg/ns/x@sha256:' + '0'.repeat(64) }, s.reg)).toMatchObject({ result: 'failed', message: expect.stringContaining('has no manifest') });
  });
  it('reports an unreachable registry as an error, which the cache does not remember; passes and failures it does', async () => {
    const s = setup([good]);
    s.reg.down = true;
    const r = await checkImage(s.req, s.reg);
    expect(r).toEqual({ result: 'error', message: 'registry reg is unreachable (ECONNREFUSED)' });
    const cache = new ImageCheckCache();
    cache.set(s.req.key, r);
    expect(cache.has(s.req.key)).toBe(false);
    cache.set(s.req.key, { result: 'failed', message: 'x' });
    expect(cache.get(s.req.key)).toEqual({ result: 'failed', message: 'x' });
    expect(cache.view(new Map([['k', r]])).get('k')).toBe(r);
  });
  // What a node's importer (ostree-ext) refuses, checked before the files: nothing reaches a node.
  const refusals: [string, (layers: Buffer[]) => Record<string, unknown>, string][] = [
    [
      'not bootable (built FROM a plain image)',
      (l) => ({ ...bootableConfig(l), config: { Labels: { 'io.openshift.build.name': 'x' } } }),
      "the image is not bootable: its config has neither the label ostree.bootable=true nor containers.bootc=1, which a node's importer requires; build it FROM the pool's base (or an image derived from it)",
    ],
    [
      'without ostree.final-diffid',
      (l) => bootableConfig(l, { labels: { 'containers.bootc': '1' } }),
      "the image config has no label ostree.final-diffid, which a node's importer requires to find the ostree base layers; build it FROM the pool's base (or an image derived from it)",
    ],
    [
      'with an ostree.final-diffid not among its diff_ids',
      (l) => bootableConfig(l, { labels: { 'ostree.bootable': 'true', 'ostree.final-diffid': 'sha256:' + 'f'.repeat(64) } }),
      `the image's label ostree.final-diffid=sha256:${'f'.repeat(64)} is not among its rootfs.diff_ids, so a node's importer cannot find the ostree base layers; build it FROM the pool's base (or an image derived from it)`,
    ],
    ['of another architecture than the base', (l) => bootableConfig(l, { arch: 'arm64' }), "the image is for architecture arm64, the pool's base (which its nodes run) is amd64"],
  ];
  for (const [name, config, message] of refusals) {
    it(`fails an image ${name}, naming what the importer misses`, async () => {
      const s = setup([good], config);
      expect(await checkImage(s.req, s.reg)).toEqual({ result: 'failed', message });
    });
  }
  it('fails an image whose config blob is not JSON', async () => {
    const s = setup([good]);
    const m = await s.reg.manifest(s.req.image);
    s.reg.blobs.set(m.config.digest, Buffer.from('not json'));
    expect(await checkImage(s.req, s.reg)).toEqual({ result: 'failed', message: `its config ${m.config.digest} is not JSON` });
  });
  it('finds a file written through a symlinked parent of the base where the link leads (ostree-ext exports a symlink as a hard link to its object)', async () => {
    const ostreeBase: Entry[] = [
      { name: 'sysroot/ostree/repo/objects/bb/0948.file', type: '2', link: '../var/usrlocal' },
      { name: 'usr/local', type: '1', link: 'sysroot/ostree/repo/objects/bb/0948.file' },
      { name: 'home', type: '2', link: 'var/home' },
    ];
    const files = expectedFiles({
      storage: {
        files: [
          { path: '/usr/local/bin/configure-ovs.sh', mode: 0o755, contents: { source: 'data:,ovs' } },
          { path: '/home/core/.profile', mode: 0o644, contents: { source: 'data:,p' } },
        ],
      },
    });
    if (!files.ok) throw new Error(files.message);
    const s = setup([[{ name: 'var/usrlocal/bin/configure-ovs.sh', data: 'ovs', mode: 0o755 }, { name: 'var/home/core/.profile', data: 'p' }]], undefined, ostreeBase);
    const r = { ...s.req, files: files.files };
    expect(await checkImage({ ...r, key: imageCheckKey(r) }, s.reg)).toEqual({ result: 'passed', sizeBytes: expect.any(Number), addedLayers: 1, files: 2 });
    const wrong = setup([[{ name: 'var/usrlocal/bin/configure-ovs.sh', data: 'ovs', mode: 0o644 }, { name: 'var/home/core/.profile', data: 'p' }]], undefined, ostreeBase);
    const w = { ...wrong.req, files: files.files };
    expect(await checkImage({ ...w, key: imageCheckKey(w) }, wrong.reg)).toEqual({ result: 'failed', message: 'file /usr/local/bin/configure-ovs.sh has mode 0644 in the image, the MachineConfig says 0755' });
    const none = setup([[{ name: 'var/home/core/.profile', data: 'p' }]], undefined, ostreeBase);
    const n = { ...none.req, files: files.files };
    expect(await checkImage({ ...n, key: imageCheckKey(n) }, none.reg)).toEqual({
      result: 'failed',
      message: "file /usr/local/bin/configure-ovs.sh of the MachineConfig (at /var/usrlocal/bin/configure-ovs.sh, where the base's symlinks lead) is not in the 1 layer(s) the build added above the base",
    });
  });
  it('resolveParents follows relative and absolute links of parent directories, not of the file, and stops at a loop', () => {
    const links = new Map([['usr/local', '../var/usrlocal'], ['opt', '/var/opt'], ['a', 'b'], ['b', 'a'], ['etc/x', 'y']]);
    const of = (p: string) => links.get(p);
    expect(resolveParents('usr/local/bin/x', of)).toBe('var/usrlocal/bin/x');
    expect(resolveParents('opt/app/conf', of)).toBe('var/opt/app/conf');
    expect(resolveParents('etc/x', of)).toBe('etc/x');
    expect(resolveParents('etc/motd', of)).toBe('etc/motd');
    expect(resolveParents('a/f', of)).toBeUndefined();
  });
  it('keys a check by digest and what it is checked against', () => {
    const s = setup([good]);
    const { key, ...rest } = s.req;
    expect(imageCheckKey(rest)).toBe(key);
    expect(key.startsWith(s.req.digest + '/')).toBe(true);
    expect(imageCheckKey({ ...rest, maxImageSize: 5 })).not.toBe(key);
  });
});

describe('expectedFiles', () => {
  it('decodes data: URLs (plain, base64, gzip) and defaults the mode to 0644', () => {
    const gz = gzipSync(Buffer.from('zipped')).toString('base64');
    const r = expectedFiles({ storage: { files: [{ path: '/a', contents: { source: 'data:,x%20y' } }, { path: '/b', contents: { source: `data:;base64,${gz}`, compression: 'gzip' } }, { path: '/c' }] } });
    expect(r.ok && r.files.map((f) => [f.path, f.mode, f.contents?.toString()])).toEqual([
      ['/a', 0o644, 'x y'],
      ['/b', 0o644, 'zipped'],
      ['/c', 0o644, ''],
    ]);
    const bad = expectedFiles({ storage: { files: [{ path: '/d', contents: { source: 'https://example.com/x' } }] } });
    expect(!bad.ok && bad.message).toMatch(/file \/d: its source is not a data: URL/);
  });
});
