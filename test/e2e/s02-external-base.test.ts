// S2 an external base tagged into <pool>-external-base:latest (`oc tag`, a real
// import from the outside registry): one rebuild on the new base; untagged
// (`oc tag -d`): back to coreos, and the earlier image is reused (no third
// build, the hand-off MachineConfig returns to the first image).
import { describe, expect, it } from 'vitest';
import { getJson, registryHost } from '../harness/cluster.ts';
import { builds } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { clusterBaseImage, events, expectHandOff, fetchManifest, ocTag, ocTagDelete, pushDerivedImage, readImageFiles, scenario, waitHandedOff, handOffSequence } from './support.ts';

const sc = scenario('s2');
const { s, P } = sc;

type Stream = { spec: { tags: { name: string; from: { kind: string; name: string }; referencePolicy?: { type: string } }[] } };

describe('S2 external base', () => {
  it('tagged: one rebuild on it; untagged: back to coreos, the first image reused', async () => {
    const files = { '/etc/layered-demo/motd': `Hello from ${P}\n` };
    const first = await sc.firstImage(files);
    const coreos = await clusterBaseImage();
    expect(first.baseSource).toBe('coreos');
    expect(first.base).toBe(coreos);
    const firstImage = first.image!;
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);

    // An admin builds a different base elsewhere (pushed to an outside registry) and runs
    // `oc tag --source=docker --insecure <registry>/external/<id>-base:v2 <ns>/<pool>-external-base:latest`.
    const marker = { '/etc/external-base-marker': `external base for ${P}\n` };
    const extRef = await pushDerivedImage(coreos, `external/${s.id}-base`, 'v2', marker, { 'e2e.layering.mco.dev/image': 'external-base' });
    const extDigest = extRef.split('@')[1]!;
    expect(extDigest).not.toBe(coreos.split('@')[1]);
    await ocTag(s.ns, poolStreams(P).externalBase, 'latest', `${registryHost()}/external/${s.id}-base:v2`);

    const second = await waitHandedOff(s.ns, P, (st) => st.baseSource === 'external-base' && st.image !== firstImage, 'the rebuild on the external base');
    expect(second.base).toMatch(new RegExp(`@${extDigest}$`));
    let bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['content', 'Complete'],
    ]);
    const rebuilt = bs[1]!;
    expect(rebuilt.fingerprint).not.toBe(bs[0]!.fingerprint);
    expect(rebuilt.dockerfile).toContain(`\nFROM ${second.base}\n`);
    expect(rebuilt.dockerfile).not.toContain(coreos);
    const secondImage = second.image!;
    expect(secondImage).toMatch(new RegExp(`/${s.ns}/${poolStreams(P).content}@${rebuilt.digest}$`));
    await expectHandOff(P, secondImage, 'mco-content');
    // <pool>-base follows the external base now (by digest).
    const baseStream = await getJson<Stream>(['-n', s.ns, 'imagestream', poolStreams(P).base]);
    expect(baseStream!.spec.tags.map((t) => t.name)).toEqual(['latest']);
    expect(baseStream!.spec.tags[0]!.from.name).toMatch(new RegExp(`@${extDigest}$`));
    // The new image is built on the external base: the marker and the config's files are in it.
    const m = await fetchManifest(secondImage);
    expect(m?.digest).toBe(rebuilt.digest);
    const got = await readImageFiles(secondImage, [...Object.keys(marker), ...Object.keys(files)]);
    expect(Object.fromEntries(got)).toEqual({ ...marker, ...files });

    // `oc tag -d <ns>/<pool>-external-base:latest`: back to coreos, the first image reused.
    await ocTagDelete(s.ns, poolStreams(P).externalBase, 'latest');
    const third = await waitHandedOff(s.ns, P, (st) => st.baseSource === 'coreos' && st.image === firstImage, 'back to coreos and the first image');
    expect(third.base).toBe(coreos);
    await expectHandOff(P, firstImage, 'mco-content');
    const baseAgain = await getJson<Stream>(['-n', s.ns, 'imagestream', poolStreams(P).base]);
    expect(baseAgain!.spec.tags[0]!.from.name).toMatch(new RegExp(`@${coreos.split('@')[1]}$`));
    // Settled on the first image, re-rendered by MCC: no third build.
    bs = await builds(s.ns, P);
    expect(bs.map((b) => b.phase)).toEqual(['Complete', 'Complete']);
    expect(await fetchManifest(firstImage)).toBeDefined();

    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted')).toHaveLength(2);
    expect(ev.filter((e) => e.reason === 'BuildSucceeded')).toHaveLength(2);
    expect(handOffSequence(ev)).toEqual([['mco-content', firstImage], ['mco-content', secondImage], ['mco-content', firstImage]]);
    expect(ev.filter((e) => e.type === 'Warning')).toEqual([]);
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
