// Reading ImageStream state, and the desired ImageStream objects. Pure.
import type { ImageStream, TagReference } from '../kube/types.ts';
import { apiVersionOf, RESOURCES } from '../kube/types.ts';
import { isDigest } from './imageref.ts';
import { ANNOTATION_POOL, LABEL_MANAGED, FIELD_MANAGER } from './names.ts';
import type { KubeObject } from './snapshot.ts';

export interface ResolvedImage {
  /** `sha256:...` */
  digest: string;
  /** As the stream recorded it, normally `<registry>/<ns>/<stream>@sha256:...`. */
  ref: string;
  /** When the tag got this image (ms since epoch), if recorded. */
  createdMs?: number | undefined;
}

export function timeMs(t: string | Date | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The image a tag currently points at (newest status item), if the stream has one. */
export function tagImage(stream: ImageStream | undefined, tag: string): ResolvedImage | undefined {
  const list = stream?.status?.tags?.find((t) => t.tag === tag);
  const item = list?.items?.[0];
  if (!item || !isDigest(item.image)) return undefined;
  return { digest: item.image, ref: item.dockerImageReference, createdMs: timeMs(item.created) };
}

/** Any status item of a tag whose image is `digest`. */
export function tagHasDigest(stream: ImageStream | undefined, tag: string, digest: string): ResolvedImage | undefined {
  const list = stream?.status?.tags?.find((t) => t.tag === tag);
  const item = list?.items?.find((i) => i.image === digest);
  return item ? { digest: item.image, ref: item.dockerImageReference, createdMs: timeMs(item.created) } : undefined;
}

/** The import error recorded on a tag, if its last import failed. */
export function tagImportError(stream: ImageStream | undefined, tag: string): string | undefined {
  const list = stream?.status?.tags?.find((t) => t.tag === tag);
  const c = list?.conditions?.find((c) => c.type === 'ImportSuccess' && c.status === 'False');
  return c ? `${c.reason ?? 'ImportFailed'}: ${c.message ?? ''}`.trim() : undefined;
}

export function specTag(stream: ImageStream | undefined, tag: string): TagReference | undefined {
  return stream?.spec?.tags?.find((t) => t.name === tag);
}

export interface Owner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export function ownerRefs(owner: Owner | undefined): KubeObject['metadata']['ownerReferences'] {
  return owner ? [{ ...owner, controller: true, blockOwnerDeletion: false }] : undefined;
}

/** Metadata every per-pool object carries. */
export function poolMetadata(name: string, namespace: string, pool: string, owner: Owner | undefined): KubeObject['metadata'] {
  const md: KubeObject['metadata'] = {
    name,
    namespace,
    labels: { [LABEL_MANAGED]: FIELD_MANAGER },
    annotations: { [ANNOTATION_POOL]: pool },
  };
  const refs = ownerRefs(owner);
  if (refs) md.ownerReferences = refs;
  return md;
}

/**
 * A spec tag importing `image`. `insecure`: its registry speaks plain http.
 * `local`: pulled through the integrated registry (reference policy Local), so
 * builds and the checks before the hand-off read it there with one credential.
 */
export function dockerImageTag(name: string, image: string, o: { insecure?: boolean; local?: boolean } = {}): TagReference {
  return {
    name,
    from: { kind: 'DockerImage', name: image },
    importPolicy: o.insecure ? { scheduled: false, insecure: true } : { scheduled: false },
    referencePolicy: { type: o.local ? 'Local' : 'Source' },
  };
}

/** Whether `image`'s registry host is one of `insecure` (host[:port]). */
export function isInsecureRegistry(image: string, insecure: readonly string[] | undefined): boolean {
  if (!insecure?.length) return false;
  const host = image.split('/')[0] ?? '';
  return insecure.includes(host);
}

export function imageStreamObject(metadata: KubeObject['metadata'], tags?: TagReference[]): KubeObject {
  const obj: KubeObject = { apiVersion: apiVersionOf(RESOURCES.imageStream), kind: RESOURCES.imageStream.kind, metadata };
  if (tags) obj.spec = { tags };
  return obj;
}

/** Whether an observed object is one this operator manages for the pool. */
export function isOurs(obj: { metadata: { annotations?: Record<string, string> | undefined } } | undefined, pool: string): boolean {
  return obj?.metadata.annotations?.[ANNOTATION_POOL] === pool;
}
