import { describe, expect, it } from 'vitest';
import { AsyncFdSink } from '../../src/util/log.ts';

type Cb = (err: NodeJS.ErrnoException | null, n: number) => void;

describe('AsyncFdSink (the default log destination)', () => {
  it('writes lines in order, asynchronously', async () => {
    const out: string[] = [];
    const sink = new AsyncFdSink(1, 1000, ((_fd: number, buf: Buffer, _o: number, len: number, _p: null, cb: Cb) => {
      out.push(buf.toString());
      setImmediate(() => cb(null, len));
    }) as never);
    sink.write('a\n');
    sink.write('b\n');
    expect(out).toEqual(['a\n']); // the second waits for the first write
    await sink.flush();
    expect(out.join('')).toBe('a\nb\n');
  });

  it('turns itself off on EPIPE instead of failing or blocking', async () => {
    let calls = 0;
    const sink = new AsyncFdSink(1, 1000, ((_fd: number, _b: Buffer, _o: number, _l: number, _p: null, cb: Cb) => {
      calls++;
      setImmediate(() => cb(Object.assign(new Error('EPIPE'), { code: 'EPIPE' }), 0));
    }) as never);
    sink.write('a\n');
    await sink.flush();
    expect(sink.closed).toBe(true);
    sink.write('b\n');
    expect(calls).toBe(1);
  });

  it('drops lines beyond its buffer while the reader does not read, and flush gives up after its timeout', async () => {
    const sink = new AsyncFdSink(1, 10, (() => undefined) as never); // a write that never completes
    sink.write('12345\n');
    sink.write('67890\n');
    expect(sink.dropped).toBe(1);
    const t = Date.now();
    await sink.flush(50);
    expect(Date.now() - t).toBeLessThan(1000);
  });
});
