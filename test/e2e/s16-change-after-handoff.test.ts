// S16 a MachineConfig change after a hand-off: one new build and one new
// hand-off; while the new Build runs (and until its image is checked), the
// hand-off MachineConfig keeps the old image: observed sample by sample.
import { describe, expect, it } from 'vitest';
import { waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf } from '../harness/operator.ts';
import { events, handOffSequence, handedOffImage, scenario, waitHandedOff } from './support.ts';

const sc = scenario('s16');
const { s, P } = sc;

describe('S16 a MachineConfig change after a hand-off', () => {
  it('one build, one new hand-off, the old image handed off until the new Build is Complete', async () => {
    const first = await sc.firstImage({ '/etc/layered-demo/motd': 'one\n' });
    const old = first.image!;
    await sc.setConfig(ignitionOf({ '/etc/layered-demo/motd': 'two\n' }));
    // Sample the hand-off MachineConfig and the second Build together until the image changes.
    const samples: { url: string | undefined; phase: string }[] = [];
    const next = await waitFor(
      async () => {
        const url = await handedOffImage(P);
        const phase = (await builds(s.ns, P))[1]?.phase ?? 'none';
        if (samples.at(-1)?.url !== url || samples.at(-1)?.phase !== phase) samples.push({ url, phase });
        return url !== old ? url : undefined;
      },
      { what: 'the hand-off MachineConfig with a new image', timeoutMs: 240_000, intervalMs: 200 },
    );
    console.log(`S16: ${samples.map((x) => `${x.url === old ? 'old' : 'new'}/${x.phase}`).join(' > ')}`);
    // Every sample before the change saw the old image; the new one only with the Build Complete.
    expect(samples.slice(0, -1).every((x) => x.url === old)).toBe(true);
    expect(samples.filter((x) => x.url !== old).map((x) => x.phase)).toEqual(['Complete']);
    expect(samples.some((x) => x.url === old && x.phase !== 'none' && x.phase !== 'Complete')).toBe(true);
    const second = await waitHandedOff(s.ns, P, (x) => x.image === next, 'the new image handed off');
    const bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['content', 'Complete'],
    ]);
    expect(next).toContain(`@${bs[1]!.digest}`);
    expect(handOffSequence(await events(P))).toEqual([
      ['mco-content', old],
      ['mco-content', next],
    ]);
    expect(second.rendered).not.toBe(first.rendered);
  });
});
