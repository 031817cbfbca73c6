// S3 MachineConfig change: the admin edits the pool's source MachineConfig, the
// machine-config-controller renders the pool anew: a new content-hash tag on
// <pool>-rendered-config, one build, the new files in the image; reverting the
// edit reuses the first image (MCC renders the same config again, which only
// differs in its name and osImageURL, and neither is a build input).
import { describe, expect, it } from 'vitest';
import { getJson, internalRegistryHost } from '../harness/cluster.ts';
import { builds, ignitionOf, readPool } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { events, expectHandOff, fetchManifest, osImageOf, readImageFiles, scenario, waitHandedOff, handOffSequence } from './support.ts';

const sc = scenario('s3');
const { s, P } = sc;

type Stream = { status?: { tags?: { tag: string; items?: { image: string }[] }[] } };

/** The rendered-config stream's tags: tag -> newest image digest. */
async function rcTags(): Promise<Record<string, string>> {
  const st = await getJson<Stream>(['-n', s.ns, 'imagestream', poolStreams(P).renderedConfig]);
  return Object.fromEntries((st?.status?.tags ?? []).map((t) => [t.tag, t.items?.[0]?.image ?? '']));
}

describe('S3 MachineConfig change', () => {
  it('a new rendering: a new tag and one build; reverting reuses the first image', async () => {
    const files1 = { '/etc/layered-demo/motd': 'version one\n' };
    const files2 = { '/etc/layered-demo/motd': 'version two\n', '/etc/layered-demo/new.conf': 'added=true\n' };
    const first = await sc.firstImage(files1);
    const firstImage = first.image!;
    const rc1 = first.renderedConfigImage!;
    const rc1Digest = rc1.split('@')[1]!;
    expect(await rcTags()).toEqual({ latest: rc1Digest, [rc1Digest.replace(':', '-')]: rc1Digest });

    // The admin edits the MachineConfig; MCC renders the pool anew (still with the first image as osImageURL).
    const mc2 = await sc.setConfig(ignitionOf(files2));
    expect(await osImageOf(mc2)).toBe(firstImage);
    const second = await waitHandedOff(s.ns, P, (st) => st.image !== firstImage, 'the image of the second config');
    const rc2 = second.renderedConfigImage!;
    const rc2Digest = rc2.split('@')[1]!;
    expect(rc2Digest).not.toBe(rc1Digest);
    expect(rc2).toBe(`${internalRegistryHost()}/${s.ns}/${poolStreams(P).renderedConfig}@${rc2Digest}`);
    expect(await rcTags()).toEqual({ latest: rc2Digest, [rc1Digest.replace(':', '-')]: rc1Digest, [rc2Digest.replace(':', '-')]: rc2Digest });

    let bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['content', 'Complete'],
    ]);
    expect(bs[1]!.dockerfile).toContain(`FROM ${rc2} AS machineconfig`);
    const secondImage = `${internalRegistryHost()}/${s.ns}/${poolStreams(P).content}@${bs[1]!.digest}`;
    expect(second.image).toBe(secondImage);
    await expectHandOff(P, secondImage, 'mco-content');
    expect((await fetchManifest(secondImage))?.digest).toBe(bs[1]!.digest);
    expect(Object.fromEntries(await readImageFiles(secondImage, Object.keys(files2)))).toEqual(files2);
    // The status follows the pool's generation.
    const gen = (await readPool(P))!.metadata;
    expect(second.observedGeneration).toBe(gen.generation);
    expect(second.conditions!.every((c) => c.observedGeneration === gen.generation)).toBe(true);

    // The admin reverts the edit: MCC renders the first config again (with the second image as
    // osImageURL), its content is the first one's, so the first image is reused.
    const mc3 = await sc.setConfig(ignitionOf(files1));
    expect(await osImageOf(mc3)).toBe(secondImage);
    const third = await waitHandedOff(s.ns, P, (st) => st.image === firstImage, 'back to the first image');
    expect(third.renderedConfigImage).toBe(rc1);
    // The same inputs give the same rendering: the one MCC made after the first hand-off.
    expect(third.rendered).toBe(first.rendered);
    await expectHandOff(P, firstImage, 'mco-content');
    expect((await rcTags()).latest).toBe(rc1Digest);
    bs = await builds(s.ns, P);
    expect(bs.map((b) => b.phase)).toEqual(['Complete', 'Complete']);
    expect(Object.fromEntries(await readImageFiles(firstImage, [...Object.keys(files2)]))).toEqual(files1);

    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted')).toHaveLength(2);
    expect(handOffSequence(ev)).toEqual([['mco-content', firstImage], ['mco-content', secondImage], ['mco-content', firstImage]]);
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
