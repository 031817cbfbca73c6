// The build decision and the status helpers, case by case (the scenario tests
// in plan.test.ts drive them through whole pools).
import { describe, expect, it } from 'vitest';
import type { Build, ImageStream } from '../../src/kube/types.ts';
import type { BuildContext, BuildRequest } from '../../src/plan/builds.ts';
import { buildOutput, decideBuild, fingerprintOf, withoutRefusedAttempts } from '../../src/plan/builds.ts';
import { ANNOTATION_FINGERPRINT, ANNOTATION_REBUILD_TOKEN, LABEL_BUILD_KIND, fingerprintTag } from '../../src/plan/names.ts';
import { buildEvents, condition, historyOf, logExcerpt } from '../../src/plan/status.ts';

const NOW = 1_700_000_000_000;
const iso = (ms: number) => new Date(ms).toISOString();
const D = (c: string) => 'sha256:' + c.repeat(64);
const FP = fingerprintOf({ kind: 'content', base: 'b', rc: 'r' });
const OLD = fingerprintOf({ kind: 'content', base: 'b0', rc: 'r' });

const req: BuildRequest = {
  kind: 'content',
  pool: 'w',
  namespace: 'ns',
  buildConfig: 'w-build-mco-content',
  outputStream: 'w-mco-content',
  inputs: { kind: 'content', base: 'b', rc: 'r' },
  fingerprint: FP,
  dockerfile: 'FROM x\n',
};

function build(name: string, fp: string, phase: NonNullable<Build['status']>['phase'], o: { created?: number; done?: number; token?: string; cancelled?: boolean; kind?: string } = {}): Build {
  const b: Build = {
    metadata: {
      name,
      creationTimestamp: iso(o.created ?? NOW - 60_000),
      labels: { [LABEL_BUILD_KIND]: o.kind ?? 'content' },
      annotations: { [ANNOTATION_FINGERPRINT]: fp, [ANNOTATION_REBUILD_TOKEN]: o.token ?? '', 'machineconfiguration.openshift.io/pool': 'w' },
    },
    status: { phase, ...(o.cancelled ? { cancelled: true } : {}) },
  };
  if (o.done !== undefined) b.status!.completionTimestamp = iso(o.done);
  if (phase === 'Complete') {
    b.status!.output = { to: { imageDigest: D('c') } };
    b.status!.outputDockerImageReference = `reg:5000/ns/w-mco-content:${fingerprintTag(fp)}`;
  }
  return b;
}

function ctx(builds: Build[], o: Partial<BuildContext> = {}): BuildContext {
  return { now: NOW, debounceMs: 0, retryLimit: 3, retryBackoffMs: 10_000, rebuildToken: '', builds, outputStreamObj: undefined, buildConfigObj: undefined, ...o };
}

describe('decideBuild', () => {
  it('starts attempt 1 when nothing exists, named from the fingerprint', () => {
    const d = decideBuild(req, ctx([]));
    expect(d).toMatchObject({ state: 'start', name: `w-build-mco-content-${FP.slice(0, 10)}-1`, cancel: [] });
  });
  it('reuses a complete build of the fingerprint, by digest', () => {
    const d = decideBuild(req, ctx([build('a', FP, 'Complete')]));
    expect(d).toMatchObject({ state: 'built', image: { digest: D('c'), ref: `reg:5000/ns/w-mco-content@${D('c')}` } });
  });
  it('reuses the image on the fingerprint tag when the Build is gone', () => {
    const stream: ImageStream = {
      metadata: { name: 'w-mco-content' },
      status: { tags: [{ tag: fingerprintTag(FP), items: [{ dockerImageReference: `reg:5000/ns/w-mco-content@${D('e')}`, image: D('e') }] }] },
    };
    expect(decideBuild(req, ctx([], { outputStreamObj: stream }))).toMatchObject({ state: 'built', image: { digest: D('e') } });
  });
  it('waits for a running build of the fingerprint and cancels stale ones', () => {
    const d = decideBuild(req, ctx([build('mine', FP, 'Running'), build('stale', OLD, 'Running'), build('stopping', OLD, 'Running', { cancelled: true })]));
    expect(d).toMatchObject({ state: 'building', cancel: ['stale'] });
  });
  it('does not start while a stale build of the same kind is still active', () => {
    const d = decideBuild(req, ctx([build('stale', OLD, 'Pending', { cancelled: true })]));
    expect(d).toMatchObject({ state: 'waiting', reason: 'StaleBuildStopping', cancel: [] });
  });
  it('ignores builds of the other kind', () => {
    const d = decideBuild(req, ctx([build('custom', OLD, 'Running', { kind: 'custom' })]));
    expect(d).toMatchObject({ state: 'start', cancel: [] });
  });
  it('debounces from the newest input', () => {
    const d = decideBuild({ ...req, inputsChangedMs: NOW - 1000 }, ctx([], { debounceMs: 3000 }));
    expect(d).toMatchObject({ state: 'waiting', reason: 'Debounce', requeueAfterMs: 2000, cancel: [] });
  });
  it('backs off exponentially after failures, then retries with the next attempt number', () => {
    const f1 = build('f1', FP, 'Failed', { created: NOW - 30_000, done: NOW - 5_000 });
    expect(decideBuild(req, ctx([f1]))).toMatchObject({ state: 'waiting', reason: 'RetryBackoff', requeueAfterMs: 5_000 });
    expect(decideBuild(req, ctx([f1], { now: NOW + 5_000 }))).toMatchObject({ state: 'start', name: `w-build-mco-content-${FP.slice(0, 10)}-2` });
    const f2 = build('f2', FP, 'Error', { created: NOW - 20_000, done: NOW - 1_000 });
    expect(decideBuild(req, ctx([f1, f2]))).toMatchObject({ state: 'waiting', reason: 'RetryBackoff', requeueAfterMs: 19_000 });
  });
  it('gives up when retryLimit attempts in all failed, until a new rebuild token', () => {
    const fs = [1, 2, 3].map((i) => build(`f${i}`, FP, 'Failed', { created: NOW - 100_000 + i, done: NOW - 90_000 + i }));
    expect(decideBuild(req, ctx(fs))).toMatchObject({ state: 'failed', attempts: 3, failure: { metadata: { name: 'f3' } } });
    // --retry-limit 2 = 2 attempts: after 2 failures it gives up, after 1 it waits to retry.
    expect(decideBuild(req, ctx(fs.slice(0, 2), { retryLimit: 2 }))).toMatchObject({ state: 'failed', attempts: 2 });
    expect(decideBuild(req, ctx(fs.slice(0, 1), { retryLimit: 2 }))).toMatchObject({ state: 'start' });
    expect(decideBuild(req, ctx(fs.slice(0, 1), { retryLimit: 1 }))).toMatchObject({ state: 'failed', attempts: 1 });
    expect(decideBuild(req, ctx(fs, { rebuildToken: 'again' }))).toMatchObject({ state: 'start', name: `w-build-mco-content-${FP.slice(0, 10)}-4` });
  });
  it('a cancelled build of the fingerprint does not count as a failure but takes an attempt number', () => {
    const d = decideBuild(req, ctx([build('c', FP, 'Cancelled')]));
    expect(d).toMatchObject({ state: 'start', name: `w-build-mco-content-${FP.slice(0, 10)}-2` });
  });
  it('creates the Build the way OpenShift expects', () => {
    const d = decideBuild({ ...req, from: `reg:5000/ns/w-mco-content@${D('c')}`, pushSecret: 'push', renderedConfigName: 'rendered-w-1' }, ctx([]));
    if (d.state !== 'start') throw new Error(d.state);
    expect(d.create.spec).toMatchObject({
      source: { type: 'Dockerfile', dockerfile: 'FROM x\n' },
      strategy: { type: 'Docker', dockerStrategy: { from: { kind: 'DockerImage', name: `reg:5000/ns/w-mco-content@${D('c')}` } } },
      output: { to: { kind: 'ImageStreamTag', name: `w-mco-content:${fingerprintTag(FP)}` }, pushSecret: { name: 'push' } },
    });
  });
});

describe('withoutRefusedAttempts', () => {
  it('a Build the API server refused to create uses up no attempt number: the next try has the same name', () => {
    const first = decideBuild(req, ctx([]));
    if (first.state !== 'start') throw new Error(first.state);
    expect(first.record.lastAttempt).toBe(1);
    // The create was refused (e.g. RBAC): the status keeps the records without that attempt.
    const kept = withoutRefusedAttempts([first.record], [first.create]);
    expect(kept).toEqual([{ ...first.record, lastAttempt: 0 }]);
    const again = decideBuild(req, ctx([], { attempts: kept }));
    expect(again).toMatchObject({ state: 'start', name: first.name });
    // Records of other inputs, and attempts that were created, are left alone.
    const other = { ...first.record, fingerprint: OLD, lastAttempt: 1 };
    expect(withoutRefusedAttempts([other], [first.create])).toEqual([other]);
    expect(withoutRefusedAttempts([first.record], [])).toEqual([first.record]);
  });
});

describe('buildOutput', () => {
  it('needs Complete, a sha256 digest and a reference', () => {
    expect(buildOutput(build('a', FP, 'Running'))).toBeUndefined();
    const bad = build('b', FP, 'Complete');
    bad.status!.output = { to: { imageDigest: 'sha256:xyz' } };
    expect(buildOutput(bad)).toBeUndefined();
    const tagged = build('c', FP, 'Complete');
    tagged.status!.outputDockerImageReference = `reg:5000/ns/w-mco-content@${D('9')}`;
    expect(buildOutput(tagged)?.ref).toBe(`reg:5000/ns/w-mco-content@${D('c')}`);
  });
});

describe('status helpers', () => {
  it('history: newest first, bounded, inputs without the Dockerfile, results as the builds say', () => {
    const a = build('a', FP, 'Complete', { created: NOW - 3000, done: NOW - 2000 });
    a.metadata.annotations!['layering.mco.dev/inputs'] = JSON.stringify({ base: 'b', dockerfile: 'FROM x' });
    const b = build('b', OLD, 'Running', { created: NOW - 1000, cancelled: true });
    const h = historyOf([a, b], 10);
    expect(h.map((e) => [e.build, e.result])).toEqual([
      ['b', 'Cancelling'],
      ['a', 'Complete'],
    ]);
    expect(h[1]).toMatchObject({ inputs: { base: 'b' }, outputDigest: D('c'), end: iso(NOW - 2000) });
    expect(historyOf([a, b], 1)).toHaveLength(1);
  });
  it('events: started and finished once each, in order', () => {
    const started = historyOf([build('a', FP, 'Running')], 10);
    const done = historyOf([build('a', FP, 'Failed')], 10);
    expect(buildEvents(undefined, started, 'w').map((e) => e.reason)).toEqual(['BuildStarted']);
    expect(buildEvents(started, done, 'w').map((e) => [e.type, e.reason])).toEqual([['Warning', 'BuildFailed']]);
    expect(buildEvents(done, done, 'w')).toEqual([]);
    expect(buildEvents(undefined, historyOf([build('c', FP, 'Complete')], 10), 'w').map((e) => e.reason)).toEqual(['BuildStarted', 'BuildSucceeded']);
  });
  it('conditions keep lastTransitionTime while their status holds', () => {
    const c1 = condition(undefined, 'Ready', 'False', 'Building', 'x', 3, NOW);
    const c2 = condition([c1], 'Ready', 'False', 'WaitingForInputs', 'y', 4, NOW + 5000);
    const c3 = condition([c2], 'Ready', 'True', 'ImageHandedOff', 'z', 4, NOW + 9000);
    expect(c2.lastTransitionTime).toBe(iso(NOW));
    expect(c2).toMatchObject({ reason: 'WaitingForInputs', observedGeneration: 4 });
    expect(c3.lastTransitionTime).toBe(iso(NOW + 9000));
  });
  it('log excerpts keep the last lines, bounded', () => {
    expect(logExcerpt(undefined)).toBe('');
    expect(logExcerpt('1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n')).toBe('3\n4\n5\n6\n7\n8\n9\n10');
    expect(logExcerpt('x'.repeat(5000)).length).toBe(1201);
  });
});

describe('a Build interrupted by its pod going away (a drain)', () => {
  const n = (i: number) => `w-build-mco-content-${FP.slice(0, 10)}-${i}`;
  const ended = (name: string, phase: 'Failed' | 'Error', reason: string) => {
    const b = build(name, FP, phase, { done: NOW - 1000 });
    b.status!.reason = reason;
    return b;
  };

  it('BuildPodEvicted and BuildPodDeleted are started again at once, not counted toward --retry-limit', () => {
    const builds = [ended(n(1), 'Failed', 'BuildPodEvicted'), ended(n(2), 'Error', 'BuildPodDeleted')];
    const d = decideBuild(req, ctx(builds, { retryLimit: 1 }));
    expect(d).toMatchObject({ state: 'start', name: n(3) });
    expect(d.record.failedBuilds).toEqual([]);
    expect(d.record.lastFailure).toBeUndefined();
  });

  it('a real failure still counts (and backs off), beside an interrupted one', () => {
    const builds = [ended(n(1), 'Failed', 'BuildPodEvicted'), ended(n(2), 'Failed', 'DockerBuildFailed')];
    const d = decideBuild(req, ctx(builds, { retryLimit: 2 }));
    expect(d).toMatchObject({ state: 'waiting', reason: 'RetryBackoff', failures: 1 });
    expect(decideBuild(req, ctx(builds, { retryLimit: 1 }))).toMatchObject({ state: 'failed', attempts: 1 });
  });

  it('the history says why, and the Event is BuildInterrupted (Normal), not BuildFailed', () => {
    const b = ended(n(1), 'Failed', 'BuildPodEvicted');
    const h = historyOf([b], 10);
    expect(h[0]!.interrupted).toBe('BuildPodEvicted: its build pod was evicted (a node drain?); started again, not counted toward --retry-limit');
    const ev = buildEvents([{ ...h[0]!, result: 'Running' }], h, 'w');
    expect(ev.map((e) => [e.type, e.reason])).toEqual([['Normal', 'BuildInterrupted']]);
    expect(ev[0]!.message).toContain(`content build ${n(1)} was interrupted (BuildPodEvicted: its build pod was evicted`);
  });
});
