// S16 a MachineConfig change after a hand-off: one new build and one new
// hand-off; while the new Build runs (and until its image is checked), the
// hand-off MachineConfig keeps the old image: observed sample by sample. Then
// the way back: `rollback` hands off the previous image again, `--undo` the newest.
import { describe, expect, it } from 'vitest';
import { waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf, runCli } from '../harness/operator.ts';
import { cond, events, handOffSequence, handedOffImage, scenario, waitHandedOff } from './support.ts';

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
    expect(second.previousImage).toBe(old);

    // The way back: `rollback` hands off the previous image in one step (checked again, not rebuilt);
    // `rollback --undo` gives the pool its newest image again.
    const env = { LBC_OPT_IN_LABEL: s.label };
    const rb = await runCli(['rollback', '--pool', P, '-n', s.ns], env);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toBe(`pool ${P}: rolling back to ${old} (from ${next}); the operator checks it in the registry and hands it off; undo: layered-build-controller rollback --pool ${P} --undo\n`);
    const back = await waitHandedOff(s.ns, P, (x) => x.image === old, 'the rollback to the first image');
    expect(cond(back, 'Ready')).toMatchObject({ status: 'True', reason: 'RolledBack' });
    expect(back).toMatchObject({ imageSource: 'rollback', previousImage: next });
    const undo = await runCli(['rollback', '--pool', P, '--undo', '-n', s.ns], env);
    expect(undo.code, undo.stderr).toBe(0);
    const again = await waitHandedOff(s.ns, P, (x) => x.image === next, 'the newest image again');
    expect(cond(again, 'Ready')?.reason).toBe('ImageHandedOff');
    expect((await builds(s.ns, P)).length).toBe(2); // nothing was built for either step
    expect(sc.op.errors()).toEqual([]);
  });
});
