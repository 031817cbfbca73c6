// Benchmarks that print figures, side by side in one run (never asserted in
// tests): the planner on pools of different sizes, the rendered-config image
// with and without the digest memo, and the work queue.
//
//   npm run bench            (node bench/plan.bench.ts)
//   npm run bench -- --quick fewer iterations
import { performance } from 'node:perf_hooks';
import { plan } from '../src/plan/plan.ts';
import { buildScratchImage, cachedScratchImage } from '../src/registry/scratch-image.ts';
import { WorkQueue } from '../src/queue/workqueue.ts';
import { CONFIG, World, machineConfig, pool } from '../test/unit/plan-world.ts';
import type { Snapshot } from '../src/plan/snapshot.ts';

const quick = process.argv.includes('--quick');

interface Row {
  case: string;
  iterations: number;
  meanMs: number;
  p95Ms: number;
  opsPerSec: number;
  heapDeltaMiB: number;
}

function measure(name: string, iterations: number, fn: () => void): Row {
  for (let i = 0; i < Math.min(20, iterations); i++) fn(); // warm up
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  const heap1 = process.memoryUsage().heapUsed;
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return {
    case: name,
    iterations,
    meanMs: mean,
    p95Ms: times[Math.floor(times.length * 0.95)] ?? mean,
    opsPerSec: 1000 / mean,
    heapDeltaMiB: (heap1 - heap0) / 1024 / 1024,
  };
}

/** A settled pool with `builds` Builds in its history (each a past rendered config). */
function settledSnapshot(builds: number, files = 1, fileBytes = 64): Snapshot {
  const w = new World({ debounceMs: 0, historySize: 10 });
  const big = (i: number) => {
    const f: Record<string, string> = {};
    for (let j = 0; j < files; j++) f[`/etc/bench/${i}/${j}`] = 'x'.repeat(fileBytes);
    return f;
  };
  w.pools.set('bench', pool('bench', { rendered: 'rendered-bench-0' }));
  for (let i = 0; i < builds; i++) {
    const name = `rendered-bench-${i}`;
    w.machineConfigs.set(name, machineConfig(name, big(i)));
    w.pools.get('bench')!.spec = { configuration: { name } };
    w.settle({ maxSteps: 50 });
  }
  return w.snapshot('bench');
}

const rows: Row[] = [];
const n = quick ? 200 : 1000;

// 1. The planner on a settled pool: the cost of one reconcile's decision.
for (const builds of quick ? [1, 10] : [1, 10, 50]) {
  const snap = settledSnapshot(builds);
  rows.push(measure(`plan(): settled pool, ${builds} builds in history`, n, () => plan(snap)));
}

// 2. A large rendered config (~1 MiB of Ignition files): building the scratch
// image every reconcile vs the digest memo the planner uses.
{
  const files: Record<string, string> = {};
  for (let j = 0; j < 256; j++) files[`/etc/big/${j}`] = 'y'.repeat(4096);
  const mc = machineConfig('rendered-big-1', files);
  const input = { name: 'rendered-big-1', machineConfig: mc, ignition: mc.spec!.config };
  const iters = quick ? 20 : 60;
  rows.push(measure('scratch image, 1 MiB config: build every time', iters, () => buildScratchImage(input)));
  rows.push(measure('scratch image, 1 MiB config: memoized by content', iters, () => cachedScratchImage(input)));
  const snap = { ...settledSnapshot(1), machineConfig: mc, pool: pool('bench', { rendered: 'rendered-big-1' }) };
  rows.push(measure('plan(): pool with a 1 MiB rendered config', iters, () => plan(snap)));
}

// 3. The work queue: 1000 distinct keys through add/get/done, and a hot key's dedup.
{
  const keys = Array.from({ length: 1000 }, (_, i) => `pool-${i}`);
  const iters = quick ? 20 : 100;
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const q = new WorkQueue();
    const t = performance.now();
    for (const k of keys) q.add(k);
    for (let j = 0; j < keys.length; j++) {
      const k = await q.get();
      q.done(k!);
    }
    times.push(performance.now() - t);
    q.shutDown();
  }
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  times.sort((a, b) => a - b);
  rows.push({ case: 'workqueue: 1000 distinct keys add+get+done', iterations: iters, meanMs: mean, p95Ms: times[Math.floor(iters * 0.95)]!, opsPerSec: 1000 / mean, heapDeltaMiB: 0 });
  const q2 = new WorkQueue();
  rows.push(
    measure('workqueue: 1000 adds of one hot key (deduplicated)', iters, () => {
      for (let i = 0; i < 1000; i++) q2.add('hot');
    }),
  );
  q2.shutDown();
}

const fmt = (x: number, d = 3) => x.toFixed(d);
const header = ['case', 'iterations', 'mean ms', 'p95 ms', 'ops/s', 'heap Δ MiB'];
const table = rows.map((r) => [r.case, String(r.iterations), fmt(r.meanMs), fmt(r.p95Ms), fmt(r.opsPerSec, 0), fmt(r.heapDeltaMiB, 2)]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`node ${process.version}, ${CONFIG.registry} (bench data only), ${quick ? 'quick' : 'full'} run`);
console.log(line(header));
for (const t of table) console.log(line(t));
console.log(`rss ${(process.memoryUsage().rss / 1024 / 1024).toFixed(1)} MiB`);
