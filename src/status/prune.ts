// `layered-build-controller prune [--dry-run]`: what retention removes and
// keeps, and why (the plan of src/plan/prune.ts), and what a removal did
// (the outcomes of src/kube/prune.ts). Pure formatting.
import type { PoolPrunePlan } from '../plan/prune.ts';
import { cell } from './table.ts';

export type PruneObjectKind = 'ImageStreamTag' | 'Manifest' | 'Build';
export type PruneOutcome = 'removed' | 'gone' | 'left' | 'failed';

/** What happened to one object the plan removes. */
export interface PruneResult {
  pool: string;
  kind: PruneObjectKind;
  /** `<namespace>/<stream>:<tag>`, `<repository>@<digest>` or `<namespace>/<build>`. */
  name: string;
  outcome: PruneOutcome;
  /** Why it goes (removed, gone), or why it did not (left, failed). */
  message: string;
}

const images = (v: PoolPrunePlan['verdicts'][number]) => `${cell(v.image.stream)}@${v.image.digest}  tags ${v.image.tags.map((t) => cell(t)).join(',') || '-'}`;

/** The verdicts and the objects that would go, for `--dry-run`. */
export function formatPrune(plans: readonly PoolPrunePlan[], namespace: string): string {
  const out: string[] = [];
  for (const p of plans) {
    const go = p.verdicts.filter((v) => !v.keep);
    const stay = p.verdicts.filter((v) => v.keep);
    out.push(`pool ${cell(p.pool)}: ${go.length} would go, ${stay.length} stay (dry run: nothing removed)`);
    for (const v of go) out.push(`  REMOVE ${images(v)}: ${v.reasons.map((r) => cell(r, 300)).join('; ')}`);
    for (const v of stay) out.push(`  KEEP   ${images(v)}: ${v.reasons.map((r) => cell(r, 300)).join('; ')}`);
    for (const line of objectLines(p, namespace)) out.push(`  would delete ${line}`);
    for (const n of p.notes) out.push(`  note: ${cell(n, 400)}`);
  }
  if (plans.length === 0) out.push(`no layered pools in namespace ${namespace}`);
  return out.join('\n') + '\n';
}

function objectLines(p: PoolPrunePlan, namespace: string): string[] {
  return [
    ...p.tags.map((t) => `ImageStreamTag ${namespace}/${cell(t.stream)}:${cell(t.tag)} (${t.why})`),
    ...p.manifests.map((m) => `Manifest ${cell(m.repository)}@${m.digest} (the rendered-config image in the registry)`),
    ...p.builds.map((b) => `Build ${namespace}/${cell(b.name)} (${cell(b.why, 300)})`),
  ];
}

/** After a removal: one line per object removed (or not), then what stays. */
export function formatPruneResults(plans: readonly PoolPrunePlan[], results: readonly PruneResult[], namespace: string): string {
  const out: string[] = [];
  for (const p of plans) {
    const mine = results.filter((r) => r.pool === p.pool);
    const n = (o: PruneOutcome) => mine.filter((r) => r.outcome === o).length;
    const stay = p.verdicts.filter((v) => v.keep);
    out.push(`pool ${cell(p.pool)}: ${n('removed')} removed, ${n('gone')} already gone, ${n('left')} left, ${n('failed')} failed; ${stay.length} image(s) stay`);
    for (const r of mine) out.push(`  ${r.outcome.toUpperCase().padEnd(7)} ${r.kind} ${cell(r.name, 300)}: ${cell(r.message, 400)}`);
    for (const v of stay) out.push(`  KEEP    ${images(v)}: ${v.reasons.map((x) => cell(x, 300)).join('; ')}`);
    for (const note of p.notes) out.push(`  note: ${cell(note, 400)}`);
  }
  if (plans.length === 0) out.push(`no layered pools in namespace ${namespace}`);
  return out.join('\n') + '\n';
}
