import { describe, expect, it } from 'vitest';
import type { BuildHistoryEntry, LayeredPool } from '../../src/kube/types.ts';
import { ANNOTATION_PAUSED } from '../../src/plan/gate.ts';
import { ANNOTATION_REBUILD } from '../../src/plan/names.ts';
import { changesBetween, DOCKERFILE_INPUT, explainHistory } from '../../src/plan/why.ts';
import { formatExplain } from '../../src/status/explain.ts';
import { REG, World, digestOf, machineConfig, pool } from './plan-world.ts';

const P = 'worker';
const setup = (w: World) => {
  w.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
  w.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
};
const st = (w: World) => w.statuses.get(P)!.status!;
const entry = (w: World, build: string) => st(w).history!.find((h) => h.build === build)!;
const short = (d: string) => d.slice(0, 19);
const rerender = (w: World, name: string, motd: string) => {
  w.machineConfigs.set(name, machineConfig(name, { '/etc/motd': motd }));
  w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name } };
};

describe('why did it build: history changes and the BuildStarted Event', () => {
  it('first build, then an external base change names both digests and the source, in the entry and the Event', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const [first] = w.buildsCreated;
    expect(entry(w, first!).changes).toEqual(['first content build of the pool']);
    expect(w.events.find((e) => e.startsWith('BuildStarted'))).toContain(': first content build of the pool');
    const coreos = digestOf('coreos-1');
    const ext = digestOf('ext-1');
    w.adminTag('worker-external-base', 'latest', `${REG}/external/base@${ext}`);
    w.settle();
    const second = w.buildsCreated[1]!;
    expect(entry(w, second).changes).toEqual([`base ${short(coreos)} -> ${short(ext)} (external base)`]);
    const ev = w.events.filter((e) => e.startsWith('BuildStarted'))[1]!;
    expect(ev).toMatch(new RegExp(`^BuildStarted: pool worker: content build ${second} started for inputs [0-9a-f]{10}: base ${short(coreos)} -> ${short(ext)} \\(external base\\)$`));
    expect(ev.includes('\n')).toBe(false);
    // The first entry keeps its own reason.
    expect(entry(w, first!).changes).toEqual(['first content build of the pool']);
  });

  it('a rendered config change names the old and new image digests and config names; kept after the Build is pruned', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const rc1 = st(w).renderedConfigImage!;
    rerender(w, 'rendered-worker-2', 'v2');
    w.settle();
    const b2 = w.buildsCreated[1]!;
    const rc2 = st(w).renderedConfigImage!;
    const want = `rendered config ${short(rc1.slice(rc1.indexOf('@') + 1))} -> ${short(rc2.slice(rc2.indexOf('@') + 1))} (rendered-worker-1 -> rendered-worker-2)`;
    expect(entry(w, b2).changes).toEqual([want]);
    w.builds.delete(b2); // OpenShift prunes Builds
    w.settle();
    expect(entry(w, b2).changes).toEqual([want]);
  });

  it('a failed attempt, then a requested rebuild, say so', () => {
    // --retry-limit is the number of attempts in all: 2 = one retry.
    const w = new World({ debounceMs: 0, retryLimit: 2, retryBackoffMs: 1000 });
    setup(w);
    w.outcome = () => 'fail';
    w.settle({ maxSteps: 100, ms: 2000 });
    const [a1, a2] = w.buildsCreated;
    expect(w.buildsCreated).toHaveLength(2);
    expect(entry(w, a2!).changes).toEqual([`previous attempt ${a1} failed`]);
    w.outcome = () => 'complete';
    w.pools.get(P)!.metadata.annotations = { [ANNOTATION_REBUILD]: '1' };
    w.settle();
    const a3 = w.buildsCreated[2]!;
    expect(entry(w, a3).changes).toEqual([`rebuild requested (${ANNOTATION_REBUILD}=1)`, `previous attempt ${a2} failed`]);
  });

  it('a custom Dockerfile edit says "Dockerfile changed"', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const bc = w.buildConfigs.get('worker-build-mco-content-custom')!;
    bc.spec!.source!.dockerfile = 'FROM worker-mco-content:latest\nRUN echo one > /etc/custom\n';
    w.settle();
    const c1 = w.buildsOf('custom')[0]!.metadata.name;
    expect(entry(w, c1).changes).toEqual(['first custom build of the pool']);
    bc.spec!.source!.dockerfile = 'FROM worker-mco-content:latest\nRUN echo two > /etc/custom\n';
    w.settle();
    const c2 = w.buildsOf('custom')[1]!.metadata.name;
    expect(entry(w, c2).changes).toEqual(['Dockerfile changed']);
    expect(entry(w, c2).inputs[DOCKERFILE_INPUT]).toMatch(/^[0-9a-f]{16}$/);
  });

  it.each([
    ['same inputs after a cancelled attempt', { result: 'Cancelled' }, {}, ['previous attempt p was cancelled']],
    ['another apply command', {}, { applyCommand: 'other' }, ['apply command changed']],
    ['another template version', {}, { templateVersion: '3' }, ['template version 2 -> 3']],
    ['only the fingerprint differs', { fingerprint: 'f'.repeat(64) }, {}, [`inputs ffffffffff -> ${'e'.repeat(10)}`]],
  ] as const)('pure: %s', (_, prevOver, curInputs, want) => {
    const base: BuildHistoryEntry = { build: 'p', kind: 'content', fingerprint: 'e'.repeat(64), inputs: { base: 'b@sha256:' + '1'.repeat(64), renderedConfig: 'r', applyCommand: 'a', templateVersion: '2' }, result: 'Complete' };
    const prev = { ...base, ...prevOver };
    const cur = { ...base, build: 'c', inputs: { ...base.inputs, ...curInputs } };
    expect(changesBetween(prev, cur, { builds: [] })).toEqual(want);
  });

  it('pure: explainHistory compares with the previous entry of the same kind, and keeps recorded changes', () => {
    const e = (build: string, kind: 'content' | 'custom', start: string, inputs: Record<string, string>, changes?: string[]): BuildHistoryEntry => ({
      build, kind, fingerprint: build.repeat(10), inputs, result: 'Complete', start, ...(changes ? { changes } : {}),
    });
    const old = e('a', 'content', '2026-01-01T00:00:00Z', { base: 'x@sha256:' + '1'.repeat(64) }, ['kept']);
    const custom = e('b', 'custom', '2026-01-01T00:01:00Z', { content: 'c1' });
    const next = e('c', 'content', '2026-01-01T00:02:00Z', { base: 'x@sha256:' + '2'.repeat(64) });
    const out = explainHistory([old], [next, custom, old], { builds: [] });
    expect(out.map((h) => h.changes)).toEqual([[`base sha256:111111111111 -> sha256:222222222222`], ['first custom build of the pool'], ['kept']]);
  });
});

describe('status --explain: the decision chain', () => {
  it('Idle after the first setup: inputs with digests, each decision, what can be done', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const ex = st(w).explain!;
    expect(ex.state).toBe('Idle');
    expect(ex.inputs.find((i) => i.name === 'base')).toEqual({ name: 'base', value: expect.stringContaining(digestOf('coreos-1')), source: expect.stringContaining('coreos:latest') });
    expect(ex.inputs.find((i) => i.name === 'rendered config')?.value).toBe('rendered-worker-1');
    expect(ex.steps[2]).toMatch(/^content build: inputs [0-9a-f]{10} already built by worker-build-mco-content-/);
    expect(ex.steps.at(-1)).toBe(`hand-off: the pool uses ${w.handoffImage(P)}`);
    expect(ex.actions.join('\n')).toContain('oc tag <image> openshift-machine-config-operator/worker-external-base:latest');
    const text = formatExplain(w.statuses.get(P)!, w.now);
    expect(text).toMatch(/^pool worker: Idle \(phase Ready\)\n/);
    expect(text).toContain('because: first content build of the pool');
    expect(text).toContain('what you can do:');
  });

  it('after an external base change the explanation names the base change and its source', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    w.adminTag('worker-external-base', 'latest', `${REG}/external/base@${digestOf('ext-1')}`);
    w.settle();
    const ex = st(w).explain!;
    expect(ex.inputs[0]).toMatchObject({ name: 'base', value: expect.stringContaining(digestOf('ext-1')), source: 'ImageStream worker-external-base:latest' });
    expect(ex.steps[0]).toContain("worker-external-base:latest (an admin's external base)");
    const text = formatExplain(w.statuses.get(P)!, w.now);
    expect(text).toContain(`because: base ${short(digestOf('coreos-1'))} -> ${short(digestOf('ext-1'))} (external base)`);
  });

  it('Degraded after failed builds: why, and the oc logs and rebuild commands', () => {
    const w = new World({ debounceMs: 0, retryLimit: 0 });
    setup(w);
    w.outcome = () => 'fail';
    w.settle({ maxSteps: 50 });
    const ex = st(w).explain!;
    expect(ex.state).toBe('Degraded');
    expect(ex.why[0]).toMatch(/^BuildFailed: content build \S+ failed/);
    expect(ex.actions).toContain(`read the failed build's log: oc logs build/${w.buildsCreated[0]} -n openshift-machine-config-operator`);
    expect(ex.actions.some((a) => a.includes(`oc annotate mcp/worker ${ANNOTATION_REBUILD}=$(date +%s) --overwrite`))).toBe(true);
  });

  it('Paused: why and how to resume; Waiting while the rendered config is missing', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.pools.get(P)!.metadata.annotations = { [ANNOTATION_PAUSED]: 'true' };
    w.settle();
    let ex = st(w).explain!;
    expect(ex.state).toBe('Paused');
    expect(ex.why.join('\n')).toContain('is paused (annotation layering.mco.dev/paused=true)');
    expect(ex.actions).toContain(`resume: oc annotate mcp/worker ${ANNOTATION_PAUSED}-`);
    const w2 = new World({ debounceMs: 0 });
    w2.pools.set(P, pool(P, { rendered: 'rendered-missing' }));
    w2.settle({ maxSteps: 10 });
    ex = w2.statuses.get(P)!.status!.explain!;
    expect(ex.state).toBe('Waiting');
    expect(ex.why).toContain('waiting: waiting for rendered MachineConfig rendered-missing');
  });

  it('formatExplain of a status without a decision chain says so; cluster text is made one-line', () => {
    const lp: LayeredPool = { metadata: { name: 'x' }, spec: { poolName: 'x' }, status: { phase: 'Ready', message: 'a\nb' } };
    expect(formatExplain(lp, 0)).toBe('pool x: Ready (phase Ready)\n  the operator has not recorded a decision chain for this pool yet (an older operator, or not reconciled since)\n  message: a b\n');
  });
});
