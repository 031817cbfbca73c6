// The rendered-config scratch image (DESIGN.md "The rendered-config scratch
// image"). Pure: bytes in, bytes out, no I/O. The same MachineConfig always
// yields the same bytes and therefore the same digests:
// - the files hold canonical JSON (keys sorted recursively);
// - the layer is a ustar archive written here: entries sorted by name, mode
//   0644, uid/gid 0, mtime 0, no user/group names;
// - gzip at a fixed level with mtime 0, no file name, and the OS byte pinned;
// - the image config has no `created` and no history.
import { gzipSync, constants as zc } from 'node:zlib';
import { canonicalJson, sha256Hex } from '../util/canonical-json.ts';

export const MEDIA_TYPE_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** Paths of the two files inside the image (tar entry names carry no leading slash). */
export const MACHINE_CONFIG_PATH = '/machine-config.json';
export const IGNITION_PATH = '/machine-config-ignition.json';
/**
 * The image config label holding the content hash (sha256 hex of the
 * uncompressed layer). Not the rendered config's name: the hand-off re-renders
 * the pool under a new name with the same content, and must find the same image.
 */
export const CONFIG_HASH_LABEL = 'layering.mco.dev/config-hash';

/** gzip level used for the layer. Changing it changes every digest: don't. */
export const GZIP_LEVEL = 9;

export interface ScratchImageInput {
  /**
   * The rendered MachineConfig's name, for callers that still pass it: validated
   * when given, but no part of the image (its label is the content hash).
   */
  name?: string | undefined;
  /** The config that matters of the rendered MachineConfig (any JSON). */
  machineConfig: unknown;
  /** Its Ignition config; defaults to `machineConfig.spec.config`, else `{}`. */
  ignition?: unknown;
}

export interface ScratchImage {
  manifest: Buffer;
  manifestDigest: string; // sha256:<hex>
  manifestMediaType: typeof MEDIA_TYPE_OCI_MANIFEST;
  config: Buffer;
  configDigest: string;
  layer: Buffer; // tar+gzip
  layerDigest: string;
  /** sha256 of the uncompressed tar (rootfs.diff_ids[0]). */
  diffId: string;
  /** Total bytes of manifest + config + layer. */
  size: number;
}

export class ScratchImageError extends Error {
  override name = 'ScratchImageError';
}

export function buildScratchImage(input: ScratchImageInput): ScratchImage {
  const { name } = input;
  // eslint-disable-next-line no-control-regex
  if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.length > 253 || /[\u0000-\u001f\u007f\s]/.test(name))) {
    throw new ScratchImageError(`invalid rendered-config name ${JSON.stringify(String(name).slice(0, 80))}`);
  }
  const ignition = input.ignition !== undefined ? input.ignition : (ignitionOf(input.machineConfig) ?? {});
  const files: TarFile[] = [
    { name: MACHINE_CONFIG_PATH.slice(1), data: Buffer.from(canonicalJson(input.machineConfig), 'utf8') },
    { name: IGNITION_PATH.slice(1), data: Buffer.from(canonicalJson(ignition), 'utf8') },
  ];
  const tar = writeTar(files);
  const diffId = `sha256:${sha256Hex(tar)}`;
  const layer = own(deterministicGzip(tar));
  const layerDigest = `sha256:${sha256Hex(layer)}`;

  const config = own(Buffer.from(
    canonicalJson({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { [CONFIG_HASH_LABEL]: diffId.slice('sha256:'.length) } },
      rootfs: { type: 'layers', diff_ids: [diffId] },
    }),
    'utf8',
  ));
  const configDigest = `sha256:${sha256Hex(config)}`;

  const manifest = own(Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, digest: layerDigest, size: layer.length }],
    }),
    'utf8',
  ));
  const manifestDigest = `sha256:${sha256Hex(manifest)}`;
  return {
    manifest,
    manifestDigest,
    manifestMediaType: MEDIA_TYPE_OCI_MANIFEST,
    config,
    configDigest,
    layer,
    layerDigest,
    diffId,
    size: manifest.length + config.length + layer.length,
  };
}

function ignitionOf(mc: unknown): unknown {
  if (mc === null || typeof mc !== 'object') return undefined;
  const spec = (mc as { spec?: unknown }).spec;
  if (spec === null || typeof spec !== 'object') return undefined;
  return (spec as { config?: unknown }).config;
}

// ---- gzip -------------------------------------------------------------------

/**
 * gzip with a fixed level. Node's zlib writes mtime 0 and no FNAME when given
 * a buffer; the OS byte (offset 9) depends on the platform zlib was built for,
 * so it is pinned to 3 (Unix). The header carries no CRC, so this is safe.
 */
export function deterministicGzip(data: Buffer): Buffer {
  const gz = gzipSync(data, { level: GZIP_LEVEL, memLevel: 8, windowBits: 15, strategy: zc.Z_DEFAULT_STRATEGY });
  gz[4] = 0;
  gz[5] = 0;
  gz[6] = 0;
  gz[7] = 0;
  gz[9] = 3;
  return gz;
}

/**
 * `b` in memory of its own, of its exact size. Small Buffers are views into
 * Node's shared 64 KiB allocation slabs (and zlib's output chunks); an image
 * the planner remembers would keep a whole slab of temporaries alive per pool.
 */
function own(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return b;
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}

// ---- ustar ------------------------------------------------------------------

export interface TarFile {
  name: string;
  data: Buffer;
}

const BLOCK = 512;

/** A POSIX ustar archive of regular files: sorted by name, mode 0644, uid/gid 0, mtime 0. */
export function writeTar(files: readonly TarFile[]): Buffer {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const chunks: Buffer[] = [];
  const seen = new Set<string>();
  for (const f of sorted) {
    if (seen.has(f.name)) throw new ScratchImageError(`duplicate tar entry ${f.name}`);
    seen.add(f.name);
    chunks.push(tarHeader(f.name, f.data.length));
    chunks.push(f.data);
    const pad = (BLOCK - (f.data.length % BLOCK)) % BLOCK;
    if (pad) chunks.push(Buffer.alloc(pad));
  }
  chunks.push(Buffer.alloc(BLOCK * 2)); // end-of-archive marker
  return Buffer.concat(chunks);
}

function tarHeader(name: string, size: number): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length === 0 || nameBytes.length > 100) throw new ScratchImageError(`tar entry name must be 1..100 bytes: ${name}`);
  if (size > 0o77777777777) throw new ScratchImageError(`tar entry too large: ${name}`);
  const h = Buffer.alloc(BLOCK);
  nameBytes.copy(h, 0); // name[100]
  octal(h, 100, 8, 0o644); // mode
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size); // size
  octal(h, 136, 12, 0); // mtime
  h.fill(0x20, 148, 156); // chksum placeholder: 8 spaces
  h.write('0', 156, 'ascii'); // typeflag: regular file
  // linkname[100] stays empty
  h.write('ustar\0', 257, 'ascii'); // magic
  h.write('00', 263, 'ascii'); // version
  // uname[32], gname[32] stay empty; devmajor/devminor as zero octal
  octal(h, 329, 8, 0);
  octal(h, 337, 8, 0);
  let sum = 0;
  for (const b of h) sum += b;
  // chksum: six octal digits, NUL, space (the form GNU tar and Go write)
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** Zero-padded octal in `len - 1` digits followed by NUL. */
function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(`${value.toString(8).padStart(len - 1, '0')}\0`, off, 'ascii');
}

const MEMO_SIZE = 64;
const memo = new Map<string, ScratchImage>();

/**
 * buildScratchImage, memoized by the content it is made of (the canonical JSON
 * of its inputs). The result is a pure function of that content, so a
 * reconcile of an unchanged config skips the tar and gzip work. A small LRU.
 */
export function cachedScratchImage(input: ScratchImageInput): ScratchImage {
  const ignition = input.ignition !== undefined ? input.ignition : (ignitionOf(input.machineConfig) ?? {});
  const key = sha256Hex(`${canonicalJson(input.machineConfig)}\n${canonicalJson(ignition)}`);
  const hit = memo.get(key);
  if (hit) {
    memo.delete(key);
    memo.set(key, hit);
    return hit;
  }
  const image = buildScratchImage({ ...input, ignition });
  memo.set(key, image);
  if (memo.size > MEMO_SIZE) memo.delete(memo.keys().next().value!);
  return image;
}
