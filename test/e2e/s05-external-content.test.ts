// S5 external content tagged into <pool>-mco-content-external:latest: the pool
// switches with no build; untagged: it falls back to its own image.
import { describe, expect, it } from 'vitest';
import { registryHost } from '../harness/cluster.ts';
import { builds } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { events, expectHandOff, fetchManifest, ocTag, ocTagDelete, pushDerivedImage, readImageFiles, scenario, waitHandedOff, handOffSequence } from './support.ts';

const sc = scenario('s5');
const { s, P } = sc;

describe('S5 external content', () => {
  it('tagged: the pool switches with no build; untagged: falls back', async () => {
    const files = { '/etc/layered-demo/motd': 'content\n' };
    const first = await sc.firstImage(files);
    const own = first.image!;
    expect((await builds(s.ns, P)).length).toBe(1);

    // Content built elsewhere (here: derived from the pool's own image, read from the
    // integrated registry, pushed to an outside one), then
    // `oc tag --source=docker --insecure <registry>/external/<id>-content:v1 <ns>/<pool>-mco-content-external:latest`.
    const marker = { '/etc/external-content-marker': `built outside for ${P}\n` };
    const ext = await pushDerivedImage(own, `external/${s.id}-content`, 'v1', marker, { 'e2e.layering.mco.dev/image': 'external-content' });
    await ocTag(s.ns, poolStreams(P).external, 'latest', `${registryHost()}/external/${s.id}-content:v1`);
    const switched = await waitHandedOff(s.ns, P, (st) => st.imageSource === 'external', 'the external content');
    expect(switched.image).toBe(ext);
    await expectHandOff(P, ext, 'external');
    expect((await fetchManifest(ext))?.digest).toBe(ext.split('@')[1]);
    expect(Object.fromEntries(await readImageFiles(ext, [...Object.keys(marker), ...Object.keys(files)]))).toEqual({ ...marker, ...files });
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);

    // `oc tag -d`: back to the pool's own image, still without a build.
    await ocTagDelete(s.ns, poolStreams(P).external, 'latest');
    const back = await waitHandedOff(s.ns, P, (st) => st.imageSource === 'mco-content', 'the fall-back to mco-content');
    expect(back.image).toBe(own);
    expect(back.rendered).toBe(first.rendered);
    await expectHandOff(P, own, 'mco-content');
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);

    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted')).toHaveLength(1);
    expect(handOffSequence(ev)).toEqual([['mco-content', own], ['external', ext], ['mco-content', own]]);
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
