// The reconciler (observe -> plan -> apply -> status) with in-memory stores and
// writer (reconciler-world.ts): a whole first setup of one pool, counting the
// writes of its LayeredPool status, and the Events of each action exactly once.
import { describe, expect, it } from 'vitest';
import { machineConfig, pool, World } from './plan-world.ts';
import { ReconcilerWorld } from './reconciler-world.ts';

const P = 'worker';
/** A world with pool P opted in and rendered as rendered-worker-1, its builds ending as `outcome` says. */
function renderedPool(outcome: 'hang' | 'complete') {
  const world = new World();
  world.outcome = () => outcome;
  const rw = new ReconcilerWorld(world);
  world.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
  world.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
  return { world, rw };
}
const condOf = (w: World, type: string) => w.statuses.get(P)?.status?.conditions?.find((c) => c.type === type);

describe('Reconciler: first setup of one pool', () => {
  it('writes the status at most 8 times and records each action once', async () => {
    const world = new World();
    world.importsEnabled = false; // coreos imported late
    world.outcome = () => 'hang'; // the build runs until released
    const rw = new ReconcilerWorld(world);

    // 1. The pool is labelled before MCC rendered anything.
    world.pools.set(P, pool(P));
    await rw.settle(P, () => world.statuses.get(P)?.status?.phase === 'Pending');
    expect(condOf(world, 'Ready')).toMatchObject({ status: 'False', reason: 'WaitingForInputs' });

    // 2. MCC renders the pool.
    world.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
    world.pools.get(P)!.spec!.configuration = { name: 'rendered-worker-1' };
    await rw.settle(P);
    expect(world.pushes).toEqual(['rendered-worker-1']);

    // 3. The coreos import succeeds: base, debounce, the content build starts and runs.
    world.importsEnabled = true;
    await rw.settle(P, () => world.buildsOf('content').some((b) => b.status?.phase === 'Running'));
    expect(condOf(world, 'Building')).toMatchObject({ status: 'True', reason: 'BuildInProgress' });

    // 4. The build completes: check, hand-off, MCC re-renders with the image.
    world.outcome = () => 'complete';
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True' && world.pools.get(P)!.spec!.configuration!.name !== 'rendered-worker-1');

    expect(world.buildsCreated).toHaveLength(1);
    expect(world.checksRun).toHaveLength(1);
    // The base's architecture read once, from OpenShift's Image; the Build runs on a node of it.
    expect(rw.architectureReads).toEqual([expect.stringMatching(/^worker-base@sha256:/)]);
    expect((world.buildsOf('content')[0]!.spec as { nodeSelector?: unknown }).nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64' });
    expect(world.handoffImage(P)).toMatch(/@sha256:/);
    expect(condOf(world, 'Ready')).toMatchObject({ status: 'True', reason: 'ImageHandedOff' });
    const reasons = rw.events.map((e) => e.reason);
    expect(reasons.filter((r) => r === 'BuildStarted')).toHaveLength(1);
    expect(reasons.filter((r) => r === 'BuildSucceeded')).toHaveLength(1);
    expect(reasons.filter((r) => r === 'ImageHandedOff')).toHaveLength(1);

    console.log(
      `first setup: ${rw.statusWrites.length} LayeredPool status writes, ${rw.writes.length} writes in all, ${rw.reconciles} reconciles, events ${reasons.join(', ')}\n` +
        rw.statusWrites.map((s, i) => `  status write ${i + 1} at +${s.at - 1_700_000_000_000} ms: ${s.phase}: ${s.message}`).join('\n'),
    );
    expect(rw.statusWrites.length).toBeLessThanOrEqual(8);
  });
});

describe('Reconciler: Events when the cache lags', () => {
  it('sends BuildSucceeded once although a stale status object plans it again', async () => {
    const { world, rw } = renderedPool('hang');
    await rw.settle(P, () => world.buildsOf('content').some((b) => b.status?.phase === 'Running'));
    const running = structuredClone(world.statuses.get(P)!.status);
    world.outcome = () => 'complete';
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True');
    const before = rw.events.map((e) => e.reason);
    expect(before.filter((r) => r === 'BuildSucceeded')).toHaveLength(1);
    // The status cache still holds the status of the running build: the plan finds the build's success anew.
    world.statuses.get(P)!.status = running;
    await expect(rw.reconciler.plan(P).then((p) => p.events.map((e) => e.reason))).resolves.toContain('BuildSucceeded');
    await rw.reconciler.reconcile(P);
    expect(rw.events.map((e) => e.reason)).toEqual(before);
  });
});

describe('Reconciler: a refused Build create', () => {
  it('is Degraded ApplyFailed, sends no BuildStarted, and does not use up the attempt', async () => {
    const world = new World();
    const rw = new ReconcilerWorld(world);
    rw.refuse = (what) => what.startsWith('create Build/');
    world.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
    world.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
    await rw.settle(P, () => condOf(world, 'Degraded')?.reason === 'ApplyFailed');
    const st = world.statuses.get(P)!.status!;
    expect(st.phase).toBe('Degraded');
    expect(condOf(world, 'Degraded')!.message).toMatch(/^creating Build worker-build-mco-content-[0-9a-f]{10}-1 was refused by the API server/);
    expect(st.buildAttempts?.[0]?.lastAttempt).toBe(0);
    expect(st.history ?? []).toEqual([]);
    expect(rw.events.map((e) => e.reason)).not.toContain('BuildStarted');
    // Allowed again: the first attempt's name is used, once.
    rw.refuse = () => false;
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True');
    expect(world.buildsCreated).toEqual([expect.stringMatching(/-1$/)]);
    expect(rw.events.filter((e) => e.reason === 'BuildStarted')).toHaveLength(1);
  });
});

describe('Reconciler: idle', () => {
  it('writes nothing while a build runs and while the pool has its image, however often it is woken', async () => {
    const { world, rw } = renderedPool('hang');
    await rw.settle(P, () => world.buildsOf('content').some((b) => b.status?.phase === 'Running'));
    // Ten minutes of resyncs (every 10 s) while the build runs.
    const wake = async () => {
      const before = rw.writes.length;
      for (let i = 0; i < 60; i++) {
        world.now += 10_000;
        await rw.reconciler.reconcile(P);
      }
      return rw.writes.slice(before);
    };
    expect(await wake()).toEqual([]);
    world.outcome = () => 'complete';
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True' && world.pools.get(P)!.spec!.configuration!.name !== 'rendered-worker-1');
    expect(await wake()).toEqual([]);
  });
});

describe('Reconciler: a status that only says what the pool waits for', () => {
  const start = (importsEnabled: boolean) => {
    const world = new World();
    world.importsEnabled = importsEnabled;
    world.outcome = () => 'hang';
    const rw = new ReconcilerWorld(world, { debounceMs: 0 });
    world.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
    world.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
    return { world, rw, t0: world.now };
  };

  it('is not written when the wait ends within 2 s (the imports land at once): the first status says the build', async () => {
    const { world, rw } = start(true);
    await rw.settle(P, () => world.buildsOf('content').some((b) => b.status?.phase === 'Running'));
    expect(rw.statusWrites.map((w) => w.phase)).toEqual(['Building', 'Building']);
  });

  it('is written once the wait has lasted 2 s (coreos does not import)', async () => {
    const { world, rw, t0 } = start(false);
    await rw.settle(P, () => world.statuses.get(P)?.status?.phase === 'Pending');
    expect(rw.statusWrites).toHaveLength(1);
    expect(rw.statusWrites[0]!.message).toBe('waiting for the coreos ImageStream to import the base OS image');
    expect(rw.statusWrites[0]!.at - t0).toBeGreaterThanOrEqual(2000);
  });
});

describe('Reconciler: the order of its writes', () => {
  it('creates the Build for new inputs before it rewrites the BuildConfig (the Build carries its own Dockerfile)', async () => {
    const world = new World();
    world.outcome = () => 'complete';
    const rw = new ReconcilerWorld(world, { debounceMs: 0 });
    world.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
    world.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True');
    const from = rw.writes.length;
    world.machineConfigs.set('rendered-worker-9', machineConfig('rendered-worker-9', { '/etc/motd': 'changed' }));
    world.pools.get(P)!.spec!.configuration = { name: 'rendered-worker-9' };
    world.outcome = () => 'hang';
    await rw.settle(P, () => world.buildsOf('content').length === 2);
    const after = rw.writes.slice(from);
    const build = after.findIndex((w) => w.startsWith('create Build/'));
    const bc = after.findIndex((w) => w === 'apply BuildConfig/worker-build-mco-content');
    expect(build).toBeGreaterThanOrEqual(0);
    expect(bc).toBeGreaterThan(build);
  });
});

describe('Reconciler: its own status write not yet in the cache', () => {
  it('unlabelled: the status keeps saying the hand-off MachineConfig was deleted when the deletion is seen before the status write', async () => {
    const world = new World();
    const rw = new ReconcilerWorld(world);
    world.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
    world.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True');
    const cachedBefore = structuredClone(world.statuses.get(P)!);
    world.pools.get(P)!.metadata.labels = {};
    await rw.reconciler.reconcile(P);
    const written = rw.statusWrites.at(-1)!;
    expect(written.message).toContain('deleted its hand-off MachineConfig 99-worker-layered-image');
    // The MachineConfig's deletion wakes the pool while the cache still holds the status object from before the write.
    world.statuses.set(P, cachedBefore);
    await rw.reconciler.reconcile(P);
    expect(rw.statusWrites.at(-1)).toBe(written);
    // Once the cache has moved past that version, it is believed again (it says Ready: the plan finds the pool newly unmanaged).
    world.statuses.get(P)!.metadata.resourceVersion = 'later';
    const again = (await rw.reconciler.plan(P)).status;
    expect(again?.phase).toBe('Unmanaged');
    expect(again?.message).not.toContain('deleted its hand-off');
  });
});

describe('Reconciler: the rendered-config stream and the registry that creates streams on push', () => {
  // The integrated registry creates a missing stream itself on a tagged push (the fake world's
  // push does too), and the API server refuses to add an owner to it afterwards
  // (OwnerReferencesPermissionEnforcement: the operator may not delete streams).
  const streamOf = (w: World) => w.streams.get('worker-rendered-config');

  it('a pool already rendered when the operator starts: the stream is created, as ours, before the first push', async () => {
    const { world, rw } = renderedPool('complete');
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True');
    const created = rw.writes.indexOf('apply ImageStream/worker-rendered-config');
    expect(created).toBeGreaterThanOrEqual(0);
    expect(world.pushes).toEqual(['rendered-worker-1']);
    expect(streamOf(world)!.metadata.ownerReferences?.[0]?.name).toBe(P);
    expect(streamOf(world)!.metadata.annotations?.['machineconfiguration.openshift.io/pool']).toBe(P);
    expect(world.statuses.get(P)!.status!.conditions!.find((c) => c.type === 'Degraded')?.status).toBe('False');
  });

  it('the stream deleted by an admin and the config changed: created again first, the pool gets its new image', async () => {
    const { world, rw } = renderedPool('complete');
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True');
    const first = world.handoffImage(P);
    world.streams.delete('worker-rendered-config');
    world.machineConfigs.set('rendered-worker-9', machineConfig('rendered-worker-9', { '/etc/motd': 'changed' }));
    world.pools.get(P)!.spec!.configuration = { name: 'rendered-worker-9' };
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True' && world.handoffImage(P) !== first);
    expect(streamOf(world)!.metadata.ownerReferences?.[0]?.name).toBe(P);
    expect(world.statuses.get(P)!.status!.phase).toBe('Ready');
  });
});

describe("Reconciler: the base's architecture cannot be read", () => {
  it('is reported as Degraded ApplyFailed naming the read, creates no Build, and builds once the read succeeds', async () => {
    const { world, rw } = renderedPool('hang');
    let refuse = true;
    world.architectureOf = () => {
      if (refuse) throw Object.assign(new Error('imagestreamimages.image.openshift.io "worker-base@sha256:x" is forbidden'), { code: 403 });
      return 'amd64';
    };
    await rw.settle(P, () => condOf(world, 'Degraded')?.status === 'True');
    expect(condOf(world, 'Degraded')).toMatchObject({ reason: 'ApplyFailed', message: expect.stringMatching(/^reading the architecture of base worker-base@sha256:[0-9a-f]{64} \(imagestreamimages\) failed \(.*forbidden.*\); the build waits for it$/) });
    expect(world.buildsCreated).toEqual([]);
    refuse = false;
    await rw.settle(P, () => world.buildsOf('content').length > 0);
    expect((world.buildsOf('content')[0]!.spec as { nodeSelector?: unknown }).nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64' });
    await rw.settle(P, () => condOf(world, 'Degraded')?.status === 'False');
  });
});

describe('Reconciler: a MachineConfig change after a hand-off (the rollout hold)', () => {
  it('pauses the pool before anything else, costs no status write for its own generation change, and releases after the re-render', async () => {
    const { world, rw } = renderedPool('complete');
    await rw.settle(P, () => condOf(world, 'Ready')?.status === 'True' && world.pools.get(P)!.spec!.configuration!.name !== 'rendered-worker-1');
    const first = world.handoffImage(P)!;
    const writes = rw.writes.length;
    const statusWrites = rw.statusWrites.length;
    // MCC renders the change onto the current image.
    const mc = machineConfig('rendered-worker-2', { '/etc/motd': 'two' });
    mc.spec = { ...mc.spec, osImageURL: first };
    world.machineConfigs.set('rendered-worker-2', mc);
    world.pools.get(P)!.spec!.configuration = { name: 'rendered-worker-2' };
    await rw.settle(P, () => world.handoffImage(P) !== first && world.pools.get(P)!.spec!.paused !== true && condOf(world, 'Ready')?.status === 'True');
    const change = rw.writes.slice(writes);
    expect(change[0]).toBe('apply MachineConfigPool/worker (held)'); // before the push and the Build
    expect(change.filter((x) => x.startsWith('apply MachineConfigPool/worker'))).toEqual([
      'apply MachineConfigPool/worker (held)',
      'apply MachineConfigPool/worker (held)', // the hand-off annotations, still held
      'apply MachineConfigPool/worker', // released once MCC rendered the image
    ]);
    const st = world.statuses.get(P)!.status!;
    expect(st.observedGeneration).toBe(world.pools.get(P)!.metadata.generation);
    expect(st.rollout?.held).toBeUndefined();
    const phases = rw.statusWrites.slice(statusWrites).map((x) => `${x.phase}${x.status?.rollout?.held ? ' (held)' : ''}`);
    console.log(`a change after a hand-off: ${phases.length} status writes: ${phases.join(' > ')}`);
    expect(phases.at(-1)).toBe('Ready');
    expect(phases.length).toBeLessThanOrEqual(4);
  });
});
