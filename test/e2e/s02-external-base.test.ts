// S2 an external base tagged into <pool>-external-base:latest: one rebuild on
// the new base; untagged: back to coreos, and the earlier image is reused (no
// third build, the pool's annotation returns to the first image).
import { describe, expect, it } from 'vitest';
import { getJson, registryHost } from '../harness/cluster.ts';
import { builds, handOffAnnotations, poolAnnotations } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { clusterBaseImage, events, fetchManifest, ocTag, ocTagDelete, pushDerivedImage, readImageFiles, scenario, settled, sleep, waitStatus } from './support.ts';

const sc = scenario('s2');
const { s, P } = sc;
const [MC] = sc.machineConfigs as [string];

describe('S2 external base', () => {
  it('tagged: one rebuild on it; untagged: back to coreos, the first image reused', async () => {
    const files = { '/etc/layered-demo/motd': `Hello from ${P}\n` };
    const first = await sc.firstImage(files);
    const coreos = await clusterBaseImage();
    expect(first.baseSource).toBe('coreos');
    expect(first.base).toBe(coreos);
    const firstImage = first.image!;
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);

    // An admin builds a different base elsewhere and runs
    // `oc tag <registry>/external/<id>-base:v2 <ns>/<pool>-external-base:latest`.
    const marker = { '/etc/external-base-marker': `external base for ${P}\n` };
    const extRef = await pushDerivedImage(coreos, `external/${s.id}-base`, 'v2', marker, { 'e2e.layering.mco.dev/image': 'external-base' });
    const extDigest = extRef.split('@')[1]!;
    expect(extDigest).not.toBe(coreos.split('@')[1]);
    await ocTag(s.ns, poolStreams(P).externalBase, 'latest', `${registryHost()}/external/${s.id}-base:v2`);

    const second = await waitStatus(s.ns, P, (st) => settled(st) && st.baseSource === 'external-base' && st.image !== firstImage, 'the rebuild on the external base');
    expect(second.base).toBe(extRef);
    let bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['content', 'Complete'],
    ]);
    const rebuilt = bs[1]!;
    expect(rebuilt.fingerprint).not.toBe(bs[0]!.fingerprint);
    expect(rebuilt.dockerfile).toContain(`\nFROM ${extRef}\n`);
    expect(rebuilt.dockerfile).not.toContain(coreos);
    const secondImage = `${registryHost()}/${s.ns}/${poolStreams(P).content}@${rebuilt.digest}`;
    expect(second.image).toBe(secondImage);
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(secondImage, MC, 'mco-content'));
    // <pool>-base follows the external base now.
    const baseStream = await getJson<{ spec: { tags: { name: string; from: { kind: string; name: string } }[] } }>(['-n', s.ns, 'imagestream', poolStreams(P).base]);
    expect(baseStream!.spec.tags.map((t) => [t.name, t.from.kind, t.from.name])).toEqual([['latest', 'ImageStreamTag', `${poolStreams(P).externalBase}:latest`]]);
    // The new image is built on the external base: the marker and the config's files are in it.
    const m = await fetchManifest(secondImage);
    expect(m?.digest).toBe(rebuilt.digest);
    expect(m?.manifest.annotations?.['org.opencontainers.image.base.digest']).toBe(extDigest);
    const got = await readImageFiles(secondImage, [...Object.keys(marker), ...Object.keys(files)]);
    expect(Object.fromEntries(got)).toEqual({ ...marker, ...files });

    // `oc tag -d <ns>/<pool>-external-base:latest`: back to coreos, the first image reused.
    await ocTagDelete(s.ns, poolStreams(P).externalBase, 'latest');
    const third = await waitStatus(s.ns, P, (st) => settled(st) && st.baseSource === 'coreos' && st.image === firstImage, 'back to coreos and the first image');
    expect(third.base).toBe(coreos);
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(firstImage, MC, 'mco-content'));
    const baseAgain = await getJson<{ spec: { tags: { name: string; from: { name: string } }[] } }>(['-n', s.ns, 'imagestream', poolStreams(P).base]);
    expect(baseAgain!.spec.tags.map((t) => t.from.name)).toEqual(['coreos:latest']);
    await sleep(3000); // longer than the debounce window: still no third build
    bs = await builds(s.ns, P);
    expect(bs.map((b) => b.phase)).toEqual(['Complete', 'Complete']);
    expect(await fetchManifest(firstImage)).toBeDefined();

    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted')).toHaveLength(2);
    expect(ev.filter((e) => e.reason === 'BuildSucceeded')).toHaveLength(2);
    expect(ev.filter((e) => e.reason === 'ImageHandedOff').map((e) => e.message)).toEqual([
      `pool ${P} now uses mco-content image ${firstImage} (config ${MC})`,
      `pool ${P} now uses mco-content image ${secondImage} (config ${MC})`,
      `pool ${P} now uses mco-content image ${firstImage} (config ${MC})`,
    ]);
    expect(ev.filter((e) => e.type === 'Warning')).toEqual([]);
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
