// Re-requesting failed imports. OpenShift's import controller does not retry a
// failed import at the same spec-tag generation: the tag stays failed until the
// spec tag changes or an ImageStreamImport is posted (`oc import-image`). The
// planner decides when to post one, per tag, with exponential backoff; the
// state lives in the pool's status object (it survives restarts). Pure.
import type { ImageStream, ImportRetry } from '../kube/types.ts';
import type { KubeObject } from './snapshot.ts';
import { specTag, timeMs } from './streams.ts';

export const IMPORT_RETRY_BASE_MS = 10_000;
export const IMPORT_RETRY_MAX_MS = 10 * 60_000;

export interface ImportRetryConfig {
  baseMs: number;
  maxMs: number;
}

/** The delay before retry number `attempts + 1` (attempts already made). */
export function importBackoffMs(attempts: number, cfg: ImportRetryConfig): number {
  return Math.min(cfg.baseMs * 2 ** Math.max(0, attempts), cfg.maxMs);
}

export interface ImportFailure {
  stream: string;
  tag: string;
  from: string;
  /** `<reason>: <message>` of the ImportSuccess=False condition. */
  error: string;
  /** The ImageStreamImport to post now, when the backoff has passed. */
  request?: KubeObject | undefined;
  /** When the next re-request is due (ms since epoch). */
  nextRetryAt: number;
  /** Retries made so far, including one posted now. */
  attempts: number;
  /** The state to record in the status. */
  state: ImportRetry;
}

/**
 * The failure of one spec tag's last import, and whether to re-request it
 * now. undefined when the tag is not a DockerImage spec tag, imported fine,
 * or has a newer spec generation the import controller has yet to try.
 */
export function decideImportRetry(
  s: ImageStream | undefined,
  namespace: string,
  tag: string,
  prev: readonly ImportRetry[] | undefined,
  now: number,
  cfg: ImportRetryConfig = { baseMs: IMPORT_RETRY_BASE_MS, maxMs: IMPORT_RETRY_MAX_MS },
): ImportFailure | undefined {
  if (!s) return undefined;
  const spec = specTag(s, tag);
  if (!spec?.from || spec.from.kind !== 'DockerImage' || !spec.from.name) return undefined;
  const cond = s.status?.tags?.find((t) => t.tag === tag)?.conditions?.find((c) => c.type === 'ImportSuccess' && c.status === 'False');
  if (!cond) return undefined;
  // The spec tag changed after this failure: the import controller tries the new generation itself.
  if (typeof spec.generation === 'number' && typeof cond.generation === 'number' && cond.generation < spec.generation) return undefined;
  const stream = s.metadata.name;
  const from = spec.from.name;
  const error = `${cond.reason ?? 'ImportFailed'}: ${cond.message ?? ''}`.trim().replace(/:$/, '');
  const old = prev?.find((r) => r.stream === stream && r.tag === tag && r.from === from);
  const attempts = old?.attempts ?? 0;
  const failedAt = timeMs(cond.lastTransitionTime) ?? now;
  // After a re-request the failure seen is its outcome: count from when it was sent (our clock).
  const dueAt = (timeMs(old?.lastAttempt) ?? failedAt) + importBackoffMs(attempts, cfg);
  if (now < dueAt) {
    return { stream, tag, from, error, nextRetryAt: dueAt, attempts, state: old ?? { stream, tag, from, attempts: 0 } };
  }
  const request: KubeObject = {
    apiVersion: 'image.openshift.io/v1',
    kind: 'ImageStreamImport',
    metadata: { name: stream, namespace },
    spec: {
      import: true,
      images: [
        {
          from: { kind: 'DockerImage', name: from },
          to: { name: tag },
          importPolicy: { ...(spec.importPolicy ?? {}) },
          referencePolicy: { ...(spec.referencePolicy ?? { type: 'Source' }) },
        },
      ],
    },
  };
  const made = attempts + 1;
  return {
    stream,
    tag,
    from,
    error,
    request,
    nextRetryAt: now + importBackoffMs(made, cfg),
    attempts: made,
    state: { stream, tag, from, attempts: made, lastAttempt: new Date(now).toISOString() },
  };
}

/** When the import is asked for again: a deadline, never a countdown (the message stays the same until it changes state). */
export function importRetryText(f: ImportFailure): string {
  const when = new Date(f.nextRetryAt).toISOString();
  return f.attempts > 0 ? `re-requested ${f.attempts} time${f.attempts === 1 ? '' : 's'}; next attempt at ${when}` : `next attempt at ${when}`;
}
