// `layered-build-controller prune --dry-run`: what retention would remove and
// keep, and why, from a snapshot of the cluster. Pure but for nothing: the CLI
// lists the objects, this decides and formats.
import { z } from 'zod';
import type { ImageStream, LayeredPool, MachineConfig, MachineConfigPool } from '../kube/types.ts';
import { poolStreams } from '../plan/names.ts';
import type { RetentionVerdict } from '../plan/retention.ts';
import { decideRetention, imagesInUse, poolImages } from '../plan/retention.ts';
import { cell } from './table.ts';

export const NodeSchema = z.looseObject({ metadata: z.looseObject({ name: z.string(), annotations: z.record(z.string(), z.string()).nullish() }) });
export type NodeLike = z.infer<typeof NodeSchema>;

/** `7d`, `12h`, `30m`, `3600s` (or plain seconds) to milliseconds. */
export const DurationSchema = z
  .string()
  .regex(/^\d+(d|h|m|s)?$/, 'must be a whole number with d, h, m or s (e.g. 7d)')
  .transform((v) => {
    const n = Number(v.replace(/[dhms]$/, ''));
    const unit = /[dhms]$/.exec(v)?.[0] ?? 's';
    return n * { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[unit as 'd' | 'h' | 'm' | 's'];
  });
export const KeepImagesSchema = z.coerce.number().int().min(0, 'must be 0 or more').max(1000, 'must be at most 1000');

export interface PruneSnapshot {
  now: number;
  keepImages: number;
  keepForMs: number;
  pools: readonly MachineConfigPool[];
  machineConfigs: readonly MachineConfig[];
  nodes: readonly NodeLike[];
  streams: readonly ImageStream[];
  layeredPools: readonly LayeredPool[];
}

export function prunePlan(s: PruneSnapshot, onlyPool?: string): { pool: string; verdicts: RetentionVerdict[] }[] {
  const streams = new Map(s.streams.map((x) => [x.metadata.name, x]));
  const inUse = imagesInUse({ pools: s.pools, machineConfigs: s.machineConfigs, nodes: s.nodes, streams });
  const pools = s.layeredPools.map((lp) => lp.spec?.poolName ?? lp.metadata.name).filter((p) => onlyPool === undefined || p === onlyPool);
  return pools.sort().map((pool) => {
    const lp = s.layeredPools.find((l) => (l.spec?.poolName ?? l.metadata.name) === pool);
    const S = poolStreams(pool);
    const mine = new Map([S.content, S.custom, S.renderedConfig].flatMap((n) => (streams.has(n) ? [[n, streams.get(n)!] as const] : [])));
    const images = poolImages(pool, mine, lp?.status?.history ?? []);
    return { pool, verdicts: decideRetention({ now: s.now, keepImages: s.keepImages, keepForMs: s.keepForMs, images, inUse }) };
  });
}

export function formatPrune(plans: ReturnType<typeof prunePlan>, namespace: string): string {
  const out: string[] = [];
  for (const { pool, verdicts } of plans) {
    const go = verdicts.filter((v) => !v.keep);
    const stay = verdicts.filter((v) => v.keep);
    out.push(`pool ${cell(pool)}: ${go.length} would go, ${stay.length} stay (dry run: nothing removed)`);
    for (const v of go) out.push(`  REMOVE ${cell(v.image.stream)}@${v.image.digest}  tags ${v.image.tags.map((t) => cell(t)).join(',')}: ${v.reasons.join('; ')}`);
    for (const v of stay) out.push(`  KEEP   ${cell(v.image.stream)}@${v.image.digest}  tags ${v.image.tags.map((t) => cell(t)).join(',')}: ${v.reasons.map((r) => cell(r, 300)).join('; ')}`);
    if (go.length) out.push(`  (removal would be: oc tag -d ${go.flatMap((v) => v.image.tags.map((t) => `${namespace}/${v.image.stream}:${t}`)).join(' ')})`);
  }
  if (plans.length === 0) out.push(`no layered pools in namespace ${namespace}`);
  return out.join('\n') + '\n';
}
