// The demo: the local control plane, the sample layered pool, the operator,
// and progress until the pool has its layered image.
//
//   npm run demo                       runs until Ctrl-C (the operator keeps reconciling)
//   npm run demo -- --exit-when-ready  exits 0 once the pool has its image, non-zero with the reason if not
//   npm run demo -- --timeout-s 900    gives up after that long (default 900 s)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { readFileSync } from 'node:fs';
import { BuildSchema, LayeredPoolSchema, MachineConfigPoolSchema, RESOURCES } from '../src/kube/types.ts';
import type { Build } from '../src/kube/types.ts';
import { deployments, nodeSysroot } from './node-agent/sysroot.ts';
import { ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_SOURCE, ANNOTATION_POOL } from '../src/plan/names.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SAMPLE = join(ROOT, 'samples', 'layered-pool.yaml');
const args = process.argv.slice(2);
const exitWhenReady = args.includes('--exit-when-ready');
const timeoutIdx = args.indexOf('--timeout-s');
const timeoutMs = (timeoutIdx >= 0 ? Number(args[timeoutIdx + 1]) : 900) * 1000;

const t0 = Date.now();
const say = (msg: string) => process.stdout.write(`[demo +${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);

function clusterEnv(): Record<string, string> {
  const r = spawnSync(join(ROOT, 'hack/local-cluster.sh'), ['env'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hack/local-cluster.sh env failed: ${r.stderr}`);
  const env: Record<string, string> = {};
  for (const m of r.stdout.matchAll(/^export ([A-Z_]+)='([^']*)'$/gm)) env[m[1]!] = m[2]!;
  return env;
}

// The operator this demo started: every way out of the demo stops it.
let op: ChildProcess | undefined;
function stopOperator(): Promise<void> {
  const child = op;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function main(): Promise<number> {
  say('bringing the local control plane up (the first time builds kube-apiserver, kubectl and etcd from source: several minutes)');
  const up = spawnSync(join(ROOT, 'hack/local-cluster.sh'), ['up'], { stdio: 'inherit' });
  if (up.status !== 0) {
    say('the local control plane did not come up (see above)');
    return 1;
  }
  const env = clusterEnv();
  Object.assign(process.env, env);
  const ns = env.LBC_NAMESPACE!;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env.KUBECONFIG!);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const run = (cmd: string, argv: string[], input?: string) => {
    const r = spawnSync(cmd, argv, { encoding: 'utf8', input, env: process.env });
    if (r.error) {
      const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(missing ? `${cmd} is missing (hack/local-cluster.sh up builds it; run it again and see its output)` : `${cmd} could not be run: ${r.error.message}`);
    }
    if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status ?? `on ${r.signal}`}: ${(r.stderr ?? '').trim()}`);
    return r.stdout;
  };
  const kubectl = (...argv: string[]) => run(env.KUBECTL!, argv);

  // The operator's RBAC from manifests/ (all but the Deployment: the demo runs
  // the operator as a local process, as that ServiceAccount).
  say('installing crds/ and manifests/ (RBAC; the Deployment is not started by the demo)');
  kubectl('apply', '--server-side', '--force-conflicts', '--field-manager=layered-build-demo', '-f', join(ROOT, 'crds'));
  const manifests = yaml
    .loadAll(readFileSync(join(ROOT, 'manifests', '00-namespace.yaml'), 'utf8'))
    .concat(...['01-serviceaccount.yaml', '02-clusterrole.yaml', '03-role.yaml', '03-role-events.yaml'].map((f) => yaml.loadAll(readFileSync(join(ROOT, 'manifests', f), 'utf8'))));
  run(env.KUBECTL!, ['apply', '--server-side', '--force-conflicts', '--field-manager=layered-build-demo', '-f', '-'], manifests.map((d) => yaml.dump(d)).join('---\n'));
  const token = kubectl('create', 'token', 'layered-build-controller', '-n', ns, '--duration=24h').trim();
  const cluster = kc.getCurrentCluster()!;
  const logDir = join(env.LBC_STATE_DIR ?? join(ROOT, '.local'), 'demo');
  mkdirSync(logDir, { recursive: true });
  const saKubeconfig = join(logDir, 'operator.kubeconfig');
  writeFileSync(
    saKubeconfig,
    yaml.dump({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
      users: [{ name: 'layered-build-controller', user: { token } }],
      contexts: [{ name: 'operator', context: { cluster: 'local', user: 'layered-build-controller', namespace: ns } }],
      'current-context': 'operator',
    }),
    { mode: 0o600 },
  );

  say(`applying the sample layered pool (${SAMPLE}); the machine-config-controller renders it`);
  run(env.KUBECTL!, ['apply', '--server-side', '--force-conflicts', '--field-manager=layered-build-demo', '-f', SAMPLE]);
  const docs = yaml.loadAll(readFileSync(SAMPLE, 'utf8')) as k8s.KubernetesObject[];
  const pool = docs.find((d) => d.kind === 'MachineConfigPool')!.metadata!.name!;
  const node = env.LBC_NODE_NAME!;
  say(`node ${node} joins pool ${pool} (kubectl label node ${node} node-role.kubernetes.io/${pool}=)`);
  kubectl('label', 'node', node, `node-role.kubernetes.io/${pool}=`, '--overwrite');

  // A status object left by an earlier run is judged only once this run's operator rewrote it.
  const rvBefore = (
    (await custom
      .getNamespacedCustomObject({ group: RESOURCES.layeredPool.group, version: RESOURCES.layeredPool.version, namespace: ns, plural: RESOURCES.layeredPool.plural, name: pool })
      .catch(() => undefined)) as { metadata?: { resourceVersion?: string } } | undefined
  )?.metadata?.resourceVersion;
  const logFile = join(logDir, 'operator.log');
  say(`starting the operator as ServiceAccount ${ns}/layered-build-controller (JSON logs in ${logFile})`);
  const out = openSync(logFile, 'w');
  op = spawn(
    process.execPath,
    [
      '--max-semi-space-size=4', // as the image's ENTRYPOINT runs it
      join(ROOT, 'src/cli.ts'),
      'run',
      '--kubeconfig',
      saKubeconfig,
      '--registry',
      env.INTERNAL_REGISTRY!,
      '--registry-insecure',
      '--insecure-registries',
      env.LOCAL_REGISTRY!,
      '--namespace',
      ns,
      '--leader-elect',
      'false',
      '--debounce-ms',
      '1000',
      '--metrics-addr',
      '127.0.0.1:0',
      '--probe-addr',
      '127.0.0.1:0',
    ],
    { stdio: ['ignore', out, out], env: process.env },
  );
  let opExited: number | null | undefined;
  op.on('exit', (code) => (opExited = code));
  process.on('SIGINT', () => {
    say('stopping the operator');
    void stopOperator();
  });

  const seen = new Set<string>();
  const once = (key: string, msg: string) => {
    if (!seen.has(key)) {
      seen.add(key);
      say(msg);
    }
  };
  // The status object may be from an earlier run: judge it only after this
  // operator has reconciled at least once (its lbc_reconcile_total metric).
  let reconciled = false;
  const checkReconciled = async () => {
    if (reconciled) return;
    const m = /"metrics":"(http:\/\/[^"]+)"/.exec(readFileSync(logFile, 'utf8'));
    if (!m) return;
    try {
      const text = await (await fetch(`${m[1]}/metrics`)).text();
      const total = [...text.matchAll(/^lbc_reconcile_total\{[^}]*\} ([0-9.e+]+)$/gm)].reduce((a, x) => a + Number(x[1]), 0);
      reconciled = total > 0;
    } catch {
      // not serving yet
    }
  };
  const deadline = Date.now() + timeoutMs;
  let result = 1;
  for (;;) {
    if (opExited !== undefined) {
      say(`the operator exited with code ${opExited}; see ${logFile}`);
      result = 1;
      break;
    }
    if (Date.now() > deadline) {
      say(`timed out after ${timeoutMs / 1000}s`);
      result = 1;
      break;
    }
    await checkReconciled();
    if (!reconciled) {
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    const r = RESOURCES;
    const [poolObj, lp, builds] = await Promise.all([
      custom.getClusterCustomObject({ group: r.machineConfigPool.group, version: r.machineConfigPool.version, plural: r.machineConfigPool.plural, name: pool }),
      custom
        .getNamespacedCustomObject({ group: r.layeredPool.group, version: r.layeredPool.version, namespace: ns, plural: r.layeredPool.plural, name: pool })
        .catch(() => undefined),
      custom.listNamespacedCustomObject({ group: r.build.group, version: r.build.version, namespace: ns, plural: r.build.plural }),
    ]);
    const p = MachineConfigPoolSchema.parse(poolObj);
    const status = lp ? LayeredPoolSchema.parse(lp).status : undefined;
    const mine: Build[] = ((builds as { items?: unknown[] }).items ?? [])
      .map((b) => BuildSchema.parse(b))
      .filter((b) => b.metadata.annotations?.[ANNOTATION_POOL] === pool);
    if (status?.renderedConfigImage) once(`rc:${status.renderedConfigImage}`, `rendered config ${status.renderedConfig} pushed as ${status.renderedConfigImage}`);
    if (status?.base) once(`base:${status.base}`, `base image (${status.baseSource}): ${status.base}`);
    for (const b of mine) {
      const phase = b.status?.phase ?? 'New';
      once(`${b.metadata.name}:${phase}`, `build ${b.metadata.name}: ${phase}${b.status?.logSnippet && phase === 'Failed' ? `\n${b.status.logSnippet}` : ''}`);
    }
    if (status?.phase) once(`phase:${status.phase}:${status.message}`, `pool ${pool}: ${status.phase} — ${status.message?.split('\n')[0] ?? ''}`);
    const image = p.metadata.annotations?.[ANNOTATION_NEWEST_IMAGE];
    if (image && status?.phase === 'Ready') {
      once(`image:${image}`, `pool ${pool} has its layered image (${p.metadata.annotations?.[ANNOTATION_NEWEST_IMAGE_SOURCE]}): ${image}`);
      const handoff = (await custom
        .getClusterCustomObject({ group: r.machineConfig.group, version: r.machineConfig.version, plural: r.machineConfig.plural, name: `99-${pool}-layered-image` })
        .catch(() => undefined)) as { spec?: { osImageURL?: string } } | undefined;
      if (handoff?.spec?.osImageURL) once(`mc:${handoff.spec.osImageURL}`, `hand-off MachineConfig 99-${pool}-layered-image: osImageURL ${handoff.spec.osImageURL}`);
      const rendered = p.spec?.configuration?.name;
      const renderedObj = rendered
        ? ((await custom
            .getClusterCustomObject({ group: r.machineConfig.group, version: r.machineConfig.version, plural: r.machineConfig.plural, name: rendered })
            .catch(() => undefined)) as { spec?: { osImageURL?: string } } | undefined)
        : undefined;
      const nodeObj = await core.readNode({ name: node });
      const desired = nodeObj.metadata?.annotations?.['machineconfiguration.openshift.io/desiredConfig'];
      const current = nodeObj.metadata?.annotations?.['machineconfiguration.openshift.io/currentConfig'];
      if (renderedObj?.spec?.osImageURL === image && desired === rendered && current === rendered) {
        say(`the machine-config-controller re-rendered pool ${pool} as ${rendered} (osImageURL = our image), and node ${node} is on it (desiredConfig = currentConfig = ${rendered})`);
        const dep = deployments(nodeSysroot(env.LBC_STATE_DIR!))[0];
        say(
          dep
            ? `node ${node} deployed it with the real importer (ostree-ext container image deploy): ostree checksum ${dep.checksum}${dep.image === image ? '' : ` (its origin is ${dep.image ?? 'not an image'}, not our image)`}`
            : `node ${node} has no ostree deployment in ${env.LBC_STATE_DIR}/node/host/sysroot`,
        );
        process.stdout.write('\n' + run(env.OC!, ['get', 'istag', '-n', ns]) + '\n');
        process.stdout.write(run(env.KUBECTL!, ['get', 'mcp', pool]) + '\n');
        const st = spawnSync(process.execPath, [join(ROOT, 'src/cli.ts'), 'status', '--namespace', ns], { encoding: 'utf8', env: process.env });
        process.stdout.write(st.stdout + st.stderr + '\n');
        result = 0;
        if (exitWhenReady) break;
        say('the operator keeps running; press Ctrl-C to stop it');
        await new Promise<void>((resolve) => op!.on('exit', () => resolve()));
        return 0;
      }
    }
    const rewritten = (lp as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion !== rvBefore;
    if (status?.phase === 'Degraded' && exitWhenReady && rewritten) {
      say(`pool ${pool} is Degraded: ${status.message}`);
      result = 1;
      break;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  await stopOperator();
  // The node is shared with the tests (which put it in pools of their own): it
  // leaves the sample pool again; the pool, its image and hand-off stay.
  say(`node ${node} leaves pool ${pool} (kubectl label node ${node} node-role.kubernetes.io/${pool}-); the pool keeps its image`);
  kubectl('label', 'node', node, `node-role.kubernetes.io/${pool}-`);
  return result;
}

main().then(
  (code) => process.exit(code),
  async (e: unknown) => {
    say(`failed: ${e instanceof Error ? e.message : String(e)}`);
    await stopOperator();
    process.exit(1);
  },
);
