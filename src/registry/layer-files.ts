// Reading the files of image layers (tar, optionally gzip'd) as a container
// runtime stacks them: later layers win, whiteouts (`.wh.<name>`) delete a
// lower layer's entry, an opaque whiteout (`.wh..wh..opq`) hides a directory's
// lower content. Pure: bytes in, a file table out. Contents are kept only for
// the paths asked for, so a large layer costs no more memory than its bytes.
import { gunzipSync } from 'node:zlib';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface LayerEntry {
  type: EntryType;
  mode: number;
  /** Kept for wanted paths only. */
  contents?: Buffer | undefined;
  /** Hard-link or symlink target (normalized path). */
  link?: string | undefined;
  /** A symlink's target as written (relative to the link's directory, or absolute). */
  target?: string | undefined;
  /** Index of the layer (in the order given) that wrote it. */
  layer: number;
}

export class LayerFormatError extends Error {
  override name = 'LayerFormatError';
}

/** `./etc/motd`, `/etc/motd`, `etc/motd/` -> `etc/motd`. */
export function normalizePath(p: string): string {
  let s = p.replace(/\/+/g, '/');
  while (s.startsWith('./')) s = s.slice(2);
  s = s.replace(/^\/+/, '').replace(/\/+$/, '');
  return s === '.' ? '' : s;
}

/** Decompresses a layer blob by its magic bytes: gzip, or plain tar. */
export function layerTar(blob: Buffer): Buffer {
  if (blob.length >= 2 && blob[0] === 0x1f && blob[1] === 0x8b) return gunzipSync(blob);
  if (blob.length >= 4 && blob.readUInt32LE(0) === 0xfd2fb528) throw new LayerFormatError('the layer is zstd-compressed, which the check does not read');
  return blob;
}

interface RawEntry {
  path: string;
  type: EntryType;
  mode: number;
  link?: string | undefined;
  /** A symlink's target as written. */
  target?: string | undefined;
  data: Buffer;
}

function field(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

function octalField(buf: Buffer, off: number, len: number): number {
  if (buf[off]! & 0x80) {
    // GNU base-256 for large sizes
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + buf[i]!;
    return v;
  }
  const s = field(buf, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = parseInt(data.toString('ascii', i, sp), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** The entries of a tar archive (ustar, GNU long names, PAX path/linkpath). */
export function readTarEntries(tar: Buffer): RawEntry[] {
  const out: RawEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== octalField(h, 148, 8)) throw new LayerFormatError(`bad tar header checksum at offset ${off}`);
    const size = octalField(h, 124, 12);
    const typeflag = String.fromCharCode(h[156]!);
    const dataStart = off + 512;
    if (dataStart + size > tar.length) throw new LayerFormatError(`tar entry at offset ${off} runs past the end of the layer`);
    const data = tar.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / 512) * 512;
    if (typeflag === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (typeflag === 'K') {
      longLink = field(data, 0, data.length);
      continue;
    }
    if (typeflag === 'x') {
      pax = paxRecords(data);
      continue;
    }
    if (typeflag === 'g') continue;
    const prefix = h.toString('ascii', 257, 263) === 'ustar\0' || h.toString('ascii', 257, 262) === 'ustar' ? field(h, 345, 155) : '';
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const link = pax.linkpath ?? longLink ?? field(h, 157, 100);
    longName = longLink = undefined;
    pax = {};
    const type: EntryType =
      typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'dir' : typeflag === '2' ? 'symlink' : typeflag === '1' ? 'hardlink' : 'other';
    out.push({ path: normalizePath(name), type, mode: octalField(h, 100, 8) & 0o7777, link: link ? normalizePath(link) : undefined, target: type === 'symlink' ? link : undefined, data });
  }
  return out;
}

/**
 * Stacks layers (lowest first) into one table of paths. `wanted` are the
 * normalized paths whose contents are kept.
 */
export function stackLayers(tars: readonly Buffer[], wanted: ReadonlySet<string>): { files: Map<string, LayerEntry>; whiteouts: Map<string, number> } {
  const files = new Map<string, LayerEntry>();
  const whiteouts = new Map<string, number>(); // path -> layer that deleted it
  const removeUnder = (dir: string, includeSelf: boolean, layer: number) => {
    for (const p of [...files.keys()]) {
      if ((includeSelf && p === dir) || (dir === '' ? p !== '' : p.startsWith(dir + '/'))) {
        files.delete(p);
        whiteouts.set(p, layer);
      }
    }
  };
  tars.forEach((tar, layer) => {
    const entries = readTarEntries(tar);
    // A wanted path that is a hard link: keep its target's contents (same layer) too.
    const keep = new Set(wanted);
    for (const e of entries) if (e.type === 'hardlink' && e.link && wanted.has(e.path)) keep.add(e.link);
    // Whiteouts hide what the lower layers have; they never hide this layer's own entries.
    for (const e of entries) {
      const slash = e.path.lastIndexOf('/');
      const dir = slash === -1 ? '' : e.path.slice(0, slash);
      const base = slash === -1 ? e.path : e.path.slice(slash + 1);
      if (base === '.wh..wh..opq') removeUnder(dir, false, layer);
      else if (base.startsWith('.wh.')) {
        const target = dir ? `${dir}/${base.slice(4)}` : base.slice(4);
        removeUnder(target, true, layer);
        whiteouts.set(target, layer);
      }
    }
    for (const e of entries) {
      const base = e.path.slice(e.path.lastIndexOf('/') + 1);
      if (base.startsWith('.wh.')) continue;
      if (e.type === 'dir' && files.get(e.path)?.type === 'dir') {
        files.get(e.path)!.mode = e.mode;
        continue;
      }
      files.set(e.path, { type: e.type, mode: e.mode, layer, link: e.link, target: e.target, contents: keep.has(e.path) && e.type === 'file' ? Buffer.from(e.data) : undefined });
      whiteouts.delete(e.path);
    }
  });
  return { files, whiteouts };
}

/**
 * The links of a layer: symlinks (path -> target as written) and hard links
 * (path -> the path it links to). ostree-ext exports every symlink of an
 * ostree commit as a hard link to the object file that is the symlink
 * (`usr/local` -> `sysroot/ostree/repo/objects/bb/...file` -> `../var/usrlocal`).
 */
export function linksOf(tar: Buffer, into: { symlinks: Map<string, string>; hardlinks: Map<string, string> }): void {
  for (const e of readTarEntries(tar)) {
    if (e.type === 'symlink' && e.target !== undefined) into.symlinks.set(e.path, e.target);
    else if (e.type === 'hardlink' && e.link) into.hardlinks.set(e.path, e.link);
  }
}

/**
 * Where a file at normalized path `p` really is when its parent directories
 * may be symlinks (an ostree-native image has `usr/local -> ../var/usrlocal`,
 * `home -> var/home`, ...): each parent that `linkOf` names a symlink is
 * replaced by its target (relative to the link's directory, or absolute), as
 * a write through that path lands. The last component is not followed.
 * Undefined for a loop (more than 40 links).
 */
export function resolveParents(p: string, linkOf: (path: string) => string | undefined): string | undefined {
  let parts = p.split('/').filter(Boolean);
  let hops = 0;
  for (let i = 0; i < parts.length - 1; ) {
    const target = linkOf(parts.slice(0, i + 1).join('/'));
    if (target === undefined) {
      i++;
      continue;
    }
    if (++hops > 40) return undefined;
    const out: string[] = [];
    for (const seg of [...(target.startsWith('/') ? [] : parts.slice(0, i)), ...target.split('/'), ...parts.slice(i + 1)]) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') out.pop();
      else out.push(seg);
    }
    parts = out;
    i = 0;
  }
  return parts.join('/');
}
