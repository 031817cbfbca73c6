// S24 an admin's external content that is not bootable: content built FROM a
// plain image (the node's sandbox image, which has none of the labels of an
// ostree-native base) and tagged into <pool>-mco-content-external:latest holds
// every file of the MachineConfig, but a node's importer would refuse it. The
// check before the hand-off refuses it first: Degraded ImageCheckFailed naming
// the missing label, nothing handed off, the pool keeps its image; untagged,
// the pool is Ready on its own image again without an admin action.
import { describe, expect, it } from 'vitest';
import { registryHost } from '../harness/cluster.ts';
import { builds } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { cond, expectHandOff, ocTag, ocTagDelete, pushDerivedImage, scenario, waitStatus } from './support.ts';

const sc = scenario('s24');
const { s, P } = sc;

describe('S24 external content that is not bootable', () => {
  it('is refused before the hand-off with a condition naming the missing label; the pool keeps its image', async () => {
    const files = { '/etc/layered-demo/motd': 'bootable?\n' };
    const first = await sc.firstImage(files);
    const own = first.image!;

    const plain = await pushDerivedImage(`${registryHost()}/openshift/pause:latest`, `external/${s.id}-plain`, 'v1', files, { 'e2e.layering.mco.dev/image': 'not-bootable' });
    await ocTag(s.ns, poolStreams(P).external, 'latest', `${registryHost()}/external/${s.id}-plain:v1`);
    const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'ImageCheckFailed', 'Degraded ImageCheckFailed');
    const msg = cond(st, 'Degraded')!.message;
    console.log(`S24: ${msg}`);
    expect(msg).toContain(plain.split('@')[1]!);
    expect(msg).toContain('the image is not bootable: its config has neither the label ostree.bootable=true nor containers.bootc=1');
    expect(msg).toContain(`the pool keeps ${own}`);
    expect(st.image).toBe(own);
    await expectHandOff(P, own, 'mco-content');

    await ocTagDelete(s.ns, poolStreams(P).external, 'latest');
    const back = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.status === 'False' && cond(x, 'Ready')?.status === 'True', 'Ready on its own image again');
    expect(back.image).toBe(own);
    await expectHandOff(P, own, 'mco-content');
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);
    expect(sc.op.errors()).toEqual([]);
  });
});
