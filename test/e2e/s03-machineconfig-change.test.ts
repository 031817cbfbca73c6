// S3 MachineConfig change: the render controller writes a second rendered
// config and points the pool at it: a new tag on <pool>-rendered-config, one
// build, the new files in the image; reverting reuses the first image.
import { describe, expect, it } from 'vitest';
import { getJson, registryHost } from '../harness/cluster.ts';
import { builds, createMachineConfig, handOffAnnotations, ignitionOf, poolAnnotations, readPool } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { events, fetchManifest, readImageFiles, scenario, setRenderedConfig, settled, sleep, waitStatus } from './support.ts';

const sc = scenario('s3', { machineConfigs: 2 });
const { s, P } = sc;
const [MC1, MC2] = sc.machineConfigs as [string, string];

type Stream = { spec: { tags: { name: string; from: { kind: string; name: string } }[] } };

describe('S3 MachineConfig change', () => {
  it('a new rendered config: a new tag and one build; reverting reuses the first image', async () => {
    const files1 = { '/etc/layered-demo/motd': 'version one\n' };
    const files2 = { '/etc/layered-demo/motd': 'version two\n', '/etc/layered-demo/new.conf': 'added=true\n' };
    const first = await sc.firstImage(files1);
    const firstImage = first.image!;
    const rc1 = (await getJson<Stream>(['-n', s.ns, 'imagestream', poolStreams(P).renderedConfig]))!.spec.tags.find((t) => t.name === MC1)!.from.name;

    // The render controller produces a second rendered config and points the pool at it.
    await createMachineConfig(MC2, ignitionOf(files2));
    await setRenderedConfig(P, MC2);
    const second = await waitStatus(s.ns, P, (st) => settled(st) && st.renderedConfig === MC2 && st.image !== firstImage, 'the image of the second config');
    const rc = (await getJson<Stream>(['-n', s.ns, 'imagestream', poolStreams(P).renderedConfig]))!;
    const tags = Object.fromEntries(rc.spec.tags.map((t) => [t.name, t.from.name]));
    expect(Object.keys(tags).sort()).toEqual(['latest', MC1, MC2].sort());
    expect(tags[MC1]).toBe(rc1);
    expect(tags[MC2]).not.toBe(rc1);
    expect(tags.latest).toBe(tags[MC2]);
    expect(second.renderedConfigImage).toBe(tags[MC2]);

    let bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['content', 'Complete'],
    ]);
    expect(bs[1]!.dockerfile).toContain(`FROM ${tags[MC2]} AS machineconfig`);
    const secondImage = `${registryHost()}/${s.ns}/${poolStreams(P).content}@${bs[1]!.digest}`;
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(secondImage, MC2, 'mco-content'));
    expect((await fetchManifest(secondImage))?.digest).toBe(bs[1]!.digest);
    expect(Object.fromEntries(await readImageFiles(secondImage, Object.keys(files2)))).toEqual(files2);
    // The status follows the pool's generation.
    const gen = (await readPool(P))!.metadata;
    expect(second.observedGeneration).toBe(gen.generation);
    expect(second.conditions!.every((c) => c.observedGeneration === gen.generation)).toBe(true);

    // The render controller goes back to the first config: its image is reused.
    await setRenderedConfig(P, MC1);
    const third = await waitStatus(s.ns, P, (st) => settled(st) && st.renderedConfig === MC1 && st.image === firstImage, 'back to the first image');
    expect(third.renderedConfigImage).toBe(rc1);
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(firstImage, MC1, 'mco-content'));
    const rcAgain = Object.fromEntries((await getJson<Stream>(['-n', s.ns, 'imagestream', poolStreams(P).renderedConfig]))!.spec.tags.map((t) => [t.name, t.from.name]));
    expect(rcAgain).toEqual({ latest: rc1, [MC1]: rc1, [MC2]: tags[MC2] });
    await sleep(3000); // longer than the debounce window: no third build
    bs = await builds(s.ns, P);
    expect(bs.map((b) => b.phase)).toEqual(['Complete', 'Complete']);
    expect(Object.fromEntries(await readImageFiles(firstImage, [...Object.keys(files2)]))).toEqual(files1);

    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted')).toHaveLength(2);
    expect(ev.filter((e) => e.reason === 'ImageHandedOff').map((e) => e.message)).toEqual([
      `pool ${P} now uses mco-content image ${firstImage} (config ${MC1})`,
      `pool ${P} now uses mco-content image ${secondImage} (config ${MC2})`,
      `pool ${P} now uses mco-content image ${firstImage} (config ${MC1})`,
    ]);
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
