// S14: the operator runs in-cluster as the Deployment of manifests/: its image
// built by hack/build-image.sh and pushed to the integrated registry, two
// replicas on the real node with their probes passing, the restricted Pod
// Security level enforced on its namespace; deleting the leader's pod hands
// the Lease to the other replica.
//
// The scenario's operator watches an opt-in label of its own, so it manages no
// pool (build pods are privileged and could not run in a restricted namespace).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, clusterEnv, kubectl, oc, waitFor } from '../harness/cluster.ts';
import { applyManifests, installPrivately, renderManifests, ROOT, type PrivateInstall } from '../harness/operator.ts';
import { E2E_LABEL_PREFIX } from './support.ts';

const id = `s14-${Date.now().toString(36).slice(-4)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
const ns = `e2e-${id}`;

function run(cmd: string, args: string[], timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: ROOT, env: childEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr.slice(-4000)}`));
      else resolve(stdout);
    });
  });
}

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { ready: boolean }[] };
}

async function pods(): Promise<Pod[]> {
  const r = await kubectl(['get', 'pods', '-n', ns, '-l', 'app.kubernetes.io/name=layered-build-controller', '-o', 'json']);
  return (JSON.parse(r.stdout) as { items: Pod[] }).items;
}

const ready = (p: Pod) => !p.metadata.deletionTimestamp && p.status.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

async function leaseHolder(): Promise<string | undefined> {
  const r = await kubectl(['get', 'lease', 'layered-build-controller', '-n', ns, '-o', 'jsonpath={.spec.holderIdentity}'], { allowFailure: true });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

describe('S14 the operator in-cluster as the Deployment of manifests/', () => {
  let install: PrivateInstall | undefined;
  let image = '';

  beforeAll(async () => {
    const env = clusterEnv();
    install = await installPrivately(ns);
    await kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted', '--overwrite']);
    // The image, built here and pushed to the integrated registry with a token
    // of a ServiceAccount that may push to this namespace.
    await run(path.join(ROOT, 'hack/build-image.sh'), []);
    await kubectl(['create', 'serviceaccount', 'pusher', '-n', ns]);
    await oc(['policy', 'add-role-to-user', 'system:image-builder', '-z', 'pusher', '-n', ns]);
    const token = (await kubectl(['create', 'token', 'pusher', '-n', ns, '--duration=1h'])).stdout.trim();
    const digestFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'lbc-s14-')), 'digest');
    const repo = `${env.INTERNAL_REGISTRY}/${ns}/layered-build-controller`;
    const local = childEnv();
    await run('buildah', [
      ...(local.BUILDAH_ARGS ?? '').split(' ').filter(Boolean),
      'push',
      '--tls-verify=false',
      '--creds',
      `unused:${token}`,
      '--digestfile',
      digestFile,
      'localhost/layered-build-controller:dev',
      `docker://${repo}:dev`,
    ]);
    image = `${repo}@${readFileSync(digestFile, 'utf8').trim()}`;
    const deployment = renderManifests({
      namespace: ns,
      suffix: ns,
      patch: (doc) => {
        if (doc.kind !== 'Deployment') return;
        const c = (doc as { spec: { template: { spec: { containers: { image: string; env: { name: string; value?: string }[] }[] } } } }).spec.template.spec.containers[0]!;
        c.image = image;
        const set = (name: string, value: string) => {
          const e = c.env.find((x) => x.name === name);
          if (e) e.value = value;
          else c.env.push({ name, value });
        };
        set('LBC_REGISTRY', env.INTERNAL_REGISTRY);
        set('LBC_REGISTRY_INSECURE', 'true');
        set('LBC_OPT_IN_LABEL', `${E2E_LABEL_PREFIX}${id}`);
      },
    }).filter((d) => d.kind === 'Deployment');
    await applyManifests(deployment);
  }, 900_000);

  afterAll(async () => {
    await install?.cleanup();
  });

  it('runs two Ready replicas on the real node under the restricted Pod Security level; deleting the leader hands the Lease over', async () => {
    // Admission enforced the restricted level on the namespace, and both replicas pass their probes.
    const ok = await waitFor(
      async () => {
        const p = (await pods()).filter(ready);
        return p.length === 2 ? p : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000, what: 'two Ready operator pods' },
    );
    expect(ok.map((p) => p.spec.nodeName)).toEqual([clusterEnv().LBC_NODE_NAME, clusterEnv().LBC_NODE_NAME]);
    const nsObj = JSON.parse((await kubectl(['get', 'namespace', ns, '-o', 'json'])).stdout) as { metadata: { labels: Record<string, string> } };
    expect(nsObj.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');

    // Exactly one holds the Lease: its identity names its pod.
    const holder = await waitFor(async () => await leaseHolder(), { timeoutMs: 60_000, what: 'a Lease holder' });
    const leader = ok.find((p) => holder.startsWith(`${p.metadata.name}_`));
    expect(leader, `Lease holder ${holder} is one of the pods`).toBeDefined();
    const standby = ok.find((p) => p !== leader)!;

    // Deleting the leader's pod (SIGTERM: it releases the Lease) hands it to the standby.
    const t0 = Date.now();
    await kubectl(['delete', 'pod', leader!.metadata.name, '-n', ns, '--wait=false']);
    const next = await waitFor(
      async () => {
        const h = await leaseHolder();
        return h && !h.startsWith(`${leader!.metadata.name}_`) ? h : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: 'the Lease moving off the deleted leader' },
    );
    console.log(`[S14] Lease handed over from ${leader!.metadata.name} to ${next} in ${Date.now() - t0} ms`);
    // Released on SIGTERM, the Lease goes to the standby, or to the pod the Deployment started in the
    // leader's place if that one asks first: either way a replica of this Deployment, not the deleted pod.
    const replicas = [standby, ...(await pods())].map((p) => p.metadata.name).filter((n) => n !== leader!.metadata.name);
    expect(replicas.some((n) => next.startsWith(`${n}_`)), `new holder ${next} is one of ${replicas.join(', ')}`).toBe(true);
    // The Deployment replaces the deleted pod: two Ready replicas again.
    await waitFor(async () => ((await pods()).filter(ready).length === 2 ? true : undefined), { timeoutMs: 180_000, intervalMs: 1000, what: 'two Ready operator pods again' });
  });
});
