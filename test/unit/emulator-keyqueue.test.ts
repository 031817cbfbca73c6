import { describe, expect, it } from 'vitest';
import { KeyQueue } from '../../hack/emulator/keyqueue.ts';

describe('emulator key queue', () => {
  it('never runs one key twice at once and re-runs a key added while in flight', async () => {
    const active = new Set<string>();
    const runs: string[] = [];
    let overlap = false;
    let release: (() => void) | undefined;
    const q = new KeyQueue(async (key) => {
      if (active.has(key)) overlap = true;
      active.add(key);
      runs.push(key);
      if (runs.length === 1) await new Promise<void>((r) => (release = r));
      active.delete(key);
    });
    q.add('a');
    q.add('a'); // in flight: marked dirty
    q.add('a'); // still only once more
    q.add('b');
    await new Promise((r) => setImmediate(r));
    release!();
    await q.idle();
    expect(overlap).toBe(false);
    expect(runs.filter((k) => k === 'a')).toHaveLength(2);
    expect(runs.filter((k) => k === 'b')).toHaveLength(1);
  });

  it('retries a failing key', async () => {
    let calls = 0;
    const errors: number[] = [];
    const q = new KeyQueue(
      async () => {
        calls++;
        if (calls < 3) throw new Error('boom');
      },
      { baseDelayMs: 1, onError: (_k, _e, ms) => errors.push(ms) },
    );
    q.add('k');
    for (let i = 0; i < 100 && calls < 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(calls).toBe(3);
    expect(errors).toEqual([1, 2]);
    q.stop();
  });
});
