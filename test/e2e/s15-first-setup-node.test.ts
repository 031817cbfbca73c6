// S15 first setup with a real node in the pool: MCC renders the pool, one
// content build; the hand-off MachineConfig 99-<pool>-layered-image appears
// only once that Build is Complete (and the registry checks passed); MCC
// re-renders the pool with the image as osImageURL and retargets the node
// (its desiredConfig) to that rendering; the operator sees the re-rendered pool
// (status.rollout.renderedConfig) and starts no further build.
//
// S23 is part of it (the node is shared, one scenario moves it at a time): the
// node deploys the handed-off image with the real importer (ostree-ext
// container image deploy, what rpm-ostree rebase runs). The image is in this
// scenario's namespace of the integrated registry, where the nodes' puller
// (MCO's machine-os-puller, whose pull secrets MCO gives the nodes) may not
// pull at first: the deploy is refused and the node is Degraded with the
// importer's message, as MCD reports a failed rebase. Once the admin lets the
// puller pull there (a RoleBinding, as MCO's own in its namespace), the node's
// retry deploys it: its newest deployment came from the image, and its
// /usr/etc holds every file of the MachineConfig with its mode.
//
// Then one MachineConfig change: the operator holds the pool (spec.paused) until
// the new image is handed off and rendered, so the node moves once, to the new
// files and their image together (docs/handoff.md "One rollout per change").
//
// The node (LBC_NODE_NAME) is shared: it is moved into this scenario's pool
// with one `oc label` (MCC allows worker plus one custom pool) and moved back
// afterwards, waiting until it is on its previous config again.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { getJson, oc, waitFor } from '../harness/cluster.ts';
import { deployments, nodeSysroot } from '../../hack/node-agent/sysroot.ts';
import { builds, ignitionOf } from '../harness/operator.ts';
import { handoffMachineConfigName } from '../../src/plan/names.ts';
import { caughtUp, cond, events, handOffMachineConfig, handedOffImage, moveNodeInto, nodeConfig, osImageOf, renderedWithImage, scenario, status, waitHandedOff, waitStatus } from './support.ts';

const NODE = process.env.LBC_NODE_NAME ?? '';
const sc = scenario('s15');
const { s, P } = sc;
let restore: (() => Promise<void>) | undefined;
afterAll(async () => {
  await restore?.();
}, 180_000);

describe('S15 first setup, a node in the pool', () => {
  it.skipIf(!NODE)('hands off only after the Build is Complete; the node is retargeted; the re-render starts no build', async () => {
    restore = await moveNodeInto(NODE, P);
    const files = { '/etc/layered-demo/motd': `S15 ${P}\n` };
    const first = await sc.createPool(ignitionOf(files));
    // The node joins the pool on its first rendering (the node agent stand-in reports it Done).
    await waitFor(async () => {
      const n = await nodeConfig(NODE);
      return n.desired === first && n.current === first && n.state === 'Done';
    }, { what: `node ${NODE} on ${first}`, timeoutMs: 120_000, intervalMs: 500 });

    // Observe both: the content Build's phase and the hand-off MachineConfig, until it appears.
    const seen: string[] = [];
    let completeAt: number | undefined;
    const atAppearance = await waitFor(
      async () => {
        const mc = await handOffMachineConfig(P);
        const bs = await builds(s.ns, P);
        const phase = bs.map((b) => b.phase).join(',') || 'none';
        if (seen.at(-1) !== phase) seen.push(phase);
        if (completeAt === undefined && bs[0]?.phase === 'Complete') completeAt = Date.now();
        return mc ? { mc, bs } : undefined;
      },
      { what: `MachineConfig ${handoffMachineConfigName(P)}`, timeoutMs: 240_000, intervalMs: 200 },
    );
    // Read after the MachineConfig was seen: one Build, Complete (a terminal phase); it was seen
    // in its earlier phases while the MachineConfig was absent.
    expect(atAppearance.bs.map((b) => [b.kind, b.phase])).toEqual([['content', 'Complete']]);
    expect(seen.at(-1)).toBe('Complete');
    const b = atAppearance.bs[0]!;
    const completed = Date.parse((b.obj.status as { completionTimestamp: string }).completionTimestamp);
    expect(Date.parse(atAppearance.mc.metadata.creationTimestamp!)).toBeGreaterThanOrEqual(completed);
    const image = atAppearance.mc.spec!.osImageURL!;
    expect(image).toMatch(new RegExp(`/${s.ns}/.*@${b.digest}$`));

    // MCC re-renders with the image; the node's desiredConfig moves to that rendering.
    const withImage = await renderedWithImage(P, image);
    expect(withImage).not.toBe(first);
    expect(await osImageOf(withImage)).toBe(image);
    const node = await waitFor(async () => {
      const n = await nodeConfig(NODE);
      return n.desired === withImage ? n : undefined;
    }, { what: `node ${NODE} desiredConfig ${withImage}`, timeoutMs: 120_000, intervalMs: 200 });
    const desiredAt = Date.now();
    console.log(`S15: build Complete seen -> node desiredConfig ${withImage}: ${completeAt ? desiredAt - completeAt : '?'} ms; phases seen before the hand-off: ${seen.join(' > ')}`);
    expect(node.desired).toBe(withImage);
    const refused = await waitFor(async () => {
      const n = await nodeConfig(NODE);
      return n.state === 'Degraded' ? n : undefined;
    }, { what: `node ${NODE} Degraded: its puller may not pull from ${s.ns}`, timeoutMs: 120_000, intervalMs: 500 });
    console.log(`S15/S23: node Degraded: ${refused.reason}`);
    expect(refused.reason).toContain(`failed to update OS to ${image}: `);
    expect(refused.current).not.toBe(withImage);
    // The admin learns it from the LayeredPool: the node by name, with the daemon's reason.
    const nodeProblem = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'NodeDegraded', 'the LayeredPool naming the degraded node');
    expect(nodeProblem.phase).toBe('Degraded');
    expect(cond(nodeProblem, 'Degraded')!.message).toContain(`1 node of pool ${P} reports Degraded (the machine-config daemon's reason): node ${NODE}: "failed to update OS to ${image}: `);
    expect(nodeProblem.image).toBe(image);
    // The mark is taken before the node can update: its update changes the pool's status, which
    // the operator must reconcile after the mark (taken after the update, the operator may already
    // be idle with nothing left to reconcile).
    const mark = await caughtUp(sc.op);
    await oc(['create', 'rolebinding', 'machine-os-puller-binding', '--clusterrole=system:image-puller', '--serviceaccount=openshift-machine-config-operator:machine-os-puller', '-n', s.ns]);
    await waitFor(async () => {
      const n = await nodeConfig(NODE);
      return n.current === withImage && n.state === 'Done';
    }, { what: `node ${NODE} on ${withImage}`, timeoutMs: 120_000, intervalMs: 500 });
    const [dep] = deployments(nodeSysroot(inject('localClusterEnv').LBC_STATE_DIR!));
    console.log(`S15/S23: node ${NODE} deployed ${image}: ostree checksum ${dep?.checksum}`);
    expect(dep?.image).toBe(image);
    for (const [file, content] of Object.entries(files)) {
      const onNode = path.join(dep!.dir, 'usr', file); // the image's /etc is the deployment's /usr/etc
      expect(readFileSync(onNode, 'utf8'), onNode).toBe(content);
      expect(statSync(onNode).mode & 0o7777, onNode).toBe(0o644);
    }

    // The operator saw the re-rendered pool and the node updated, and started no build for it.
    const st = await waitStatus(s.ns, P, (x) => x.rollout?.renderedConfig === withImage && x.rollout.updatedMachineCount === 1, 'the rollout on the re-rendered pool, 1 machine updated');
    expect(st.rollout).toMatchObject({ handoff: 'machineconfig', machineConfig: handoffMachineConfigName(P), renderedConfig: withImage, machineCount: 1, updatedMachineCount: 1 });
    await waitHandedOff(s.ns, P, (x) => x.image === image, 'settled on the image');
    await mark('the re-rendering and the node update');
    expect((await builds(s.ns, P)).length).toBe(1);
    expect((await status(s.ns, P)).phase).toBe('Ready');

    // One rollout per change (docs/handoff.md): a MachineConfig change moves the node once, to the
    // rendering with the new files AND their image. Without the operator's hold, MCC moves it first
    // to the new files on the old image (measured: 11 s after the edit), then again. Sampled from
    // before the edit until the node is Done on the new image.
    const sampler = sampleNode(NODE, P);
    const files2 = { '/etc/layered-demo/motd': `S15 ${P} two\n` };
    await sc.setConfig(ignitionOf(files2));
    const after = await waitFor(
      async () => {
        const img = await handedOffImage(P);
        const n = await nodeConfig(NODE);
        if (!img || img === image || !n.desired || n.current !== n.desired || n.state !== 'Done') return undefined;
        return (await osImageOf(n.desired)) === img ? { image: img, rendered: n.desired } : undefined;
      },
      { what: `node ${NODE} Done on the image of the changed config`, timeoutMs: 300_000, intervalMs: 500 },
    );
    const moved = await sampler.stop();
    console.log(`S15: one change: node desiredConfig ${[withImage, ...moved.desired].join(' > ')}; pool held (spec.paused) seen: ${moved.paused}`);
    expect(moved.desired).toEqual([after.rendered]);
    expect(moved.paused).toBe(true);
    const [dep2] = deployments(nodeSysroot(inject('localClusterEnv').LBC_STATE_DIR!));
    expect(dep2?.image).toBe(after.image);
    expect(readFileSync(path.join(dep2!.dir, 'usr/etc/layered-demo/motd'), 'utf8')).toBe(files2['/etc/layered-demo/motd']);
    // Released: the pool is not paused, the status says nothing is held, the Events say when.
    const released = await waitStatus(s.ns, P, (x) => x.image === after.image && x.rollout?.renderedConfig === after.rendered && x.rollout.held === undefined, 'the hold released');
    expect(released.phase).toBe('Ready');
    expect((await getJson<{ spec?: { paused?: boolean } }>(['machineconfigpool', P]))?.spec?.paused).not.toBe(true);
    const reasons = (await events(P)).map((e) => e.reason);
    expect(reasons.filter((r) => r === 'RolloutHeld')).toHaveLength(1);
    expect(reasons.filter((r) => r === 'RolloutReleased')).toHaveLength(1);
    expect(sc.op.errors()).toEqual([]);
  });
});

/** Samples the node's desiredConfig (each distinct value it moves to) and whether the pool is paused, until stopped. */
function sampleNode(node: string, pool: string): { stop(): Promise<{ desired: string[]; paused: boolean }> } {
  const start = nodeConfig(node);
  let stopped = false;
  const desired: string[] = [];
  let paused = false;
  const loop = (async () => {
    const first = (await start).desired;
    while (!stopped) {
      const n = await nodeConfig(node);
      if (n.desired && n.desired !== (desired.at(-1) ?? first)) desired.push(n.desired);
      if ((await getJson<{ spec?: { paused?: boolean } }>(['machineconfigpool', pool]))?.spec?.paused === true) paused = true;
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { desired, paused };
    },
  };
}
