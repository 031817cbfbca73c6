// Cold start at scale on the local control plane: N pools (each with its own
// source MachineConfig, rendered by the real machine-config-controller) exist
// before the operator starts; then the operator starts and the bench measures
// the time until every pool has its objects (ImageStreams, BuildConfigs,
// LayeredPool) and its first Build, the operator's peak RSS and CPU seconds,
// the API writes by resource (apiserver_request_total of kube-apiserver and
// openshift-apiserver, all clients), and, when asked, the idle CPU and writes
// over a window after that. Everything it created is deleted afterwards.
// The build pods are held off the node (a namespace node selector no node
// has), so the Builds stay Pending: a real cluster runs its builds on worker
// nodes, not on the machine of the operator and the control plane. --run-builds
// lets them run here.
//
//   eval "$(hack/local-cluster.sh env)"
//   node bench/scale.bench.ts --pools 100,300 --runs 3 [--idle-seconds 60 --idle-at 1000] [--checkout /path/to/other/checkout]
//
// --checkout runs another checkout's operator (its src/cli.ts) under the same
// conditions, for a before/after. Figures are printed as min/median/max over
// the runs, with the 1-minute load average at each run's start.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { loadKubeConfig } from '../src/kube/client.ts';
import { Informer } from '../src/kube/informer.ts';
import { RESOURCES } from '../src/kube/types.ts';
import { ANNOTATION_POOL, poolBuildConfigs, poolStreams } from '../src/plan/names.ts';
import { benchNamespace, controlPlaneCpu, cpuDelta, KUBECONFIG, MetaOnly, oc, procStats, ROOT, scrape, startOperator, STATE, sumOf, type Operator } from './lib.ts';
import { summarize, type Summary } from './stats.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const USAGE = 'usage: node bench/scale.bench.ts [--pools 100,300] [--runs 3] [--runs-at <pools>=<runs>,...] [--idle-seconds 60] [--idle-at 1000] [--checkout DIR] [--timeout-s 900] [--settle-s 120] [--operator-args "--concurrency 8"] [--run-builds]';
const poolCounts = arg('pools', '100,300').split(',').map(Number);
const runs = Number(arg('runs', '3'));
const runsAt = new Map(
  arg('runs-at', '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=').map(Number) as [number, number]),
);
const idleSeconds = Number(arg('idle-seconds', '60'));
const idleAt = new Set(arg('idle-at', '').split(',').filter(Boolean).map(Number));
const checkout = path.resolve(arg('checkout', ROOT));
const timeoutMs = Number(arg('timeout-s', '900')) * 1000;
const settleMs = Number(arg('settle-s', '120')) * 1000;
const operatorArgs = arg('operator-args', '').split(' ').filter(Boolean);
const runBuilds = process.argv.includes('--run-builds');
if (poolCounts.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(runs) || runs < 1 || !(idleSeconds >= 0) || !(timeoutMs > 0) || !(settleMs >= 0)) {
  console.error(USAGE);
  process.exit(2);
}
// ---- API server write counters ----------------------------------------------------------------

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION', 'CREATE', 'UPDATE']);
type Counts = Map<string, number>;

/** The operator's writes by resource from its lbc_api_requests_total (undefined when it has no such metric). */
function ownWrites(m: Map<string, number>): Map<string, number> | undefined {
  const out = new Map<string, number>();
  let any = false;
  for (const [k, v] of m) {
    if (!k.startsWith('lbc_api_requests_total{')) continue;
    any = true;
    const verb = /verb="([^"]+)"/.exec(k)?.[1] ?? '';
    const resource = /resource="([^"]+)"/.exec(k)?.[1] ?? '';
    if (verb !== 'GET') out.set(resource, (out.get(resource) ?? 0) + v);
  }
  return any ? out : undefined;
}
const sumValues = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const total = (m: Map<string, number> | undefined) => (m ? sumValues(m) : undefined);

function parseRequestTotals(text: string, into: Counts): void {
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!WRITE_VERBS.has(labels.verb ?? '')) continue;
    const key = `${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''} ${labels.verb}`;
    into.set(key, (into.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
}

function openshiftApiserverMetrics(): Promise<string> {
  const port = /PORT_OSAPI=(\d+)/.exec(readFileSync(path.join(STATE, 'ports.env'), 'utf8'))?.[1];
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/metrics', cert: readFileSync(path.join(STATE, 'pki/admin.crt')), key: readFileSync(path.join(STATE, 'pki/admin.key')), rejectUnauthorized: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
  });
}

async function apiWrites(): Promise<Counts> {
  const c: Counts = new Map();
  parseRequestTotals(await oc(['get', '--raw', '/metrics']), c);
  parseRequestTotals(await openshiftApiserverMetrics(), c);
  return c;
}

const OURS = ['layeredpools', 'layeredpools/status', 'imagestreams', 'buildconfigs', 'builds', 'events', 'machineconfigs', 'machineconfigpools', 'imagestreamimports'];
function delta(after: Counts, before: Counts): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    const resource = k.split(' ')[0]!;
    if (d > 0 && OURS.includes(resource)) out.set(resource, (out.get(resource) ?? 0) + d);
  }
  return out;
}

// ---- one run -----------------------------------------------------------------------------------

interface RunResult {
  load: number;
  objectsS: number | undefined;
  buildsS: number | undefined;
  peakRssMB: number;
  cpuS: number;
  /** CPU seconds of each control-plane process from the operator's start to the first Builds. */
  clusterCpu: Map<string, number>;
  wallS: number;
  heapUsedMB: number | undefined;
  externalMB: number | undefined;
  writes: Map<string, number>;
  reconciles: number | undefined;
  /** The operator's own writes by resource (lbc_api_requests_total, not GET); absent for a checkout without that metric. */
  ownWrites: Map<string, number> | undefined;
  connections: number | undefined;
  appliesSkipped: number | undefined;
  /** JSON bytes of what the operator's informers hold, by resource: as served, and without managedFields. */
  cache?: Map<string, { objects: number; bytes: number; stripped: number }>;
  idle?: { cpuPct: number; writes: number; ownWrites: number | undefined; byResource: Map<string, number>; reconciles: number; buildsNew: number };
}

function ignition(i: number): Record<string, unknown> {
  return { ignition: { version: '3.4.0' }, storage: { files: [{ path: `/etc/bench-${i}.conf`, mode: 420, overwrite: true, contents: { source: `data:,pool%20${i}` } }] } };
}

/** Deletes what a run created: pools, MachineConfigs (MCC's rendered ones are owned by the pools), the namespace. */
async function cleanup(id: string, ns: string): Promise<void> {
  await oc(['delete', 'machineconfigpools', '-l', `bench.layering.mco.dev/run=${id}`, '--wait=false'], undefined, true);
  await oc(['delete', 'machineconfigs', '-l', `bench.layering.mco.dev/run=${id}`, '--wait=false'], undefined, true);
  await oc(['delete', 'namespace', ns, '--wait=true', '--timeout=600s'], undefined, true);
}
let current: { id: string; ns: string; op?: Operator } | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`${sig}: deleting what the run created`);
    void (async () => {
      if (current) {
        await current.op?.stop();
        await cleanup(current.id, current.ns);
      }
      process.exit(1);
    })();
  });
}

async function coldStart(n: number, report: (r: RunResult) => void): Promise<RunResult> {
  const id = `${Date.now().toString(36).slice(-4)}${randomBytes(2).toString('hex')}`;
  const ns = `bench-${id}`;
  const label = `bench.layering.mco.dev/${id}`;
  const names = Array.from({ length: n }, (_, i) => `bench-${id}-${i}`);
  const load = loadavg()[0]!;
  current = { id, ns };
  // The namespace, a registry token for it (system:image-builder), the pools and their MachineConfigs.
  const { tokenFile } = await benchNamespace(ns, { holdPods: !runBuilds });
  const items: unknown[] = [];
  for (const [i, name] of names.entries()) {
    items.push({ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: `50-${name}`, labels: { 'machineconfiguration.openshift.io/role': name, 'bench.layering.mco.dev/run': id } }, spec: { config: ignition(i) } });
    items.push({
      apiVersion: 'machineconfiguration.openshift.io/v1',
      kind: 'MachineConfigPool',
      metadata: { name, labels: { [label]: '', 'bench.layering.mco.dev/run': id } },
      spec: { machineConfigSelector: { matchLabels: { 'machineconfiguration.openshift.io/role': name } }, nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${name}`]: '' } } },
    });
  }
  try {
    for (let i = 0; i < items.length; i += 400) await oc(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: items.slice(i, i + 400) }));
    // Every pool rendered by the real machine-config-controller.
    const t0 = Date.now();
    for (;;) {
      const out = await oc(['get', 'machineconfigpools', '-l', `bench.layering.mco.dev/run=${id}`, '-o', 'jsonpath={range .items[*]}{.spec.configuration.name}{"\\n"}{end}']);
      const rendered = out.split('\n').filter(Boolean).length;
      if (rendered >= n) break;
      if (Date.now() - t0 > timeoutMs) throw new Error(`MCC rendered ${rendered} of ${n} pools in ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    // Watch the namespace for the objects and the first Builds.
    const kc = loadKubeConfig(KUBECONFIG);
    const want = { imagestreams: n * Object.keys(poolStreams('x')).length + 1, buildconfigs: n * Object.keys(poolBuildConfigs('x')).length, layeredpools: n };
    const counts = new Map<string, Informer<MetaOnly>>();
    const poolsWithBuild = new Set<string>();
    let objectsAt: number | undefined;
    let buildsAt: number | undefined;
    let start = 0;
    const check = () => {
      if (!start) return;
      if (objectsAt === undefined && [...counts].every(([k, inf]) => inf.list().length >= want[k as keyof typeof want])) objectsAt = Date.now() - start;
      if (buildsAt === undefined && poolsWithBuild.size >= n) buildsAt = Date.now() - start;
    };
    const strip = (o: MetaOnly): MetaOnly => ({ metadata: { name: o.metadata.name, namespace: o.metadata.namespace, annotations: o.metadata.annotations?.[ANNOTATION_POOL] ? { [ANNOTATION_POOL]: o.metadata.annotations[ANNOTATION_POOL] } : {} } });
    for (const [k, r] of [['imagestreams', RESOURCES.imageStream], ['buildconfigs', RESOURCES.buildConfig], ['layeredpools', RESOURCES.layeredPool]] as const) {
      counts.set(k, new Informer<MetaOnly>({ kubeConfig: kc, resource: r, namespace: ns, schema: MetaOnly, transform: strip, resyncPeriodMs: 0, onEvent: check }));
    }
    const builds = new Informer<MetaOnly>({
      kubeConfig: kc, resource: RESOURCES.build, namespace: ns, schema: MetaOnly, transform: strip, resyncPeriodMs: 0,
      onEvent: (b, type) => {
        const p = b.metadata.annotations?.[ANNOTATION_POOL];
        if (type !== 'delete' && p) poolsWithBuild.add(p);
        check();
      },
    });
    const informers = [...counts.values(), builds];
    informers.forEach((i) => i.start());
    await Promise.all(informers.map((i) => i.waitForSync()));
    const before = await apiWrites();
    let cacheBytes: RunResult['cache'];
    const cpu0 = controlPlaneCpu();
    start = Date.now();
    const op = startOperator({ checkout, ns, label, tokenFile, debounceMs: 0, extraArgs: operatorArgs });
    current.op = op;
    const pid = op.child.pid!;
    let last = procStats(pid);
    try {
      while ((objectsAt === undefined || buildsAt === undefined) && Date.now() - start < timeoutMs && op.child.exitCode === null) {
        last = procStats(pid);
        await new Promise((r) => setTimeout(r, 250));
      }
      last = procStats(pid);
      const clusterCpu = cpuDelta(controlPlaneCpu(), cpu0);
      const wallS = (Date.now() - start) / 1000;
      // The API servers' counters and the operator's own at the same moment (the
      // operator writes on as the Builds progress: read later, its own count ran ahead).
      const [after, m] = await Promise.all([apiWrites(), op.metricsUrl.then(scrape)]);
      cacheBytes = await cachedBytes(ns);
      const result: RunResult = {
        load,
        objectsS: objectsAt === undefined ? undefined : objectsAt / 1000,
        buildsS: buildsAt === undefined ? undefined : buildsAt / 1000,
        peakRssMB: last.hwmBytes / 2 ** 20,
        cpuS: last.cpuS,
        clusterCpu,
        wallS,
        heapUsedMB: m.has('nodejs_heap_size_used_bytes') ? m.get('nodejs_heap_size_used_bytes')! / 2 ** 20 : undefined,
        externalMB: m.has('nodejs_external_memory_bytes') ? m.get('nodejs_external_memory_bytes')! / 2 ** 20 : undefined,
        writes: delta(after, before),
        reconciles: sumOf(m, 'lbc_reconcile_total'),
        cache: cacheBytes,
        ownWrites: ownWrites(m),
        connections: m.has('lbc_api_connections_total') ? m.get('lbc_api_connections_total') : undefined,
        appliesSkipped: m.has('lbc_apply_requests_total{result="skipped"}') ? m.get('lbc_apply_requests_total{result="skipped"}') : undefined,
      };
      report(result);
      if (idleAt.has(n) && idleSeconds > 0) {
        // Settled: OCM has moved the Builds past New (it created their pods; it
        // does so at its own pace, so at most --settle-s), then the work queue
        // empty for 5 s in a row; then the idle window. Builds OCM still moves
        // wake the operator in the window: their count is printed beside it.
        let buildsNew = 0;
        for (const t = Date.now(); ; await new Promise((r) => setTimeout(r, 2000))) {
          buildsNew = (await oc(['get', 'builds', '-n', ns, '-o', 'jsonpath={.items[*].status.phase}'])).split(' ').filter((p) => p === 'New').length;
          if (buildsNew === 0 || Date.now() - t > settleMs) break;
        }
        let quiet = 0;
        while (quiet < 5 && op.child.exitCode === null) {
          const depth = sumOf(await scrape(await op.metricsUrl), 'lbc_workqueue_depth');
          quiet = depth === 0 ? quiet + 1 : 0;
          await new Promise((r) => setTimeout(r, 1000));
        }
        const w0 = await apiWrites();
        const m0 = await scrape(await op.metricsUrl);
        const c0 = procStats(pid).cpuS;
        await new Promise((r) => setTimeout(r, idleSeconds * 1000));
        const c1 = procStats(pid).cpuS;
        const m1 = await scrape(await op.metricsUrl);
        const w1 = await apiWrites();
        const [o0, o1] = [total(ownWrites(m0)), total(ownWrites(m1))];
        const d = delta(w1, w0);
        d.delete('builds'); // OCM's own updates of the Pending builds
        d.delete('events'); // the scheduler's and OCM's Events about them
        d.delete('machineconfigpools'); // MCC's status updates
        d.delete('machineconfigs'); // MCC's rendered configs
        result.idle = {
          cpuPct: ((c1 - c0) / idleSeconds) * 100,
          writes: sumValues(d),
          ownWrites: o0 !== undefined && o1 !== undefined ? o1 - o0 : undefined,
          byResource: d,
          reconciles: sumOf(m1, 'lbc_reconcile_total') - sumOf(m0, 'lbc_reconcile_total'),
          buildsNew,
        };
        const i = result.idle;
        console.log(
          `    idle ${idleSeconds} s at ${n} pools: CPU ${i.cpuPct.toFixed(2)} %, reconciles ${i.reconciles}, writes ${i.writes} (${[...i.byResource].map(([k, v]) => `${k} ${v}`).join(', ')}), operator's own ${i.ownWrites ?? 'n/a'}; Builds OCM had not yet moved past New at its start: ${i.buildsNew}`,
        );
      }
      return result;
    } finally {
      await op.stop();
      await Promise.all(informers.map((i) => i.stop()));
    }
  } finally {
    await cleanup(id, ns);
    current = undefined;
  }
}

/** What the operator's informers list, as JSON bytes (served, and with managedFields and last-applied dropped). */
async function cachedBytes(ns: string): Promise<Map<string, { objects: number; bytes: number; stripped: number }>> {
  const out = new Map<string, { objects: number; bytes: number; stripped: number }>();
  for (const [what, args] of [
    ['machineconfigpools', ['get', 'machineconfigpools', '-o', 'json']],
    ['machineconfigs', ['get', 'machineconfigs', '-o', 'json']],
    ['imagestreams', ['get', 'imagestreams', '-n', ns, '-o', 'json']],
    ['buildconfigs', ['get', 'buildconfigs', '-n', ns, '-o', 'json']],
    ['builds', ['get', 'builds', '-n', ns, '-o', 'json']],
    ['layeredpools', ['get', 'layeredpools', '-n', ns, '-o', 'json']],
  ] as const) {
    const items = (JSON.parse(await oc([...args, '--show-managed-fields'])) as { items: { metadata: Record<string, unknown> }[] }).items;
    let bytes = 0;
    let stripped = 0;
    for (const o of items) {
      bytes += Buffer.byteLength(JSON.stringify(o));
      const { managedFields: _m, ...md } = o.metadata;
      const ann = md.annotations as Record<string, string> | undefined;
      if (ann) delete ann['kubectl.kubernetes.io/last-applied-configuration'];
      stripped += Buffer.byteLength(JSON.stringify({ ...o, metadata: md }));
    }
    out.set(what, { objects: items.length, bytes, stripped });
  }
  return out;
}

// ---- report ------------------------------------------------------------------------------------

const fmt = (s: Summary | undefined, digits = 1) => (s ? `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}` : 'n/a');
await oc(['apply', '--server-side', '-f', path.join(ROOT, 'crds')]);
console.log(`== cold start: operator of ${checkout}, pools created and rendered before it starts, --debounce-ms 0${operatorArgs.length ? ` ${operatorArgs.join(' ')}` : ''}, build pods ${runBuilds ? 'run' : 'held off the node (Builds stay Pending)'} (min / median / max)`);
const perPool = new Map<number, number>();
for (const n of poolCounts) {
  const k = runsAt.get(n) ?? runs;
  const results: RunResult[] = [];
  for (let i = 0; i < k; i++) {
    const r = await coldStart(n, (r) => {
    const w = [...r.writes].map(([res, c]) => `${res} ${c}`).join(', ');
    console.log(
      `  run ${i + 1}/${k} at ${n} pools (load ${r.load.toFixed(2)}): objects ${r.objectsS?.toFixed(1) ?? 'not reached'} s, first Builds ${r.buildsS?.toFixed(1) ?? 'not reached'} s, peak RSS ${r.peakRssMB.toFixed(0)} MB, heap used ${r.heapUsedMB?.toFixed(0) ?? '?'} MB, external ${r.externalMB?.toFixed(0) ?? '?'} MB, CPU ${r.cpuS.toFixed(1)} s (control plane ${sumValues(r.clusterCpu).toFixed(1)} s), reconciles ${r.reconciles ?? '?'}; writes: ${w}; operator's own writes ${r.ownWrites ? [...r.ownWrites].map(([res, c]) => `${res} ${c}`).join(', ') : 'n/a (no lbc_api_requests_total)'}, API connections ${r.connections ?? 'n/a'}, applies answered by the cache ${r.appliesSkipped ?? 'n/a'}`,
    );
    });
    results.push(r);
  }
  const sum = (f: (r: RunResult) => number | undefined) => summarize(results.map(f).filter((v): v is number => v !== undefined));
  const totalWrites = (r: RunResult) => [...r.writes].filter(([k]) => k !== 'machineconfigs' && k !== 'machineconfigpools').reduce((a, [, v]) => a + v, 0);
  const cpu = sum((r) => r.cpuS);
  if (cpu) perPool.set(n, cpu.median / n);
  console.log(`${String(n).padStart(5)} pools, ${k} run(s), load ${fmt(sum((r) => r.load), 2)}`);
  console.log(`      all objects        ${fmt(sum((r) => r.objectsS))} s`);
  console.log(`      all first Builds   ${fmt(sum((r) => r.buildsS))} s`);
  console.log(`      peak RSS           ${fmt(sum((r) => r.peakRssMB), 0)} MB`);
  console.log(`      CPU                ${fmt(sum((r) => r.cpuS))} s  (${fmt(sum((r) => (r.cpuS / n) * 1000), 0)} ms per pool)`);
  const clusterTotal = (r: RunResult) => sumValues(r.clusterCpu);
  const cores = availableParallelism();
  console.log(`      control plane CPU  ${fmt(sum(clusterTotal))} s  (${fmt(sum((r) => (clusterTotal(r) / n) * 1000), 0)} ms per pool; from the operator's start to the first Builds)`);
  const top = [...results[0]!.clusterCpu].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k]) => k);
  console.log(`        ${top.map((k) => `${k} ${fmt(sum((r) => r.clusterCpu.get(k) ?? 0))}`).join(', ')}`);
  console.log(`      machine busy       ${fmt(sum((r) => ((r.cpuS + clusterTotal(r)) / (r.wallS * cores)) * 100), 0)} %  (operator + control plane CPU over ${cores} cores' wall time; the operator's share ${fmt(sum((r) => (r.cpuS / (r.cpuS + clusterTotal(r))) * 100), 0)} %)`);
  console.log(`      API writes / pool  ${fmt(sum((r) => totalWrites(r) / n), 1)}  (operator's resources, all clients; without machineconfigs/pools)`);
  const own = results.filter((r) => r.ownWrites);
  if (own.length) {
    console.log(`      operator's writes / pool ${fmt(summarize(own.map((r) => total(r.ownWrites)! / n)), 1)}  (its lbc_api_requests_total)`);
    const keys = new Set(own.flatMap((r) => [...r.ownWrites!.keys()]));
    for (const k of keys) console.log(`        ${k.padEnd(22)} ${fmt(summarize(own.map((r) => r.ownWrites!.get(k) ?? 0)), 0)}`);
    console.log(`      API connections    ${fmt(summarize(own.map((r) => r.connections ?? 0)), 0)}`);
  }
  console.log(`      all clients' writes by resource:`);
  for (const res of OURS) {
    const s = sum((r) => r.writes.get(res) ?? 0);
    if (s && s.max > 0) console.log(`        ${res.padEnd(22)} ${fmt(s, 0)}`);
  }
  const withCache = results.filter((r) => r.cache);
  if (withCache.length) {
    console.log(`      informer caches (JSON bytes of the objects, median): served -> without managedFields`);
    for (const k of withCache[0]!.cache!.keys()) {
      const b = summarize(withCache.map((r) => r.cache!.get(k)!.bytes))!;
      const st = summarize(withCache.map((r) => r.cache!.get(k)!.stripped))!;
      const objs = summarize(withCache.map((r) => r.cache!.get(k)!.objects))!;
      console.log(`        ${k.padEnd(22)} ${String(objs.median).padStart(6)} objects  ${(b.median / 2 ** 20).toFixed(1).padStart(6)} MB -> ${(st.median / 2 ** 20).toFixed(1)} MB`);
    }
  }
  const idle = results.filter((r) => r.idle);
  if (idle.length) {
    console.log(`      idle ${idleSeconds} s CPU      ${fmt(summarize(idle.map((r) => r.idle!.cpuPct)), 2)} %`);
    console.log(`      idle ${idleSeconds} s writes   ${fmt(summarize(idle.map((r) => r.idle!.writes)), 0)} (operator's resources, without builds, events, pools: other clients write those)`);
    const ownIdle = idle.filter((r) => r.idle!.ownWrites !== undefined);
    if (ownIdle.length) console.log(`      idle ${idleSeconds} s operator's own writes ${fmt(summarize(ownIdle.map((r) => r.idle!.ownWrites!)), 0)}`);
    console.log(`      idle ${idleSeconds} s reconciles ${fmt(summarize(idle.map((r) => r.idle!.reconciles)), 0)} (woken by the Builds OCM moves: ${fmt(summarize(idle.map((r) => r.idle!.buildsNew)), 0)} still New at the start)`);
  }
}
if (perPool.size > 1) {
  const [small, large] = [Math.min(...perPool.keys()), Math.max(...perPool.keys())];
  console.log(`  CPU per pool at ${large} / at ${small}: ${(perPool.get(large)! / perPool.get(small)!).toFixed(2)}x`);
}
