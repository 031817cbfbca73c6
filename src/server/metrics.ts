// The operator's Prometheus metrics, on a registry of its own (never the
// global one, so tests and two operators in one process do not collide).
// The rest of the code calls the typed methods of `Metrics`; only the HTTP
// server touches the prom-client registry.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkQueueMetrics } from '../queue/workqueue.ts';

export type ReconcileResult = 'success' | 'error' | 'requeue';
export type BuildKindLabel = 'content' | 'custom';
export type BuildEvent = 'started' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
export type PushResult = 'pushed' | 'skipped' | 'failed';
export type PruneKindLabel = 'ImageStreamTag' | 'Manifest' | 'Build';

export interface Metrics {
  readonly registry: Registry;
  /** Hooks for the work queue (depth, adds, wait, work duration, retries). */
  readonly workqueue: WorkQueueMetrics;
  /** One reconcile finished with `result` after `seconds`. */
  reconcile(result: ReconcileResult, seconds: number): void;
  build(pool: string, kind: BuildKindLabel, event: BuildEvent): void;
  /** A finished build's duration (start to completion). */
  buildDuration(pool: string, kind: BuildKindLabel, seconds: number): void;
  /** A rendered-config push attempt; `bytes` is what was uploaded (0 when skipped). */
  renderedConfigPush(pool: string, result: PushResult, bytes?: number): void;
  informerRestart(resource: string): void;
  /** One object retention removed (lbc_pruned_total{kind}) or failed to remove (lbc_prune_failures_total{kind}). */
  pruned(kind: PruneKindLabel, outcome: 'removed' | 'failed'): void;
  setLeader(isLeader: boolean): void;
  setCacheSynced(synced: boolean): void;
  /** What /readyz answers, sampled at every scrape into lbc_ready. */
  setReadyProbe(probe: () => boolean): void;
  /**
   * A pool's state after a reconcile: its conditions (lbc_pool_condition, 1 while
   * True) and the start of each kind's running build (lbc_build_active_start_time_seconds).
   * `undefined` clears the pool's series (unmanaged or gone).
   */
  poolState(pool: string, state: PoolState | undefined): void;
  /** The exposition text (what /metrics serves). */
  text(): Promise<string>;
  readonly contentType: string;
}

export interface PoolState {
  conditions: readonly { type: string; status: string; reason: string }[];
  /** Start (ms since the epoch) of the running build of each kind, if one runs. */
  activeBuilds: Partial<Record<BuildKindLabel, number>>;
}

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC...). Default true. */
  processMetrics?: boolean;
  /** Buckets (seconds) of lbc_reconcile_duration_seconds. */
  reconcileBuckets?: number[];
  /** Buckets (seconds) of lbc_build_duration_seconds. */
  buildBuckets?: number[];
  /** Buckets (seconds) of the work queue's wait and work duration histograms. */
  queueBuckets?: number[];
}

export const METRICS_DEFAULTS = {
  processMetrics: true,
  reconcileBuckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  buildBuckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
  queueBuckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600],
} as const;

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics ?? METRICS_DEFAULTS.processMetrics) {
    collectDefaultMetrics({ register: registry });
  }
  const registers = [registry];

  const reconcileTotal = new Counter({
    name: 'lbc_reconcile_total',
    help: 'Reconciles of a pool key, by result (success, error, requeue).',
    labelNames: ['result'] as const,
    registers,
  });
  const reconcileDuration = new Histogram({
    name: 'lbc_reconcile_duration_seconds',
    help: 'Duration of one reconcile.',
    buckets: [...(opts.reconcileBuckets ?? METRICS_DEFAULTS.reconcileBuckets)],
    registers,
  });
  const queueDepth = new Gauge({
    name: 'lbc_workqueue_depth',
    help: 'Keys waiting in the work queue (neither in flight nor delayed).',
    registers,
  });
  const queueAdds = new Counter({
    name: 'lbc_workqueue_adds_total',
    help: 'Keys added to the work queue (duplicates of a queued key are not counted).',
    registers,
  });
  const queueRetries = new Counter({
    name: 'lbc_workqueue_retries_total',
    help: 'Keys re-added to the work queue with backoff after an error.',
    registers,
  });
  const queueBuckets = [...(opts.queueBuckets ?? METRICS_DEFAULTS.queueBuckets)];
  const queueWait = new Histogram({
    name: 'lbc_workqueue_wait_seconds',
    help: 'Time a key waited in the work queue before a worker took it.',
    buckets: queueBuckets,
    registers,
  });
  const queueWork = new Histogram({
    name: 'lbc_workqueue_work_duration_seconds',
    help: 'Time a worker held a key (get to done).',
    buckets: queueBuckets,
    registers,
  });
  const builds = new Counter({
    name: 'lbc_builds_total',
    help: 'Build lifecycle events by pool, kind (content, custom) and event (started, succeeded, failed, cancelled, interrupted: its pod evicted or deleted, started again).',
    labelNames: ['pool', 'kind', 'event'] as const,
    registers,
  });
  const buildDuration = new Histogram({
    name: 'lbc_build_duration_seconds',
    help: 'Duration of finished builds, by pool and kind.',
    labelNames: ['pool', 'kind'] as const,
    buckets: [...(opts.buildBuckets ?? METRICS_DEFAULTS.buildBuckets)],
    registers,
  });
  const pushes = new Counter({
    name: 'lbc_rendered_config_pushes_total',
    help: 'Rendered-config image pushes by pool and result (pushed, skipped: already present, failed).',
    labelNames: ['pool', 'result'] as const,
    registers,
  });
  const pushBytes = new Counter({
    name: 'lbc_rendered_config_push_bytes_total',
    help: 'Bytes uploaded for rendered-config images, by pool.',
    labelNames: ['pool'] as const,
    registers,
  });
  const informerRestarts = new Counter({
    name: 'lbc_informer_restarts_total',
    help: 'Informer restarts after an error, by resource.',
    labelNames: ['resource'] as const,
    registers,
  });
  const pruned = new Counter({
    name: 'lbc_pruned_total',
    help: 'Objects removed by retention, by kind (ImageStreamTag, Manifest, Build).',
    labelNames: ['kind'] as const,
    registers,
  });
  const pruneFailures = new Counter({
    name: 'lbc_prune_failures_total',
    help: 'Removals by retention that failed (tried again at the next prune), by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  for (const kind of ['ImageStreamTag', 'Manifest', 'Build'] as const) {
    pruned.inc({ kind }, 0);
    pruneFailures.inc({ kind }, 0);
  }
  const leader = new Gauge({
    name: 'lbc_leader',
    help: '1 while this replica holds the leader Lease, else 0.',
    registers,
  });
  const cacheSynced = new Gauge({
    name: 'lbc_cache_synced',
    help: '1 once every informer cache has completed its first list, else 0.',
    registers,
  });
  let readyProbe: (() => boolean) | undefined;
  new Gauge({
    name: 'lbc_ready',
    help: '1 while /readyz answers ready (caches synced, and the leader or a healthy standby), else 0.',
    registers,
    collect() {
      let ok = false;
      try {
        ok = readyProbe?.() ?? false;
      } catch {
        ok = false;
      }
      this.set(ok ? 1 : 0);
    },
  });
  const poolCondition = new Gauge({
    name: 'lbc_pool_condition',
    help: "A pool's status conditions (Ready, Building, Degraded): 1 while True, else 0, with the condition's reason.",
    labelNames: ['pool', 'condition', 'reason'] as const,
    registers,
  });
  const activeStart = new Gauge({
    name: 'lbc_build_active_start_time_seconds',
    help: 'Start time (unix seconds) of the running build of a pool and kind; absent while none runs.',
    labelNames: ['pool', 'kind'] as const,
    registers,
  });
  /** The reason label last exported per pool and condition (a new reason replaces the series). */
  const conditionReasons = new Map<string, Map<string, string>>();
  const activeKinds = new Map<string, Set<BuildKindLabel>>();
  leader.set(0);
  cacheSynced.set(0);
  queueDepth.set(0);

  const nonNegative = (n: number) => (Number.isFinite(n) && n > 0 ? n : 0);

  return {
    registry,
    contentType: registry.contentType,
    workqueue: {
      add: () => queueAdds.inc(),
      depth: (n) => queueDepth.set(n),
      wait: (s) => queueWait.observe(nonNegative(s)),
      workDuration: (s) => queueWork.observe(nonNegative(s)),
      retry: () => queueRetries.inc(),
    },
    reconcile(result, seconds) {
      reconcileTotal.inc({ result });
      reconcileDuration.observe(nonNegative(seconds));
    },
    build(pool, kind, event) {
      // Every event's series exists (at 0) from the first start, so increase() sees the first failure.
      if (event === 'started') for (const e of ['succeeded', 'failed', 'cancelled'] as const) builds.inc({ pool, kind, event: e }, 0);
      builds.inc({ pool, kind, event });
    },
    buildDuration(pool, kind, seconds) {
      buildDuration.observe({ pool, kind }, nonNegative(seconds));
    },
    renderedConfigPush(pool, result, bytes = 0) {
      // Every result's series exists (at 0), so increase() sees the first failure.
      for (const r of ['pushed', 'skipped', 'failed'] as const) pushes.inc({ pool, result: r }, 0);
      pushes.inc({ pool, result });
      // Touch the series so it exists (at 0) for every pool that pushed.
      pushBytes.inc({ pool }, nonNegative(bytes));
    },
    informerRestart(resource) {
      informerRestarts.inc({ resource });
    },
    pruned(kind, outcome) {
      (outcome === 'removed' ? pruned : pruneFailures).inc({ kind });
    },
    setLeader(isLeader) {
      leader.set(isLeader ? 1 : 0);
    },
    setCacheSynced(synced) {
      cacheSynced.set(synced ? 1 : 0);
    },
    setReadyProbe(probe) {
      readyProbe = probe;
    },
    poolState(pool, state) {
      const reasons = conditionReasons.get(pool) ?? new Map<string, string>();
      const seen = new Set<string>();
      for (const c of state?.conditions ?? []) {
        seen.add(c.type);
        const old = reasons.get(c.type);
        if (old !== undefined && old !== c.reason) poolCondition.remove({ pool, condition: c.type, reason: old });
        reasons.set(c.type, c.reason);
        poolCondition.set({ pool, condition: c.type, reason: c.reason }, c.status === 'True' ? 1 : 0);
      }
      for (const [type, reason] of reasons) {
        if (seen.has(type)) continue;
        poolCondition.remove({ pool, condition: type, reason });
        reasons.delete(type);
      }
      if (reasons.size) conditionReasons.set(pool, reasons);
      else conditionReasons.delete(pool);
      const kinds = activeKinds.get(pool) ?? new Set<BuildKindLabel>();
      for (const kind of ['content', 'custom'] as const) {
        const start = state?.activeBuilds[kind];
        if (start !== undefined && Number.isFinite(start)) {
          activeStart.set({ pool, kind }, start / 1000);
          kinds.add(kind);
        } else if (kinds.has(kind)) {
          activeStart.remove({ pool, kind });
          kinds.delete(kind);
        }
      }
      if (kinds.size) activeKinds.set(pool, kinds);
      else activeKinds.delete(pool);
    },
    text: () => registry.metrics(),
  };
}
