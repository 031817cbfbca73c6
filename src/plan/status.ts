// Status a person can read: conditions, history, and the events that follow
// from the change between the recorded status and the new one. Pure.
import type { Build, BuildHistoryEntry, Condition, LayeredPoolStatus } from '../kube/types.ts';
import { buildCreatedMs, buildFingerprint, buildKind, buildOutput } from './builds.ts';
import { ANNOTATION_INPUTS } from './names.ts';

export interface PlanEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

const TERMINAL = new Set(['Complete', 'Failed', 'Error', 'Cancelled']);

function iso(t: string | Date | undefined): string | undefined {
  if (t === undefined) return undefined;
  return t instanceof Date ? t.toISOString() : t;
}

export function historyOf(builds: readonly Build[], size: number): BuildHistoryEntry[] {
  return [...builds]
    .filter((b) => buildKind(b) && buildFingerprint(b))
    .sort((a, b) => buildCreatedMs(b) - buildCreatedMs(a) || b.metadata.name.localeCompare(a.metadata.name))
    .slice(0, size)
    .map((b) => {
      let inputs: Record<string, string> = {};
      try {
        const parsed: unknown = JSON.parse(b.metadata.annotations?.[ANNOTATION_INPUTS] ?? '{}');
        if (parsed && typeof parsed === 'object') {
          inputs = Object.fromEntries(Object.entries(parsed).filter(([k, v]) => typeof v === 'string' && k !== 'dockerfile')) as Record<string, string>;
        }
      } catch {
        inputs = {};
      }
      const e: BuildHistoryEntry = {
        build: b.metadata.name,
        kind: buildKind(b)!,
        fingerprint: buildFingerprint(b)!,
        inputs,
        result: b.status?.cancelled && !TERMINAL.has(b.status.phase ?? '') ? 'Cancelling' : (b.status?.phase ?? 'New'),
      };
      const out = buildOutput(b);
      if (out) e.outputDigest = out.digest;
      const start = iso(b.status?.startTimestamp) ?? iso(b.metadata.creationTimestamp);
      if (start) e.start = start;
      const end = iso(b.status?.completionTimestamp);
      if (end) e.end = end;
      return e;
    });
}

/**
 * The history: entries of the Builds that exist, plus the recorded entries of
 * Builds that no longer do (OpenShift prunes them per BuildConfig), newest
 * first, at most `size`. History lives in the status object, not in the Builds.
 */
export function mergeHistory(prev: readonly BuildHistoryEntry[] | undefined, builds: readonly Build[], size: number): BuildHistoryEntry[] {
  const live = historyOf(builds, Number.MAX_SAFE_INTEGER);
  const names = new Set(live.map((e) => e.build));
  const pruned = (prev ?? []).filter((e) => !names.has(e.build));
  const at = (e: BuildHistoryEntry) => Date.parse(e.start ?? e.end ?? '') || 0;
  return [...live, ...pruned].sort((a, b) => at(b) - at(a) || b.build.localeCompare(a.build)).slice(0, size);
}

/** Events for builds that appeared or finished since the recorded history. */
export function buildEvents(prev: readonly BuildHistoryEntry[] | undefined, next: readonly BuildHistoryEntry[], pool: string): PlanEvent[] {
  const before = new Map((prev ?? []).map((e) => [e.build, e]));
  const events: PlanEvent[] = [];
  // Oldest first, so events read in order.
  for (const e of [...next].reverse()) {
    const p = before.get(e.build);
    const short = e.fingerprint.slice(0, 10);
    if (!p) {
      const why = e.changes?.length ? `: ${e.changes.join('; ')}` : '';
      events.push({ type: 'Normal', reason: 'BuildStarted', message: `pool ${pool}: ${e.kind} build ${e.build} started for inputs ${short}${why}` });
    }
    if (TERMINAL.has(e.result) && (!p || !TERMINAL.has(p.result))) {
      if (e.result === 'Complete') {
        events.push({ type: 'Normal', reason: 'BuildSucceeded', message: `pool ${pool}: ${e.kind} build ${e.build} produced ${e.outputDigest ?? 'an image'}` });
      } else if (e.result === 'Cancelled') {
        events.push({ type: 'Normal', reason: 'BuildCancelled', message: `pool ${pool}: ${e.kind} build ${e.build} was cancelled (its inputs ${short} are stale)` });
      } else {
        events.push({ type: 'Warning', reason: 'BuildFailed', message: `pool ${pool}: ${e.kind} build ${e.build} failed` });
      }
    }
  }
  return events;
}

/**
 * A condition with lastTransitionTime kept from the previous one when its
 * status did not change (so the status object does not churn).
 */
export function condition(
  prev: readonly Condition[] | undefined,
  type: Condition['type'],
  status: Condition['status'],
  reason: string,
  message: string,
  observedGeneration: number | undefined,
  now: number,
): Condition {
  const old = prev?.find((c) => c.type === type);
  const c: Condition = {
    type,
    status,
    reason,
    message,
    lastTransitionTime: old && old.status === status ? old.lastTransitionTime : new Date(now).toISOString(),
  };
  if (observedGeneration !== undefined) c.observedGeneration = observedGeneration;
  return c;
}

/** Trims a build log to the last lines that fit in a condition message. */
export function logExcerpt(log: string | undefined, maxLines = 8, maxChars = 1200): string {
  if (!log) return '';
  const lines = log.trimEnd().split('\n').slice(-maxLines).join('\n');
  return lines.length > maxChars ? '…' + lines.slice(-maxChars) : lines;
}

export function sameStatus(a: LayeredPoolStatus | undefined, b: LayeredPoolStatus | undefined): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
}
