// Retention, in-use aware (issue 9): which of a pool's images may go, and why
// each one stays. Pure and table-driven; `prune` and the operator's periodic
// prune act on exactly this decision (src/plan/prune.ts turns it into the
// objects to delete, src/kube/prune.ts deletes them).
//
// An image stays when any of these holds, else it goes:
// - it is in use: the hand-off MachineConfig / newestImage of any pool, an
//   image a Node's current or desired rendered config names, or a stream's
//   `latest` (the pool's current input or output);
// - it is pinned: annotation `layering.mco.dev/pin` on its ImageStream tag;
// - it is younger than --keep-for;
// - it is one of the last --keep-images good content images of its stream
//   besides those in use (so with --keep-images 2 the image in use and the
//   two before it stay);
// - it is the parent of a kept image: the rendered-config image (or content
//   image, for a custom build) a kept image was built from. When a kept
//   image's parents are unknown (its history is gone), every rendered-config
//   image of the pool stays: nothing is removed that might still be needed.
import type { BuildHistoryEntry, ImageStream } from '../kube/types.ts';
import { GROUP, LATEST, poolStreams } from './names.ts';
import { timeMs } from './streams.ts';
import { formatDuration } from '../config/defaults.ts';

export const ANNOTATION_PIN = `${GROUP}/pin`;

export type ImageRole = 'content' | 'custom' | 'rendered-config';

export interface RetentionImage {
  stream: string;
  role: ImageRole;
  digest: string;
  /** The stream's tags naming this digest. */
  tags: string[];
  createdMs?: number | undefined;
  pinned: boolean;
  /** Digests this image was built from (rendered-config, content); undefined = unknown. */
  parents?: string[] | undefined;
}

export interface RetentionInput {
  now: number;
  keepImages: number;
  keepForMs: number;
  images: readonly RetentionImage[];
  /** Digests in use anywhere in the cluster, with why. */
  inUse: ReadonlyMap<string, string>;
}

export interface RetentionVerdict {
  image: RetentionImage;
  keep: boolean;
  reasons: string[];
}

const days = formatDuration;

export function decideRetention(i: RetentionInput): RetentionVerdict[] {
  const reasons = new Map<RetentionImage, string[]>(i.images.map((img) => [img, []]));
  const add = (img: RetentionImage, r: string) => {
    const list = reasons.get(img)!;
    if (!list.includes(r)) list.push(r);
  };
  for (const img of i.images) {
    const use = i.inUse.get(img.digest);
    if (use) add(img, `in use: ${use}`);
    if (img.pinned) add(img, `pinned (${ANNOTATION_PIN} on ${img.stream}:${img.tags[0] ?? '-'})`);
    if (img.createdMs === undefined) add(img, 'creation time unknown');
    else if (i.now - img.createdMs < i.keepForMs) add(img, `younger than ${days(i.keepForMs)}`);
  }
  // The last N good images of each content stream (newest first) besides those in use.
  const byStream = new Map<string, RetentionImage[]>();
  for (const img of i.images) if (img.role !== 'rendered-config' && !i.inUse.has(img.digest)) byStream.set(img.stream, [...(byStream.get(img.stream) ?? []), img]);
  for (const imgs of byStream.values()) {
    imgs.sort((a, b) => (b.createdMs ?? Infinity) - (a.createdMs ?? Infinity) || a.digest.localeCompare(b.digest));
    imgs.slice(0, i.keepImages).forEach((img, n) => add(img, `one of the last ${i.keepImages} images of ${img.stream} besides those in use (#${n + 1})`));
  }
  // Parents of kept images, to a fixed point (custom -> content -> rendered-config).
  const byDigest = new Map<string, RetentionImage[]>();
  for (const img of i.images) byDigest.set(img.digest, [...(byDigest.get(img.digest) ?? []), img]);
  let changed = true;
  let unknownParents: RetentionImage | undefined;
  while (changed) {
    changed = false;
    for (const img of i.images) {
      if (reasons.get(img)!.length === 0 || img.role === 'rendered-config') continue;
      if (img.parents === undefined) {
        unknownParents ??= img;
        continue;
      }
      for (const p of img.parents) {
        for (const parent of byDigest.get(p) ?? []) {
          if (parent === img) continue;
          const r = `parent of kept ${img.role} image ${img.digest.slice(0, 19)}`;
          if (!reasons.get(parent)!.includes(r)) {
            add(parent, r);
            changed = true;
          }
        }
      }
    }
  }
  if (unknownParents) {
    for (const img of i.images) {
      if (img.role === 'rendered-config') add(img, `kept ${unknownParents.role} image ${unknownParents.digest.slice(0, 19)} has no recorded parents: every rendered-config image stays`);
    }
  }
  return i.images.map((img) => {
    const r = reasons.get(img)!;
    if (r.length) return { image: img, keep: true, reasons: r };
    const why = [`not in use, not pinned, older than ${days(i.keepForMs)}`];
    if (img.role !== 'rendered-config') why.push(`not among the last ${i.keepImages}`);
    else why.push('no kept image was built from it');
    return { image: img, keep: false, reasons: why };
  });
}

const digestIn = (ref: string | undefined) => (ref ? /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1] : undefined);

/**
 * A pool's images, from its streams and its history (parents from the build
 * inputs). Of the tag `latest` only its current image counts: its older
 * history items are revisions of that tag, which the operator never deletes
 * (the tag is its current input or output); OpenShift's own image pruner trims
 * them (`oc adm prune images --keep-tag-revisions`).
 */
export function poolImages(pool: string, streams: ReadonlyMap<string, ImageStream>, history: readonly BuildHistoryEntry[]): RetentionImage[] {
  const S = poolStreams(pool);
  const parentsOf = new Map<string, string[]>();
  for (const h of history) {
    if (!h.outputDigest || h.result !== 'Complete') continue;
    const p = [digestIn(h.inputs.renderedConfig), digestIn(h.inputs.content)].filter((d): d is string => d !== undefined);
    parentsOf.set(h.outputDigest, p);
  }
  const out: RetentionImage[] = [];
  for (const [name, role] of [
    [S.content, 'content'],
    [S.custom, 'custom'],
    [S.renderedConfig, 'rendered-config'],
  ] as const) {
    const s = streams.get(name);
    const pins = new Set((s?.spec?.tags ?? []).filter((t) => t.annotations?.[ANNOTATION_PIN] !== undefined && t.annotations[ANNOTATION_PIN] !== 'false').map((t) => t.name));
    const byDigest = new Map<string, RetentionImage>();
    for (const t of s?.status?.tags ?? []) {
      for (const item of t.tag === LATEST ? (t.items ?? []).slice(0, 1) : (t.items ?? [])) {
        const img = byDigest.get(item.image) ?? { stream: name, role, digest: item.image, tags: [], createdMs: undefined, pinned: false, parents: role === 'rendered-config' ? [] : parentsOf.get(item.image) };
        if (!img.tags.includes(t.tag)) img.tags.push(t.tag);
        const c = timeMs(item.created);
        if (c !== undefined) img.createdMs = Math.min(img.createdMs ?? c, c);
        if (pins.has(t.tag)) img.pinned = true;
        byDigest.set(item.image, img);
      }
    }
    out.push(...[...byDigest.values()].map((i) => ({ ...i, tags: i.tags.sort() })));
  }
  return out;
}

export interface InUseSources {
  pools: readonly { metadata: { name: string; annotations?: Record<string, string> | null | undefined } }[];
  machineConfigs: readonly { metadata: { name: string; annotations?: Record<string, string> | null | undefined }; spec?: { osImageURL?: string | null | undefined } | null | undefined }[];
  nodes: readonly { metadata: { name: string; annotations?: Record<string, string> | null | undefined } }[];
  streams: ReadonlyMap<string, ImageStream>;
}

/** Every digest in use in the cluster, with why (across pools: an image shared by two pools is in use if either uses it). */
export function imagesInUse(src: InUseSources): Map<string, string> {
  const use = new Map<string, string>();
  const mark = (ref: string | undefined, why: string) => {
    const d = digestIn(ref);
    if (d && !use.has(d)) use.set(d, why);
  };
  const mcs = new Map(src.machineConfigs.map((m) => [m.metadata.name, m]));
  for (const mc of src.machineConfigs) if (mc.metadata.annotations?.['machineconfiguration.openshift.io/pool']) mark(mc.spec?.osImageURL ?? undefined, `hand-off MachineConfig ${mc.metadata.name}`);
  for (const p of src.pools) mark(p.metadata.annotations?.['machineconfiguration.openshift.io/newestImage'], `newestImage of pool ${p.metadata.name}`);
  for (const n of src.nodes) {
    for (const k of ['currentConfig', 'desiredConfig'] as const) {
      const rc = n.metadata.annotations?.[`machineconfiguration.openshift.io/${k}`];
      if (rc) mark(mcs.get(rc)?.spec?.osImageURL ?? undefined, `node ${n.metadata.name} ${k} ${rc}`);
    }
  }
  for (const s of src.streams.values()) {
    const latest = s.status?.tags?.find((t) => t.tag === LATEST)?.items?.[0];
    if (latest) mark(`x@${latest.image}`, `${s.metadata.name}:${LATEST}`);
  }
  return use;
}
