// Plan decisions for OpenShift's real behaviour: the base written by digest,
// failed imports re-requested with backoff, build attempts that outlive pruning.
import { describe, expect, it } from 'vitest';
import { decideBuild, type BuildRequest } from '../../src/plan/builds.ts';
import { decideImportRetry, importBackoffMs } from '../../src/plan/imports.ts';
import type { Build, ImageStream } from '../../src/kube/types.ts';
import { NS, REG, World, digestOf, machineConfig, pool } from './plan-world.ts';

const P = 'worker';
function setup(w: World): void {
  w.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
  w.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
}

describe('base: <pool>-base:latest is a DockerImage by digest', () => {
  it('from coreos, then from an imported external base, then back', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const coreos = w.baseOSImage!;
    const baseTag = () => w.streams.get('worker-base')!.spec!.tags!.find((t) => t.name === 'latest')!;
    expect(baseTag().from).toEqual({ kind: 'DockerImage', name: coreos });
    const ext = `quay.io/admin/base@${digestOf('ext-1')}`;
    w.adminTag('worker-external-base', 'latest', ext);
    w.settle();
    expect(baseTag().from).toEqual({ kind: 'DockerImage', name: ext });
    expect(w.statuses.get(P)!.status!.baseSource).toBe('external-base');
    w.adminUntag('worker-external-base', 'latest');
    w.settle();
    expect(baseTag().from).toEqual({ kind: 'DockerImage', name: coreos });
  });

  it('follows a new coreos digest (a cross-stream ImageStreamTag would not)', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const next = `${REG}/openshift/coreos-standin@${digestOf('coreos-2')}`;
    w.registry.set(next, digestOf('coreos-2'));
    w.baseOSImage = next;
    w.settle();
    expect(w.streams.get('worker-base')!.spec!.tags![0]!.from).toEqual({ kind: 'DockerImage', name: next });
    expect(w.buildsOf('content')).toHaveLength(2);
  });
});

describe('failed imports are re-requested with backoff (ImageStreamImport)', () => {
  const NOW = Date.parse('2026-01-01T12:00:00Z');
  const failed = (at: number, opts: { gen?: number; condGen?: number } = {}): ImageStream => ({
    metadata: { name: 'coreos' },
    spec: { tags: [{ name: 'latest', from: { kind: 'DockerImage', name: 'quay.io/a/b@sha256:' + 'c'.repeat(64) }, importPolicy: { importMode: 'Legacy' }, referencePolicy: { type: 'Source' }, generation: opts.gen ?? 1 }] },
    status: { tags: [{ tag: 'latest', items: [], conditions: [{ type: 'ImportSuccess', status: 'False', reason: 'Unauthorized', message: 'denied', lastTransitionTime: new Date(at).toISOString(), generation: opts.condGen ?? 1 }] }] },
  });
  const cfg = { baseMs: 10_000, maxMs: 60_000 };

  it('waits the base delay after the failure, then posts the import `oc import-image` would', () => {
    const wait = decideImportRetry(failed(NOW), NS, 'latest', [], NOW + 5_000, cfg)!;
    expect(wait.request).toBeUndefined();
    expect(wait.nextRetryAt).toBe(NOW + 10_000);
    const go = decideImportRetry(failed(NOW), NS, 'latest', [], NOW + 10_000, cfg)!;
    expect(go.request).toEqual({
      apiVersion: 'image.openshift.io/v1',
      kind: 'ImageStreamImport',
      metadata: { name: 'coreos', namespace: NS },
      spec: {
        import: true,
        images: [{ from: { kind: 'DockerImage', name: 'quay.io/a/b@sha256:' + 'c'.repeat(64) }, to: { name: 'latest' }, importPolicy: { importMode: 'Legacy' }, referencePolicy: { type: 'Source' } }],
      },
    });
    expect(go.state).toEqual({ stream: 'coreos', tag: 'latest', from: 'quay.io/a/b@sha256:' + 'c'.repeat(64), attempts: 1, lastAttempt: new Date(NOW + 10_000).toISOString() });
    expect(go.nextRetryAt).toBe(NOW + 30_000);
  });

  it('doubles per retry from the recorded attempt, capped; a new `from` starts over', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => importBackoffMs(n, cfg))).toEqual([10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
    const prev = [{ stream: 'coreos', tag: 'latest', from: 'quay.io/a/b@sha256:' + 'c'.repeat(64), attempts: 2, lastAttempt: new Date(NOW).toISOString() }];
    expect(decideImportRetry(failed(NOW + 100), NS, 'latest', prev, NOW + 39_999, cfg)!.request).toBeUndefined();
    expect(decideImportRetry(failed(NOW + 100), NS, 'latest', prev, NOW + 40_000, cfg)!.attempts).toBe(3);
    const other = [{ ...prev[0]!, from: 'quay.io/other@sha256:' + 'd'.repeat(64) }];
    expect(decideImportRetry(failed(NOW), NS, 'latest', other, NOW + 10_000, cfg)!.attempts).toBe(1);
  });

  it('leaves a tag alone when it imported, or when its spec changed since the failure', () => {
    const ok = failed(NOW);
    ok.status!.tags![0]!.conditions = [];
    expect(decideImportRetry(ok, NS, 'latest', [], NOW + 100_000, cfg)).toBeUndefined();
    expect(decideImportRetry(failed(NOW, { gen: 2, condGen: 1 }), NS, 'latest', [], NOW + 100_000, cfg)).toBeUndefined();
  });

  it('in the world: coreos fails, Degraded ImportFailed with a deadline; retried until it imports; the state survives a restart', () => {
    const w = new World({ debounceMs: 0, importRetryBackoffMs: 10_000, importRetryMaxBackoffMs: 60_000 });
    setup(w);
    const missing = `quay.io/openshift/coreos@${digestOf('not-yet')}`;
    w.baseOSImage = missing;
    w.step();
    w.step();
    const st = () => w.statuses.get(P)!.status!;
    const degraded = st().conditions!.find((c) => c.type === 'Degraded')!;
    expect(degraded).toMatchObject({ status: 'True', reason: 'ImportFailed' });
    expect(degraded.message).toMatch(/ImageStream openshift-machine-config-operator\/coreos:latest could not import quay\.io\/openshift\/coreos@sha256:[0-9a-f]+ \(NotFound: .*manifest unknown\); next attempt at 20\d\d-\d\d-\d\dT[\d:.]+Z/);
    expect(degraded.message).not.toMatch(/\bin \d+ ?s\b/);
    expect(w.importRequests).toEqual([]);
    for (let i = 0; i < 10; i++) w.step();
    expect(w.importRequests).toEqual(['coreos:latest']);
    expect(st().importRetries).toMatchObject([{ stream: 'coreos', tag: 'latest', attempts: 1 }]);
    // A restart: a fresh planner reads the attempts from the status, so the next retry waits 20 s.
    for (let i = 0; i < 18; i++) w.step();
    expect(w.importRequests).toEqual(['coreos:latest']);
    w.step(); w.step();
    expect(w.importRequests).toEqual(['coreos:latest', 'coreos:latest']);
    // The image appears; the next re-request imports it and the pool builds.
    w.registry.set(missing, digestOf('not-yet'));
    for (let i = 0; i < 60; i++) w.step();
    expect(w.importRequests).toHaveLength(3);
    expect(st().importRetries).toBeUndefined();
    expect(w.buildsOf('content')).toHaveLength(1);
    expect(w.poolImage(P)).toBeDefined();
  });
});

describe('build attempts outlive pruned Builds', () => {
  const FP = 'f'.repeat(64);
  const NOW = 1_700_000_000_000;
  const req: BuildRequest = { kind: 'content', pool: 'w', namespace: NS, buildConfig: 'w-build-mco-content', outputStream: 'w-mco-content', inputs: {}, fingerprint: FP, dockerfile: 'FROM x\n' };
  const failedBuild = (n: number, at: number): Build => ({
    metadata: {
      name: `w-build-mco-content-${FP.slice(0, 10)}-${n}`,
      creationTimestamp: new Date(at - 1000).toISOString(),
      labels: { 'layering.mco.dev/build-kind': 'content' },
      annotations: { 'layering.mco.dev/fingerprint': FP, 'layering.mco.dev/rebuild-token': '' },
    },
    status: { phase: 'Failed', reason: 'DockerBuildFailed', message: 'boom', completionTimestamp: new Date(at).toISOString() },
  });
  const ctx = (builds: Build[], attempts?: ReturnType<typeof decideBuild>['record'][]) => ({
    now: NOW,
    debounceMs: 0,
    retryLimit: 3,
    retryBackoffMs: 1000,
    rebuildToken: '',
    builds,
    outputStreamObj: undefined,
    buildConfigObj: undefined,
    attempts,
  });

  it('counts failures from the status when their Builds are pruned, and gives up at the limit', () => {
    const b1 = failedBuild(1, NOW - 50_000);
    const r1 = decideBuild(req, ctx([b1])).record;
    expect(r1).toMatchObject({ lastAttempt: 2, failedBuilds: [b1.metadata.name], lastFailure: { build: b1.metadata.name, reason: 'DockerBuildFailed' } });
    // (attempt 2 starts now: the record says so.) Attempt 1 was pruned; attempt 2 failed: two failures known, one retry left.
    const b2 = failedBuild(2, NOW - 40_000);
    const d2 = decideBuild(req, ctx([b2], [{ ...r1, lastAttempt: 2 }]));
    expect(d2).toMatchObject({ state: 'start', name: `w-build-mco-content-${FP.slice(0, 10)}-3` });
    expect(d2.record.failedBuilds.sort()).toEqual([b1.metadata.name, b2.metadata.name].sort());
    // Attempt 3 failed; every Build pruned: still given up (3 failures = retryLimit attempts in all), naming the last.
    const b3 = failedBuild(3, NOW - 30_000);
    const r3 = decideBuild(req, ctx([b3], [d2.record])).record;
    const gone = decideBuild(req, ctx([], [r3]));
    expect(gone).toMatchObject({ state: 'failed', attempts: 3, failure: { metadata: { name: b3.metadata.name }, status: { reason: 'DockerBuildFailed', message: 'boom' } } });
  });

  it('a rebuild token starts a new attempt with a name never used before, even after pruning', () => {
    const rec = { kind: 'content' as const, fingerprint: FP, lastAttempt: 7, rebuildToken: '', failedBuilds: ['a', 'b', 'c'] };
    const d = decideBuild(req, { ...ctx([], [rec]), rebuildToken: 'again' });
    expect(d).toMatchObject({ state: 'start', name: `w-build-mco-content-${FP.slice(0, 10)}-8` });
    expect(d.record).toMatchObject({ lastAttempt: 8, rebuildToken: 'again', failedBuilds: [] });
  });

  it('in the world: Builds pruned to the history limit never make a fingerprint build forever', () => {
    const w = new World({ debounceMs: 0, retryLimit: 7, retryBackoffMs: 1000 });
    setup(w);
    w.outcome = () => 'fail';
    for (let i = 0; i < 200; i++) {
      w.step(1000);
      // OpenShift keeps the 5 newest failed Builds per BuildConfig.
      const failedB = w.buildsOf('content').filter((b) => b.status?.phase === 'Failed').sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)) || b.metadata.name.localeCompare(a.metadata.name));
      for (const b of failedB.slice(5)) w.builds.delete(b.metadata.name);
    }
    expect(w.buildsCreated).toHaveLength(7);
    expect(new Set(w.buildsCreated).size).toBe(7);
    const st = w.statuses.get(P)!.status!;
    expect(st.conditions!.find((c) => c.type === 'Degraded')!.message).toMatch(/gave up after 7 of 7 attempts/);
    expect(st.history!.length).toBe(7);
  });
});
