// One content build on the realistic CoreOS base (hack/coreos-base/build.sh
// realistic: >= 1 GiB in ~49 layers, the order of RHCOS), side by side in one
// run with MCO's own way of building the same thing and with the floor:
//
// - ours: the operator's content Build (a pool whose external base is the
//   realistic image, `oc tag`ged before the pool exists, so the first Build is
//   on it), Build created to Complete, split from `oc logs --timestamps` of the
//   real builder into pod start (Build created -> first log line), base pull and
//   unpack (-> the first STEP), apply (the RUN line -> Ignition's last line),
//   commit (-> the end of the RUN: `ostree container commit`), image commit
//   (-> "Pushing image") and push (-> "Push successful"), with the bytes pulled
//   (the base's layers, compressed) and pushed (the layers the build added);
// - MCO's way: MCO's Containerfile.on-cluster-build-template (its extract and
//   configs stages, the apply line made to commit, as verify.sh has it) built
//   with `buildah bud --storage-driver vfs` into empty storage, then pushed,
//   the way MCO's on-cluster layering builds (here on the host, the same node,
//   not in a pod);
// - the floor: `buildah pull` of the base into empty overlay storage (a build
//   that pulls the whole base cannot go below it).
//
//   eval "$(hack/local-cluster.sh env)"; node bench/content-build.bench.ts [--runs 1]
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { apiVersionOf, RESOURCES } from '../src/kube/types.ts';
import { ANNOTATION_POOL, poolStreams } from '../src/plan/names.ts';
import { benchNamespace, INTERNAL_REGISTRY, LOCAL_REGISTRY, oc, ROOT, startOperator, type Operator } from './lib.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
};
const runs = Number(arg('runs', '1'));
if (!(Number.isInteger(runs) && runs >= 1)) {
  console.error('usage: node bench/content-build.bench.ts [--runs 1]');
  process.exit(2);
}

function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 256 * 1024 * 1024, env: opts.env ?? process.env }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr.slice(-2000)}`)) : resolve(stdout),
    ),
  );
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(0)} MB` : `${(b / 1e3).toFixed(1)} kB`);

const Manifest = z.object({ layers: z.array(z.object({ digest: z.string(), size: z.number() })) });
async function manifest(ref: string, token?: string): Promise<z.infer<typeof Manifest>> {
  return Manifest.parse(JSON.parse(await sh('skopeo', ['inspect', '--raw', '--tls-verify=false', ...(token ? ['--creds', `bench:${token}`] : []), `docker://${ref}`])));
}

/** The realistic base in the outside registry, by digest (built once per machine and cached by build.sh). */
async function realisticBase(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lbc-bench-base-'));
  try {
    await sh('bash', [path.join(ROOT, 'hack/coreos-base/build.sh'), 'realistic', path.join(dir, 'oci')]);
    const digestFile = path.join(dir, 'digest');
    await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--digestfile', digestFile, `oci:${path.join(dir, 'oci')}:latest`, `docker://${LOCAL_REGISTRY}/bench/coreos-realistic:latest`]);
    return `${LOCAL_REGISTRY}/bench/coreos-realistic@${readFileSync(digestFile, 'utf8').trim()}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CONFIG = {
  ignition: { version: '3.4.0' },
  storage: {
    files: [
      { path: '/etc/bench/content-build.conf', mode: 420, overwrite: true, contents: { source: 'data:,realistic%20base%0A' } },
      { path: '/etc/bench/secret.conf', mode: 384, overwrite: true, contents: { source: 'data:,max%3D42%0A' } },
    ],
  },
};

const BuildObj = z.looseObject({
  metadata: z.looseObject({ name: z.string(), creationTimestamp: z.string(), annotations: z.record(z.string(), z.string()).optional() }),
  status: z.looseObject({ phase: z.string().optional(), output: z.looseObject({ to: z.looseObject({ imageDigest: z.string().optional() }).optional() }).optional() }).optional(),
});

interface Ours {
  totalMs: number;
  phases: [string, number][];
  pulledBytes: number;
  pushedBytes: number;
}

/** The operator's content Build on the base; its phases from the builder's timestamped log. */
async function ours(base: string): Promise<Ours> {
  const id = `${Date.now().toString(36).slice(-4)}${randomBytes(2).toString('hex')}`;
  const ns = `bench-cb-${id}`;
  const pool = `bench-cb-${id}`;
  const optIn = `bench.layering.mco.dev/${id}`;
  let op: Operator | undefined;
  try {
    const { tokenFile } = await benchNamespace(ns);
    // The external base first, so that the pool's first Build is on it.
    await oc(['tag', '--source=docker', '--insecure', base, `${ns}/${poolStreams(pool).externalBase}:latest`]);
    op = startOperator({ checkout: ROOT, ns, label: optIn, tokenFile, debounceMs: 0 });
    await oc(['create', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: apiVersionOf(RESOURCES.machineConfig), kind: 'MachineConfig', metadata: { name: `50-${pool}`, labels: { 'machineconfiguration.openshift.io/role': pool } }, spec: { config: CONFIG } },
        {
          apiVersion: apiVersionOf(RESOURCES.machineConfigPool),
          kind: 'MachineConfigPool',
          metadata: { name: pool, labels: { [optIn]: '' } },
          spec: { machineConfigSelector: { matchLabels: { 'machineconfiguration.openshift.io/role': pool } }, nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${pool}`]: '' } } },
        },
      ],
    }));
    const deadline = Date.now() + 30 * 60_000;
    let build: z.infer<typeof BuildObj> | undefined;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`no Complete content build in ${ns} after 30 min`);
      const list = z.object({ items: z.array(BuildObj) }).parse(JSON.parse(await oc(['get', 'builds', '-n', ns, '-o', 'json'])));
      build = list.items.find((b) => b.metadata.annotations?.[ANNOTATION_POOL] === pool);
      if (build?.status?.phase === 'Complete') break;
      if (build && ['Failed', 'Error', 'Cancelled'].includes(build.status?.phase ?? '')) throw new Error(`build ${build.metadata.name} ended ${build.status?.phase}: oc logs build/${build.metadata.name} -n ${ns}`);
      await sleep(1000);
    }
    const log = await oc(['logs', '--timestamps', `build/${build.metadata.name}`, '-n', ns]);
    const lines = log.split('\n').filter(Boolean).map((l) => ({ t: Date.parse(l.slice(0, l.indexOf(' '))), text: l.slice(l.indexOf(' ') + 1) }));
    const at = (re: RegExp, from = 0) => {
      const i = lines.findIndex((l, k) => k >= from && re.test(l.text));
      if (i < 0) throw new Error(`no line ${re} in the log of build/${build!.metadata.name} -n ${ns}`);
      return i;
    };
    const created = Date.parse(build.metadata.creationTimestamp);
    const iStep = at(/STEP \d+\/\d+: FROM /);
    const iRun = at(/STEP \d+\/\d+: RUN /, iStep);
    const iAfterRun = at(/^--> /, iRun);
    let iLastIgnition = iRun;
    for (let k = iRun; k < iAfterRun; k++) if (/^(INFO|CRITICAL|WARNING)\s+:/.test(lines[k]!.text)) iLastIgnition = k;
    const iPush = at(/^Pushing image /, iAfterRun);
    const iDone = at(/Push successful/, iPush);
    const t = (i: number) => lines[i]!.t;
    const completed = t(iDone);
    const phases: [string, number][] = [
      ['pod start (Build created -> first builder line)', t(0) - created],
      ['base pull and unpack (-> first STEP)', t(iStep) - t(0)],
      ['COPY of the config files (-> RUN)', t(iRun) - t(iStep)],
      ['apply: Ignition as ignition-apply (RUN -> its last line)', t(iLastIgnition) - t(iRun)],
      ['commit: ostree container commit (-> end of RUN)', t(iAfterRun) - t(iLastIgnition)],
      ['image commit (-> Pushing image)', t(iPush) - t(iAfterRun)],
      ['push (-> Push successful)', t(iDone) - t(iPush)],
    ];
    const baseLayers = (await manifest(base)).layers;
    const digest = build.status?.output?.to?.imageDigest;
    const result = digest ? await manifest(`${INTERNAL_REGISTRY}/${ns}/${poolStreams(pool).content}@${digest}`, readFileSync(tokenFile, 'utf8').trim()) : undefined;
    const known = new Set(baseLayers.map((l) => l.digest));
    return {
      totalMs: completed - created,
      phases,
      pulledBytes: baseLayers.reduce((n, l) => n + l.size, 0),
      pushedBytes: (result?.layers ?? []).filter((l) => !known.has(l.digest)).reduce((n, l) => n + l.size, 0),
    };
  } finally {
    await op?.stop();
    await oc(['delete', 'machineconfigpool', pool, '--ignore-not-found', '--wait=false'], undefined, true);
    await oc(['delete', 'machineconfig', `50-${pool}`, '--ignore-not-found', '--wait=false'], undefined, true);
    await oc(['delete', 'namespace', ns, '--wait=false'], undefined, true);
  }
}

/** MCO's Containerfile (first two stages of Containerfile.on-cluster-build-template), built with vfs into empty storage, then pushed. */
async function mcoWay(base: string): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lbc-bench-mco-'));
  try {
    const mc = { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: 'rendered-bench' }, spec: { config: CONFIG } };
    mkdirSync(path.join(dir, 'ctx'));
    writeFileSync(path.join(dir, 'ctx/machineconfig.json.gz'), gzipSync(JSON.stringify(mc)).toString('base64'));
    writeFileSync(
      path.join(dir, 'ctx/Containerfile'),
      [
        `FROM ${base} AS extract`,
        'COPY ./machineconfig.json.gz /tmp/machineconfig.json.gz',
        'RUN mkdir -p /etc/machine-config-daemon && cat /tmp/machineconfig.json.gz | base64 -d | gunzip - > /etc/machine-config-daemon/currentconfig',
        '',
        `FROM ${base} AS configs`,
        'COPY --from=extract /etc/machine-config-daemon/currentconfig /etc/machine-config-daemon/currentconfig',
        "RUN (container=\"oci\" exec -a ignition-apply /usr/lib/dracut/modules.d/30ignition/ignition --ignore-unsupported <(cat /etc/machine-config-daemon/currentconfig | jq '.spec.config')) && ostree container commit",
        '',
      ].join('\n'),
    );
    const b = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--storage-driver', 'vfs'];
    const t0 = performance.now();
    await sh('buildah', [...b, 'bud', '--isolation', 'chroot', '--tls-verify=false', '--quiet', '-t', 'localhost/bench-mco:latest', path.join(dir, 'ctx')]);
    await sh('buildah', [...b, 'push', '--tls-verify=false', '--quiet', 'localhost/bench-mco:latest', `docker://${LOCAL_REGISTRY}/bench/mco-way:${randomBytes(3).toString('hex')}`]);
    return performance.now() - t0;
  } finally {
    await sh('buildah', ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--storage-driver', 'vfs', 'rmi', '--all', '--force']).catch(() => '');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `buildah pull` of the base into empty overlay storage. */
async function floor(base: string): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lbc-bench-pull-'));
  const b = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--storage-driver', 'overlay'];
  try {
    const t0 = performance.now();
    await sh('buildah', [...b, 'pull', '--tls-verify=false', '--quiet', base]);
    return performance.now() - t0;
  } finally {
    await sh('buildah', [...b, 'rmi', '--all', '--force']).catch(() => '');
    rmSync(dir, { recursive: true, force: true });
  }
}

const t0 = performance.now();
const base = await realisticBase();
const baseLayers = (await manifest(base)).layers;
console.log(`realistic base ${base}: ${baseLayers.length} layers, ${mb(baseLayers.reduce((n, l) => n + l.size, 0))} compressed (ready in ${seconds(performance.now() - t0)})`);
for (let r = 1; r <= runs; r++) {
  const load = loadavg()[0]!;
  const o = await ours(base);
  const m = await mcoWay(base);
  const f = await floor(base);
  console.log(`run ${r}/${runs} (load average at start ${load.toFixed(2)}, now ${loadavg()[0]!.toFixed(2)}, 2 cores)`);
  console.log(`  ours (operator's content Build, Build created -> Complete): ${seconds(o.totalMs)}; pulled ${mb(o.pulledBytes)}, pushed ${mb(o.pushedBytes)}`);
  for (const [what, ms] of o.phases) console.log(`    ${what.padEnd(60)} ${seconds(ms)}`);
  console.log(`  MCO's way (buildah bud --storage-driver vfs into empty storage, + push): ${seconds(m)}`);
  console.log(`  floor (buildah pull of the base into empty overlay storage):             ${seconds(f)}`);
  console.log(`  MCO's way / ours = ${(m / o.totalMs).toFixed(2)}x (target >= 5x); ours / floor = ${(o.totalMs / f).toFixed(2)}x (target <= 1.3x)`);
}
