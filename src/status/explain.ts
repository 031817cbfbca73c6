// `layered-build-controller status --explain POOL`: the decision chain of the
// last reconcile as the operator stored it in the LayeredPool status. Pure.
import type { LayeredPool } from '../kube/types.ts';
import { age, cell } from './table.ts';

export function formatExplain(lp: LayeredPool, now: number): string {
  const s = lp.status ?? {};
  const pool = cell(lp.spec?.poolName ?? lp.metadata.name);
  const out: string[] = [];
  const e = s.explain;
  out.push(`pool ${pool}: ${cell(e?.state ?? s.phase ?? 'unknown')} (phase ${cell(s.phase)})`);
  if (!e) {
    out.push('  the operator has not recorded a decision chain for this pool yet (an older operator, or not reconciled since)');
    if (s.message) out.push(`  message: ${cell(s.message, 400)}`);
    return out.join('\n') + '\n';
  }
  out.push('', 'inputs:');
  const w = Math.max(...e.inputs.map((i) => cell(i.name).length), 4);
  for (const i of e.inputs) out.push(`  ${cell(i.name).padEnd(w)}  ${cell(i.value, 300)}${i.source ? `   <- ${cell(i.source, 200)}` : ''}`);
  out.push('', 'decisions:');
  e.steps.forEach((st, n) => out.push(`  ${n + 1}. ${cell(st, 400)}`));
  out.push('', 'why:');
  if (e.why.length === 0) out.push(e.state === 'Idle' ? '  the pool uses the image built for its current inputs; nothing to do' : '  -');
  for (const y of e.why) out.push(`  - ${cell(y, 600)}`);
  const last = s.history?.[0];
  if (last) {
    out.push('', `last build: ${cell(last.build)} (${cell(last.kind)}, ${cell(last.result)}, ${age(last.end ?? last.start, now)} ago)`);
    out.push(`  because: ${cell((last.changes ?? ['not recorded']).join('; '), 600)}`);
  }
  out.push('', 'what you can do:');
  for (const a of e.actions) out.push(`  - ${cell(a, 400)}`);
  for (const c of s.conditions ?? []) out.push(`${c === s.conditions![0] ? '\nconditions:\n' : ''}  ${c.type}=${c.status} ${cell(c.reason)}: ${cell(c.message, 400)}`);
  return out.join('\n') + '\n';
}
