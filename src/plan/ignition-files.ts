// The files a rendered MachineConfig's Ignition config writes (storage.files),
// decoded from their data: URLs, as the image check expects to find them. Pure.
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';

/** What the image must contain at `path`. */
export interface ExpectedFile {
  /** Absolute path, as Ignition writes it. */
  path: string;
  /** Permission bits (Ignition's default 0644 when the config has none). */
  mode: number;
  /** Content, when the config fixes it; undefined for `append`-only files (only presence is checked). */
  contents?: Buffer | undefined;
}

export const DEFAULT_FILE_MODE = 0o644;

const FileSchema = z.looseObject({
  path: z.string(),
  mode: z.number().int().min(0).max(0o7777).nullish(),
  overwrite: z.boolean().nullish(),
  contents: z.looseObject({ source: z.string().nullish(), compression: z.string().nullish() }).nullish(),
  append: z.array(z.unknown()).nullish(),
});
const StorageSchema = z.looseObject({ storage: z.looseObject({ files: z.array(FileSchema).nullish() }).nullish() });

export class DataUrlError extends Error {
  override name = 'DataUrlError';
}

/** Decodes an RFC 2397 `data:` URL (`data:[<mediatype>][;base64],<data>`). */
export function decodeDataUrl(url: string): Buffer {
  if (!url.startsWith('data:')) throw new DataUrlError('its source is not a data: URL (only data: URLs are applied by MCO)');
  const comma = url.indexOf(',');
  if (comma === -1) throw new DataUrlError('its data: URL has no comma');
  const meta = url.slice(5, comma);
  const data = url.slice(comma + 1);
  if (meta.split(';').some((p) => p.trim().toLowerCase() === 'base64')) {
    const compact = decodeURIComponent(data).replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) throw new DataUrlError('its data: URL is not valid base64');
    return Buffer.from(compact, 'base64');
  }
  try {
    return Buffer.from(decodeURIComponent(data), 'utf8');
  } catch {
    throw new DataUrlError('its data: URL has an invalid percent-encoding');
  }
}

export type ExpectedFiles = { ok: true; files: ExpectedFile[] } | { ok: false; message: string };

/** The files of an Ignition config (the last entry for a path wins, as Ignition applies them in order). */
export function expectedFiles(ignition: unknown): ExpectedFiles {
  const parsed = StorageSchema.safeParse(ignition ?? {});
  if (!parsed.success) return { ok: false, message: `the Ignition config's storage.files is malformed (${parsed.error.issues[0]?.message ?? 'invalid'})` };
  const byPath = new Map<string, ExpectedFile>();
  for (const f of parsed.data.storage?.files ?? []) {
    const mode = f.mode ?? DEFAULT_FILE_MODE;
    const source = f.contents?.source;
    let contents: Buffer | undefined;
    if (source !== undefined && source !== null) {
      try {
        contents = decodeDataUrl(source);
        if (f.contents?.compression === 'gzip') contents = gunzipSync(contents);
        else if (f.contents?.compression) return { ok: false, message: `file ${f.path}: compression ${JSON.stringify(f.contents.compression)} is not supported` };
      } catch (e) {
        return { ok: false, message: `file ${f.path}: ${(e as Error).message}` };
      }
    } else if (!f.append?.length) {
      contents = Buffer.alloc(0); // no contents and no append: Ignition writes an empty file
    }
    // Appended fragments make the content depend on what was there: check presence and mode only.
    byPath.set(f.path, { path: f.path, mode, contents: f.append?.length ? undefined : contents });
  }
  return { ok: true, files: [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
}
