// A keyed, rate-limited work queue with client-go's semantics
// (k8s.io/client-go/util/workqueue): a dirty set so a key is queued at most
// once, a processing set so a key is never handed to two workers at once (a key
// added while it is processed is queued again when `done` is called), delayed
// adds where the earliest wins, and per-key exponential backoff.
//
// One deliberate difference from client-go: after `shutDown()` the queue hands
// out nothing more (`get()` resolves undefined at once) instead of draining the
// keys still queued. The reconciler is level-triggered, so a key dropped at
// shutdown is reconciled again by whoever runs next; "stop taking work" is what
// a SIGTERM must mean. `shutDownWithDrain()` additionally waits until every key
// handed out has been marked `done`.

import { realClock, type Clock, type TimerHandle } from '../util/clock.ts';

/** Hooks the metrics module implements; every method is optional to call sites. */
export interface WorkQueueMetrics {
  /** A key was added (counted once per add that put it into the dirty set). */
  add(): void;
  /** Current number of keys waiting in the queue (not in flight, not delayed). */
  depth(n: number): void;
  /** Seconds a key waited between being queued and being handed to a worker. */
  wait(seconds: number): void;
  /** Seconds between `get` and `done` for one key. */
  workDuration(seconds: number): void;
  /** A key was re-added through the rate limiter. */
  retry?(): void;
}

export interface WorkQueueOptions {
  /** First backoff of `addRateLimited`; doubles per consecutive failure. Default 500 ms. */
  baseDelayMs?: number;
  /** Cap of the per-key backoff. Default 5 minutes. */
  maxDelayMs?: number;
  /** Default the real clock. */
  clock?: Clock;
  metrics?: WorkQueueMetrics;
}

export const WORKQUEUE_DEFAULTS = {
  baseDelayMs: 500,
  maxDelayMs: 5 * 60_000,
} as const;

/** Per-key exponential backoff: base * 2^failures, capped at max. */
export class ExponentialBackoff {
  private readonly failures = new Map<string, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(baseMs: number, maxMs: number) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  /** The delay for this failure of `key`, counting it. */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity for large n; min() keeps it at the cap.
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** When each queued key entered the queue (for the wait metric). */
  private readonly queuedAt = new Map<string, number>();
  /** When each in-flight key was handed out (for the work duration metric). */
  private readonly startedAt = new Map<string, number>();
  private readonly waiting = new Map<string, { at: number; timer: TimerHandle }>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private readonly drainers: Array<() => void> = [];
  private readonly backoff: ExponentialBackoff;
  private readonly clock: Clock;
  private readonly metrics: WorkQueueMetrics | undefined;
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.metrics = opts.metrics;
    this.backoff = new ExponentialBackoff(
      opts.baseDelayMs ?? WORKQUEUE_DEFAULTS.baseDelayMs,
      opts.maxDelayMs ?? WORKQUEUE_DEFAULTS.maxDelayMs,
    );
  }

  /** Queues `key` unless it is already queued; a key in flight is queued again after `done`. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics?.add();
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds `key` after `ms`; if a delayed add for it is already pending, the earlier one wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing) {
      if (existing.at <= at) return;
      this.clock.clearTimeout(existing.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, timer });
  }

  /** Adds `key` after its per-key backoff (base * 2^failures, capped). */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.metrics?.retry?.();
    this.addAfter(key, this.backoff.when(key));
  }

  /** Resets the backoff of `key` (call after a successful reconcile). */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  numRequeues(key: string): number {
    return this.backoff.numRequeues(key);
  }

  /** Resolves with the next key (which is then in flight until `done`), or undefined once shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Marks `key` finished; if it was added while in flight it is queued again. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    if (started !== undefined) this.metrics?.workDuration((this.clock.now() - started) / 1000);
    if (this.shuttingDown) {
      if (this.processing.size === 0) this.drainers.splice(0).forEach((d) => d());
      return;
    }
    if (this.dirty.has(key)) this.push(key);
  }

  /** Number of keys queued (neither in flight nor delayed). */
  len(): number {
    return this.queue.length;
  }

  /** Number of keys in flight. */
  inFlight(): number {
    return this.processing.size;
  }

  /** Number of pending delayed adds. */
  delayed(): number {
    return this.waiting.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops handing out keys: pending and future `get()` resolve undefined; adds are ignored. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) this.clock.clearTimeout(timer);
    this.waiting.clear();
    this.queue.length = 0;
    this.dirty.clear();
    this.queuedAt.clear();
    this.metrics?.depth(0);
    this.getters.splice(0).forEach((g) => g(undefined));
    if (this.processing.size === 0) this.drainers.splice(0).forEach((d) => d());
  }

  /** `shutDown()`, then resolves once every key in flight has been marked `done`. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainers.push(resolve));
  }

  private push(key: string): void {
    this.queue.push(key);
    this.queuedAt.set(key, this.clock.now());
    this.metrics?.depth(this.queue.length);
    const getter = this.getters.length > 0 ? this.getters.shift() : undefined;
    if (getter) getter(this.take());
  }

  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.dirty.delete(key);
    this.processing.add(key);
    const now = this.clock.now();
    const queued = this.queuedAt.get(key);
    this.queuedAt.delete(key);
    this.startedAt.set(key, now);
    this.metrics?.depth(this.queue.length);
    if (queued !== undefined) this.metrics?.wait((now - queued) / 1000);
    return key;
  }
}

export interface ReconcileResult {
  /** Reconcile this key again after this many ms (a success; the backoff is reset). */
  requeueAfter?: number;
}

export type Handler = (key: string) => Promise<ReconcileResult | void> | ReconcileResult | void;

export interface RunWorkersOptions {
  /** Aborting it shuts the queue down and waits for the keys in flight. */
  signal?: AbortSignal;
  /** Called when the handler throws (the key is then re-added with backoff). */
  onError?: (key: string, err: unknown) => void;
}

/**
 * Runs `concurrency` workers pulling keys from `queue` until it is shut down
 * (directly or through `signal`). A handler that throws re-adds its key with
 * backoff; a success forgets the backoff and, with `requeueAfter`, re-adds the
 * key after that delay. Resolves once every worker has stopped and nothing is in
 * flight.
 */
export async function runWorkers(
  queue: WorkQueue,
  concurrency: number,
  handler: Handler,
  opts: RunWorkersOptions = {},
): Promise<void> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  }
  const { signal, onError } = opts;
  const onAbort = () => queue.shutDown();
  if (signal?.aborted) queue.shutDown();
  else signal?.addEventListener('abort', onAbort, { once: true });

  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await handler(key);
        queue.forget(key);
        if (result && result.requeueAfter !== undefined && result.requeueAfter >= 0) {
          queue.addAfter(key, result.requeueAfter);
        }
      } catch (err) {
        try {
          onError?.(key, err);
        } catch {
          // a failing error hook must not stop the worker
        }
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: concurrency }, () => worker()));
    await queue.shutDownWithDrain();
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
