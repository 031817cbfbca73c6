// STAND-IN for the machine-config daemon (MCD) and, at a node's first boot,
// the machine-config server (MCS), which need a real CoreOS host. It watches
// Nodes and does, for the one node of the local cluster:
// - a node that joined without annotations boots its pool's rendered config
//   (a custom pool wins over worker, as MCC decides): what MCD's first boot
//   does, the OS image deployed first, then currentConfig = desiredConfig;
// - when the machine-config-controller has moved a node's desiredConfig, it
//   updates the node as MCD does (state Working), deploys the rendered
//   config's osImageURL when it is not the node's newest deployment, and
//   reports currentConfig = desiredConfig, state Done; when the image cannot be
//   deployed, state Degraded with the importer's message (MCD's reason), and a
//   retry every RETRY_MS.
// REAL: the deploy is the real importer, `ostree-ext container image deploy`
// (what `rpm-ostree rebase` runs on a node), into the node's own ostree sysroot
// (LBC_NODE_SYSROOT, under the cluster's state directory, never the host's /),
// with the pull secret MCO gives nodes (MCD writes ControllerConfig
// spec.internalRegistryPullSecret to /etc/mco/internal-registry-pull-secret.json
// and pulls with it: pkg/daemon/certificate_writer.go, image_manager_helper.go).
// STAND-IN: there is no reboot (the newest deployment counts as booted), no
// drain, no file writes outside the image, no post-boot validation.
// It also does, as the one step of MCO's operator the cluster needs for it,
// what `getImageRegistryPullSecrets` (MCO pkg/operator/sync.go) does: the
// machine-os-puller ServiceAccount's image pull secrets merged with the global
// pull secret into ControllerConfig spec.internalRegistryPullSecret.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { deployments } from './sysroot.ts';

const A = 'machineconfiguration.openshift.io/';
const MCO_NS = 'openshift-machine-config-operator';
const MC = { group: 'machineconfiguration.openshift.io', version: 'v1' };
const CONTROLLER_CONFIG = 'machine-config-controller';
const RETRY_MS = 30_000;
const KEEP_DEPLOYMENTS = 2; // the booted one and its rollback, as rpm-ostree keeps them

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (hack/cluster/components/16-node-agent.sh sets it)`);
  return v;
}
const SYSROOT = env('LBC_NODE_SYSROOT');
const NODE_ETC = env('LBC_NODE_ETC');
const OSTREE_EXT = env('LBC_OSTREE_EXT');
/** Registries of the local cluster that speak plain http (the importer's TLS check is skipped for these only). */
const PLAIN_HTTP = new Set((process.env.LBC_PLAIN_HTTP_REGISTRIES ?? '').split(',').filter(Boolean));
const AUTHFILE = path.join(NODE_ETC, 'mco/internal-registry-pull-secret.json');

const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);

interface Pool {
  metadata?: { name?: string };
  spec?: { nodeSelector?: { matchLabels?: Record<string, string> }; configuration?: { name?: string } };
}

function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}`.trim() || (err?.message ?? '') }));
  });
}

// ---- MCO's operator: the nodes' pull secret ----------------------------------------------------

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

async function syncInternalRegistryPullSecret(): Promise<void> {
  const auths: Record<string, unknown> = {};
  const sa = await core.readNamespacedServiceAccount({ name: 'machine-os-puller', namespace: MCO_NS }).catch(() => undefined);
  for (const ref of sa?.imagePullSecrets ?? []) {
    const s = await core.readNamespacedSecret({ name: ref.name!, namespace: MCO_NS });
    const d = s.data?.['.dockercfg'];
    if (d) Object.assign(auths, JSON.parse(b64(d)) as Record<string, unknown>);
  }
  const global = await core.readNamespacedSecret({ name: 'pull-secret', namespace: 'openshift-config' }).catch(() => undefined);
  const g = global?.data?.['.dockerconfigjson'];
  if (g) Object.assign(auths, (JSON.parse(b64(g)) as { auths?: Record<string, unknown> }).auths ?? {});
  if (Object.keys(auths).length === 0) return;
  const want = Buffer.from(JSON.stringify({ auths })).toString('base64');
  const cc = (await custom.getClusterCustomObject({ ...MC, plural: 'controllerconfigs', name: CONTROLLER_CONFIG })) as { spec?: { internalRegistryPullSecret?: string } };
  if (cc.spec?.internalRegistryPullSecret === want) return;
  await custom.patchClusterCustomObject({ ...MC, plural: 'controllerconfigs', name: CONTROLLER_CONFIG, body: { spec: { internalRegistryPullSecret: want } } }, mergePatch);
  log(`ControllerConfig spec.internalRegistryPullSecret: ${Object.keys(auths).length} registries (machine-os-puller's pull secrets + the global pull secret)`);
}

// ---- MCD: the node --------------------------------------------------------------------------------

/** What MCD's certificate writer does: the ControllerConfig's internal registry pull secret to the node's /etc/mco. */
async function writeNodePullSecret(): Promise<void> {
  const cc = (await custom.getClusterCustomObject({ ...MC, plural: 'controllerconfigs', name: CONTROLLER_CONFIG })) as { spec?: { internalRegistryPullSecret?: string } };
  mkdirSync(path.dirname(AUTHFILE), { recursive: true });
  writeFileSync(AUTHFILE, cc.spec?.internalRegistryPullSecret ? b64(cc.spec.internalRegistryPullSecret) : '{"auths":{}}', { mode: 0o600 });
}

/** `rpm-ostree rebase` as far as the image goes: the real importer deploys `image` into the node's sysroot. */
async function rebase(image: string): Promise<{ ok: true; checksum: string } | { ok: false; message: string }> {
  await writeNodePullSecret();
  const host = image.split('/')[0]!;
  const dir = mkdtempSync(path.join(tmpdir(), 'node-agent-'));
  try {
    const t0 = Date.now();
    const r = await run(OSTREE_EXT, [
      'container', 'image', 'deploy', '--sysroot', SYSROOT, '--stateroot', 'default',
      '--imgref', `ostree-unverified-registry:${image}`, '--authfile', AUTHFILE,
      ...(PLAIN_HTTP.has(host) ? ['--insecure-skip-tls-verification'] : []),
      '--write-commitid-to', path.join(dir, 'commit'),
    ]);
    if (!r.ok) return { ok: false, message: r.out.split('\n').filter(Boolean).slice(-3).join('; ') };
    const checksum = readFileSync(path.join(dir, 'commit'), 'utf8').trim();
    // Older deployments beyond the rollback go, with the image layers no deployment uses.
    for (let n = deployments(SYSROOT).length; n > KEEP_DEPLOYMENTS; n--) {
      const u = await run('ostree', ['admin', `--sysroot=${SYSROOT}`, 'undeploy', String(n - 1)]);
      if (!u.ok) log(`undeploy ${n - 1}: ${u.out}`);
    }
    const p = await run(OSTREE_EXT, ['container', 'image', 'prune-images', '--sysroot', SYSROOT, '--and-layers']);
    if (!p.ok) log(`prune-images: ${p.out}`);
    log(`deployed ${image}: ostree checksum ${checksum} in ${Date.now() - t0} ms`);
    return { ok: true, checksum };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function osImageURL(config: string): Promise<string | undefined> {
  const mc = (await custom.getClusterCustomObject({ ...MC, plural: 'machineconfigs', name: config })) as { spec?: { osImageURL?: string } };
  return mc.spec?.osImageURL || undefined;
}

/** The rendered config a joining node boots with: its pool's (a custom pool before worker). */
async function bootConfig(node: k8s.V1Node): Promise<string | undefined> {
  const labels = node.metadata?.labels ?? {};
  const list = (await custom.listClusterCustomObject({ ...MC, plural: 'machineconfigpools' })) as { items: Pool[] };
  const matching = list.items.filter((p) => {
    const sel = p.spec?.nodeSelector?.matchLabels;
    return sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);
  });
  const pool = matching.find((p) => p.metadata?.name !== 'worker' && p.metadata?.name !== 'master') ?? matching[0];
  return pool?.spec?.configuration?.name;
}

const annotate = (name: string, a: Record<string, string>) => core.patchNode({ name, body: { metadata: { annotations: a } } }, mergePatch);

/** The config and image a node last failed to deploy: events (our own patches included) do not retry it, the timer does. */
const failed = new Map<string, string>();

/** One update of the node, the node read fresh: at most one runs at a time per node. */
async function settle(name: string, retry = false): Promise<void> {
  const node = await core.readNode({ name });
  const ann = node.metadata?.annotations ?? {};
  let desired = ann[`${A}desiredConfig`];
  const joining = !desired && !ann[`${A}currentConfig`];
  if (joining) {
    desired = await bootConfig(node);
    if (!desired) return later(name, 2000); // its pool is not rendered yet
  }
  if (!desired) return;
  const image = await osImageURL(desired);
  const deployed = deployments(SYSROOT)[0]?.image;
  // Done on its config and that config's image deployed (a node whose sysroot is new, e.g. after the
  // node-agent's state was removed, deploys its current config's image first).
  if (!joining && ann[`${A}currentConfig`] === desired && ann[`${A}state`] === 'Done' && (!image || deployed === image)) return;
  if (!retry && failed.get(name) === `${desired} ${image}`) return;
  failed.delete(name);
  if (image && deployed !== image) {
    if (!joining) await annotate(name, { [`${A}state`]: 'Working', [`${A}reason`]: '' });
    const r = await rebase(image);
    if (!r.ok) {
      const reason = `failed to update OS to ${image}: ${r.message}`;
      await annotate(name, { ...(joining ? { [`${A}currentConfig`]: desired, [`${A}desiredConfig`]: desired } : {}), [`${A}state`]: 'Degraded', [`${A}reason`]: reason });
      log(`node ${name}: Degraded: ${reason}`);
      failed.set(name, `${desired} ${image}`);
      return later(name, RETRY_MS, true);
    }
  }
  if (joining) {
    await annotate(name, { [`${A}currentConfig`]: desired, [`${A}desiredConfig`]: desired, [`${A}state`]: 'Done', [`${A}reason`]: '' });
    log(`node ${name}: joined on ${desired} (first boot: what the machine-config server serves and MCD's firstboot applies)`);
    return;
  }
  await annotate(name, { [`${A}currentConfig`]: desired, [`${A}state`]: 'Done', [`${A}reason`]: '' });
  log(`node ${name}: currentConfig=${desired} state=Done (was ${ann[`${A}currentConfig`] ?? '-'})`);
}

const chains = new Map<string, Promise<void>>();
const timers = new Map<string, NodeJS.Timeout>();
function enqueue(name: string, retry = false): void {
  const prev = chains.get(name) ?? Promise.resolve();
  const next = prev.then(() => settle(name, retry)).catch((e: unknown) => {
    log(`node ${name}: ${String(e)}`);
  });
  chains.set(name, next);
}
function later(name: string, ms: number, retry = false): void {
  if (timers.has(name)) return;
  timers.set(name, setTimeout(() => {
    timers.delete(name);
    enqueue(name, retry);
  }, ms));
}

async function run_(): Promise<void> {
  const watch = new k8s.Watch(kc);
  for (;;) {
    try {
      await syncInternalRegistryPullSecret().catch((e: unknown) => log(`internal registry pull secret: ${String(e)}`));
      const list = await core.listNode();
      for (const n of list.items) enqueue(n.metadata!.name!);
      await new Promise<void>((resolve) => {
        void watch
          .watch('/api/v1/nodes', { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true }, (type, obj: k8s.V1Node) => {
            if ((type === 'ADDED' || type === 'MODIFIED') && obj.metadata?.name) enqueue(obj.metadata.name);
          }, () => resolve())
          .catch(() => resolve());
      });
    } catch (e) {
      log(`list/watch failed: ${String(e)}; retrying in 2s`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
// MCO's operator resyncs the pull secret; new ServiceAccount token secrets appear after a start.
setInterval(() => void syncInternalRegistryPullSecret().catch((e: unknown) => log(`internal registry pull secret: ${String(e)}`)), 15_000);
log(`node-agent stand-in started (sysroot ${SYSROOT}, importer ${OSTREE_EXT})`);
void run_();
