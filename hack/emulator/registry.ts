// Resolving an image reference to a manifest digest by asking the registry (OCI distribution API).
import { createHash } from 'node:crypto';
import type { ResolveResult } from './imports.ts';
import { byDigest, isImageRef, isPlainHttpRegistry, manifestReference, parseImageReference } from './reference.ts';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface ResolveOptions {
  localRegistry?: string | undefined;
  insecure?: boolean | undefined;
  timeoutMs?: number | undefined;
}

/** The endpoint host for a registry name (Docker Hub's API lives elsewhere). */
function endpointHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

export async function resolveDigest(reference: string, opts: ResolveOptions = {}): Promise<ResolveResult> {
  const ref = parseImageReference(reference);
  if (!isImageRef(ref)) return { ok: false, reason: 'InternalError', message: ref.error };
  const scheme = opts.insecure || isPlainHttpRegistry(ref.registry, opts.localRegistry) ? 'http' : 'https';
  const url = `${scheme}://${endpointHost(ref.registry)}/v2/${ref.repository}/manifests/${manifestReference(ref)}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { Accept: MANIFEST_ACCEPT }, signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
    return { ok: false, reason: 'InternalError', message: `error contacting registry ${ref.registry} for ${reference}: ${detail}` };
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status === 404) {
    return { ok: false, reason: 'NotFound', message: `${reference}: manifest unknown (the image does not exist in ${ref.registry})` };
  }
  if (res.status === 401 || res.status === 403) {
    return { ok: false, reason: 'Unauthorized', message: `${reference}: the registry ${ref.registry} refused access (HTTP ${res.status})` };
  }
  if (!res.ok) {
    return { ok: false, reason: 'InternalError', message: `${reference}: registry ${ref.registry} answered HTTP ${res.status}` };
  }
  const computed = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const header = res.headers.get('docker-content-digest') ?? undefined;
  const digest = ref.digest ?? header ?? computed;
  if (ref.digest && ref.digest.startsWith('sha256:') && ref.digest !== computed) {
    return { ok: false, reason: 'InternalError', message: `${reference}: the manifest served does not match the digest (${computed})` };
  }
  return { ok: true, digest, dockerImageReference: byDigest(ref, digest) };
}
