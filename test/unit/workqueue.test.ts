import { describe, expect, it } from 'vitest';
import { ExponentialBackoff, WorkQueue, runWorkers, type WorkQueueMetrics } from '../../src/queue/workqueue.ts';
import { FakeClock } from '../../src/util/clock.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
async function ticks(n: number) {
  for (let i = 0; i < n; i++) await tick();
}

/** Resolves the promise's state without waiting: 'pending' or its value. */
async function peek<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, tick().then(() => 'pending' as const)]);
}

function newQueue(clock = new FakeClock(), metrics?: WorkQueueMetrics) {
  return { clock, q: new WorkQueue({ clock, baseDelayMs: 500, maxDelayMs: 5 * 60_000, metrics }) };
}

describe('WorkQueue: dirty set', () => {
  it('holds a key at most once and hands keys out in FIFO order', async () => {
    const { q } = newQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('c');
    q.add('b');
    expect(q.len()).toBe(3);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(await q.get()).toBe('c');
    expect(q.len()).toBe(0);
  });

  it('get() waits for an add when the queue is empty', async () => {
    const { q } = newQueue();
    const p = q.get();
    expect(await peek(p)).toBe('pending');
    q.add('x');
    expect(await p).toBe('x');
  });

  it('a key can be queued again once it has been handed out', async () => {
    const { q } = newQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.done('a');
    q.add('a');
    expect(q.len()).toBe(1);
  });
});

describe('WorkQueue: processing set', () => {
  it('a key added while in flight is not queued until done, then queued once', async () => {
    const { q } = newQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0);
    expect(q.inFlight()).toBe(1);
    q.done('a');
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('never hands a key in flight to a second worker', async () => {
    const { q } = newQueue();
    const first = q.get();
    const second = q.get();
    q.add('a');
    expect(await first).toBe('a');
    q.add('a'); // changed while in flight
    expect(await peek(second)).toBe('pending');
    q.add('b');
    expect(await second).toBe('b'); // other keys flow past the one in flight
    const third = q.get();
    expect(await peek(third)).toBe('pending');
    q.done('a');
    expect(await third).toBe('a');
  });

  it('done() of a key that is not in flight is a no-op', () => {
    const { q } = newQueue();
    q.add('a');
    q.done('a');
    q.done('zzz');
    expect(q.len()).toBe(1);
  });
});

describe('WorkQueue: delayed adds', () => {
  it('addAfter queues the key only once the delay has passed', () => {
    const { q, clock } = newQueue();
    q.addAfter('a', 1000);
    expect(q.len()).toBe(0);
    expect(q.delayed()).toBe(1);
    clock.advance(999);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    expect(q.delayed()).toBe(0);
  });

  it('addAfter with a delay <= 0 adds at once', () => {
    const { q } = newQueue();
    q.addAfter('a', 0);
    q.addAfter('b', -5);
    expect(q.len()).toBe(2);
  });

  it('an earlier delayed add replaces a later one for the same key', () => {
    const { q, clock } = newQueue();
    q.addAfter('a', 1000);
    q.addAfter('a', 300);
    expect(q.delayed()).toBe(1);
    clock.advance(300);
    expect(q.len()).toBe(1);
    expect(clock.pending()).toBe(0); // the 1000 ms timer was cancelled
  });

  it('a later delayed add does not postpone an earlier one', async () => {
    const { q, clock } = newQueue();
    q.addAfter('a', 300);
    q.addAfter('a', 1000);
    expect(clock.pending()).toBe(1);
    clock.advance(300);
    expect(await q.get()).toBe('a');
    q.done('a');
    clock.advance(1000);
    expect(q.len()).toBe(0); // the later add was dropped, not scheduled separately
  });

  it('delayed adds of different keys fire in order of their due time', async () => {
    const { q, clock } = newQueue();
    q.addAfter('late', 2000);
    q.addAfter('early', 1000);
    clock.advance(5000);
    expect(await q.get()).toBe('early');
    expect(await q.get()).toBe('late');
  });

  it('a delayed add of a key already queued does not duplicate it', () => {
    const { q, clock } = newQueue();
    q.add('a');
    q.addAfter('a', 100);
    clock.advance(100);
    expect(q.len()).toBe(1);
  });
});

describe('WorkQueue: rate limiting', () => {
  it('backs off exponentially per key, capped at the maximum', () => {
    const b = new ExponentialBackoff(500, 5 * 60_000);
    const delays = Array.from({ length: 12 }, () => b.when('a'));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000]);
    expect(b.when('other')).toBe(500);
    expect(b.numRequeues('a')).toBe(12);
    for (let i = 0; i < 2000; i++) b.when('a');
    expect(b.when('a')).toBe(300000); // no overflow to NaN/Infinity
  });

  it('addRateLimited delays by the backoff and forget resets it', () => {
    const { q, clock } = newQueue();
    q.addRateLimited('a');
    expect(q.numRequeues('a')).toBe(1);
    clock.advance(499);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);

    // second failure: 1000 ms
    void q.get();
    q.done('a');
    q.addRateLimited('a');
    expect(q.numRequeues('a')).toBe(2);
    clock.advance(999);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);

    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    void q.get();
    q.done('a');
    q.addRateLimited('a');
    clock.advance(500);
    expect(q.len()).toBe(1);
  });

  it('keys back off independently', () => {
    const { q, clock } = newQueue();
    q.addRateLimited('a');
    q.addRateLimited('a'); // 1000 ms, but the earlier 500 ms add wins
    q.addRateLimited('b');
    expect(q.numRequeues('a')).toBe(2);
    expect(q.numRequeues('b')).toBe(1);
    clock.advance(500);
    expect(q.len()).toBe(2);
  });
});

describe('WorkQueue: shutdown', () => {
  it('resolves waiting getters with undefined and ignores later adds', async () => {
    const { q, clock } = newQueue();
    const p = q.get();
    q.addAfter('later', 100);
    q.shutDown();
    expect(await p).toBeUndefined();
    q.add('a');
    q.addAfter('b', 10);
    q.addRateLimited('c');
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
    expect(clock.pending()).toBe(0);
    clock.advance(10_000);
    expect(q.len()).toBe(0);
    expect(q.isShuttingDown()).toBe(true);
  });

  it('stops handing out keys that were still queued', async () => {
    const { q } = newQueue();
    q.add('a');
    q.add('b');
    q.shutDown();
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
  });

  it('shutDownWithDrain waits until every key in flight is done', async () => {
    const { q } = newQueue();
    q.add('a');
    q.add('b');
    await q.get();
    await q.get();
    const drained = q.shutDownWithDrain();
    expect(await peek(drained)).toBe('pending');
    q.add('a'); // ignored: shutting down
    q.done('a');
    expect(await peek(drained)).toBe('pending');
    q.done('b');
    expect(await peek(drained)).toBeUndefined();
    expect(q.len()).toBe(0);
  });

  it('shutDownWithDrain resolves at once when nothing is in flight', async () => {
    const { q } = newQueue();
    await expect(q.shutDownWithDrain()).resolves.toBeUndefined();
  });
});

describe('WorkQueue: metrics hooks', () => {
  it('reports adds, depth, wait time and work duration', async () => {
    const calls = { adds: 0, depth: [] as number[], wait: [] as number[], work: [] as number[], retries: 0 };
    const metrics: WorkQueueMetrics = {
      add: () => calls.adds++,
      depth: (n) => calls.depth.push(n),
      wait: (s) => calls.wait.push(s),
      workDuration: (s) => calls.work.push(s),
      retry: () => calls.retries++,
    };
    const { q, clock } = newQueue(new FakeClock(), metrics);
    q.add('a');
    q.add('a'); // dedup: not counted
    q.add('b');
    expect(calls.adds).toBe(2);
    expect(calls.depth.at(-1)).toBe(2);
    clock.advance(250);
    expect(await q.get()).toBe('a');
    expect(calls.depth.at(-1)).toBe(1);
    expect(calls.wait).toEqual([0.25]);
    clock.advance(1500);
    q.done('a');
    expect(calls.work).toEqual([1.5]);
    q.addRateLimited('c');
    expect(calls.retries).toBe(1);
  });
});

describe('runWorkers', () => {
  it('rejects a bad concurrency', async () => {
    const { q } = newQueue();
    await expect(runWorkers(q, 0, () => {})).rejects.toThrow(/concurrency/);
  });

  it('processes keys, forgets the backoff on success and requeues after requeueAfter', async () => {
    const { q, clock } = newQueue();
    const seen: string[] = [];
    q.addRateLimited('a');
    q.addRateLimited('a');
    clock.advance(500);
    expect(q.numRequeues('a')).toBe(2);
    const ac = new AbortController();
    const run = runWorkers(
      q,
      2,
      (key) => {
        seen.push(key);
        return key === 'a' && seen.filter((k) => k === 'a').length === 1 ? { requeueAfter: 10_000 } : undefined;
      },
      { signal: ac.signal },
    );
    await ticks(5);
    expect(seen).toEqual(['a']);
    expect(q.numRequeues('a')).toBe(0);
    expect(q.delayed()).toBe(1);
    clock.advance(10_000);
    await ticks(5);
    expect(seen).toEqual(['a', 'a']);
    expect(q.delayed()).toBe(0);
    ac.abort();
    await run;
  });

  it('requeues a failing key with growing backoff and reports the error', async () => {
    const { q, clock } = newQueue();
    const errors: string[] = [];
    let calls = 0;
    const ac = new AbortController();
    const run = runWorkers(
      q,
      1,
      () => {
        calls++;
        if (calls <= 3) throw new Error(`boom ${calls}`);
      },
      { signal: ac.signal, onError: (key, err) => errors.push(`${key}: ${(err as Error).message}`) },
    );
    q.add('k');
    await ticks(5);
    expect(calls).toBe(1);
    expect(q.numRequeues('k')).toBe(1);
    clock.advance(499);
    await ticks(5);
    expect(calls).toBe(1);
    clock.advance(1);
    await ticks(5);
    expect(calls).toBe(2);
    clock.advance(999);
    await ticks(5);
    expect(calls).toBe(2);
    clock.advance(1);
    await ticks(5);
    expect(calls).toBe(3);
    clock.advance(2000);
    await ticks(5);
    expect(calls).toBe(4); // succeeded
    expect(q.numRequeues('k')).toBe(0);
    expect(errors).toEqual(['k: boom 1', 'k: boom 2', 'k: boom 3']);
    ac.abort();
    await run;
  });

  it('reconciles a key that changed while in flight once more, afterwards', async () => {
    const { q } = newQueue();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const calls: string[] = [];
    const ac = new AbortController();
    const run = runWorkers(
      q,
      3,
      async (key) => {
        calls.push(key);
        if (calls.length === 1) await gate;
      },
      { signal: ac.signal },
    );
    q.add('pool');
    await ticks(3);
    expect(calls).toEqual(['pool']);
    q.add('pool'); // changed while in flight
    q.add('pool');
    await ticks(5);
    expect(calls).toEqual(['pool']); // not handed to an idle worker
    release();
    await ticks(5);
    expect(calls).toEqual(['pool', 'pool']); // exactly once more
    ac.abort();
    await run;
  });

  it('never processes one key twice at once, bounds concurrency, and processes every add eventually', async () => {
    const { q } = newQueue();
    const concurrency = 4;
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    const inFlight = new Set<string>();
    let maxInFlight = 0;
    let violations = 0;
    let seq = 0;
    const lastAdd = new Map<string, number>();
    const lastStart = new Map<string, number>();
    let processed = 0;
    const ac = new AbortController();
    const run = runWorkers(
      q,
      concurrency,
      async (key) => {
        if (inFlight.has(key)) violations++;
        inFlight.add(key);
        maxInFlight = Math.max(maxInFlight, inFlight.size);
        lastStart.set(key, ++seq);
        await ticks(1 + (processed % 3));
        processed++;
        inFlight.delete(key);
      },
      { signal: ac.signal },
    );
    // A deterministic pseudo-random storm of adds interleaved with work.
    let r = 7;
    for (let i = 0; i < 400; i++) {
      r = (r * 1103515245 + 12345) % 2 ** 31;
      const key = keys[(r >>> 16) % keys.length]!;
      q.add(key);
      lastAdd.set(key, ++seq);
      if (i % 3 === 0) await tick();
    }
    // Let everything settle.
    for (let i = 0; i < 200 && (q.len() > 0 || q.inFlight() > 0); i++) await tick();
    expect(q.len()).toBe(0);
    expect(q.inFlight()).toBe(0);
    expect(violations).toBe(0);
    expect(maxInFlight).toBeLessThanOrEqual(concurrency);
    expect(maxInFlight).toBeGreaterThan(1);
    // Level-triggered guarantee: every key was processed after its last add.
    for (const key of keys) {
      expect(lastStart.get(key)!).toBeGreaterThan(lastAdd.get(key)!);
    }
    ac.abort();
    await run;
  });

  it('on abort stops taking work and waits for the keys in flight', async () => {
    const { q } = newQueue();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    let finished = 0;
    const ac = new AbortController();
    const run = runWorkers(
      q,
      1,
      async (key) => {
        started.push(key);
        await gate;
        finished++;
      },
      { signal: ac.signal },
    );
    q.add('a');
    q.add('b');
    await ticks(3);
    ac.abort();
    expect(await peek(run)).toBe('pending');
    release();
    await run;
    expect(started).toEqual(['a']); // b was never started
    expect(finished).toBe(1);
  });

  it('returns at once when the signal is already aborted', async () => {
    const { q } = newQueue();
    q.add('a');
    const ac = new AbortController();
    ac.abort();
    let called = false;
    await runWorkers(q, 2, () => void (called = true), { signal: ac.signal });
    expect(called).toBe(false);
  });
});
