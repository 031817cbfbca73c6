// Status a person can read: conditions, history, and the events that follow
// from the change between the recorded status and the new one. Pure.
import type { Build, BuildHistoryEntry, Condition, LayeredPoolStatus } from '../kube/types.ts';
import { buildCreatedMs, buildFingerprint, buildKind, buildOutput, INTERRUPTED_REASONS, interruptedReason } from './builds.ts';
import { ANNOTATION_INPUTS } from './names.ts';

/** A write whose success an Event reports: the Event is sent only after that write succeeded. */
export type EventAction =
  | { kind: 'createBuild'; name: string }
  | { kind: 'cancelBuild'; name: string }
  | { kind: 'handoff' }
  /** The server-side apply of the pool's operator-owned fields (hand-off annotations, the rollout hold). */
  | { kind: 'poolApply' }
  | { kind: 'deleteMachineConfig'; name: string };

export interface PlanEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** Sent at this action's site, once it succeeded; absent: an observation, sent before any write of the reconcile. */
  on?: EventAction | undefined;
  /** The Build it is about (structured, for the metrics: never parsed from the message). */
  build?: { name: string; kind: 'content' | 'custom'; start?: string | undefined; end?: string | undefined } | undefined;
  /** Identifies the fact reported: an Event with the same key is sent once per process (a lagging cache must not repeat it). */
  key?: string | undefined;
}

export type BuildEventReason = 'BuildStarted' | 'BuildSucceeded' | 'BuildCancelled' | 'BuildFailed' | 'BuildInterrupted';
const ALL_BUILD_EVENTS: ReadonlySet<BuildEventReason> = new Set(['BuildStarted', 'BuildSucceeded', 'BuildCancelled', 'BuildFailed', 'BuildInterrupted']);

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
      const interrupted = interruptedReason(b);
      if (interrupted) e.interrupted = `${interrupted}: ${INTERRUPTED_REASONS.get(interrupted)}; started again, not counted toward --retry-limit`;
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

/** The BuildStarted Event of a history entry (sent where the Build is created). */
export function buildStartedEvent(e: BuildHistoryEntry, pool: string): PlanEvent {
  const why = e.changes?.length ? `: ${e.changes.join('; ')}` : '';
  return {
    type: 'Normal',
    reason: 'BuildStarted',
    message: `pool ${pool}: ${e.kind} build ${e.build} started for inputs ${e.fingerprint.slice(0, 10)}${why}`,
    build: { name: e.build, kind: e.kind },
    key: `build/${e.build}/started`,
  };
}

/** The BuildCancelled Event of a history entry (sent where the cancel is sent). */
export function buildCancelledEvent(e: BuildHistoryEntry, pool: string): PlanEvent {
  return {
    type: 'Normal',
    reason: 'BuildCancelled',
    message: `pool ${pool}: ${e.kind} build ${e.build} was cancelled (its inputs ${e.fingerprint.slice(0, 10)} are stale)`,
    build: { name: e.build, kind: e.kind },
    key: `build/${e.build}/cancelled`,
  };
}

/** Events for builds that appeared or finished since the recorded history (of the reasons in `only`). */
export function buildEvents(prev: readonly BuildHistoryEntry[] | undefined, next: readonly BuildHistoryEntry[], pool: string, only: ReadonlySet<BuildEventReason> = ALL_BUILD_EVENTS): PlanEvent[] {
  const before = new Map((prev ?? []).map((e) => [e.build, e]));
  const events: PlanEvent[] = [];
  // Oldest first, so events read in order.
  for (const e of [...next].reverse()) {
    const p = before.get(e.build);
    const build = { name: e.build, kind: e.kind, start: e.start, end: e.end };
    if (!p) events.push(buildStartedEvent(e, pool));
    if (TERMINAL.has(e.result) && (!p || !TERMINAL.has(p.result))) {
      if (e.result === 'Complete') {
        events.push({ type: 'Normal', reason: 'BuildSucceeded', message: `pool ${pool}: ${e.kind} build ${e.build} produced ${e.outputDigest ?? 'an image'}`, build, key: `build/${e.build}/${e.result}` });
      } else if (e.result === 'Cancelled') {
        events.push({ ...buildCancelledEvent(e, pool), build });
      } else if (e.interrupted) {
        events.push({ type: 'Normal', reason: 'BuildInterrupted', message: `pool ${pool}: ${e.kind} build ${e.build} was interrupted (${e.interrupted})`, build, key: `build/${e.build}/${e.result}` });
      } else {
        events.push({ type: 'Warning', reason: 'BuildFailed', message: `pool ${pool}: ${e.kind} build ${e.build} failed`, build, key: `build/${e.build}/${e.result}` });
      }
    }
  }
  return events.filter((e) => only.has(e.reason as BuildEventReason));
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
