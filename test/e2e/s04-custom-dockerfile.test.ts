// S4 the custom Dockerfile edited: a custom build from the newest mco-content
// image, the pool switches to source custom; a MachineConfig change rebuilds
// content and then custom.
import { describe, expect, it } from 'vitest';
import { getJson, internalRegistryHost, oc } from '../harness/cluster.ts';
import { builds, ignitionOf } from '../harness/operator.ts';
import { poolBuildConfigs, poolStreams } from '../../src/plan/names.ts';
import { events, expectHandOff, fetchManifest, readImageFiles, scenario, waitHandedOff, handOffSequence } from './support.ts';

const sc = scenario('s4');
const { s, P } = sc;

describe('S4 custom Dockerfile', () => {
  it('an edited Dockerfile builds from the newest mco-content; the pool switches to custom; a config change rebuilds content, then custom', async () => {
    const files1 = { '/etc/layered-demo/motd': 'custom one\n' };
    const files2 = { '/etc/layered-demo/motd': 'custom two\n' };
    const marker = { '/etc/custom-marker': 'custom\n' };
    const first = await sc.firstImage(files1);
    expect(first.imageSource).toBe('mco-content');
    const content1 = first.image!;

    // The custom BuildConfig starts with the default Dockerfile, and no custom build runs.
    const bcName = poolBuildConfigs(P).custom;
    const bc = await getJson<{ spec: { source: { dockerfile: string }; output: { to: { name: string } } } }>(['-n', s.ns, 'buildconfig', bcName]);
    expect(bc!.spec.source.dockerfile).toContain(`FROM ${P}-mco-content:latest`);
    expect(bc!.spec.output.to.name).toBe(`${poolStreams(P).custom}:latest`);
    expect((await builds(s.ns, P, 'custom')).length).toBe(0);

    // A user edits it (`oc edit bc/<pool>-build-mco-content-custom`; here `oc patch`).
    await oc(['patch', '-n', s.ns, `bc/${bcName}`, '--type', 'merge', '-p', JSON.stringify({ spec: { source: { dockerfile: `FROM ${P}-mco-content:latest\nRUN echo custom > /etc/custom-marker\n` } } })]);
    const custom = await waitHandedOff(s.ns, P, (st) => st.imageSource === 'custom', 'the custom image');
    let bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['custom', 'Complete'],
    ]);
    const c1 = bs[1]!;
    expect(c1.name).toBe(`${bcName}-${c1.fingerprint.slice(0, 10)}-1`);
    expect((c1.obj.spec as { strategy: { dockerStrategy: { from: unknown } } }).strategy.dockerStrategy.from).toEqual({ kind: 'DockerImage', name: content1 });
    expect(c1.dockerfile).toContain('RUN echo custom > /etc/custom-marker');
    const customImage1 = `${internalRegistryHost()}/${s.ns}/${poolStreams(P).custom}@${c1.digest}`;
    expect(custom.image).toBe(customImage1);
    await expectHandOff(P, customImage1, 'custom');
    const m1 = await fetchManifest(customImage1);
    expect(m1?.digest).toBe(c1.digest);
    // Built on the content image: its layers come first.
    const contentLayers = (await fetchManifest(content1))!.manifest.layers.map((l) => l.digest);
    expect(m1!.manifest.layers.slice(0, contentLayers.length).map((l) => l.digest)).toEqual(contentLayers);
    expect(Object.fromEntries(await readImageFiles(customImage1, [...Object.keys(marker), ...Object.keys(files1)]))).toEqual({ ...marker, ...files1 });

    // The MachineConfig changes: content rebuilds, then custom rebuilds from it.
    await sc.setConfig(ignitionOf(files2));
    const second = await waitHandedOff(s.ns, P, (st) => st.imageSource === 'custom' && st.image !== customImage1, 'the custom image of the second config');
    bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['custom', 'Complete'],
      ['content', 'Complete'],
      ['custom', 'Complete'],
    ]);
    const content2 = `${internalRegistryHost()}/${s.ns}/${poolStreams(P).content}@${bs[2]!.digest}`;
    expect(bs[3]!.from).toBe(content2);
    expect(bs[3]!.fingerprint).not.toBe(c1.fingerprint);
    const customImage2 = `${internalRegistryHost()}/${s.ns}/${poolStreams(P).custom}@${bs[3]!.digest}`;
    expect(second.image).toBe(customImage2);
    await expectHandOff(P, customImage2, 'custom');
    expect(Object.fromEntries(await readImageFiles(customImage2, [...Object.keys(marker), ...Object.keys(files2)]))).toEqual({ ...marker, ...files2 });
    expect((await builds(s.ns, P)).length).toBe(4);

    // While custom content is wanted the pool never went back to plain mco-content.
    const ev = await events(P);
    expect(handOffSequence(ev)).toEqual([['mco-content', content1], ['custom', customImage1], ['custom', customImage2]]);
    expect(ev.filter((e) => e.reason === 'BuildSucceeded')).toHaveLength(4);
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
