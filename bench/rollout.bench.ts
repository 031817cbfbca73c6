// A MachineConfig change, end to end, on the local control plane's one node:
// from the edit to the node Done on the rendering that carries the new image,
// and how many times the node was moved (its desiredConfig changed) for it.
// On a real cluster each move is a drain and a reboot; the box's node is the
// stand-in for the machine-config daemon (hack/node-agent), which deploys the
// image with the real importer but does not reboot, so moves are what is
// counted here.
//
// Side by side in one run: this checkout's operator and, with --before DIR,
// another checkout's (e.g. a worktree of the commit before the rollout hold),
// each on a pool of its own that the node is moved into (with one `oc label`,
// and back afterwards), first set up, then --changes edits one after another.
//
//   eval "$(hack/local-cluster.sh env)"
//   node bench/rollout.bench.ts [--changes 3] [--before DIR]
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { loadKubeConfig } from '../src/kube/client.ts';
import { CORE_RESOURCES, Informer } from '../src/kube/informer.ts';
import { apiVersionOf, MCD_ANNOTATION, RESOURCES, type ResourceCoords } from '../src/kube/types.ts';
import { handoffMachineConfigName } from '../src/plan/names.ts';
import { benchNamespace, MetaOnly, oc, ROOT, waitOn, startOperator, type Operator } from './lib.ts';
import { summarize } from './stats.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const changes = Number(arg('changes', '3'));
const before = arg('before', '');
const NODE_NAME = process.env.LBC_NODE_NAME ?? '';
const TIMEOUT_MS = 300_000;
if (!Number.isInteger(changes) || changes < 1 || !NODE_NAME) {
  console.error('usage: node bench/rollout.bench.ts [--changes 3] [--before DIR] (after eval "$(hack/local-cluster.sh env)", which sets LBC_NODE_NAME)');
  process.exit(2);
}

const kc = loadKubeConfig(process.env.KUBECONFIG);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

type Obj = MetaOnly & { spec?: { configuration?: { name?: string }; osImageURL?: string } };

function informer(r: ResourceCoords, onEvent?: (o: Obj) => void): Informer<Obj> {
  return new Informer<Obj>({ kubeConfig: kc, resource: r, schema: MetaOnly as never, resyncPeriodMs: 0, ...(onEvent ? { onEvent } : {}) });
}

/** Resolves when `pred` holds, checked now and on every event of the informers. */
function waitFor<T>(informers: Informer<Obj>[], pred: () => T | undefined, what: string, timeoutMs = TIMEOUT_MS): Promise<T> {
  return waitOn(informers, pred, what, timeoutMs);
}

const config = (i: number) => ({ ignition: { version: '3.4.0' }, storage: { files: [{ path: '/etc/bench-rollout.conf', mode: 420, overwrite: true, contents: { source: `data:,change%20${i}` } }] } });

interface Result {
  checkout: string;
  load: number;
  /** Edit -> the node Done on the rendering with the new image, per change. */
  seconds: number[];
  /** desiredConfig moves of the node, per change. */
  moves: number[];
}

async function run(checkout: string): Promise<Result> {
  const id = `${Date.now().toString(36).slice(-4)}${randomBytes(2).toString('hex')}`;
  const ns = `bench-${id}`;
  const optIn = `bench.layering.mco.dev/${id}`;
  const pool = `bench-${id}`;
  const mc = `50-${pool}`;
  const result: Result = { checkout, load: loadavg()[0]!, seconds: [], moves: [] };
  const informers: Informer<Obj>[] = [];
  const desiredSeen: string[] = [];
  let op: Operator | undefined;
  const nodeLabels = JSON.parse(await oc(['get', 'node', NODE_NAME, '-o', 'jsonpath={.metadata.labels}'])) as Record<string, string>;
  const otherRoles = Object.keys(nodeLabels).filter((k) => k.startsWith('node-role.kubernetes.io/') && !k.endsWith('/worker') && !k.endsWith('/master'));
  try {
    const { tokenFile } = await benchNamespace(ns);
    // The nodes' puller (MCO's machine-os-puller) may pull the pool's images from this namespace.
    await oc(['create', 'rolebinding', 'machine-os-puller-binding', '--clusterrole=system:image-puller', '--serviceaccount=openshift-machine-config-operator:machine-os-puller', '-n', ns]);
    await oc(['create', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: apiVersionOf(RESOURCES.machineConfig), kind: 'MachineConfig', metadata: { name: mc, labels: { 'machineconfiguration.openshift.io/role': pool, 'bench.layering.mco.dev/run': id } }, spec: { config: config(0) } },
        {
          apiVersion: apiVersionOf(RESOURCES.machineConfigPool),
          kind: 'MachineConfigPool',
          metadata: { name: pool, labels: { [optIn]: '', 'bench.layering.mco.dev/run': id } },
          spec: {
            machineConfigSelector: { matchExpressions: [{ key: 'machineconfiguration.openshift.io/role', operator: 'In', values: ['worker', pool] }] },
            nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${pool}`]: '' } },
          },
        },
      ],
    }));
    const nodes = informer(CORE_RESOURCES.node, (n) => {
      const d = n.metadata.annotations?.[`${MCD_ANNOTATION}desiredConfig`];
      if (n.metadata.name === NODE_NAME && d && d !== desiredSeen.at(-1)) desiredSeen.push(d);
    });
    const pools = informer(RESOURCES.machineConfigPool);
    const mcs = informer(RESOURCES.machineConfig);
    informers.push(nodes, pools, mcs);
    informers.forEach((i) => i.start());
    await Promise.all(informers.map((i) => i.waitForSync()));
    const node = () => nodes.get(NODE_NAME)?.metadata.annotations ?? {};
    const handedOff = () => mcs.get(handoffMachineConfigName(pool))?.spec?.osImageURL;
    /** The node Done on a rendering whose osImageURL is the handed-off image, other than `not`. */
    const onImage = (not: string | undefined) => () => {
      const a = node();
      const img = handedOff();
      const cur = a[`${MCD_ANNOTATION}currentConfig`];
      if (!img || img === not || a[`${MCD_ANNOTATION}state`] !== 'Done' || cur !== a[`${MCD_ANNOTATION}desiredConfig`] || !cur) return undefined;
      return mcs.get(cur)?.spec?.osImageURL === img ? img : undefined;
    };

    await oc(['label', 'node', NODE_NAME, `node-role.kubernetes.io/${pool}=`, ...otherRoles.map((k) => `${k}-`)]);
    op = startOperator({ checkout, ns, label: optIn, tokenFile, debounceMs: 0 });
    let image = await waitFor([nodes, mcs], onImage(undefined), 'the first image on the node');
    for (let i = 1; i <= changes; i++) {
      const movesBefore = desiredSeen.length;
      const t0 = performance.now();
      await custom.patchClusterCustomObject({ group: RESOURCES.machineConfig.group, version: RESOURCES.machineConfig.version, plural: RESOURCES.machineConfig.plural, name: mc, body: { spec: { config: config(i) } } }, merge);
      image = await waitFor([nodes, mcs], onImage(image), `change ${i} on the node`);
      result.seconds.push((performance.now() - t0) / 1000);
      result.moves.push(desiredSeen.length - movesBefore);
    }
    return result;
  } finally {
    await op?.stop();
    await oc(['label', 'node', NODE_NAME, `node-role.kubernetes.io/${pool}-`, ...otherRoles.map((k) => `${k}=${nodeLabels[k]}`)], undefined, true);
    await Promise.all(informers.map((i) => i.stop()));
    await oc(['delete', 'machineconfigpools,machineconfigs', '-l', `bench.layering.mco.dev/run=${id}`, '--wait=false'], undefined, true);
    await oc(['delete', 'namespace', ns, '--wait=true', '--timeout=300s'], undefined, true);
  }
}

const f = (v: number | undefined, d = 1) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(d));
console.log(`== rollout of a MachineConfig change on the box's one node (${changes} changes per operator, one after another)`);
for (const checkout of [ROOT, ...(before ? [path.resolve(before)] : [])]) {
  const r = await run(checkout);
  const s = summarize(r.seconds);
  console.log(
    `  ${checkout === ROOT ? 'this checkout' : checkout} (load ${r.load.toFixed(2)}): edit -> node Done on the new image min / median / max ${f(s?.min)} / ${f(s?.median)} / ${f(s?.max)} s; ` +
      `node moves (desiredConfig; a drain and a reboot each on a real node) per change: ${r.moves.join(', ')}`,
  );
}
process.exit(0);
