// The rollout hold (src/plan/rollout-hold.ts): a MachineConfig change after a
// hand-off pauses the pool until MCC has rendered the new image, so that MCC's
// node controller moves the nodes once (new config and new image together).
import { describe, expect, it } from 'vitest';
import { ANNOTATION_PAUSED, gateOf } from '../../src/plan/gate.ts';
import { ANNOTATION_NEWEST_IMAGE } from '../../src/plan/names.ts';
import { ANNOTATION_ROLLOUT_HELD, planRolloutHold } from '../../src/plan/rollout-hold.ts';
import { World, machineConfig, pool } from './plan-world.ts';

const P = 'worker';

function setup(w: World): void {
  w.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
  w.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
}

/** A pool on its image, as MCC left it after the hand-off (re-rendered with the image). */
function onItsImage(w: World): string {
  setup(w);
  w.settle();
  w.mccRerender(P);
  w.settle();
  return w.handoffImage(P)!;
}

/** What MCC's render controller does on a MachineConfig change: a new rendering with the new files and the pool's current osImageURL. */
function mccRendersChange(w: World, name: string, files: Record<string, string>): void {
  const mc = machineConfig(name, files);
  mc.spec = { ...mc.spec, osImageURL: w.handoffImage(P) ?? '' };
  w.machineConfigs.set(name, mc);
  const p = w.pools.get(P)!;
  p.spec = { ...p.spec, configuration: { name } };
}

const held = (w: World) => ({ paused: w.pools.get(P)!.spec?.paused, since: w.pools.get(P)!.metadata.annotations?.[ANNOTATION_ROLLOUT_HELD] });

describe('rollout hold: one rollout per MachineConfig change', () => {
  it('pauses the pool as soon as the rendering is ahead of the image, builds on, and releases once MCC rendered the new image', () => {
    const w = new World({ debounceMs: 0 });
    const old = onItsImage(w);
    expect(held(w)).toEqual({ paused: undefined, since: undefined });
    expect(w.events.filter((e) => e.startsWith('RolloutHeld'))).toEqual([]); // the first setup is never held

    mccRendersChange(w, 'rendered-worker-2', { '/etc/motd': 'two' });
    const p = w.plan(P);
    // The hold is written first, with the hand-off annotations the operator owns (an apply drops what it leaves out).
    expect(p.poolApplyFirst).toBe(true);
    expect(p.poolApply).toEqual({ annotations: { ...w.pools.get(P)!.metadata.annotations, [ANNOTATION_ROLLOUT_HELD]: new Date(w.now).toISOString() }, paused: true });
    expect(p.events.find((e) => e.reason === 'RolloutHeld')).toMatchObject({ on: { kind: 'poolApply' } });
    expect(p.status?.explain?.steps.at(-1)).toBe(`rollout: held: ${p.status?.rollout?.held}`);
    expect(p.status?.rollout?.held).toMatch(new RegExp(`^MachineConfigPool ${P} is paused by the operator since .* the new config on the old image ${old.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\); it is released when the image for its new inputs is built, checked and handed off$`));
    expect(p.push?.renderedConfig).toBe('rendered-worker-2'); // and the work goes on in the same reconcile
    w.apply(p);
    expect(held(w).paused).toBe(true);
    // The operator's own pause is not an admin's: builds go on, and the hand-off happens.
    expect(gateOf(w.pools.get(P)!).paused).toBeUndefined();
    w.settle();
    const next = w.handoffImage(P)!;
    expect(next).not.toBe(old);
    expect(w.poolImage(P)).toBe(next);
    expect(held(w).paused).toBe(true); // MCC has not rendered the new image yet
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Ready');
    expect(st.rollout?.held).toMatch(/it is released when MCC renders it with image/);

    w.mccRerender(P);
    const r = w.plan(P);
    // Released: neither spec.paused nor the hold annotation in the apply (the re-rendered name goes into the hand-off annotations).
    expect(r.poolApply?.paused).toBeUndefined();
    expect(r.poolApply?.annotations[ANNOTATION_ROLLOUT_HELD]).toBeUndefined();
    expect(r.poolApply?.annotations[ANNOTATION_NEWEST_IMAGE]).toBe(next);
    expect(r.poolApplyFirst).toBeUndefined();
    expect(r.events.find((e) => e.reason === 'RolloutReleased')?.message).toMatch(/MCC moves its nodes to rendered-worker-.* with image /);
    w.apply(r);
    w.settle();
    expect(held(w)).toEqual({ paused: undefined, since: undefined });
    expect(w.statuses.get(P)!.status!.rollout?.held).toBeUndefined();
    expect(w.buildsCreated).toHaveLength(2);
  });

  it('a hand-off that carries new annotations while held keeps the pool paused in the same apply', () => {
    const w = new World({ debounceMs: 0 });
    onItsImage(w);
    mccRendersChange(w, 'rendered-worker-2', { '/etc/motd': 'two' });
    const applies: NonNullable<ReturnType<World['plan']>['poolApply']>[] = [];
    for (let i = 0; i < 30; i++) {
      for (const p of w.step()) if (p.poolApply) applies.push(p.poolApply);
    }
    const handing = applies.find((a) => a.handoff);
    expect(handing?.paused).toBe(true);
    expect(handing?.annotations[ANNOTATION_ROLLOUT_HELD]).toBeDefined();
    expect(handing?.annotations[ANNOTATION_NEWEST_IMAGE]).toBe(w.handoffImage(P));
  });

  it("never takes over or undoes an admin's spec.paused", () => {
    const w = new World({ debounceMs: 0 });
    onItsImage(w);
    w.pools.get(P)!.spec!.paused = true;
    mccRendersChange(w, 'rendered-worker-2', { '/etc/motd': 'two' });
    w.settle();
    expect(held(w)).toEqual({ paused: true, since: undefined });
    expect(w.buildsCreated).toHaveLength(1); // the admin's pause holds builds (the gate)
    expect(w.statuses.get(P)!.status!.phase).toBe('Paused');
    expect(w.events.filter((e) => e.startsWith('RolloutHeld'))).toEqual([]);
  });

  it("the operator's own pause annotation holds builds, and the pool is held meanwhile", () => {
    const w = new World({ debounceMs: 0 });
    onItsImage(w);
    w.pools.get(P)!.metadata.annotations![ANNOTATION_PAUSED] = 'true';
    mccRendersChange(w, 'rendered-worker-2', { '/etc/motd': 'two' });
    w.settle();
    expect(held(w).paused).toBe(true);
    expect(w.buildsCreated).toHaveLength(1);
    delete w.pools.get(P)!.metadata.annotations![ANNOTATION_PAUSED];
    w.settle();
    w.mccRerender(P);
    w.settle();
    expect(w.buildsCreated).toHaveLength(2);
    expect(held(w)).toEqual({ paused: undefined, since: undefined });
  });

  it('a pool unlabelled while held is released', () => {
    const w = new World({ debounceMs: 0 });
    onItsImage(w);
    mccRendersChange(w, 'rendered-worker-2', { '/etc/motd': 'two' });
    w.apply(w.plan(P));
    expect(held(w).paused).toBe(true);
    w.pools.get(P)!.metadata.labels = {};
    const p = w.plan(P);
    expect(p.poolApply?.paused).toBeUndefined();
    expect(p.events.find((e) => e.reason === 'RolloutReleased')?.message).toMatch(/no longer managed/);
    w.apply(p);
    expect(held(w)).toEqual({ paused: undefined, since: undefined });
  });

  it('an annotation value the operator did not write reaches the status quoted, never raw', () => {
    const p = pool(P, { annotations: { [ANNOTATION_ROLLOUT_HELD]: 'x\nDegraded: forged' } });
    p.spec = { ...p.spec, paused: true };
    const h = planRolloutHold({ pool: p, machineConfigMode: true, current: 'r/x@sha256:1', chosen: undefined, renderedImage: 'r/x@sha256:1', now: 0 });
    expect(h.held).toContain('since "x\\nDegraded: forged" so that');
    expect(h.held).not.toContain('\n');
  });

  it('annotation-only hand-off and a pool with spec.osImageStream are never held', () => {
    const base = { pool: pool(P), current: 'r/x@sha256:1', chosen: undefined, renderedImage: 'r/x@sha256:1', renderedName: 'rendered-worker-2', now: 0 };
    expect(planRolloutHold({ ...base, machineConfigMode: true }).held).toBeDefined();
    expect(planRolloutHold({ ...base, machineConfigMode: false }).held).toBeUndefined();
    expect(planRolloutHold({ ...base, machineConfigMode: true, noHandoff: true }).held).toBeUndefined();
    // Settled (the rendering carries the image chosen for it): nothing to hold, nothing to write.
    expect(planRolloutHold({ ...base, machineConfigMode: true, chosen: 'r/x@sha256:1' })).toEqual({ first: false, events: [] });
  });
});
