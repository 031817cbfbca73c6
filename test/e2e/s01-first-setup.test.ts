// S1 first setup, with coreos imported late and the rendered config arriving
// after the base: exactly one content build, none failed; the image holds the
// MachineConfig's files and is handed off through 99-<pool>-layered-image,
// which the machine-config-controller renders into the pool.
import { describe, expect, it } from 'vitest';
import { getJson, internalRegistryHost, waitFor } from '../harness/cluster.ts';
import { ROLE_LABEL, builds, createMachineConfig, createPool, handOffAnnotations, ignitionOf, poolAnnotations, readPool, renderedConfigOf, scrape } from '../harness/operator.ts';
import { COREOS_STREAM, handoffMachineConfigName, poolStreams } from '../../src/plan/names.ts';
import { clusterBaseImage, cond, events, fetchManifest, handOffMachineConfig, imageConfig, osImageOf, readImageFiles, scenario, settled, status, waitHandedOff, waitStatus, handOffSequence } from './support.ts';

const sc = scenario('s1');
const { s, P } = sc;

type Stream = { spec?: { tags?: { name: string; from: { kind: string; name: string } }[] }; status?: { tags?: { tag: string; items?: { dockerImageReference: string; image: string }[] }[] } };

describe('S1 first setup', () => {
  it('coreos imported late, rendered config after the base: one content build, none failed, the image has the files and is handed off', async () => {
    const files = { '/etc/layered-demo/motd': `Hello from ${P}\n`, '/etc/layered-demo/settings.conf': 'max_processes=42\nfeature=on\n' };
    // The pool arrives first, selecting no MachineConfig yet (MCC cannot render it);
    // this namespace is new, so the coreos stream does not exist either.
    expect(await getJson(['-n', s.ns, 'imagestream', COREOS_STREAM])).toBeUndefined();
    await createPool(P, { optInLabel: s.label });

    // The operator creates coreos, OpenShift imports it, <pool>-base follows it;
    // then the pool waits for its rendered config, with no build.
    const waiting = await waitStatus(s.ns, P, (st) => !!st.base && /no rendered MachineConfig yet/.test(st.message ?? ''), 'the base resolved, waiting for the rendering');
    const base = await clusterBaseImage();
    expect(waiting.phase).toBe('Pending');
    expect(waiting.baseSource).toBe('coreos');
    expect(waiting.base).toBe(base);
    expect(cond(waiting, 'Ready')).toMatchObject({ status: 'False', reason: 'WaitingForInputs' });
    expect(cond(waiting, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    // MCC says why it has not rendered the pool.
    const renderDegraded = await waitFor(
      async () => ((await readPool(P))?.status?.conditions as { type: string; status: string; message: string }[] | undefined)?.find((c) => c.type === 'RenderDegraded' && c.status === 'True'),
      { what: 'MCC reporting RenderDegraded on the empty pool' },
    );
    expect(renderDegraded.message).toContain('no MachineConfigs found matching selector');
    expect(await builds(s.ns, P)).toEqual([]);
    expect(await poolAnnotations(P)).toEqual({});
    expect(await handOffMachineConfig(P)).toBeUndefined();

    // The admin adds a MachineConfig for the pool's role; MCC renders it.
    await createMachineConfig(sc.source, ignitionOf(files), { [ROLE_LABEL]: P });
    const MC = await renderedConfigOf(P);
    const st = await waitStatus(s.ns, P, settled, 'the pool Ready with its image');

    // Exactly one build: a content build, Complete.
    const bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([['content', 'Complete']]);
    const b = bs[0]!;
    expect(b.name).toBe(`${P}-build-mco-content-${b.fingerprint.slice(0, 10)}-1`);
    // It ran on a node of the base's architecture: the Build's nodeSelector (the architecture OpenShift
    // recorded at the base's import) is the base image's own, and OCM gave it to the build pod.
    const baseArch = ((await imageConfig(base)) as { architecture?: string }).architecture;
    expect(baseArch).toBeTruthy();
    expect((b.obj.spec as { nodeSelector?: unknown }).nodeSelector).toEqual({ 'kubernetes.io/arch': baseArch });
    const pod = await getJson<{ spec: { nodeSelector?: Record<string, string> } }>(['-n', s.ns, 'pod', `${b.name}-build`]);
    expect(pod?.spec.nodeSelector).toMatchObject({ 'kubernetes.io/arch': baseArch });

    // Its Dockerfile: the rendered-config image and the coreos base, by digest.
    // The rendered-config image was pushed by tag (its content hash, and latest) to the integrated registry.
    const rc = await getJson<Stream>(['-n', s.ns, 'imagestream', poolStreams(P).renderedConfig]);
    const rcTags = (rc!.status?.tags ?? []).map((t) => t.tag).sort();
    expect(rcTags).toHaveLength(2);
    expect(rcTags).toContain('latest');
    const hashTag = rcTags.find((t) => t !== 'latest')!;
    expect(hashTag).toMatch(/^sha256-[0-9a-f]{64}$/);
    const rcDigest = hashTag.replace('sha256-', 'sha256:');
    const rcRef = `${internalRegistryHost()}/${s.ns}/${poolStreams(P).renderedConfig}@${rcDigest}`;
    expect(st.renderedConfigImage).toBe(rcRef);
    expect(b.dockerfile).toContain(`FROM ${rcRef} AS machineconfig`);
    expect(b.dockerfile).toContain(`FROM ${base}\n`);
    // The scratch image the operator pushed holds the rendered config's Ignition config (as MCC rendered it: spec 3.5.0).
    const rcMan = await fetchManifest(rcRef);
    expect(rcMan?.digest).toBe(rcDigest);
    const rcFiles = await readImageFiles(rcRef, ['/machine-config-ignition.json', '/machine-config.json']);
    const rendered = (await getJson<{ spec: { config: unknown } }>(['machineconfig', MC]))!;
    expect(JSON.parse(rcFiles.get('/machine-config-ignition.json')!)).toEqual(rendered.spec.config);
    expect(JSON.parse(rcFiles.get('/machine-config.json')!)).toMatchObject({ kind: 'MachineConfig', spec: { config: rendered.spec.config } });

    // The hand-off: MachineConfig 99-<pool>-layered-image with the image by digest, owned by the pool;
    // MCC re-renders the pool with it as osImageURL.
    const image = `${internalRegistryHost()}/${s.ns}/${poolStreams(P).content}@${b.digest}`;
    const after = await waitHandedOff(s.ns, P, (x) => x.image === image, 'the status on the rendering with the image');
    const pool = await readPool(P);
    const handOff = (await handOffMachineConfig(P))!;
    expect(handOff.metadata.name).toBe(handoffMachineConfigName(P));
    expect(handOff.spec?.osImageURL).toBe(image);
    expect(handOff.metadata.labels?.[ROLE_LABEL]).toBe(P);
    expect(handOff.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid])).toEqual([['MachineConfigPool', P, pool!.metadata.uid]]);
    const withImage = after.rendered;
    expect(withImage).not.toBe(MC);
    expect(await osImageOf(withImage)).toBe(image);
    expect(await osImageOf(MC)).toBe(base);
    // The annotations (information now) name the rendered config in effect.
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(image, withImage, 'mco-content'));

    // The status object.
    expect(st).toMatchObject({ phase: 'Ready', image, imageSource: 'mco-content', baseSource: 'coreos' });
    expect(after).toMatchObject({ phase: 'Ready', image, imageSource: 'mco-content', baseSource: 'coreos', renderedConfig: withImage, renderedConfigImage: rcRef });
    expect(after.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'ImageHandedOff'],
      ['Building', 'False', 'NoBuild'],
      ['Degraded', 'False', 'AsExpected'],
    ]);
    // MCC's pool status names the rendering with the image shortly after its spec: the first status on
    // that rendering may or may not report the roll-out yet (a race of two MCC writes, not the operator's).
    expect([
      `pool ${P} uses mco-content image ${image}; handed to MCO by MachineConfig ${handoffMachineConfigName(P)}, 0/0 machines updated`,
      `pool ${P} uses mco-content image ${image}; handed to MCO by MachineConfig ${handoffMachineConfigName(P)}, rolled out as ${withImage}, 0/0 machines updated`,
    ]).toContain(cond(after, 'Ready')!.message);
    expect(after.history!.map((h) => [h.build, h.kind, h.result, h.outputDigest])).toEqual([[b.name, 'content', 'Complete', b.digest]]);

    // Events on the pool: one start, one success, one hand-off; no failure.
    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted').map((e) => e.message)).toEqual([`pool ${P}: content build ${b.name} started for inputs ${b.fingerprint.slice(0, 10)}: first content build of the pool`]);
    expect(ev.filter((e) => e.reason === 'BuildSucceeded').map((e) => e.message)).toEqual([`pool ${P}: content build ${b.name} produced ${b.digest}`]);
    expect(handOffSequence(ev)).toEqual([['mco-content', image]]);
    expect(ev.filter((e) => e.type === 'Warning')).toEqual([]);

    // The image (read from the integrated registry with the ServiceAccount's token):
    // its manifest is at the handed-off digest, and its layers hold the files ignition-apply wrote.
    const m = await fetchManifest(image);
    expect(m?.digest).toBe(b.digest);
    expect((await imageConfig(image)).rootfs?.diff_ids.length).toBeGreaterThan((await imageConfig(base)).rootfs!.diff_ids.length);
    const got = await readImageFiles(image, [...Object.keys(files), '/etc/machine-config-ignition.json']);
    for (const [p, c] of Object.entries(files)) expect(got.get(p), p).toBe(c);
    expect(JSON.parse(got.get('/etc/machine-config-ignition.json')!)).toEqual(rendered.spec.config);

    // Settled: the re-rendering by the hand-off did not start a build, and the operator is healthy.
    expect((await builds(s.ns, P)).length).toBe(1);
    expect((await status(s.ns, P)).phase).toBe('Ready');
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);

    // The status object's writes for this whole first setup, as the operator counted its requests
    // (lbc_api_requests_total). The target is 8 (issue 19, open); measured 10-11 on the real stack with
    // the busybox base and 14 in a CI-style run on the real base (a longer build and check: more
    // waiting messages), the unit test's fake world counts 7: printed here, bounded at 16 so that a
    // regression shows.
    const metrics = (await scrape((await sc.op.endpoints()).metricsUrl)).samples;
    const statusWrites = metrics.filter((x) => x.name === 'lbc_api_requests_total' && x.labels.resource === 'layeredpools/status' && x.labels.verb !== 'GET').reduce((a, x) => a + x.value, 0);
    const allWrites = metrics.filter((x) => x.name === 'lbc_api_requests_total' && !['GET', 'LIST', 'WATCH'].includes(x.labels.verb ?? '')).reduce((a, x) => a + x.value, 0);
    console.log(`S1: ${statusWrites} LayeredPool status writes, ${allWrites} operator writes in all, for a first setup`);
    expect(statusWrites).toBeGreaterThan(0);
    expect(statusWrites).toBeLessThanOrEqual(16);
  });
});
