// Image references: the single validator for every value that reaches a
// Dockerfile or an image reference the operator writes. Pure.
//
// Grammar (a strict subset of github.com/distribution/reference):
//   reference      := name [ ":" tag ] [ "@" digest ]
//   name           := [ domain "/" ] path-component ( "/" path-component )*
//   domain         := domain-component ( "." domain-component )* [ ":" port ]
//   domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//   tag            := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//   digest         := "sha256:" [a-f0-9]{64}
// The first component is a domain when it contains "." or ":" or is
// "localhost"; otherwise the registry is docker.io (and a one-component
// repository gets "library/", as docker does). IPv6 literals are not accepted.

export const MAX_REF_LENGTH = 512;
export const MAX_NAME_LENGTH = 255;
export const DEFAULT_REGISTRY = 'docker.io';

export interface ImageRef {
  /** host[:port], e.g. `quay.io`, `localhost:5000`, `127.0.0.1:5000`. */
  registry: string;
  /** Path inside the registry, e.g. `openshift-machine-config-operator/worker-base`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 lowercase hex>` */
  digest?: string;
  /** Whether the registry was written in the reference (false: defaulted to docker.io). */
  explicitRegistry: boolean;
}

export type ImageRefErrorReason =
  | 'NotAString'
  | 'Empty'
  | 'TooLong'
  | 'InvalidCharacter'
  | 'InvalidRegistry'
  | 'InvalidRepository'
  | 'InvalidTag'
  | 'InvalidDigest';

export class ImageRefError extends Error {
  override name = 'ImageRefError';
  readonly reason: ImageRefErrorReason;
  /** A printable, truncated rendering of the refused value (JSON-quoted, so newlines show as \n). */
  readonly value: string;
  constructor(reason: ImageRefErrorReason, value: unknown, detail: string) {
    const shown = typeof value === 'string' ? JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}...` : value) : typeof value;
    super(`invalid image reference ${shown}: ${detail}`);
    this.reason = reason;
    this.value = shown;
  }
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT_RE = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
// Only these characters can appear anywhere in a valid reference.
const ALLOWED_CHARS_RE = /^[A-Za-z0-9._:/@-]+$/;

export function isDigest(s: unknown): boolean {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Parse and validate; throws ImageRefError. */
export function parseImageRef(ref: unknown): ImageRef {
  if (typeof ref !== 'string') throw new ImageRefError('NotAString', ref, 'not a string');
  if (ref.length === 0) throw new ImageRefError('Empty', ref, 'empty');
  if (ref.length > MAX_REF_LENGTH) throw new ImageRefError('TooLong', ref, `longer than ${MAX_REF_LENGTH} characters`);
  if (!ALLOWED_CHARS_RE.test(ref)) {
    throw new ImageRefError('InvalidCharacter', ref, 'only letters, digits and . _ - : / @ are allowed (no whitespace, newlines or control characters)');
  }

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw new ImageRefError('InvalidDigest', ref, 'the digest must be sha256: followed by 64 lowercase hex digits');
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) throw new ImageRefError('InvalidTag', ref, 'a tag is 1-128 of [A-Za-z0-9_.-] and cannot start with . or -');
  }

  const name = rest;
  if (name.length === 0) throw new ImageRefError('InvalidRepository', ref, 'missing repository');
  if (name.length > MAX_NAME_LENGTH) throw new ImageRefError('TooLong', ref, `the name is longer than ${MAX_NAME_LENGTH} characters`);

  const parts = name.split('/');
  let registry = DEFAULT_REGISTRY;
  let explicitRegistry = false;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    validateDomain(ref, first);
    registry = first;
    explicitRegistry = true;
    parts.shift();
  }
  if (parts.length === 0) throw new ImageRefError('InvalidRepository', ref, 'missing repository');
  for (const p of parts) {
    if (p.length === 0) throw new ImageRefError('InvalidRepository', ref, 'empty path component');
    if (!PATH_COMPONENT_RE.test(p)) {
      throw new ImageRefError(
        'InvalidRepository',
        ref,
        `repository component ${JSON.stringify(p)} must be lowercase letters and digits separated by ".", "_", "__" or "-"`,
      );
    }
  }
  let repository = parts.join('/');
  if (!explicitRegistry && parts.length === 1) repository = `library/${repository}`;

  const out: ImageRef = { registry, repository, explicitRegistry };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

function validateDomain(ref: string, domain: string): void {
  let host = domain;
  const colon = domain.indexOf(':');
  if (colon !== -1) {
    host = domain.slice(0, colon);
    const port = domain.slice(colon + 1);
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw new ImageRefError('InvalidRegistry', ref, `bad registry port ${JSON.stringify(port)}`);
    }
  }
  if (host.length === 0 || host.length > 253) throw new ImageRefError('InvalidRegistry', ref, 'bad registry host');
  for (const c of host.split('.')) {
    if (!DOMAIN_COMPONENT_RE.test(c)) throw new ImageRefError('InvalidRegistry', ref, `bad registry host ${JSON.stringify(host)}`);
  }
}

export type SafeImageRef = { ok: true; ref: ImageRef } | { ok: false; error: ImageRefError };

/** Non-throwing variant of parseImageRef. */
export function safeParseImageRef(ref: unknown): SafeImageRef {
  try {
    return { ok: true, ref: parseImageRef(ref) };
  } catch (e) {
    if (e instanceof ImageRefError) return { ok: false, error: e };
    throw e;
  }
}

/** `registry/repository` of a reference (tag and digest dropped; docker.io made explicit). */
export function repoOf(ref: string | ImageRef): string {
  const r = typeof ref === 'string' ? parseImageRef(ref) : ref;
  return `${r.registry}/${r.repository}`;
}

/** Render a parsed reference back to text (always with an explicit registry). */
export function formatImageRef(r: ImageRef): string {
  let s = `${r.registry}/${r.repository}`;
  if (r.tag !== undefined) s += `:${r.tag}`;
  if (r.digest !== undefined) s += `@${r.digest}`;
  return s;
}

/**
 * `<registryAndRepo>@<digest>`, validated: `registryAndRepo` must be a name
 * with no tag or digest, and `digest` a sha256 digest. Throws ImageRefError.
 */
export function formatDigestRef(registryAndRepo: string, digest: string): string {
  if (!isDigest(digest)) throw new ImageRefError('InvalidDigest', digest, 'the digest must be sha256: followed by 64 lowercase hex digits');
  const r = parseImageRef(registryAndRepo);
  if (r.tag !== undefined || r.digest !== undefined) {
    throw new ImageRefError('InvalidRepository', registryAndRepo, 'expected a repository without tag or digest');
  }
  const out = `${registryAndRepo}@${digest}`;
  parseImageRef(out); // length limits
  return out;
}
