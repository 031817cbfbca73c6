// Canonical JSON: one byte-exact text per JSON value, whatever the key order
// of the input. Object keys are sorted recursively (by UTF-16 code units, as
// RFC 8785 does); no whitespace. Used for reproducible image layers and for
// build fingerprints, so its output must never change between releases.
import { createHash } from 'node:crypto';

export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

/**
 * Serialise `value` as canonical JSON. Follows JSON.stringify's rules for
 * what is representable (toJSON is honoured, `undefined`/functions/symbols
 * are dropped from objects and become null in arrays) but throws on values
 * JSON cannot express faithfully: non-finite numbers, bigints, cycles, and an
 * unrepresentable top-level value.
 */
export function canonicalJson(value: unknown): string {
  const out = write(value, new Set<object>(), '$');
  if (out === undefined) throw new CanonicalJsonError('canonicalJson: the value has no JSON representation');
  return out;
}

function write(value: unknown, seen: Set<object>, path: string): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: (k: string) => unknown }).toJSON('');
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`canonicalJson: non-finite number at ${path}`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new CanonicalJsonError(`canonicalJson: bigint at ${path}`);
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (seen.has(obj)) throw new CanonicalJsonError(`canonicalJson: cycle at ${path}`);
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const parts = obj.map((v: unknown, i) => write(v, seen, `${path}[${i}]`) ?? 'null');
      return `[${parts.join(',')}]`;
    }
    const rec = obj as Record<string, unknown>;
    const keys = Object.keys(rec).sort(compareCodeUnits);
    const parts: string[] = [];
    for (const k of keys) {
      const v = write(rec[k], seen, `${path}.${k}`);
      if (v !== undefined) parts.push(`${JSON.stringify(k)}:${v}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Lowercase hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Buffer | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
