// Where the operator's memory goes per pool, without a cluster: the objects
// of one real pool (bench/fixtures/one-pool.json, captured from the local
// control plane with `node bench/memory.bench.ts --capture <namespace> <pool>`)
// are copied N times, parsed with the operator's schemas and kept as its
// informer caches keep them, with and without stripCachedObject (the default
// transform); and the rendered-config image of each pool's MachineConfig is
// built and kept as the planner's per-object memo keeps it (the WeakMap in
// src/plan/plan.ts holds one per cached MachineConfig object). Heap and
// ArrayBuffer bytes are measured after a full GC (node --expose-gc).
//
//   node --expose-gc bench/memory.bench.ts [--pools 100,1000]
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { stripCachedObject, type Named } from '../src/kube/informer.ts';
import { BuildConfigSchema, BuildSchema, ImageStreamSchema, LayeredPoolSchema, MachineConfigPoolSchema, MachineConfigSchema } from '../src/kube/types.ts';
import { buildScratchImage } from '../src/registry/scratch-image.ts';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'one-pool.json');
type Raw = { metadata: Record<string, unknown> & { name: string } } & Record<string, unknown>;
interface Fixture {
  pool: string;
  objects: Record<string, Raw[]>;
}

if (process.argv[2] === '--capture') {
  const [ns, pool] = [process.argv[3], process.argv[4]];
  if (!ns || !pool) {
    console.error('usage: node bench/memory.bench.ts --capture <namespace> <pool>');
    process.exit(2);
  }
  const get = (args: string[]) => JSON.parse(execFileSync(process.env.OC ?? 'oc', [...args, '-o', 'json', '--show-managed-fields'], { maxBuffer: 1 << 28 }).toString()) as Raw & { items?: Raw[] };
  const mcp = get(['get', 'machineconfigpool', pool]);
  const rendered = (mcp.spec as { configuration?: { name?: string } }).configuration?.name ?? '';
  const byPool = (items: Raw[]) => items.filter((o) => (o.metadata.annotations as Record<string, string> | undefined)?.['machineconfiguration.openshift.io/pool'] === pool);
  const fx: Fixture = {
    pool,
    objects: {
      machineconfigpools: [mcp],
      machineconfigs: [get(['get', 'machineconfig', rendered]), get(['get', 'machineconfig', `50-${pool}`])],
      imagestreams: byPool(get(['get', 'imagestreams', '-n', ns]).items ?? []),
      buildconfigs: byPool(get(['get', 'buildconfigs', '-n', ns]).items ?? []),
      builds: byPool(get(['get', 'builds', '-n', ns]).items ?? []),
      layeredpools: [get(['get', 'layeredpool', pool, '-n', ns])],
    },
  };
  writeFileSync(FIXTURE, JSON.stringify(fx, null, 1));
  console.log(`captured ${Object.entries(fx.objects).map(([k, v]) => `${v.length} ${k}`).join(', ')} into ${FIXTURE}`);
  process.exit(0);
}

if (!globalThis.gc) {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
};
const poolCounts = arg('pools', '100,1000').split(',').map(Number);
const fx = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture;
const SCHEMAS: Record<string, z.ZodType<Named>> = {
  machineconfigpools: MachineConfigPoolSchema,
  machineconfigs: MachineConfigSchema,
  imagestreams: ImageStreamSchema,
  buildconfigs: BuildConfigSchema,
  builds: BuildSchema,
  layeredpools: LayeredPoolSchema,
};

/** The fixture's objects for pool copy `i`: every occurrence of the pool's name renamed, so no string is shared between copies. */
function copyFor(kind: string, i: number): Raw[] {
  const text = JSON.stringify(fx.objects[kind]).replaceAll(fx.pool, `${fx.pool}-c${i}`);
  return JSON.parse(text) as Raw[];
}

function measure(fn: () => unknown): { heap: number; buffers: number; keep: unknown } {
  globalThis.gc!();
  const m0 = process.memoryUsage();
  const keep = fn();
  globalThis.gc!();
  const m1 = process.memoryUsage();
  return { heap: m1.heapUsed - m0.heapUsed, buffers: m1.arrayBuffers - m0.arrayBuffers, keep };
}

const MB = 2 ** 20;
console.log(`== memory per pool: objects of one real pool (${FIXTURE}) copied N times, as the informer caches keep them`);
for (const n of poolCounts) {
  console.log(`  ${n} pools`);
  const totals = { served: 0, stripped: 0 };
  for (const kind of Object.keys(SCHEMAS)) {
    const served = Buffer.byteLength(JSON.stringify(fx.objects[kind])) * n;
    // Each copy is made inside the measurement and dropped once parsed: only what the cache keeps stays.
    const full = measure(() => Array.from({ length: n }, (_, i) => copyFor(kind, i).map((o) => SCHEMAS[kind]!.parse(o))));
    const stripped = measure(() => Array.from({ length: n }, (_, i) => copyFor(kind, i).map((o) => stripCachedObject(SCHEMAS[kind]!.parse(o)))));
    totals.served += full.heap;
    totals.stripped += stripped.heap;
    console.log(
      `    ${kind.padEnd(20)} ${String(fx.objects[kind]!.length * n).padStart(6)} objects  JSON ${(served / MB).toFixed(1).padStart(6)} MB  heap as served ${(full.heap / MB).toFixed(1).padStart(6)} MB  without managedFields ${(stripped.heap / MB).toFixed(1).padStart(6)} MB  (${((stripped.heap / n) / 1024).toFixed(1)} KiB per pool)`,
    );
    void full.keep;
    void stripped.keep;
  }
  // The rendered-config image the planner keeps per cached rendered MachineConfig object.
  const memo = measure(() =>
    Array.from({ length: n }, (_, i) => {
      const mc = copyFor('machineconfigs', i)[0]!;
      return buildScratchImage({ machineConfig: mc, ignition: (mc.spec as { config?: unknown }).config ?? {} });
    }),
  );
  console.log(`    ${'scratch-image memo'.padEnd(20)} ${String(n).padStart(6)} images   heap ${(memo.heap / MB).toFixed(1)} MB + buffers ${(memo.buffers / MB).toFixed(1)} MB  (${((memo.heap + memo.buffers) / n / 1024).toFixed(1)} KiB per pool)`);
  console.log(`    ${'caches in all'.padEnd(20)} as served ${(totals.served / MB).toFixed(1)} MB, without managedFields ${(totals.stripped / MB).toFixed(1)} MB (${(totals.stripped / n / 1024).toFixed(1)} KiB per pool)`);
}
