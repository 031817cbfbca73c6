// STAND-IN for the machine-config daemon (MCD), which needs a real CoreOS
// host. It watches Nodes and, when the machine-config-controller has moved a
// node's desiredConfig, reports it applied the way MCD does after a
// successful update: currentConfig = desiredConfig, state Done, reason "".
// It never writes desiredConfig or desiredImage, never drains, and applies
// nothing: the only thing imitated is the two annotations MCC waits for.
import * as k8s from '@kubernetes/client-node';

const A = 'machineconfiguration.openshift.io/';
const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(k8s.CoreV1Api);
const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);

async function settle(node: k8s.V1Node): Promise<void> {
  const name = node.metadata?.name;
  const ann = node.metadata?.annotations ?? {};
  const desired = ann[`${A}desiredConfig`];
  if (!name || !desired) return;
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
