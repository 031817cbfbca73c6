// C3 the integrated registry (where the operator pushes rendered-config images
// and builds pull their base and push their output) SIGKILLed:
// - during the operator's push: the registry is frozen (SIGSTOP) before a
//   MachineConfig change, so the push request is in flight once it has reached
//   the registry's socket (bytes from the operator's connection unread there),
//   then killed and started again: the push failed and is retried;
// - during a build: killed once the Build is Running, started again when the
//   Build left Running: the attempt may fail and is retried (bounded), one
//   Complete Build per inputs.
// The outside registry (LOCAL_REGISTRY) is not faulted here.
import { execFile } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { internalRegistryHost, waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf, metricValue, scrape, type OperatorProcess } from '../harness/operator.ts';
import { readImageFiles, scenario, waitHandedOff } from '../e2e/support.ts';
import { printFigures, restoreCluster, seconds, signal, startComponent, watchHandOffs } from './support.ts';

const sc = scenario('c3');
const { s, P } = sc;

afterAll(async () => {
  expect((await restoreCluster()).ready).toBe(true);
});

function ss(): Promise<string> {
  return new Promise((resolve, reject) => execFile('ss', ['-Htnp'], (e, out) => (e ? reject(e) : resolve(out))));
}

/** Whether the registry's side of one of `op`'s connections to it holds request bytes it has not read (it is frozen). */
async function requestInFlight(op: OperatorProcess): Promise<boolean> {
  const port = internalRegistryHost().split(':')[1]!;
  const lines = (await ss()).split('\n').map((l) => l.trim().split(/\s+/));
  // ESTAB Recv-Q Send-Q Local Peer [users]
  const mine = new Set(lines.filter((f) => f[4]?.endsWith(`:${port}`) && (f[5] ?? '').includes(`pid=${op.pid},`)).map((f) => f[3]!.split(':').pop()));
  return lines.some((f) => f[3]?.endsWith(`:${port}`) && mine.has(f[4]?.split(':').pop()) && Number(f[1]) > 0);
}

async function pushes(op: OperatorProcess, result: string): Promise<number> {
  const { metricsUrl } = await op.endpoints();
  return metricValue((await scrape(metricsUrl)).samples, 'lbc_rendered_config_pushes_total', { pool: P, result }) ?? 0;
}

describe('C3 the integrated registry killed', () => {
  it('during a push and during a build: the push is retried, the build retried within its limit, the pool converges', async () => {
    const t0 = Date.now();
    const first = await sc.firstImage({ '/etc/chaos/motd': 'registry one\n' });
    const handoffs = watchHandOffs(s.ns, P);

    // During a push.
    const failedBefore = await pushes(sc.op, 'failed');
    await signal('image_registry', 'STOP');
    const files2 = { '/etc/chaos/motd': 'registry two\n' };
    await sc.setConfig(ignitionOf(files2));
    await waitFor(() => requestInFlight(sc.op), { what: "the operator's push request waiting in the frozen registry", timeoutMs: 60_000, intervalMs: 100 });
    const t1 = Date.now();
    await signal('image_registry', 'KILL');
    await startComponent('image_registry');
    const pushDownMs = Date.now() - t1;
    const second = await waitHandedOff(s.ns, P, (x) => x.image !== first.image, 'the image of the second config');
    const pushConvergedMs = Date.now() - t1;
    const failedPushes = (await pushes(sc.op, 'failed')) - failedBefore;

    // During a build.
    const files3 = { '/etc/chaos/motd': 'registry three\n' };
    const earlier = new Set((await builds(s.ns, P)).map((b) => b.name));
    await sc.setConfig(ignitionOf(files3));
    const running = await waitFor(async () => (await builds(s.ns, P)).find((b) => b.phase === 'Running' && !earlier.has(b.name)), {
      what: 'the third Build Running',
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const t2 = Date.now();
    await signal('image_registry', 'KILL');
    const left = await waitFor(async () => (await builds(s.ns, P)).find((b) => b.name === running.name && b.phase !== 'Running'), { what: `${running.name} no longer Running`, timeoutMs: 180_000, intervalMs: 200 });
    const buildDownMs = Date.now() - t2;
    await startComponent('image_registry');
    const third = await waitHandedOff(s.ns, P, (x) => x.image !== second.image, 'the image of the third config');
    const buildConvergedMs = Date.now() - t2;
    await handoffs.stop();

    const bs = await builds(s.ns, P);
    const ofThird = bs.filter((b) => b.fingerprint === running.fingerprint);
    printFigures('C3 integrated registry SIGKILL during a push and during a build', [
      ['push: failed pushes counted by the operator', failedPushes],
      ['push: registry down (kill to ready)', seconds(pushDownMs)],
      ['push: kill to new image handed off', seconds(pushConvergedMs)],
      ['build: killed while', `${running.name} Running`],
      ['build: registry down until the Build left Running', `${seconds(buildDownMs)} (${left.phase}${left.reason ? `, ${left.reason}` : ''})`],
      ['build: attempts of the inputs', ofThird.map((b) => `${b.name.split('-').pop()}:${b.phase}`).join(' ')],
      ['build: kill to new image handed off', seconds(buildConvergedMs)],
      ['hand-offs seen', handoffs.records.length],
      ['hand-offs of a Build not Complete', handoffs.notComplete().length],
      ['time in all', seconds(Date.now() - t0)],
    ]);

    expect(failedPushes).toBeGreaterThanOrEqual(1);
    expect(handoffs.notComplete()).toEqual([]);
    expect(ofThird.filter((b) => b.phase === 'Complete')).toHaveLength(1);
    expect(ofThird.length).toBeLessThanOrEqual(2); // --retry-limit 2 (the scenario's)
    expect(third.image).toMatch(new RegExp(`@${ofThird.find((b) => b.phase === 'Complete')!.digest}$`));
    expect(bs.filter((b) => b.phase === 'Complete')).toHaveLength(3);
    expect(Object.fromEntries(await readImageFiles(third.image!, Object.keys(files3)))).toEqual(files3);
    expect(sc.op.alive()).toBe(true);
  });
});
