// C2 two operator replicas with leader election (short Lease: 4 s, renew 3 s,
// retry 0.5 s); the leader SIGKILLed while the first Build runs: the standby
// takes the Lease (the takeover time is printed, never asserted), adopts the
// running Build and hands its image off. One Build.
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf, readLease, type OperatorProcess } from '../harness/operator.ts';
import { scenario, waitHandedOff, type E2eOperatorOptions } from '../e2e/support.ts';
import { printFigures, restoreCluster, seconds, watchHandOffs } from './support.ts';

const LEASE = 'layered-build-controller';
const HA: E2eOperatorOptions = { args: ['--leader-elect', 'true', '--lease-name', LEASE, '--lease-duration-ms', '4000', '--renew-deadline-ms', '3000', '--retry-period-ms', '500'] };
const sc = scenario('c2', { operatorName: 'c2-a', operator: HA, sweep: false });
const { s, P } = sc;

afterAll(async () => {
  expect((await restoreCluster()).ready).toBe(true);
});

describe('C2 two replicas, the leader killed mid-build', () => {
  it('the standby takes over and hands off the one Build', async () => {
    const t0 = Date.now();
    const a = sc.op;
    const b = await sc.startOperator('c2-b', { ...HA, standby: true });
    const ids = new Map<string, OperatorProcess>([[await a.identity(), a], [await b.identity(), b]]);
    const holder = async () => (await readLease(s.ns, LEASE))?.spec?.holderIdentity ?? '';
    const leader = ids.get(await holder());
    expect(leader).toBe(a);
    const handoffs = watchHandOffs(s.ns, P);

    await sc.createPool(ignitionOf({ '/etc/chaos/motd': 'leader killed\n' }));
    const running = await waitFor(async () => (await builds(s.ns, P)).find((x) => x.phase === 'Running'), { what: 'the Build Running', timeoutMs: 120_000, intervalMs: 200 });
    const killedAt = Date.now();
    a.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    const bId = await b.identity();
    await waitFor(async () => (await holder()) === bId, { what: 'the standby holding the Lease', timeoutMs: 60_000, intervalMs: 25 });
    const leaseMs = Date.now() - killedAt;
    await b.waitForLog('leading: reconciling pools', 60_000);
    const leadingMs = Date.now() - killedAt;
    const st = await waitHandedOff(s.ns, P, () => true, 'the image handed off by the new leader');
    const convergedMs = Date.now() - killedAt;
    await handoffs.stop();
    const bs = await builds(s.ns, P);
    printFigures('C2 two replicas, leader SIGKILLed mid-build', [
      ['Lease', '4 s, renew deadline 3 s, retry 0.5 s'],
      ['killed while', `${running.name} Running`],
      ['takeover: kill to Lease held by the standby', seconds(leaseMs)],
      ['takeover: kill to the standby reconciling', seconds(leadingMs)],
      ['kill to image handed off and rendered', seconds(convergedMs)],
      ['Builds', bs.map((x) => `${x.name}:${x.phase}`).join(' ')],
      ['hand-offs of a Build not Complete', handoffs.notComplete().length],
      ['time in all', seconds(Date.now() - t0)],
    ]);

    expect(bs.map((x) => [x.name, x.phase])).toEqual([[running.name, 'Complete']]);
    expect(st.image).toMatch(new RegExp(`@${bs[0]!.digest}$`));
    expect(b.logs.filter((l) => l.msg === 'build created')).toEqual([]);
    expect(handoffs.notComplete()).toEqual([]);
    expect(b.alive()).toBe(true);
  });
});
