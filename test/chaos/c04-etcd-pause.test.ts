// C4 etcd paused for 10 s (SIGSTOP, then SIGCONT: the pause is the fault)
// right after a MachineConfig change: every API request hangs meanwhile. The
// operator lives through it and builds the new inputs once; the API server is
// ready again afterwards.
import { afterAll, describe, expect, it } from 'vitest';
import { builds, ignitionOf } from '../harness/operator.ts';
import { readImageFiles, scenario, waitHandedOff } from '../e2e/support.ts';
import { clusterStatus, duplicateBuilds, printFigures, restoreCluster, seconds, signal, watchHandOffs } from './support.ts';

const sc = scenario('c4');
const { s, P } = sc;
const PAUSE_MS = 10_000;

afterAll(async () => {
  expect((await restoreCluster()).ready).toBe(true);
});

describe('C4 etcd paused 10 s', () => {
  it('after a config change: the operator survives, one build of the new inputs, the pool converges', async () => {
    const t0 = Date.now();
    const first = await sc.firstImage({ '/etc/chaos/motd': 'etcd one\n' });
    const handoffs = watchHandOffs(s.ns, P);
    const files = { '/etc/chaos/motd': 'etcd two\n' };
    await sc.setConfig(ignitionOf(files));

    await signal('etcd', 'STOP');
    const pausedAt = Date.now();
    try {
      await new Promise((r) => setTimeout(r, PAUSE_MS)); // the fault: etcd frozen this long
    } finally {
      await signal('etcd', 'CONT');
    }
    const pausedMs = Date.now() - pausedAt;
    const st = await waitHandedOff(s.ns, P, (x) => x.image !== first.image, 'the new image after the etcd pause');
    const convergedMs = Date.now() - pausedAt - pausedMs;
    await handoffs.stop();
    const bs = await builds(s.ns, P);
    const cluster = await clusterStatus();
    printFigures('C4 etcd SIGSTOP 10 s / SIGCONT after a config change', [
      ['etcd paused', seconds(pausedMs)],
      ['resume to new image handed off and rendered', seconds(convergedMs)],
      ['Builds', bs.map((b) => `${b.kind}:${b.phase}`).join(' ')],
      ['duplicate Builds per fingerprint', duplicateBuilds(bs).length],
      ['hand-offs of a Build not Complete', handoffs.notComplete().length],
      ['operator errors logged', sc.op.errors().length],
      ['time in all', seconds(Date.now() - t0)],
    ]);

    expect(sc.op.alive()).toBe(true);
    expect(cluster.ready).toBe(true);
    expect(duplicateBuilds(bs)).toEqual([]);
    expect(bs.map((b) => b.phase)).toEqual(['Complete', 'Complete']);
    expect(st.image).toMatch(new RegExp(`@${bs[1]!.digest}$`));
    expect(handoffs.notComplete()).toEqual([]);
    expect(Object.fromEntries(await readImageFiles(st.image!, Object.keys(files)))).toEqual(files);
  });
});
