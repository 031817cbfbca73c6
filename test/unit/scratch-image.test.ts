import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import {
  buildScratchImage,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_MANIFEST,
} from '../../src/registry/scratch-image.ts';
import { canonicalJson } from '../../src/util/canonical-json.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function mc(name: string, files: { path: string; contents: string }[]) {
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfig',
    metadata: { name, annotations: { 'machineconfiguration.openshift.io/generated-by-controller-version': 'v1' } },
    spec: {
      osImageURL: 'quay.io/openshift/os@sha256:' + 'a'.repeat(64),
      config: {
        ignition: { version: '3.2.0' },
        storage: { files: files.map((f) => ({ path: f.path, mode: 420, contents: { source: `data:,${encodeURIComponent(f.contents)}` } })) },
      },
      kernelArguments: ['nosmt'],
    },
  };
}

interface Entry {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  type: string;
  uname: string;
  gname: string;
  magic: string;
  data: Buffer;
}

// A minimal ustar reader: enough to check what the writer produced.
function readTar(tar: Buffer): Entry[] {
  const out: Entry[] = [];
  const str = (off: number, len: number) => tar.subarray(off, off + len).toString('utf8').replace(/\0.*$/s, '');
  const oct = (off: number, len: number) => parseInt(str(off, len).trim() || '0', 8);
  let off = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    // verify the header checksum
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    expect(oct(off + 148, 8)).toBe(sum);
    const size = oct(off + 124, 12);
    out.push({
      name: str(off, 100),
      mode: oct(off + 100, 8),
      uid: oct(off + 108, 8),
      gid: oct(off + 116, 8),
      size,
      mtime: oct(off + 136, 12),
      type: str(off + 156, 1),
      magic: tar.subarray(off + 257, off + 263).toString('latin1'),
      uname: str(off + 265, 32),
      gname: str(off + 297, 32),
      data: tar.subarray(off + 512, off + 512 + size),
    });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  // the archive ends with two zero blocks
  expect(tar.length - off).toBeGreaterThanOrEqual(1024);
  return out;
}

describe('buildScratchImage', () => {
  const config = mc('rendered-worker-abc', [{ path: '/etc/motd', contents: 'hello\n' }]);

  it('is byte-for-byte reproducible', () => {
    const a = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: config });
    const b = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: structuredClone(config) });
    expect(b.layer.equals(a.layer)).toBe(true);
    expect(b.config.equals(a.config)).toBe(true);
    expect(b.manifest.equals(a.manifest)).toBe(true);
    expect(b.manifestDigest).toBe(a.manifestDigest);
    expect(b.layerDigest).toBe(a.layerDigest);
    expect(b.diffId).toBe(a.diffId);
    expect(a.manifestDigest).toMatch(/^sha256:[a-f0-9]{64}$/);
  });

  it('does not depend on key order', () => {
    const reordered = {
      spec: {
        kernelArguments: ['nosmt'],
        config: { storage: config.spec.config.storage, ignition: { version: '3.2.0' } },
        osImageURL: config.spec.osImageURL,
      },
      metadata: { annotations: config.metadata.annotations, name: 'rendered-worker-abc' },
      kind: 'MachineConfig',
      apiVersion: 'machineconfiguration.openshift.io/v1',
    };
    const a = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: config });
    const b = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: reordered });
    expect(b.manifestDigest).toBe(a.manifestDigest);
    expect(b.layer.equals(a.layer)).toBe(true);
  });

  it('changes digest when the config changes, not when the name does; is labelled with its content hash', () => {
    const a = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: config });
    const other = mc('rendered-worker-abc', [{ path: '/etc/motd', contents: 'hello!\n' }]);
    const b = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: other });
    expect(b.manifestDigest).not.toBe(a.manifestDigest);
    expect(b.layerDigest).not.toBe(a.layerDigest);
    const c = buildScratchImage({ name: 'rendered-worker-def', machineConfig: config });
    expect(c.manifestDigest).toBe(a.manifestDigest); // the name is not part of the image
    const labels = (JSON.parse(a.config.toString('utf8')) as { config: { Labels: Record<string, string> } }).config.Labels;
    expect(labels).toEqual({ 'layering.mco.dev/config-hash': a.diffId.slice('sha256:'.length) });
  });

  it('writes a gzip with no timestamp and no file name', () => {
    const a = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: config });
    expect(a.layer[0]).toBe(0x1f);
    expect(a.layer[1]).toBe(0x8b);
    expect(a.layer[3]).toBe(0); // FLG: no FNAME, no FCOMMENT, no FEXTRA
    expect(a.layer.readUInt32LE(4)).toBe(0); // MTIME
    expect(a.layer[9]).toBe(3); // OS pinned to Unix
  });

  it('holds exactly the two files, 0644, uid/gid 0, mtime 0, canonical JSON', () => {
    const a = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: config });
    const tar = gunzipSync(a.layer);
    expect(sha(tar)).toBe(a.diffId);
    const entries = readTar(tar);
    expect(entries.map((e) => e.name)).toEqual(['machine-config-ignition.json', 'machine-config.json']);
    for (const e of entries) {
      expect(e).toMatchObject({ mode: 0o644, uid: 0, gid: 0, mtime: 0, type: '0', uname: '', gname: '', magic: 'ustar\0' });
    }
    const [ign, whole] = entries;
    expect(JSON.parse(whole!.data.toString('utf8'))).toEqual(config);
    expect(whole!.data.toString('utf8')).toBe(canonicalJson(config));
    expect(JSON.parse(ign!.data.toString('utf8'))).toEqual(config.spec.config);
    expect(ign!.data.toString('utf8')).toBe(canonicalJson(config.spec.config));
  });

  it('takes an explicit Ignition config over spec.config', () => {
    const ignition = { ignition: { version: '3.4.0' }, passwd: {} };
    const a = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: config, ignition });
    const entries = readTar(gunzipSync(a.layer));
    expect(entries[0]!.data.toString('utf8')).toBe('{"ignition":{"version":"3.4.0"},"passwd":{}}');
  });

  it('lists correctly with GNU tar', () => {
    const a = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: config });
    const dir = mkdtempSync(join(tmpdir(), 'scratch-image-'));
    try {
      const file = join(dir, 'layer.tar.gz');
      writeFileSync(file, a.layer);
      const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', file], { encoding: 'utf8' });
      const lines = listing.trim().split('\n');
      expect(lines).toHaveLength(2);
      for (const l of lines) expect(l).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00:00 machine-config(-ignition)?\.json$/);
      execFileSync('tar', ['-xzf', file, '-C', dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes an image config and manifest that reference each other', () => {
    const a = buildScratchImage({ name: 'rendered-worker-abc', machineConfig: config });
    expect(sha(a.config)).toBe(a.configDigest);
    expect(sha(a.layer)).toBe(a.layerDigest);
    expect(sha(a.manifest)).toBe(a.manifestDigest);
    const cfg = JSON.parse(a.config.toString('utf8'));
    expect(cfg).toEqual({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'layering.mco.dev/config-hash': a.diffId.slice('sha256:'.length) } },
      rootfs: { type: 'layers', diff_ids: [a.diffId] },
    });
    const man = JSON.parse(a.manifest.toString('utf8'));
    expect(man).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: a.configDigest, size: a.config.length },
      layers: [{ mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, digest: a.layerDigest, size: a.layer.length }],
    });
    expect(a.size).toBe(a.manifest.length + a.config.length + a.layer.length);
  });

  it('handles a file larger than one tar block and unicode content', () => {
    const big = mc('rendered-worker-big', [{ path: '/etc/big', contents: 'é✓'.repeat(5000) }]);
    const a = buildScratchImage({ name: 'rendered-worker-big', machineConfig: big });
    const entries = readTar(gunzipSync(a.layer));
    expect(JSON.parse(entries[1]!.data.toString('utf8'))).toEqual(big);
  });

  it('refuses a name with whitespace or control characters', () => {
    expect(() => buildScratchImage({ name: 'a\nb', machineConfig: config })).toThrow(/invalid rendered-config name/);
    expect(() => buildScratchImage({ name: '', machineConfig: config })).toThrow(/invalid rendered-config name/);
  });

  // Pinned digests: if these move (a change here, or a Node/zlib upgrade that
  // compresses differently), every pool's rendered-config image gets a new
  // digest and a rebuild. Change them only on purpose (the manifest moved once,
  // when the image config label became the content hash instead of the name).
  it('matches the pinned golden digests', () => {
    const a = buildScratchImage({
      name: 'rendered-worker-golden',
      machineConfig: { kind: 'MachineConfig', metadata: { name: 'rendered-worker-golden' }, spec: { config: { ignition: { version: '3.2.0' } } } },
    });
    expect(a.diffId).toBe('sha256:8c489eef9f7a27dc2a094cbfec5411024f616a24643942d45b8eeb0263299313');
    expect(a.layerDigest).toBe('sha256:162d35044487f7cf69e51ebdf361db47721790f9aefdddf059b49b402e3b6624');
    expect(a.manifestDigest).toBe('sha256:0d5c46977a9774e6be76bfcee9ca27eca66c7adf9802d3bd56d86b293212edb8');
  });
});

describe('no secret in the rendered-config image', () => {
  it("leaves out the cluster's pull secret (/var/lib/kubelet/config.json), in the image and in what the check expects", async () => {
    const { checkRenderedConfig } = await import('../../src/plan/machineconfig.ts');
    const { expectedFiles } = await import('../../src/plan/ignition-files.ts');
    const credential = 'c2VjcmV0LXVzZXI6czNjcjN0LXBhc3N3b3Jk'; // what a pull secret's auth holds
    const pullSecret = JSON.stringify({ auths: { 'quay.io': { auth: credential } } });
    const rendered = mc('rendered-worker-abc', [
      { path: '/etc/motd', contents: 'hello\n' },
      { path: '/var/lib/kubelet/config.json', contents: pullSecret },
    ]);
    const check = checkRenderedConfig(rendered as never);
    if (!check.ok) throw new Error(check.message);
    const image = buildScratchImage({ machineConfig: check.machineConfig, ignition: check.ignition });
    const layer = gunzipSync(image.layer);
    for (const needle of [credential, Buffer.from(credential, 'base64').toString('utf8'), encodeURIComponent(pullSecret), 'kubelet/config.json']) {
      expect(layer.includes(needle), needle).toBe(false);
      expect(image.config.includes(needle), needle).toBe(false);
    }
    expect(layer.includes('/etc/motd')).toBe(true);
    const files = expectedFiles(check.ignition);
    expect(files.ok && files.files.map((f) => f.path)).toEqual(['/etc/motd']);
    // The MachineConfig itself is not changed (MCD still writes the file on the node from it).
    expect(JSON.stringify(rendered)).toContain('kubelet/config.json');
    // A rotation of the pull secret alone gives the same image: nothing is rebuilt for it.
    const rotated = mc('rendered-worker-def', [
      { path: '/etc/motd', contents: 'hello\n' },
      { path: '/var/lib/kubelet/config.json', contents: pullSecret.replace(credential, 'b3RoZXI6b3RoZXI=') },
    ]);
    const check2 = checkRenderedConfig(rotated as never);
    if (!check2.ok) throw new Error(check2.message);
    expect(buildScratchImage({ machineConfig: check2.machineConfig, ignition: check2.ignition }).manifestDigest).toBe(image.manifestDigest);
  });
});
