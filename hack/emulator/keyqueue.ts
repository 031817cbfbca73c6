// A small keyed work queue: a key is queued at most once and never handled twice at the same
// time (a key added while in flight is handled again afterwards); a failing key is retried
// after a capped exponential delay.

export interface KeyQueueOptions {
  concurrency?: number;
  onError?: (key: string, err: unknown, retryMs: number) => void;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class KeyQueue {
  private readonly handler: (key: string) => Promise<void>;
  private readonly concurrency: number;
  private readonly onError: ((key: string, err: unknown, retryMs: number) => void) | undefined;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(handler: (key: string) => Promise<void>, opts: KeyQueueOptions = {}) {
    this.handler = handler;
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.onError = opts.onError;
    this.baseDelayMs = opts.baseDelayMs ?? 500;
    this.maxDelayMs = opts.maxDelayMs ?? 30_000;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    t.unref?.();
    this.timers.add(t);
  }

  get size(): number {
    return this.queue.length + this.processing.size;
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
  }

  private pump(): void {
    while (!this.stopped && this.processing.size < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      void this.run(key);
    }
    if (this.size === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private async run(key: string): Promise<void> {
    try {
      await this.handler(key);
      this.failures.delete(key);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const delay = Math.min(this.baseDelayMs * 2 ** (n - 1), this.maxDelayMs);
      this.onError?.(key, err, delay);
      this.addAfter(key, delay);
    } finally {
      this.processing.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}

/** `<namespace>/<name>` -> [namespace, name] */
export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}
