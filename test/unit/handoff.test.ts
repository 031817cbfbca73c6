import { describe, expect, it } from 'vitest';
import { labelsForSelector, selectorMatches } from '../../src/plan/selector.ts';
import { checkRenderedConfig } from '../../src/plan/machineconfig.ts';
import { cachedScratchImage } from '../../src/registry/scratch-image.ts';
import type { MachineConfig } from '../../src/kube/types.ts';
import { World, machineConfig, pool } from './plan-world.ts';

const P = 'worker';
const MC = '99-worker-layered-image';

function setup(w: World): void {
  w.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
  w.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
}

describe('hand-off MachineConfig 99-<pool>-layered-image', () => {
  it('is written only for a Complete, checked image: labelled by the selector, owned by the pool, osImageURL by digest', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const mc = w.machineConfigs.get(MC)!;
    expect(mc.spec?.osImageURL).toMatch(/^127\.0\.0\.1:5000\/openshift-machine-config-operator\/worker-mco-content@sha256:[0-9a-f]{64}$/);
    expect(mc.metadata.labels).toEqual({ 'machineconfiguration.openshift.io/role': 'worker', 'layering.mco.dev/managed-by': 'layered-build-controller' });
    expect(mc.metadata.annotations).toEqual({ 'machineconfiguration.openshift.io/pool': P });
    expect(mc.metadata.ownerReferences).toEqual([{ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', name: P, uid: 'uid-pool-worker', controller: true, blockOwnerDeletion: false }]);
    expect(w.checksRun).toEqual([mc.spec!.osImageURL]);
    expect(w.poolImage(P)).toBe(mc.spec!.osImageURL); // the annotations stay, as information
    expect(w.statuses.get(P)!.status!.rollout).toMatchObject({ handoff: 'machineconfig', machineConfig: MC });
  });

  it('waits while the Build that pushed the image is still Running', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.outcome = () => 'hang';
    w.settle({ maxSteps: 10 });
    // The builder pushed to the fingerprint tag, but the Build is Running.
    const b = [...w.builds.values()][0]!;
    const s = w.streams.get('worker-mco-content')!;
    const tag = b.spec!.output!.to!.name!.split(':')[1]!;
    s.status = { tags: [{ tag, items: [{ dockerImageReference: `x/y@sha256:${'e'.repeat(64)}`, image: `sha256:${'e'.repeat(64)}` }] }] };
    const p = w.plan(P);
    expect(p.handoffMachineConfig).toBeUndefined();
    expect(p.poolApply).toBeUndefined();
    expect(p.checkImage).toBeUndefined();
    expect(p.status?.message ?? '').not.toContain('uses');
    expect(JSON.stringify(p.status?.conditions)).toContain('pushed its image but is Running');
  });

  it('a failed check is Degraded ImageCheckFailed, naming the file; the pool keeps its image; the failure is remembered per digest', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const good = w.handoffImage(P);
    w.checker = () => ({ result: 'failed', message: 'file /etc/motd of the MachineConfig is not in the 1 layer(s) the build added above the base' });
    w.machineConfigs.set('rendered-worker-2', machineConfig('rendered-worker-2', { '/etc/motd': 'v2' }));
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-2' } };
    w.settle();
    expect(w.handoffImage(P)).toBe(good);
    const st = w.statuses.get(P)!.status!;
    const degraded = st.conditions!.find((c) => c.type === 'Degraded')!;
    expect(degraded).toMatchObject({ status: 'True', reason: 'ImageCheckFailed' });
    expect(degraded.message).toContain('/etc/motd');
    expect(degraded.message).toContain(`the pool keeps ${good}`);
    expect(w.checksRun).toHaveLength(2); // once per digest, not once per reconcile
  });

  it('a selector labels alone cannot satisfy is Degraded with a clear message; nothing is written', () => {
    const w = new World({ debounceMs: 0 });
    w.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
    // (role In [worker, infra] would be a custom pool's selector, its own role the hand-off's label: see labelsForSelector)
    w.pools.set(P, pool(P, { rendered: 'rendered-worker-1', selector: { matchExpressions: [{ key: 'machineconfiguration.openshift.io/role', operator: 'In', values: ['infra', 'gpu'] }] } }));
    w.settle();
    expect(w.machineConfigs.has(MC)).toBe(false);
    const d = w.statuses.get(P)!.status!.conditions!.find((c) => c.type === 'Degraded')!;
    expect(d.reason).toBe('InvalidMachineConfigSelector');
    expect(d.message).toMatch(/only matchExpressions.*add matchLabels/);
  });

  it('refuses to hand off when another pool would take the image too, or an admin MachineConfig sorts after ours', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.pools.set('infra', pool('infra', { labelled: false, selector: { matchExpressions: [{ key: 'machineconfiguration.openshift.io/role', operator: 'In', values: ['worker', 'infra'] }] } }));
    w.settle();
    expect(w.machineConfigs.has(MC)).toBe(false);
    expect(w.statuses.get(P)!.status!.conditions!.find((c) => c.type === 'Degraded')!.reason).toBe('HandOffSelectsOtherPool');
    w.pools.delete('infra');
    const admin: MachineConfig = { metadata: { name: 'worker-my-image', labels: { 'machineconfiguration.openshift.io/role': 'worker' } }, spec: { osImageURL: 'quay.io/me/os@sha256:' + 'a'.repeat(64) } };
    w.machineConfigs.set(admin.metadata.name, admin);
    w.settle();
    const d = w.statuses.get(P)!.status!.conditions!.find((c) => c.type === 'Degraded')!;
    expect(d.reason).toBe('HandOffOverridden');
    expect(d.message).toContain('worker-my-image');
    // Generated MachineConfigs are ignored for osImageURL, as MCC does.
    admin.metadata.annotations = { 'machineconfiguration.openshift.io/generated-by-controller-version': 'v1' };
    w.settle();
    expect(w.handoffImage(P)).toBeDefined();
  });

  it('annotation-only hand-off writes no MachineConfig (and removes ours)', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    expect(w.machineConfigs.has(MC)).toBe(true);
    w.config = { ...w.config, handoff: 'annotation' };
    w.settle();
    expect(w.machineConfigs.has(MC)).toBe(false);
    expect(w.poolImage(P)).toBeDefined();
    expect(w.statuses.get(P)!.status!.phase).toBe('Ready');
  });

  it('removing the label deletes the hand-off MachineConfig and says so in the status and an Event', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    w.pools.get(P)!.metadata.labels = {};
    w.settle();
    expect(w.machineConfigsDeleted).toEqual([MC]);
    expect(w.machineConfigs.has(MC)).toBe(false);
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Unmanaged');
    expect(st.message).toContain(`deleted its hand-off MachineConfig ${MC}`);
    expect(w.events.filter((e) => e.startsWith('HandOffRemoved'))).toHaveLength(1);
  });

  it("leaves another install's hand-off alone: a pool not opted in, with no status object here, keeps its MachineConfig", () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    expect(w.machineConfigs.has(MC)).toBe(true);
    // As another operator (other label, other namespace) sees it: not opted in, no status object of its own.
    w.pools.get(P)!.metadata.labels = {};
    w.statuses.delete(P);
    w.settle();
    expect(w.machineConfigsDeleted).toEqual([]);
    expect(w.machineConfigs.has(MC)).toBe(true);
    expect(w.events.filter((e) => e.startsWith('HandOffRemoved'))).toEqual([]);
  });
});

describe('no loop: the hand-off re-render changes nothing that matters', () => {
  it('one hand-off (new rendered name, osImageURL, os-image-url-overridden) causes zero builds and no push', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const image = w.handoffImage(P)!;
    const builds = w.buildsCreated.length;
    const pushes = w.pushes.length;
    expect(builds).toBe(1);
    const renamed = w.mccRerender(P);
    expect(w.machineConfigs.get(renamed)!.spec!.osImageURL).toBe(image);
    w.pools.get(P)!.status = { configuration: { name: renamed }, machineCount: 3, updatedMachineCount: 3, readyMachineCount: 3, degradedMachineCount: 0 };
    w.settle();
    expect(w.buildsCreated).toHaveLength(builds);
    expect(w.pushes).toHaveLength(pushes);
    expect(w.handoffImage(P)).toBe(image);
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Ready');
    expect(st.rollout).toEqual({ handoff: 'machineconfig', machineConfig: MC, renderedConfig: renamed, machineCount: 3, updatedMachineCount: 3, readyMachineCount: 3, degradedMachineCount: 0 });
  });
});

describe('fingerprint: the rendered-config image digest', () => {
  const base = machineConfig('rendered-worker-1');
  const digest = (mc: MachineConfig) => {
    const c = checkRenderedConfig(mc);
    if (!c.ok) throw new Error(c.message);
    return cachedScratchImage({ machineConfig: c.machineConfig, ignition: c.ignition }).manifestDigest;
  };
  const d0 = digest(base);
  it('does not change with the three fields the hand-off changes', () => {
    const m = structuredClone(base);
    m.metadata.name = 'rendered-worker-ffff';
    m.metadata.annotations = { 'machineconfiguration.openshift.io/os-image-url-overridden': 'true' };
    m.spec = { ...m.spec, osImageURL: 'reg/ns/worker-mco-content@sha256:' + 'b'.repeat(64) };
    expect(digest(m)).toBe(d0);
  });
  const changes: [string, (m: MachineConfig) => void][] = [
    ['Ignition config', (m) => ((m.spec!.config as { storage: { files: { path: string }[] } }).storage.files[0]!.path = '/etc/other')],
    ['kernel arguments', (m) => (m.spec!.kernelArguments = ['nosmt'])],
    ['extensions', (m) => (m.spec!.extensions = ['usbguard'])],
    ['kernel type', (m) => (m.spec!.kernelType = 'realtime')],
    ['FIPS', (m) => (m.spec!.fips = true)],
  ];
  for (const [what, change] of changes) {
    it(`changes with the ${what}`, () => {
      const m = structuredClone(base);
      change(m);
      expect(digest(m)).not.toBe(d0);
    });
  }
});

describe('label selectors', () => {
  it('evaluates matchLabels and the four operators; a null selector selects nothing', () => {
    const l = { role: 'worker', zone: 'a' };
    expect(selectorMatches({ matchLabels: { role: 'worker' } }, l)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'role', operator: 'In', values: ['infra'] }] }, l)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'role', operator: 'NotIn', values: ['infra'] }] }, l)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, l)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, l)).toBe(true);
    expect(selectorMatches(undefined, l)).toBe(false);
    expect(selectorMatches({}, l)).toBe(true);
  });
  it('gives matchLabels when they satisfy the whole selector, else a message', () => {
    expect(labelsForSelector('w', { matchLabels: { role: 'w' }, matchExpressions: [{ key: 'role', operator: 'In', values: ['w', 'x'] }] })).toEqual({ ok: true, labels: { role: 'w' } });
    const r = labelsForSelector('w', { matchLabels: { role: 'w' }, matchExpressions: [{ key: 'gpu', operator: 'Exists' }] });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/cannot be satisfied by its matchLabels alone.*gpu Exists/);
    // OpenShift's custom pool: role In [worker, <pool>]; its own role selects the hand-off into it alone.
    const role = 'machineconfiguration.openshift.io/role';
    expect(labelsForSelector('infra', { matchExpressions: [{ key: role, operator: 'In', values: ['worker', 'infra'] }] })).toEqual({ ok: true, labels: { [role]: 'infra' } });
    expect(labelsForSelector('infra', { matchExpressions: [{ key: role, operator: 'In', values: ['worker'] }] }).ok).toBe(false);
    expect(labelsForSelector('infra', { matchExpressions: [{ key: role, operator: 'In', values: ['worker', 'infra'] }, { key: 'gpu', operator: 'Exists' }] }).ok).toBe(false);
    expect(labelsForSelector('w', undefined).ok).toBe(false);
    expect(labelsForSelector('w', {}).ok).toBe(false);
  });
});

describe("nodes whose machine-config daemon reports Degraded", () => {
  const node = (name: string, state: string, reason: string, role = P) => ({
    metadata: { name, labels: { [`node-role.kubernetes.io/${role}`]: '' }, annotations: { 'machineconfiguration.openshift.io/state': state, 'machineconfiguration.openshift.io/reason': reason } },
  });

  it("make the pool Degraded, naming each node of the pool and the daemon's reason (quoted), until the node recovers", () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const image = w.handoffImage(P)!;
    const reason = `failed to update OS to ${image}: unauthorized: authentication required\nretrying`;
    w.nodes = [node('worker-0', 'Degraded', reason), node('worker-1', 'Done', ''), node('infra-0', 'Degraded', 'not ours', 'infra')];
    w.settle();
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Degraded');
    const c = st.conditions!.find((x) => x.type === 'Degraded')!;
    expect(c.reason).toBe('NodeDegraded');
    expect(c.message).toBe(
      `1 node of pool ${P} reports Degraded (the machine-config daemon's reason): node worker-0: ${JSON.stringify(reason)}; a degraded node stays on its current image and retries (oc describe node <name>); when the image cannot be pulled, check that the nodes may pull ${image}`,
    );
    expect(c.message).not.toContain('\n');
    expect(st.image).toBe(image); // the pool keeps its image
    w.nodes[0] = node('worker-0', 'Done', '');
    w.settle();
    expect(w.statuses.get(P)!.status!.phase).toBe('Ready');
  });

  it('names at most five and counts the rest', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.nodes = Array.from({ length: 7 }, (_, i) => node(`worker-${i}`, 'Degraded', `reason ${i}`));
    w.settle();
    const m = w.statuses.get(P)!.status!.conditions!.find((x) => x.type === 'Degraded')!.message;
    expect(m).toMatch(/^7 nodes of pool worker report Degraded .*node worker-4: "reason 4"; and 2 more; /);
    expect(m).not.toContain('worker-5');
  });
});
