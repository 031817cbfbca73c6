// What a V8 heap snapshot of the operator holds: self size by node type and
// constructor, and the largest groups of strings by their first 50 characters.
//
//   BENCH_OPERATOR_NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2 node bench/scale.bench.ts --pools 1000 --runs 1 --idle-at 1000
//   kill -USR2 <operator pid>       # once the run line is printed; Heap.*.heapsnapshot lands in the checkout
//   node --max-old-space-size=4000 bench/heap-summary.ts Heap.*.heapsnapshot
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}
const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/heap-summary.ts <file.heapsnapshot>');
  process.exit(2);
}
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const { node_fields: fields, node_types: nodeTypes } = snap.snapshot.meta;
const width = fields.length;
const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
const types = nodeTypes[0];
const byKind = new Map<string, [number, number]>();
const byText = new Map<string, [number, number]>();
let total = 0;
const add = (m: Map<string, [number, number]>, k: string, size: number) => {
  const e = m.get(k) ?? [0, 0];
  e[0] += size;
  e[1]++;
  m.set(k, e);
};
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + iType]!] ?? '?';
  const name = snap.strings[snap.nodes[i + iName]!] ?? '';
  const size = snap.nodes[i + iSize]!;
  total += size;
  add(byKind, type === 'object' || type === 'closure' || type === 'native' ? `${type} ${name}` : type, size);
  if (type.endsWith('string')) add(byText, name.slice(0, 50).replace(/\s+/g, ' '), size);
}
const mb = (b: number) => (b / 2 ** 20).toFixed(1).padStart(7);
const top = (m: Map<string, [number, number]>, n: number) => [...m].sort((a, b) => b[1][0] - a[1][0]).slice(0, n);
console.log(`${file}: ${mb(total).trim()} MB in ${snap.nodes.length / width} nodes (self sizes, after the GC the snapshot makes)`);
for (const [k, [s, c]] of top(byKind, 30)) console.log(`${mb(s)} MB ${String(c).padStart(8)}  ${k}`);
console.log('strings by their first 50 characters:');
for (const [k, [s, c]] of top(byText, 25)) console.log(`${mb(s)} MB ${String(c).padStart(8)}  ${JSON.stringify(k)}`);
