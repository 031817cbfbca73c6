import { describe, expect, it } from 'vitest';
import { FakeClock, sleep } from '../../src/util/clock.ts';

describe('FakeClock', () => {
  it('fires timers in due order as time advances, and not before', () => {
    const c = new FakeClock(1000);
    const fired: string[] = [];
    c.setTimeout(() => fired.push('b'), 200);
    c.setTimeout(() => fired.push('a'), 100);
    const h = c.setTimeout(() => fired.push('cancelled'), 150);
    c.setTimeout(() => fired.push('a2'), 100);
    c.clearTimeout(h);
    c.advance(99);
    expect(fired).toEqual([]);
    c.advance(1);
    expect(fired).toEqual(['a', 'a2']);
    expect(c.now()).toBe(1100);
    c.advance(500);
    expect(fired).toEqual(['a', 'a2', 'b']);
    expect(c.now()).toBe(1600);
    expect(c.pending()).toBe(0);
  });

  it('runs a timer scheduled by a firing timer when it falls within the same advance', () => {
    const c = new FakeClock(0);
    const at: number[] = [];
    c.setTimeout(() => {
      at.push(c.now());
      c.setTimeout(() => at.push(c.now()), 50);
    }, 50);
    c.advance(100);
    expect(at).toEqual([50, 100]);
  });
});

describe('sleep', () => {
  it('resolves after the delay on the given clock', async () => {
    const c = new FakeClock(0);
    let done = false;
    const p = sleep(c, 1000).then(() => (done = true));
    c.advance(999);
    await Promise.resolve();
    expect(done).toBe(false);
    c.advance(1);
    await p;
    expect(done).toBe(true);
  });

  it('rejects with the abort reason and clears its timer', async () => {
    const c = new FakeClock(0);
    const ac = new AbortController();
    const p = sleep(c, 1000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(c.pending()).toBe(0);
    await expect(sleep(c, 10, ac.signal)).rejects.toThrow('stop');
  });
});
