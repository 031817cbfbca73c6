// Reaction and storm of one pool on the local control plane.
//
// Reaction (operator started with --debounce-ms 0): the pool's rendered config
// changes (a MachineConfig edit, rendered by the real machine-config-controller,
// pushed by the operator); from the moment the bench's watch sees the
// rendered-config stream name the new image under both its tags (the last input
// resolved) to the moment it sees the new Build. Beside it, in the same run,
// the raw watch delivery: an annotation PATCHed on an ImageStream of the same
// namespace (the same openshift-apiserver path), from the PATCH's response to
// the watch event, and the PATCH's own round trip. Before each change the bench
// ends the pool's Pending Build as Failed (the operator runs with --retry-limit
// 1, so it does not retry it), so the operator never has a stale Build to wait for.
//
// Storm (operator with its default debounce, 3 s): --storm edits of the same
// MachineConfig within --storm-seconds; then until it settled (the pool on its
// final rendered config, a Build for it, the work queue empty for 5 s): Builds
// created, rendered-config pushes, status writes, and whether the last Build is
// of the final rendered config.
//
//   eval "$(hack/local-cluster.sh env)"
//   node bench/reaction.bench.ts [--changes 20] [--raw 3] [--storm 100] [--storm-seconds 5] [--runs 1] [--checkout DIR]
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { loadKubeConfig } from '../src/kube/client.ts';
import { Informer, type EventType } from '../src/kube/informer.ts';
import { apiVersionOf, RESOURCES, type ResourceCoords } from '../src/kube/types.ts';
import { ANNOTATION_POOL, LATEST, poolStreams, renderedConfigTag } from '../src/plan/names.ts';
import { benchNamespace, MetaOnly, oc, ROOT, waitOn, scrape, startOperator, sumOf, type Operator } from './lib.ts';
import { percentile, summarize } from './stats.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const changes = Number(arg('changes', '20'));
const rawPerChange = Number(arg('raw', '3'));
const stormEdits = Number(arg('storm', '100'));
const stormSeconds = Number(arg('storm-seconds', '5'));
const runs = Number(arg('runs', '1'));
const checkout = path.resolve(arg('checkout', ROOT));
const TIMEOUT_MS = 180_000;
if (![changes, rawPerChange, stormEdits, runs].every((n) => Number.isInteger(n) && n >= 0) || !(stormSeconds > 0) || runs < 1) {
  console.error('usage: node bench/reaction.bench.ts [--changes 20] [--raw 3] [--storm 100] [--storm-seconds 5] [--runs 1] [--checkout DIR]');
  process.exit(2);
}

const kc = loadKubeConfig(process.env.KUBECONFIG);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

type Obj = MetaOnly & {
  status?: { phase?: string; tags?: { tag: string; items?: { image: string }[] }[] };
  spec?: { configuration?: { name?: string }; output?: { imageLabels?: { name: string; value: string }[] } };
};
const ACTIVE = new Set(['New', 'Pending', 'Running']);

/** Resolves when `pred` holds, checked now and on every event of the informers; rejects after the timeout. */
function waitFor<T>(informers: Informer<Obj>[], pred: () => T | undefined, what: string, timeoutMs = TIMEOUT_MS): Promise<T> {
  return waitOn(informers, pred, what, timeoutMs);
}

function informer(r: ResourceCoords, ns: string | undefined, onEvent?: (o: Obj, t: EventType) => void): Informer<Obj> {
  return new Informer<Obj>({ kubeConfig: kc, resource: r, ...(ns ? { namespace: ns } : {}), schema: MetaOnly as never, resyncPeriodMs: 0, ...(onEvent ? { onEvent } : {}) });
}

const tagDigest = (s: Obj | undefined, tag: string) => s?.status?.tags?.find((t) => t.tag === tag)?.items?.[0]?.image;
const label = (b: Obj, name: string) => b.spec?.output?.imageLabels?.find((l) => l.name === name)?.value;

async function patchMachineConfig(name: string, i: number): Promise<void> {
  const r = RESOURCES.machineConfig;
  const config = { ignition: { version: '3.4.0' }, storage: { files: [{ path: '/etc/bench-reaction.conf', mode: 420, overwrite: true, contents: { source: `data:,change%20${i}` } }] } };
  await custom.patchClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, name, body: { spec: { config } } }, merge);
}

/**
 * Ends the pool's Pending Builds as Failed (what a failing build pod would do;
 * the real API has no builds/status, the admin writes the Build). A cancelled
 * Build would be started again at once; a failed one, with --retry-limit 1, is
 * not retried.
 */
async function failActive(ns: string, builds: Informer<Obj>): Promise<void> {
  const r = RESOURCES.build;
  for (const b of builds.list().filter((b) => ACTIVE.has(b.status?.phase ?? 'New')))
    await custom.patchNamespacedCustomObject(
      { group: r.group, version: r.version, namespace: ns, plural: r.plural, name: b.metadata.name, body: { status: { phase: 'Failed', reason: 'GenericBuildFailed', message: 'ended by bench/reaction.bench.ts' } } },
      merge,
    );
  await waitFor([builds], () => (builds.list().some((b) => ACTIVE.has(b.status?.phase ?? 'New')) ? undefined : true), 'the Pending Builds ended');
}

interface RunResult {
  load: number;
  reactionMs: number[];
  /** Watch delivery: PATCH response read -> watch event. */
  rawMs: number[];
  /** One write round trip: PATCH sent -> response read. */
  writeMs: number[];
  storm?: { builds: number; pushes: number; statusWrites: number; final: boolean; settleS: number };
}

async function run(): Promise<RunResult> {
  const id = `${Date.now().toString(36).slice(-4)}${randomBytes(2).toString('hex')}`;
  const ns = `bench-${id}`;
  const optIn = `bench.layering.mco.dev/${id}`;
  const pool = `bench-${id}`;
  const mc = `50-${pool}`;
  const result: RunResult = { load: loadavg()[0]!, reactionMs: [], rawMs: [], writeMs: [] };
  const informers: Informer<Obj>[] = [];
  let op: Operator | undefined;
  try {
    const { tokenFile } = await benchNamespace(ns);
    await oc(['create', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: apiVersionOf(RESOURCES.machineConfig), kind: 'MachineConfig', metadata: { name: mc, labels: { 'machineconfiguration.openshift.io/role': pool, 'bench.layering.mco.dev/run': id } }, spec: { config: { ignition: { version: '3.4.0' } } } },
        {
          apiVersion: apiVersionOf(RESOURCES.machineConfigPool),
          kind: 'MachineConfigPool',
          metadata: { name: pool, labels: { [optIn]: '', 'bench.layering.mco.dev/run': id } },
          spec: { machineConfigSelector: { matchLabels: { 'machineconfiguration.openshift.io/role': pool } }, nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${pool}`]: '' } } },
        },
        { apiVersion: apiVersionOf(RESOURCES.imageStream), kind: 'ImageStream', metadata: { name: 'bench-raw-watch', namespace: ns } },
      ],
    }));
    const S = poolStreams(pool);
    const rawWatched = new Map<string, number>();
    const streams = informer(RESOURCES.imageStream, ns, (o) => {
      const v = o.metadata.annotations?.['bench.layering.mco.dev/raw'];
      if (o.metadata.name === 'bench-raw-watch' && v && !rawWatched.has(v)) rawWatched.set(v, performance.now());
    });
    const buildSeen = new Map<string, number>();
    const builds = informer(RESOURCES.build, ns, (b, t) => {
      if (t === 'add' && b.metadata.annotations?.[ANNOTATION_POOL] === pool && !buildSeen.has(b.metadata.name)) buildSeen.set(b.metadata.name, performance.now());
    });
    const pools = informer(RESOURCES.machineConfigPool, undefined);
    informers.push(streams, builds, pools);
    informers.forEach((i) => i.start());
    await Promise.all(informers.map((i) => i.waitForSync()));
    const renderedName = () => pools.get(pool)?.spec?.configuration?.name;
    await waitFor([pools], renderedName, 'the pool rendered by machine-config-controller');

    // ---- reaction, debounce 0
    // --retry-limit 1: the Build the bench ends as Failed is not retried (a retry would be a second active Build to wait for).
    op = startOperator({ checkout, ns, label: optIn, tokenFile, debounceMs: 0, extraArgs: ['--retry-limit', '1'] });
    await waitFor([builds], () => (buildSeen.size ? true : undefined), 'the first Build');
    const rs = RESOURCES.imageStream;
    for (let i = 1; i <= changes; i++) {
      await failActive(ns, builds);
      for (let k = 0; k < rawPerChange; k++) {
        const v = `${i}-${k}`;
        const sent = performance.now();
        await custom.patchNamespacedCustomObject({ group: rs.group, version: rs.version, namespace: ns, plural: rs.plural, name: 'bench-raw-watch', body: { metadata: { annotations: { 'bench.layering.mco.dev/raw': v } } } }, merge);
        const returned = performance.now();
        const seen = await waitFor([streams], () => rawWatched.get(v), 'the raw watch event');
        // The event often arrives before the client has read the PATCH's response: a delivery below 0 is 0.
        result.rawMs.push(Math.max(0, seen - returned));
        result.writeMs.push(returned - sent);
      }
      const before = new Set(buildSeen.keys());
      const prevRendered = tagDigest(streams.get(S.renderedConfig, ns), LATEST);
      await patchMachineConfig(mc, i);
      // The last input resolved: the rendered-config stream names a new image under its content tag and latest.
      const resolvedAt = await waitFor([streams], () => {
        const s = streams.get(S.renderedConfig, ns);
        const d = tagDigest(s, LATEST);
        return d && d !== prevRendered && tagDigest(s, renderedConfigTag(d)) === d ? performance.now() : undefined;
      }, `the rendered config of change ${i} resolved`);
      const createdAt = await waitFor([builds], () => [...buildSeen].find(([n]) => !before.has(n))?.[1], `the Build of change ${i}`);
      result.reactionMs.push(createdAt - resolvedAt);
    }
    await op.stop();
    op = undefined;

    // ---- storm, default debounce
    if (stormEdits > 0) {
      await failActive(ns, builds);
      op = startOperator({ checkout, ns, label: optIn, tokenFile, debounceMs: 3000, extraArgs: ['--retry-limit', '1'] }); // the failed Build of the reaction part stays failed
      const url = await op.metricsUrl;
      const settled = async () => {
        for (let quiet = 0; quiet < 5; ) {
          quiet = sumOf(await scrape(url), 'lbc_workqueue_depth') === 0 ? quiet + 1 : 0;
          await new Promise((r) => setTimeout(r, 1000));
        }
      };
      await settled();
      const m0 = await scrape(url);
      const buildsBefore = new Set(buildSeen.keys());
      const t0 = performance.now();
      const every = (stormSeconds * 1000) / stormEdits;
      for (let i = 0; i < stormEdits; i++) {
        const due = t0 + i * every;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await patchMachineConfig(mc, 1000 + i);
      }
      const lastEdit = performance.now();
      // Settled: MCC rendered the last edit (its rendered config stays), a Build of it, the queue empty for 5 s.
      let finalName: string | undefined;
      for (;;) {
        const name = renderedName();
        await new Promise((r) => setTimeout(r, 5000));
        if (name === renderedName()) {
          finalName = name;
          const b = builds.list().find((b) => !buildsBefore.has(b.metadata.name) && label(b, 'machineconfig') === finalName);
          if (b) break;
        }
        if (performance.now() - lastEdit > TIMEOUT_MS) throw new Error('the storm did not settle');
      }
      await settled();
      const m1 = await scrape(url);
      const d = (k: string) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
      const fresh = builds.list().filter((b) => !buildsBefore.has(b.metadata.name)).sort((a, b) => (buildSeen.get(a.metadata.name) ?? 0) - (buildSeen.get(b.metadata.name) ?? 0));
      result.storm = {
        builds: fresh.length,
        pushes: d(`lbc_rendered_config_pushes_total{pool="${pool}",result="pushed"}`),
        statusWrites: [...m1.keys()].filter((k) => k.startsWith('lbc_api_requests_total{') && k.includes('resource="layeredpools/status"') && !k.includes('verb="GET"')).reduce((a, k) => a + d(k), 0),
        final: label(fresh[fresh.length - 1]!, 'machineconfig') === finalName,
        settleS: (performance.now() - lastEdit) / 1000,
      };
    }
    return result;
  } finally {
    await op?.stop();
    await Promise.all(informers.map((i) => i.stop()));
    await oc(['delete', 'machineconfigpools,machineconfigs', '-l', `bench.layering.mco.dev/run=${id}`, '--wait=false'], undefined, true);
    await oc(['delete', 'namespace', ns, '--wait=true', '--timeout=300s'], undefined, true);
  }
}

const f = (v: number | undefined, d = 1) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(d));
console.log(`== reaction and storm: operator of ${checkout}, one pool`);
const results: RunResult[] = [];
for (let i = 0; i < runs; i++) {
  const r = await run();
  results.push(r);
  const st = r.storm;
  console.log(
    `  run ${i + 1}/${runs} (load ${r.load.toFixed(2)}): reaction p50 ${f(percentile(r.reactionMs, 50))} ms, p99 ${f(percentile(r.reactionMs, 99))} ms (${r.reactionMs.length} changes); ` +
      `raw watch p50 ${f(percentile(r.rawMs, 50))} ms, p99 ${f(percentile(r.rawMs, 99))} ms, write round trip p50 ${f(percentile(r.writeMs, 50))} ms, p99 ${f(percentile(r.writeMs, 99))} ms (${r.rawMs.length} PATCHes)` +
      (st ? `; storm of ${stormEdits} edits in ${stormSeconds} s: ${st.builds} Build(s), ${st.pushes} pushes, ${st.statusWrites} status writes, last Build on the final rendered config: ${st.final ? 'yes' : 'NO'}, settled ${f(st.settleS)} s after the last edit` : ''),
  );
}
const across = (g: (r: RunResult) => number | undefined) => {
  const s = summarize(results.map(g).filter((v): v is number => v !== undefined && !Number.isNaN(v)));
  return s ? `${f(s.min)} / ${f(s.median)} / ${f(s.max)}` : 'n/a';
};
console.log(`  over ${runs} run(s), min / median / max, load ${across((r) => r.load)}`);
console.log(`      reaction p50       ${across((r) => percentile(r.reactionMs, 50))} ms   (rendered config resolved -> Build seen, --debounce-ms 0)`);
console.log(`      reaction p99       ${across((r) => percentile(r.reactionMs, 99))} ms`);
console.log(`      raw watch p50      ${across((r) => percentile(r.rawMs, 50))} ms   (PATCH returned -> watch event, same run)`);
console.log(`      raw watch p99      ${across((r) => percentile(r.rawMs, 99))} ms`);
console.log(`      write round trip p50 ${across((r) => percentile(r.writeMs, 50))} ms   (PATCH sent -> response read, same run)`);
console.log(`      write round trip p99 ${across((r) => percentile(r.writeMs, 99))} ms`);
console.log(`      reaction p99 - raw watch p99  ${across((r) => percentile(r.reactionMs, 99) - percentile(r.rawMs, 99))} ms   (target: one write round trip, <= 20 ms)`);
if (results.some((r) => r.storm)) {
  console.log(`      storm Builds       ${across((r) => r.storm?.builds)}`);
  console.log(`      storm pushes       ${across((r) => r.storm?.pushes)}`);
  console.log(`      storm status writes ${across((r) => r.storm?.statusWrites)}`);
  console.log(`      storm on final inputs ${results.filter((r) => r.storm?.final).length} of ${results.filter((r) => r.storm).length}`);
}
process.exit(0);
