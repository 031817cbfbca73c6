// Container image references (pure). `host[:port]/repo/path[:tag][@sha256:...]`,
// with Docker Hub's defaults for short names, as the distribution reference grammar has it.
// Deliberately not src/plan/imageref.ts: an importer emulator accepts what OpenShift accepts, so the product's stricter validation stays the thing under test.

export interface ImageRef {
  /** Registry host (and port) as written, e.g. `127.0.0.1:5000` or `docker.io`. */
  registry: string;
  /** Repository path inside the registry, e.g. `ns/stream`. */
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-f]{32,}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

/** Parses an image reference; returns an error message for anything malformed. */
export function parseImageReference(input: string): ImageRef | { error: string } {
  const ref = input.trim();
  if (ref !== input || ref === '' || /\s/.test(ref)) return { error: `invalid image reference ${JSON.stringify(input)}` };
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return { error: `invalid digest in image reference ${JSON.stringify(input)}` };
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) return { error: `invalid tag in image reference ${JSON.stringify(input)}` };
  }
  let registry = 'docker.io';
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      repository = rest.slice(firstSlash + 1);
      if (!HOST.test(registry)) return { error: `invalid registry host in image reference ${JSON.stringify(input)}` };
    }
  }
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (repository === '' || !repository.split('/').every((c) => COMPONENT.test(c))) {
    return { error: `invalid repository in image reference ${JSON.stringify(input)}` };
  }
  if (!tag && !digest) tag = 'latest';
  const out: ImageRef = { registry, repository };
  if (tag) out.tag = tag;
  if (digest) out.digest = digest;
  return out;
}

export function isImageRef(r: ImageRef | { error: string }): r is ImageRef {
  return !('error' in r);
}

/** `<registry>/<repository>@<digest>` */
export function byDigest(ref: ImageRef, digest: string): string {
  return `${ref.registry}/${ref.repository}@${digest}`;
}

/** The reference as the registry API needs it: the digest when there is one, else the tag. */
export function manifestReference(ref: ImageRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** True for registries this emulator talks to over plain http (loopback and the local registry). */
export function isPlainHttpRegistry(registry: string, localRegistry: string | undefined): boolean {
  if (localRegistry && registry === localRegistry) return true;
  const host = registry.startsWith('[') ? registry.slice(0, registry.indexOf(']') + 1) : registry.split(':')[0]!;
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]';
}
