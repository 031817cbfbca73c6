// S1 first setup, with coreos imported late and the rendered config arriving
// after the base: exactly one content build, none failed; the pool gets an
// image that holds the MachineConfig's files.
import { describe, expect, it } from 'vitest';
import { getJson, registryHost } from '../harness/cluster.ts';
import { builds, createMachineConfig, createPool, handOffAnnotations, ignitionOf, poolAnnotations, readPool } from '../harness/operator.ts';
import { COREOS_STREAM, poolStreams } from '../../src/plan/names.ts';
import { clusterBaseImage, cond, events, fetchManifest, imageConfig, readImageFiles, scenario, settled, sleep, status, waitStatus } from './support.ts';

const sc = scenario('s1');
const { s, P } = sc;
const [MC] = sc.machineConfigs as [string];

describe('S1 first setup', () => {
  it('coreos imported late, rendered config after the base: one content build, none failed, the image has the files', async () => {
    const files = { '/etc/layered-demo/motd': `Hello from ${P}\n`, '/etc/layered-demo/settings.conf': 'max_processes=42\nfeature=on\n' };
    // The pool arrives first, naming a rendered config that does not exist yet;
    // this namespace is new, so the coreos stream does not exist either.
    expect(await getJson(['-n', s.ns, 'imagestream', COREOS_STREAM])).toBeUndefined();
    await createPool(P, { renderedConfig: MC, optInLabel: s.label });

    // The operator creates coreos, the emulator imports it, <pool>-base follows it;
    // then the pool waits for its rendered config, with no build.
    const waiting = await waitStatus(s.ns, P, (st) => !!st.base && /waiting for rendered MachineConfig/.test(st.message ?? ''), 'the base resolved, waiting for the MachineConfig');
    const base = await clusterBaseImage();
    const baseDigest = base.split('@')[1]!;
    expect(waiting.phase).toBe('Pending');
    expect(waiting.baseSource).toBe('coreos');
    expect(waiting.base).toBe(base);
    expect(cond(waiting, 'Ready')).toMatchObject({ status: 'False', reason: 'WaitingForInputs' });
    expect(cond(waiting, 'Ready')!.message).toContain(`waiting for rendered MachineConfig ${MC}`);
    expect(cond(waiting, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    await sleep(2000); // longer than the debounce window: still nothing to build
    expect(await builds(s.ns, P)).toEqual([]);
    expect(await poolAnnotations(P)).toEqual({});

    // The render controller writes the rendered config.
    await createMachineConfig(MC, ignitionOf(files));
    const st = await waitStatus(s.ns, P, settled, 'the pool Ready with its image');

    // Exactly one build: a content build, Complete.
    const bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([['content', 'Complete']]);
    const b = bs[0]!;
    expect(b.name).toBe(`${P}-build-mco-content-${b.fingerprint.slice(0, 10)}-1`);

    // Its Dockerfile: the rendered-config image and the coreos base, by digest.
    const rc = await getJson<{ spec: { tags: { name: string; from: { kind: string; name: string } }[] } }>(['-n', s.ns, 'imagestream', poolStreams(P).renderedConfig]);
    const rcTags = rc!.spec.tags.map((t) => [t.name, t.from.kind]).sort();
    expect(rcTags).toEqual([
      ['latest', 'DockerImage'],
      [MC, 'DockerImage'],
    ].sort());
    const rcRef = rc!.spec.tags.find((t) => t.name === MC)!.from.name;
    expect(rcRef).toMatch(new RegExp(`^${registryHost()}/${s.ns}/${P}-rendered-config@sha256:[0-9a-f]{64}$`));
    expect(rc!.spec.tags.find((t) => t.name === 'latest')!.from.name).toBe(rcRef);
    expect(b.dockerfile).toContain(`FROM ${rcRef} AS machineconfig`);
    expect(b.dockerfile).toContain(`FROM ${base}\n`);
    expect(b.dockerfile).toContain(`LABEL machineconfig=${MC}`);
    // The scratch image the operator pushed holds the config, labelled with its name.
    expect(await fetchManifest(rcRef)).toBeDefined();
    expect((await imageConfig(rcRef)).config?.Labels?.machineconfig).toBe(MC);
    const rcFiles = await readImageFiles(rcRef, ['/machine-config-ignition.json', '/machine-config.json']);
    expect(JSON.parse(rcFiles.get('/machine-config-ignition.json')!)).toEqual(ignitionOf(files));
    expect(JSON.parse(rcFiles.get('/machine-config.json')!)).toMatchObject({ kind: 'MachineConfig', metadata: { name: MC } });

    // The hand-off, by digest.
    const image = `${registryHost()}/${s.ns}/${poolStreams(P).content}@${b.digest}`;
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(image, MC, 'mco-content'));

    // The status object.
    const pool = await readPool(P);
    expect(st).toMatchObject({ phase: 'Ready', image, imageSource: 'mco-content', baseSource: 'coreos', renderedConfig: MC, renderedConfigImage: rcRef, observedGeneration: 1 });
    expect(st.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'ImageHandedOff'],
      ['Building', 'False', 'NoBuild'],
      ['Degraded', 'False', 'AsExpected'],
    ]);
    expect(st.conditions!.every((c) => c.observedGeneration === pool!.metadata.generation)).toBe(true);
    expect(cond(st, 'Ready')!.message).toBe(`pool ${P} uses mco-content image ${image}`);
    expect(st.history!.map((h) => [h.build, h.kind, h.result, h.outputDigest])).toEqual([[b.name, 'content', 'Complete', b.digest]]);

    // Events on the pool: one start, one success, one hand-off; no failure.
    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted').map((e) => e.message)).toEqual([`pool ${P}: content build ${b.name} started for inputs ${b.fingerprint.slice(0, 10)}`]);
    expect(ev.filter((e) => e.reason === 'BuildSucceeded').map((e) => e.message)).toEqual([`pool ${P}: content build ${b.name} produced ${b.digest}`]);
    expect(ev.filter((e) => e.reason === 'ImageHandedOff').map((e) => e.message)).toEqual([`pool ${P} now uses mco-content image ${image} (config ${MC})`]);
    expect(ev.filter((e) => e.type === 'Warning')).toEqual([]);

    // The image: its manifest is at the annotated digest, on top of the base,
    // and its layers hold the files ignition-apply wrote.
    const m = await fetchManifest(image);
    expect(m?.digest).toBe(b.digest);
    expect(m?.manifest.annotations?.['org.opencontainers.image.base.digest']).toBe(baseDigest);
    expect((await imageConfig(image)).config?.Labels?.machineconfig).toBe(MC);
    const got = await readImageFiles(image, [...Object.keys(files), '/etc/machine-config-ignition.json']);
    for (const [p, c] of Object.entries(files)) expect(got.get(p), p).toBe(c);
    expect(JSON.parse(got.get('/etc/machine-config-ignition.json')!)).toEqual(ignitionOf(files));

    // Settled: nothing more happens, and the operator is healthy.
    await sleep(3000);
    expect((await builds(s.ns, P)).length).toBe(1);
    expect((await status(s.ns, P)).phase).toBe('Ready');
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
