// STAND-IN for the machine-config daemon (MCD) and, at a node's first boot,
// the machine-config server (MCS), which need a real CoreOS host. It watches
// Nodes and:
// - a node that joined without annotations gets what the MCS writes into a new
//   node's annotations file: currentConfig = desiredConfig = the rendered
//   config of its pool (a custom pool wins over worker, as MCC decides);
// - when the machine-config-controller has moved a node's desiredConfig, it
//   reports it applied the way MCD does after a successful update:
//   currentConfig = desiredConfig, state Done, reason "".
// It never writes desiredImage, never drains, and applies nothing: the only
// thing imitated is the annotations MCC waits for.
import * as k8s from '@kubernetes/client-node';

const A = 'machineconfiguration.openshift.io/';
const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);

interface Pool {
  metadata?: { name?: string };
  spec?: { nodeSelector?: { matchLabels?: Record<string, string> }; configuration?: { name?: string } };
}

/** The rendered config a joining node boots with: its pool's (a custom pool before worker). */
async function bootConfig(node: k8s.V1Node): Promise<string | undefined> {
  const labels = node.metadata?.labels ?? {};
  const list = (await custom.listClusterCustomObject({ group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'machineconfigpools' })) as { items: Pool[] };
  const matching = list.items.filter((p) => {
    const sel = p.spec?.nodeSelector?.matchLabels;
    return sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);
  });
  const pool = matching.find((p) => p.metadata?.name !== 'worker' && p.metadata?.name !== 'master') ?? matching[0];
  return pool?.spec?.configuration?.name;
}
const pending = new Set<string>();
const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);

async function settle(node: k8s.V1Node): Promise<void> {
  const name = node.metadata?.name;
  const ann = node.metadata?.annotations ?? {};
  let desired = ann[`${A}desiredConfig`];
  if (!name) return;
  if (!desired && !ann[`${A}currentConfig`]) {
    desired = await bootConfig(node);
    if (!desired) {
      // Its pool is not rendered yet: look again shortly.
      if (!pending.has(name)) {
        pending.add(name);
        setTimeout(() => {
          pending.delete(name);
          core.readNode({ name }).then(settle).catch((e: unknown) => log(`node ${name}: ${String(e)}`));
        }, 2000);
      }
      return;
    }
    const boot = { metadata: { annotations: { [`${A}currentConfig`]: desired, [`${A}desiredConfig`]: desired, [`${A}state`]: 'Done', [`${A}reason`]: '' } } };
    await core.patchNode({ name, body: boot }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    log(`node ${name}: joined on ${desired} (what the machine-config server writes at first boot)`);
    return;
  }
  if (!desired) return;
  if (ann[`${A}currentConfig`] === desired && ann[`${A}state`] === 'Done') return;
  const patch = { metadata: { annotations: { [`${A}currentConfig`]: desired, [`${A}state`]: 'Done', [`${A}reason`]: '' } } };
  await core.patchNode({ name, body: patch }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  log(`node ${name}: currentConfig=${desired} state=Done (was ${ann[`${A}currentConfig`] ?? '-'})`);
}

async function run(): Promise<void> {
  const watch = new k8s.Watch(kc);
  for (;;) {
    try {
      const list = await core.listNode();
      for (const n of list.items) await settle(n);
      await new Promise<void>((resolve) => {
        void watch
          .watch('/api/v1/nodes', { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true }, (type, obj: k8s.V1Node) => {
            if (type === 'ADDED' || type === 'MODIFIED') settle(obj).catch((e: unknown) => log(`patch failed: ${String(e)}`));
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
log('node-agent stand-in started');
void run();
