// What pruning removes, from the retention decision (src/plan/retention.ts)
// and nothing else. Pure: `prune --dry-run` prints it, `prune` and the
// operator's periodic prune hand it to src/kube/prune.ts, which deletes it.
//
// Per pool, for the images the decision says go:
// - the ImageStream tags that name only such images (DELETE imagestreamtags
//   drops the tag and its history items, so OpenShift's own image pruner can
//   reclaim the blobs). `latest` is never deleted: it is the pool's current
//   input or output, and its image is in use;
// - for rendered-config images pushed to an external registry (the stream
//   imports them through spec tags from `<registry>/<ns>/<stream>@<digest>`,
//   it does not record the push), the manifest there, by digest;
// - the Builds of the removed fingerprints (not running): a Complete Build
//   left behind would make the planner reuse its image, which is gone. The
//   status history (status.history, status.buildAttempts) is not touched: it
//   outlives the Builds and still tells what was built, and keeps attempt
//   numbers unique.
import type { Build, ImageStream, LayeredPool, MachineConfig, MachineConfigPool } from '../kube/types.ts';
import { ANNOTATION_POOL, LATEST, fingerprintTag, poolStreams } from './names.ts';
import { buildFingerprint, buildKind, buildOutput, isActive } from './builds.ts';
import { timeMs } from './streams.ts';
import type { RetentionVerdict } from './retention.ts';
import { decideRetention, imagesInUse, poolImages } from './retention.ts';

export interface NodeLike {
  metadata: { name: string; annotations?: Record<string, string> | null | undefined };
}

export interface PruneSnapshot {
  now: number;
  keepImages: number;
  keepForMs: number;
  /** Namespace of the per-pool objects. */
  namespace: string;
  /** The registry the rendered-config images are pushed to (--registry). */
  registry: string;
  pools: readonly MachineConfigPool[];
  machineConfigs: readonly MachineConfig[];
  nodes: readonly NodeLike[];
  streams: readonly ImageStream[];
  layeredPools: readonly LayeredPool[];
  builds: readonly Build[];
}

export interface TagRemoval {
  stream: string;
  tag: string;
  /** The images the tag names (newest first). */
  digests: string[];
  why: string;
}

export interface ManifestRemoval {
  /** `<registry>/<namespace>/<stream>` */
  repository: string;
  registry: string;
  /** The repository path in the registry: `<namespace>/<stream>`. */
  path: string;
  digest: string;
}

export interface BuildRemoval {
  name: string;
  fingerprint: string;
  why: string;
}

export interface PoolPrunePlan {
  pool: string;
  verdicts: RetentionVerdict[];
  tags: TagRemoval[];
  manifests: ManifestRemoval[];
  builds: BuildRemoval[];
  /** Images that go but stay referenced, and why (e.g. a history item of a kept tag). */
  notes: string[];
}

const short = (d: string) => d.slice(0, 19);

/** Every pool's plan (or only `onlyPool`'s), sorted by pool name. */
export function prunePlan(s: PruneSnapshot, onlyPool?: string): PoolPrunePlan[] {
  const streams = new Map(s.streams.map((x) => [x.metadata.name, x]));
  const inUse = imagesInUse({ pools: s.pools, machineConfigs: s.machineConfigs, nodes: s.nodes, streams });
  const pools = [...new Set(s.layeredPools.map((lp) => lp.spec?.poolName ?? lp.metadata.name))].filter((p) => onlyPool === undefined || p === onlyPool);
  return pools.sort().map((pool) => {
    const lp = s.layeredPools.find((l) => (l.spec?.poolName ?? l.metadata.name) === pool);
    const S = poolStreams(pool);
    const mine = new Map([S.content, S.custom, S.renderedConfig].flatMap((n) => (streams.has(n) ? [[n, streams.get(n)!] as const] : [])));
    const images = poolImages(pool, mine, lp?.status?.history ?? []);
    const verdicts = decideRetention({ now: s.now, keepImages: s.keepImages, keepForMs: s.keepForMs, images, inUse });
    return { pool, verdicts, ...removals(pool, verdicts, mine, s) };
  });
}

function removals(pool: string, verdicts: readonly RetentionVerdict[], streams: ReadonlyMap<string, ImageStream>, s: PruneSnapshot): Omit<PoolPrunePlan, 'pool' | 'verdicts'> {
  const S = poolStreams(pool);
  const goes = new Map<string, Set<string>>(); // stream -> digests that go
  const stays = new Map<string, Set<string>>();
  for (const v of verdicts) {
    const m = v.keep ? stays : goes;
    m.set(v.image.stream, (m.get(v.image.stream) ?? new Set()).add(v.image.digest));
  }
  const tags: TagRemoval[] = [];
  const notes: string[] = [];
  for (const [name, stream] of streams) {
    const go = goes.get(name);
    if (!go?.size) continue;
    for (const t of stream.status?.tags ?? []) {
      const digests = (t.items ?? []).map((i) => i.image);
      if (t.tag === LATEST) {
        const old = digests.slice(1).filter((d) => go.has(d));
        if (old.length) notes.push(`${name}:${LATEST} keeps ${old.length} older history item(s) of removed images (${old.map(short).join(', ')}): the tag is never deleted; oc adm prune images --keep-tag-revisions trims them`);
        continue;
      }
      if (digests.length === 0 || !digests.every((d) => go.has(d))) {
        const gone = digests.filter((d) => go.has(d));
        if (gone.length) notes.push(`${name}:${t.tag} stays: it also names kept image(s) ${digests.filter((d) => !go.has(d)).map(short).join(', ')}`);
        continue;
      }
      tags.push({ stream: name, tag: t.tag, digests, why: `names only image(s) that go: ${digests.map(short).join(', ')}` });
    }
  }
  tags.sort((a, b) => a.stream.localeCompare(b.stream) || a.tag.localeCompare(b.tag));

  // Rendered-config images pushed to another registry: the stream does not record the push, it imports it.
  const manifests: ManifestRemoval[] = [];
  const rc = streams.get(S.renderedConfig);
  const rcPath = `${s.namespace}/${S.renderedConfig}`;
  const rcRepo = `${s.registry}/${rcPath}`;
  // Only where the operator itself imports them from there (a spec tag from `<registry>/<ns>/<stream>@<digest>`):
  // the integrated registry records its pushes instead, and a --registry other than the operator's matches nothing.
  if (rc && rc.status?.dockerImageRepository !== rcRepo) {
    const imported = new Set((rc.spec?.tags ?? []).flatMap((t) => (t.from?.kind === 'DockerImage' && t.from.name.startsWith(`${rcRepo}@`) ? [t.from.name.slice(rcRepo.length + 1)] : [])));
    for (const d of [...(goes.get(S.renderedConfig) ?? [])].sort()) {
      if (imported.has(d)) manifests.push({ repository: rcRepo, registry: s.registry, path: rcPath, digest: d });
    }
  }

  // Builds of removed fingerprints: their output tag is deleted (or their output image goes).
  const deletedTags = new Set(tags.map((t) => `${t.stream}:${t.tag}`));
  const builds: BuildRemoval[] = [];
  for (const b of s.builds) {
    if (b.metadata.annotations?.[ANNOTATION_POOL] !== pool || isActive(b)) continue;
    const kind = buildKind(b);
    const fp = buildFingerprint(b);
    if (!kind || !fp) continue;
    const stream = kind === 'content' ? S.content : S.custom;
    const out = buildOutput(b)?.digest;
    if (out && stays.get(stream)?.has(out)) continue;
    const tag = fingerprintTag(fp);
    const tagGone = deletedTags.has(`${stream}:${tag}`);
    const outGone = out !== undefined && goes.get(stream)?.has(out) === true;
    // Left over from an earlier prune whose Build delete failed: a Complete Build of a tag no longer there, finished before --keep-for.
    const finished = timeMs(b.status?.completionTimestamp);
    const leftOver =
      out !== undefined &&
      !streams.get(stream)?.status?.tags?.some((t) => t.tag === tag) &&
      !verdicts.some((v) => v.keep && v.image.digest === out) &&
      finished !== undefined &&
      s.now - finished >= s.keepForMs;
    if (!tagGone && !outGone && !leftOver) continue;
    builds.push({
      name: b.metadata.name,
      fingerprint: fp,
      why: tagGone || outGone ? `its inputs ${fp.slice(0, 10)} lose their image${out ? ` ${short(out)}` : ''} (${stream}:${tag})` : `its image ${short(out!)} has no tag ${stream}:${tag} any more (removed earlier)`,
    });
  }
  builds.sort((a, b) => a.name.localeCompare(b.name));
  return { tags, manifests, builds, notes };
}
