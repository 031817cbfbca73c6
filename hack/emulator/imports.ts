// Image import and tag tracking as a pure function of the streams (what OpenShift's
// image import controller and the ImageStream registry strategy do to `status.tags`).
// The emulator's controller resolves DockerImage references against the registry first
// (`dockerTagsToResolve`), then calls `reconcileStream` with the results.
import type { ImageStream, NamedTagEventList, TagEvent, TagReference } from '../../src/kube/types.ts';
import { LATEST } from '../../src/plan/names.ts';

/**
 * Annotation (on the ImageStream) recording which status tags the emulator maintains from
 * spec tags: a JSON object `{ "<tag>": "<spec key>" }`. A status tag named here whose spec tag
 * disappears is dropped from status (that is what `oc tag -d` looks like); status tags that are
 * not named here (pushed by a build) are never dropped. The spec key also tells whether a
 * DockerImage spec tag changed since it was last imported.
 */
export const ANNOTATION_SPEC_TAGS = 'emulator.layering.mco.dev/spec-tags';
export const IMPORT_CONDITION = 'ImportSuccess';

export type ImportFailureReason = 'NotFound' | 'InternalError' | 'Unauthorized';

export type ResolveResult =
  | { ok: true; digest: string; dockerImageReference: string }
  | { ok: false; reason: ImportFailureReason; message: string };

export type StreamStatus = NonNullable<ImageStream['status']>;
type Condition = NonNullable<NamedTagEventList['conditions']>[number];

export interface DockerTagToResolve {
  tag: string;
  ref: string;
  insecure: boolean;
}

export interface ReconcileContext {
  /** RFC 3339 time used for new items and new conditions. */
  now: string;
  /** host:port of the local registry: status.dockerImageRepository = <registry>/<ns>/<name>. */
  registry: string;
  /** Other streams (the informer cache), for ImageStreamTag / ImageStreamImage sources. */
  getStream(namespace: string, name: string): ImageStream | undefined;
  /** DockerImage resolutions done for this round, by tag name. Tags absent here are left as they are. */
  resolved: ReadonlyMap<string, ResolveResult>;
}

export interface ImportEvent {
  tag: string;
  kind: string;
  result: 'imported' | 'failed' | 'removed';
  image?: string;
  reason?: string;
  message?: string;
}

export interface ReconcileResult {
  status: StreamStatus;
  managed: Record<string, string>;
  statusChanged: boolean;
  annotationChanged: boolean;
  events: ImportEvent[];
}

export function namespaceOf(stream: ImageStream): string {
  return stream.metadata.namespace ?? '';
}

/** The identity of a spec tag's source; a change means "import again". */
export function specKey(tag: TagReference, namespace: string): string | undefined {
  const from = tag.from;
  if (!from) return undefined;
  const ns = from.namespace || namespace;
  const base = from.kind === 'DockerImage' ? `DockerImage:${from.name}` : `${from.kind}:${ns}/${from.name}`;
  return tag.generation != null ? `${base}#${tag.generation}` : base;
}

export function readManaged(stream: ImageStream): Record<string, string> {
  const raw = stream.metadata.annotations?.[ANNOTATION_SPEC_TAGS];
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
      return out;
    }
  } catch {
    // a hand-edited, broken annotation counts as empty
  }
  return {};
}

export function statusTag(status: StreamStatus | undefined, tag: string): NamedTagEventList | undefined {
  return (status?.tags ?? []).find((t) => t.tag === tag);
}

function hasFailedImport(t: NamedTagEventList | undefined): boolean {
  return (t?.conditions ?? []).some((c) => c.type === IMPORT_CONDITION && c.status === 'False');
}

/**
 * Which DockerImage spec tags need asking the registry now: new or changed spec tags, tags whose
 * last import failed (so an image pushed later is picked up), tags whose status went missing, and
 * `importPolicy.scheduled` tags when a scheduled round is due.
 */
export function dockerTagsToResolve(stream: ImageStream, opts: { scheduledDue: boolean }): DockerTagToResolve[] {
  const ns = namespaceOf(stream);
  const managed = readManaged(stream);
  const out: DockerTagToResolve[] = [];
  for (const tag of stream.spec?.tags ?? []) {
    if (tag.from?.kind !== 'DockerImage') continue;
    const st = statusTag(stream.status, tag.name);
    const need =
      managed[tag.name] !== specKey(tag, ns) ||
      !st ||
      ((st.items ?? []).length === 0 && !hasFailedImport(st)) ||
      hasFailedImport(st) ||
      (tag.importPolicy?.scheduled === true && opts.scheduledDue);
    if (need) out.push({ tag: tag.name, ref: tag.from.name, insecure: tag.importPolicy?.insecure === true });
  }
  return out;
}

/** The other streams a stream's spec tags draw from (to re-sync trackers when a source changes). */
export function sourcesOf(stream: ImageStream): Array<{ namespace: string; name: string }> {
  const ns = namespaceOf(stream);
  const out: Array<{ namespace: string; name: string }> = [];
  for (const tag of stream.spec?.tags ?? []) {
    const from = tag.from;
    if (!from || (from.kind !== 'ImageStreamTag' && from.kind !== 'ImageStreamImage')) continue;
    const name = from.kind === 'ImageStreamTag' ? splitIstName(from.name).stream : splitIsiName(from.name).stream;
    out.push({ namespace: from.namespace || ns, name });
  }
  return out;
}

export function splitIstName(name: string): { stream: string; tag: string } {
  const i = name.lastIndexOf(':');
  return i < 0 ? { stream: name, tag: LATEST } : { stream: name.slice(0, i), tag: name.slice(i + 1) };
}

export function splitIsiName(name: string): { stream: string; digest: string } {
  const i = name.indexOf('@');
  return i < 0 ? { stream: name, digest: '' } : { stream: name.slice(0, i), digest: name.slice(i + 1) };
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Stable JSON (sorted keys) for change detection. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      return Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return val;
  });
}

function getOrCreate(tags: NamedTagEventList[], tag: string): NamedTagEventList {
  let t = tags.find((x) => x.tag === tag);
  if (!t) {
    t = { tag, items: [] };
    tags.push(t);
  }
  return t;
}

/**
 * Adds `next` as the newest item of a tag, as OpenShift's AddTagEventToImageStream does:
 * the same image and reference as the current item adds nothing (a newer generation is recorded
 * on it); anything else goes in front, keeping the history.
 */
export function addTagEvent(t: NamedTagEventList, next: TagEvent): boolean {
  const items = t.items ?? [];
  const prev = items[0];
  if (prev && prev.image === next.image && prev.dockerImageReference === next.dockerImageReference) {
    if (next.generation != null && (prev.generation == null || next.generation > prev.generation)) {
      prev.generation = next.generation;
      t.items = items;
      return true;
    }
    return false;
  }
  t.items = [next, ...items];
  return true;
}

function clearConditions(t: NamedTagEventList): void {
  if (t.conditions !== undefined) delete t.conditions;
}

function setFailure(t: NamedTagEventList, c: { reason: string; message: string; generation?: number | undefined; now: string }): void {
  const old = (t.conditions ?? []).find((x) => x.type === IMPORT_CONDITION);
  const cond: Condition = {
    type: IMPORT_CONDITION,
    status: 'False',
    reason: c.reason,
    message: c.message,
    lastTransitionTime: old && old.status === 'False' && old.lastTransitionTime ? old.lastTransitionTime : c.now,
  };
  if (c.generation != null) cond.generation = c.generation;
  t.conditions = [cond];
  if (t.items == null) t.items = [];
}

/** Adds a pushed image (a build's output) as the newest item of `tag`; null when nothing changes. */
export function withPushedImage(stream: ImageStream, tag: string, digest: string, registry: string, now: string): StreamStatus | null {
  const status = clone(stream.status) ?? {};
  const ns = namespaceOf(stream);
  status.dockerImageRepository = `${registry}/${ns}/${stream.metadata.name}`;
  const tags = status.tags ?? [];
  status.tags = tags;
  const t = getOrCreate(tags, tag);
  const ev: TagEvent = { created: now, dockerImageReference: `${registry}/${ns}/${stream.metadata.name}@${digest}`, image: digest };
  if (stream.metadata.generation != null) ev.generation = stream.metadata.generation;
  const changed = addTagEvent(t, ev);
  const hadCond = t.conditions !== undefined;
  clearConditions(t);
  if (!changed && !hadCond && canonical(status) === canonical(stream.status ?? {})) return null;
  return status;
}

/**
 * The stream's desired status and managed-tags annotation. Spec tags are applied in order,
 * DockerImage first; tags tracking tags of the same stream are settled over a few passes.
 */
export function reconcileStream(stream: ImageStream, ctx: ReconcileContext): ReconcileResult {
  const ns = namespaceOf(stream);
  const name = stream.metadata.name;
  const oldStatus = stream.status ?? {};
  const status: StreamStatus = clone(oldStatus);
  status.dockerImageRepository = `${ctx.registry}/${ns}/${name}`;
  const tags: NamedTagEventList[] = status.tags ?? [];
  status.tags = tags;
  const events: ImportEvent[] = [];
  const specTags = stream.spec?.tags ?? [];
  const prevManaged = readManaged(stream);
  const managed: Record<string, string> = {};
  const gen = (t: TagReference): number | undefined => t.generation ?? stream.metadata.generation;

  // 1. DockerImage tags resolved this round.
  for (const tag of specTags) {
    const key = specKey(tag, ns);
    if (key) managed[tag.name] = key;
    else if (prevManaged[tag.name] !== undefined) managed[tag.name] = prevManaged[tag.name]!;
    if (tag.from?.kind !== 'DockerImage') continue;
    const r = ctx.resolved.get(tag.name);
    if (!r) continue;
    const t = getOrCreate(tags, tag.name);
    if (r.ok) {
      const ev: TagEvent = { created: ctx.now, dockerImageReference: r.dockerImageReference, image: r.digest };
      const g = gen(tag);
      if (g != null) ev.generation = g;
      const before = canonical(t);
      addTagEvent(t, ev);
      clearConditions(t);
      if (canonical(t) !== before) events.push({ tag: tag.name, kind: 'DockerImage', result: 'imported', image: r.digest });
    } else {
      const before = canonical(t);
      setFailure(t, { reason: r.reason, message: r.message, generation: gen(tag), now: ctx.now });
      if (canonical(t) !== before) events.push({ tag: tag.name, kind: 'DockerImage', result: 'failed', reason: r.reason, message: r.message });
    }
  }

  // 2. Tracking tags (ImageStreamTag / ImageStreamImage); sources in this same stream see this round's result.
  const lookup = (sns: string, sname: string): StreamStatus | undefined =>
    sns === ns && sname === name ? status : ctx.getStream(sns, sname)?.status;
  const tracking = specTags.filter((t) => t.from && t.from.kind !== 'DockerImage');
  const trackingEvents = new Map<string, ImportEvent>();
  for (let pass = 0; pass < Math.max(1, tracking.length); pass++) {
    let changed = false;
    for (const tag of tracking) {
      const from = tag.from!;
      const sns = from.namespace || ns;
      const t = getOrCreate(tags, tag.name);
      const before = canonical(t);
      if (from.kind === 'ImageStreamTag') {
        const src = splitIstName(from.name);
        const cur = (statusTag(lookup(sns, src.stream), src.tag)?.items ?? [])[0];
        if (cur) {
          const ev: TagEvent = { created: ctx.now, dockerImageReference: cur.dockerImageReference, image: cur.image };
          const g = gen(tag);
          if (g != null) ev.generation = g;
          addTagEvent(t, ev);
          clearConditions(t);
          if (canonical(t) !== before) trackingEvents.set(tag.name, { tag: tag.name, kind: from.kind, result: 'imported', image: cur.image });
        } else {
          // The source tag has no image: the tracking tag has none either.
          t.items = [];
          setFailure(t, { reason: 'NotFound', message: `imagestreamtag ${sns}/${src.stream}:${src.tag} has no image`, generation: gen(tag), now: ctx.now });
          if (canonical(t) !== before) trackingEvents.set(tag.name, { tag: tag.name, kind: from.kind, result: 'failed', reason: 'NotFound' });
        }
      } else if (from.kind === 'ImageStreamImage') {
        const src = splitIsiName(from.name);
        const srcStatus = lookup(sns, src.stream);
        let found: TagEvent | undefined;
        for (const st of srcStatus?.tags ?? []) {
          found = (st.items ?? []).find((i) => i.image === src.digest);
          if (found) break;
        }
        if (found) {
          const ev: TagEvent = { created: ctx.now, dockerImageReference: found.dockerImageReference, image: found.image };
          const g = gen(tag);
          if (g != null) ev.generation = g;
          addTagEvent(t, ev);
          clearConditions(t);
          if (canonical(t) !== before) trackingEvents.set(tag.name, { tag: tag.name, kind: from.kind, result: 'imported', image: found.image });
        } else {
          setFailure(t, { reason: 'NotFound', message: `imagestreamimage ${sns}/${from.name} not found`, generation: gen(tag), now: ctx.now });
          if (canonical(t) !== before) trackingEvents.set(tag.name, { tag: tag.name, kind: from.kind, result: 'failed', reason: 'NotFound' });
        }
      } else {
        setFailure(t, { reason: 'InternalError', message: `unsupported from.kind ${JSON.stringify(from.kind)}`, generation: gen(tag), now: ctx.now });
        if (canonical(t) !== before) trackingEvents.set(tag.name, { tag: tag.name, kind: from.kind, result: 'failed', reason: 'InternalError' });
      }
      if (canonical(t) !== before) changed = true;
    }
    if (!changed) break;
  }
  events.push(...trackingEvents.values());

  // 3. Status tags the emulator maintained for a spec tag that is gone.
  const specNames = new Set(specTags.map((t) => t.name));
  for (const tagName of Object.keys(prevManaged)) {
    if (specNames.has(tagName)) continue;
    const i = tags.findIndex((t) => t.tag === tagName);
    if (i >= 0) {
      tags.splice(i, 1);
      events.push({ tag: tagName, kind: 'removed', result: 'removed' });
    }
  }

  const statusChanged = canonical(status) !== canonical(oldStatus);
  const annotationChanged = canonical(managed) !== canonical(prevManaged);
  return { status, managed, statusChanged, annotationChanged, events };
}
