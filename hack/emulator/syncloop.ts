// The emulator's per-object sync loops, on the product's WorkQueue + runWorkers
// (src/queue/workqueue.ts): a key `<namespace>/<name>` is queued at most once and never synced
// twice at once (one added while in flight is synced again afterwards); a sync that throws is
// retried after a capped exponential backoff (500 ms doubling to 30 s), a successful one resets it.
import type { Logger } from 'pino';
import { describeApiError } from '../../src/kube/errors.ts';
import { runWorkers, WorkQueue } from '../../src/queue/workqueue.ts';

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

export interface SyncLoopOptions {
  concurrency: number;
  log: Logger;
  /** Log field naming the key of a failed sync, e.g. `stream` or `build`. */
  keyField: string;
  /** Log message of a failed sync. */
  failure: string;
}

export class SyncLoop {
  private readonly queue = new WorkQueue({ baseDelayMs: BASE_DELAY_MS, maxDelayMs: MAX_DELAY_MS });
  private readonly abort = new AbortController();
  private readonly workers: Promise<void>;

  constructor(sync: (key: string) => Promise<void>, opts: SyncLoopOptions) {
    this.workers = runWorkers(this.queue, opts.concurrency, sync, {
      signal: this.abort.signal,
      onError: (key, err) => {
        // runWorkers re-adds the key after this failure's backoff (WorkQueue's formula).
        const retryMs = Math.min(BASE_DELAY_MS * 2 ** this.queue.numRequeues(key), MAX_DELAY_MS);
        opts.log.warn({ [opts.keyField]: key, err: describeApiError(err), retryMs }, opts.failure);
      },
    });
  }

  add(key: string): void {
    this.queue.add(key);
  }

  /** Stops taking work (queued keys and pending retries are dropped); resolves once the syncs in flight are done. */
  stop(): Promise<void> {
    this.abort.abort();
    return this.workers;
  }
}

/** `<namespace>/<name>` -> [namespace, name] */
export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}
