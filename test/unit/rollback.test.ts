// Rollback (issue 16): the annotation layering.mco.dev/rollback-to=<image> (what
// `layered-build-controller rollback --pool P` writes) hands off the pool's
// previous image in one step, checked again in the registry but not against the
// current config's files; the newest image waits until the annotation goes.
import { describe, expect, it } from 'vitest';
import { ANNOTATION_ROLLBACK_TO } from '../../src/plan/names.ts';
import { World, machineConfig, pool } from './plan-world.ts';

const P = 'worker';

/** A pool that had two images: the first, then the one of a changed config (MCC re-rendered after each hand-off). */
function twoImages(w: World): { first: string; second: string } {
  w.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
  w.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
  w.settle();
  w.mccRerender(P);
  w.settle();
  const first = w.handoffImage(P)!;
  const mc = machineConfig('rendered-worker-2', { '/etc/motd': 'two' });
  mc.spec = { ...mc.spec, osImageURL: first };
  w.machineConfigs.set('rendered-worker-2', mc);
  w.pools.get(P)!.spec!.configuration = { name: 'rendered-worker-2' };
  w.settle();
  w.mccRerender(P);
  w.settle();
  return { first, second: w.handoffImage(P)! };
}

const status = (w: World) => w.statuses.get(P)!.status!;
const ready = (w: World) => status(w).conditions!.find((c) => c.type === 'Ready')!;

describe('rollback to the previous image', () => {
  it('is recorded as previousImage, handed off in one step while the annotation stays, and undone by removing it', () => {
    const w = new World({ debounceMs: 0 });
    const { first, second } = twoImages(w);
    expect(second).not.toBe(first);
    expect(status(w).previousImage).toBe(first);
    const builds = w.buildsCreated.length;
    const checks = w.checksRun.length;

    w.pools.get(P)!.metadata.annotations![ANNOTATION_ROLLBACK_TO] = first;
    w.settle();
    expect(w.handoffImage(P)).toBe(first);
    expect(w.checksRun.length).toBe(checks + 1); // checked again in the registry
    expect(w.buildsCreated.length).toBe(builds); // nothing built for it
    expect(status(w)).toMatchObject({ phase: 'Ready', image: first, previousImage: second, imageSource: 'rollback' });
    expect(ready(w)).toMatchObject({ status: 'True', reason: 'RolledBack' });
    expect(ready(w).message).toContain(`pool ${P} is rolled back to ${first} (annotation ${ANNOTATION_ROLLBACK_TO}); the newest checked image ${second} waits; to resume: layered-build-controller rollback --pool ${P} --undo`);
    expect(w.events.some((e) => e.startsWith(`ImageHandedOff: pool ${P} now uses rollback image ${first}`))).toBe(true);
    expect(status(w).explain?.actions).toContain(`the pool is rolled back; to give it its newest image again: layered-build-controller rollback --pool ${P} --undo`);

    delete w.pools.get(P)!.metadata.annotations![ANNOTATION_ROLLBACK_TO];
    w.settle();
    expect(w.handoffImage(P)).toBe(second);
    expect(status(w)).toMatchObject({ phase: 'Ready', image: second, previousImage: first, imageSource: 'mco-content' });
    expect(ready(w).reason).toBe('ImageHandedOff');
    expect(w.buildsCreated.length).toBe(builds);
  });

  it('refuses an image the pool never had, or one not by digest, and keeps the pool as it is', () => {
    const w = new World({ debounceMs: 0 });
    const { second } = twoImages(w);
    for (const bad of [`${second.split('@')[0]}@sha256:${'0'.repeat(64)}`, `${second.split('@')[0]}:latest`]) {
      w.pools.get(P)!.metadata.annotations![ANNOTATION_ROLLBACK_TO] = bad;
      w.settle();
      expect(w.handoffImage(P)).toBe(second);
      const d = status(w).conditions!.find((c) => c.type === 'Degraded')!;
      expect(d.reason).toBe('RollbackRefused');
      expect(d.message).toContain(`${ANNOTATION_ROLLBACK_TO}=${JSON.stringify(bad)} is refused: `);
    }
  });

  it('an image gone from the registry is not handed off: the check says so and the pool keeps its image', () => {
    const w = new World({ debounceMs: 0 });
    const { first, second } = twoImages(w);
    w.checker = (image) => (image === first ? { result: 'failed', message: `the registry has no manifest for ${image}` } : { result: 'passed', sizeBytes: 1000, addedLayers: 1, files: 1 });
    w.pools.get(P)!.metadata.annotations![ANNOTATION_ROLLBACK_TO] = first;
    w.settle();
    expect(w.handoffImage(P)).toBe(second);
    expect(status(w).conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ reason: 'ImageCheckFailed', message: expect.stringContaining(`the registry has no manifest for ${first}`) });
  });
});
