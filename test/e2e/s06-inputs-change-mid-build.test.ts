// S6 inputs change while a build runs: the stale build ends Cancelled and
// exactly one build for the newest inputs completes. The build is made slow
// with the operator's apply command (this file's operator only manages this
// file's pool, so no other pool sees it).
import { describe, expect, it } from 'vitest';
import { internalRegistryHost, waitFor } from '../harness/cluster.ts';
import { APPLY_COMMAND, builds, ignitionOf } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { cond, events, expectHandOff, readImageFiles, scenario, status, waitHandedOff, handOffSequence } from './support.ts';

const sc = scenario('s6', { operator: { applyCommand: `sleep 12 && ${APPLY_COMMAND}` } });
const { s, P } = sc;

describe('S6 inputs change while a build runs', () => {
  it('the stale build is cancelled; exactly one build for the newest inputs completes', async () => {
    const files2 = { '/etc/layered-demo/motd': 'newest\n' };
    await sc.createPool(ignitionOf({ '/etc/layered-demo/motd': 'stale\n' }));
    const stale = await waitFor(async () => (await builds(s.ns, P)).find((b) => b.phase === 'Running'), { what: 'the first build Running', timeoutMs: 180_000 });
    const building = await status(s.ns, P);
    expect(building.phase).toBe('Building');
    expect(cond(building, 'Building')).toMatchObject({ status: 'True', reason: 'BuildInProgress' });
    expect(cond(building, 'Building')!.message).toContain(stale.name);

    // While it runs, the admin edits the MachineConfig and MCC renders the pool anew.
    await sc.setConfig(ignitionOf(files2));
    const st = await waitHandedOff(s.ns, P, (x) => x.history?.[0]?.result === 'Complete', 'the image of the newest config');

    const bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.name, b.phase])).toEqual([
      [stale.name, 'Cancelled'],
      [expect.stringMatching(new RegExp(`^${P}-build-mco-content-[0-9a-f]{10}-1$`)), 'Complete'],
    ]);
    const [first, newest] = bs as [(typeof bs)[0], (typeof bs)[0]];
    expect(first.cancelled).toBe(true);
    expect(first.reason).toBe('CancelledBuild');
    expect(first.digest).toBeUndefined();
    expect(newest.fingerprint).not.toBe(first.fingerprint);
    expect(newest.dockerfile).toContain(`FROM ${st.renderedConfigImage} AS machineconfig`);
    expect(first.dockerfile).not.toContain(`FROM ${st.renderedConfigImage} AS machineconfig`);
    // The newest build was created only once the stale one had stopped (one active build at a time).
    const stoppedAt = Date.parse((first.obj.status as { completionTimestamp: string }).completionTimestamp);
    expect(Date.parse(newest.obj.metadata.creationTimestamp!)).toBeGreaterThanOrEqual(Math.floor(stoppedAt / 1000) * 1000);

    const image = `${internalRegistryHost()}/${s.ns}/${poolStreams(P).content}@${newest.digest}`;
    expect(st.image).toBe(image);
    await expectHandOff(P, image, 'mco-content');
    expect(Object.fromEntries(await readImageFiles(image, Object.keys(files2)))).toEqual(files2);
    expect(st.history!.map((h) => [h.build, h.result])).toEqual([
      [newest.name, 'Complete'],
      [first.name, 'Cancelled'],
    ]);
    expect((await builds(s.ns, P)).length).toBe(2);

    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildCancelled').map((e) => e.message)).toEqual([
      `pool ${P}: content build ${first.name} was cancelled (its inputs ${first.fingerprint.slice(0, 10)} are stale)`,
    ]);
    // The stale build never reached the pool.
    expect(handOffSequence(ev)).toEqual([['mco-content', image]]);
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
