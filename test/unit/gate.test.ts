import { describe, expect, it } from 'vitest';
import { ANNOTATION_APPROVE, ANNOTATION_HANDOFF_MODE, ANNOTATION_PAUSED, gateHandoff, gateOf } from '../../src/plan/gate.ts';
import type { Condition } from '../../src/kube/types.ts';
import { World, machineConfig, pool } from './plan-world.ts';

const P = 'worker';
const setup = (w: World, annotations: Record<string, string> = {}) => {
  w.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
  w.pools.set(P, pool(P, { rendered: 'rendered-worker-1', annotations }));
};
const cond = (w: World, type: Condition['type']) => w.statuses.get(P)!.status!.conditions!.find((c) => c.type === type)!;
const annotate = (w: World, a: Record<string, string | undefined>) => {
  const p = w.pools.get(P)!;
  const next = { ...p.metadata.annotations };
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined) delete next[k];
    else next[k] = v;
  }
  p.metadata.annotations = next;
};
const digestOfImage = (img: string) => img.slice(img.lastIndexOf('@') + 1);

describe('gate decision (pure)', () => {
  const img = `r/x@sha256:${'a'.repeat(64)}`;
  it.each([
    [{}, undefined, false, undefined],
    [{ [ANNOTATION_HANDOFF_MODE]: 'manual' }, undefined, true, 'AwaitingApproval'],
    [{ [ANNOTATION_HANDOFF_MODE]: 'manual', [ANNOTATION_APPROVE]: `sha256:${'a'.repeat(64)}` }, undefined, false, undefined],
    [{ [ANNOTATION_HANDOFF_MODE]: 'manual', [ANNOTATION_APPROVE]: `sha256:${'b'.repeat(64)}` }, undefined, true, 'ApprovalRefused'],
    [{ [ANNOTATION_HANDOFF_MODE]: 'Manul' }, undefined, true, 'AwaitingApproval'],
    [{ [ANNOTATION_HANDOFF_MODE]: 'auto' }, undefined, false, undefined],
    [{ [ANNOTATION_PAUSED]: 'true' }, undefined, true, 'Paused'],
    [{ [ANNOTATION_PAUSED]: 'false' }, undefined, false, undefined],
    [{ [ANNOTATION_PAUSED]: 'true', [ANNOTATION_HANDOFF_MODE]: 'manual', [ANNOTATION_APPROVE]: `sha256:${'a'.repeat(64)}` }, undefined, true, 'Paused'],
    // Re-writing the image the pool already has is never held.
    [{ [ANNOTATION_PAUSED]: 'true' }, img, false, undefined],
    [{ [ANNOTATION_HANDOFF_MODE]: 'manual' }, img, false, undefined],
  ] as const)('annotations %j, current %s: hold %s (%s)', (annotations, current, hold, reason) => {
    const g = gateOf({ metadata: { name: P, annotations: { ...annotations } } });
    const d = gateHandoff(g, P, img, current);
    expect(d.hold).toBe(hold);
    if (d.hold) expect(d.reason).toBe(reason);
  });

  it('spec.paused pauses too, with the oc patch that resumes it; a typo in hand-off is read as manual and named', () => {
    const g = gateOf({ metadata: { name: P }, spec: { paused: true } });
    expect(g.paused?.by).toBe('spec.paused');
    expect(g.paused?.message).toContain(`oc patch mcp/${P} --type merge -p '{"spec":{"paused":false}}'`);
    const t = gateHandoff(gateOf({ metadata: { name: P, annotations: { [ANNOTATION_HANDOFF_MODE]: 'Manul' } } }), P, `r/x@sha256:${'a'.repeat(64)}`, undefined);
    expect(t.hold && t.message).toContain('"Manul" is not manual or auto');
  });
});

describe('manual hand-off (planner)', () => {
  it('builds and checks, holds until approved with the right digest; a wrong digest is refused with a message', () => {
    const w = new World({ debounceMs: 0 });
    setup(w, { [ANNOTATION_HANDOFF_MODE]: 'manual' });
    w.settle();
    expect(w.buildsCreated).toHaveLength(1);
    expect(w.checksRun).toHaveLength(1);
    const checked = w.checksRun[0]!;
    expect(w.handoffImage(P)).toBeUndefined();
    expect(w.poolImage(P)).toBeUndefined();
    expect(cond(w, 'Ready')).toMatchObject({ status: 'False', reason: 'AwaitingApproval' });
    expect(cond(w, 'Ready').message).toContain(`oc annotate mcp/${P} ${ANNOTATION_APPROVE}=${digestOfImage(checked)} --overwrite`);
    expect(w.statuses.get(P)!.status!.phase).toBe('AwaitingApproval');
    expect(w.events.some((e) => e.startsWith('ImageHandedOff'))).toBe(false);

    annotate(w, { [ANNOTATION_APPROVE]: `sha256:${'0'.repeat(64)}` });
    w.settle();
    expect(w.handoffImage(P)).toBeUndefined();
    expect(cond(w, 'Ready')).toMatchObject({ status: 'False', reason: 'ApprovalRefused' });
    expect(cond(w, 'Ready').message).toContain(`is not the pool's newest checked image ${digestOfImage(checked)}`);

    annotate(w, { [ANNOTATION_APPROVE]: digestOfImage(checked) });
    w.settle();
    expect(w.handoffImage(P)).toBe(checked);
    expect(cond(w, 'Ready')).toMatchObject({ status: 'True', reason: 'ImageHandedOff' });
    expect(w.buildsCreated).toHaveLength(1); // approving builds nothing
    expect(w.events.filter((e) => e.startsWith('ImageHandedOff'))).toHaveLength(1);
  });

  it('a new image after an approved one is held again; the pool keeps the approved image', () => {
    const w = new World({ debounceMs: 0 });
    setup(w, { [ANNOTATION_HANDOFF_MODE]: 'manual' });
    w.settle();
    const first = w.checksRun[0]!;
    annotate(w, { [ANNOTATION_APPROVE]: digestOfImage(first) });
    w.settle();
    expect(w.handoffImage(P)).toBe(first);
    w.machineConfigs.set('rendered-worker-2', machineConfig('rendered-worker-2', { '/etc/motd': 'changed' }));
    w.pools.get(P)!.spec!.configuration = { name: 'rendered-worker-2' };
    w.settle();
    expect(w.buildsCreated).toHaveLength(2);
    expect(w.handoffImage(P)).toBe(first);
    expect(cond(w, 'Ready').reason).toBe('ApprovalRefused');
    expect(cond(w, 'Ready').message).toContain(`the pool keeps ${first}`);
  });
});

describe('paused pool (planner)', () => {
  it.each([
    ['annotation', (w: World): void => annotate(w, { [ANNOTATION_PAUSED]: 'true' }), (w: World): void => annotate(w, { [ANNOTATION_PAUSED]: undefined }), 'layering.mco.dev/paused=true'],
    ['spec.paused', (w: World): void => void (w.pools.get(P)!.spec!.paused = true), (w: World): void => void (w.pools.get(P)!.spec!.paused = false), 'spec.paused: true'],
  ] as const)('by %s: no build starts, nothing is handed off, the status says why; resuming builds and hands off', (_, pause, resume, says) => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    pause(w);
    w.settle();
    expect(w.buildsCreated).toHaveLength(0);
    expect(w.handoffImage(P)).toBeUndefined();
    expect(cond(w, 'Building')).toMatchObject({ status: 'False', reason: 'Paused' });
    expect(cond(w, 'Building').message).toContain(says);
    expect(cond(w, 'Building').message).toMatch(/held: content build worker-build-mco-content-[0-9a-f]{10}-1/);
    expect(cond(w, 'Ready')).toMatchObject({ status: 'False', reason: 'Paused' });
    expect(w.statuses.get(P)!.status!.phase).toBe('Paused');
    resume(w);
    w.settle();
    expect(w.buildsCreated).toHaveLength(1);
    expect(w.buildsCreated[0]).toMatch(/-1$/); // the held attempt number was not used up
    expect(w.handoffImage(P)).toBeDefined();
    expect(cond(w, 'Ready')).toMatchObject({ status: 'True', reason: 'ImageHandedOff' });
  });

  it('a build already running when the pool is paused runs on (not cancelled), and its image is held', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.outcome = () => 'hang';
    w.settle({ maxSteps: 10 });
    expect(w.buildsCreated).toHaveLength(1);
    annotate(w, { [ANNOTATION_PAUSED]: 'true' });
    // New inputs would normally cancel the running build.
    w.machineConfigs.set('rendered-worker-2', machineConfig('rendered-worker-2', { '/etc/motd': 'changed' }));
    w.pools.get(P)!.spec!.configuration = { name: 'rendered-worker-2' };
    w.settle({ maxSteps: 20 });
    expect(w.cancelled).toEqual([]);
    expect(w.buildsCreated).toHaveLength(1);
    expect(w.statuses.get(P)!.status!.phase).toBe('Paused');
    w.outcome = () => 'complete';
    annotate(w, { [ANNOTATION_PAUSED]: undefined });
    w.settle();
    expect(w.cancelled).toHaveLength(1);
    expect(w.handoffImage(P)).toBeDefined();
  });
});
