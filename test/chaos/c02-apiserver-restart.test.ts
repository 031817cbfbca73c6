// C2 kube-apiserver SIGKILLed while a Build runs, and started again by the
// driver: the operator (never restarted) re-establishes its watches, the build
// goes on, the pool gets the new image; one Complete Build for the inputs.
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf, metricValue, scrape } from '../harness/operator.ts';
import { readImageFiles, scenario, waitHandedOff } from '../e2e/support.ts';
import { printFigures, restoreCluster, seconds, signal, startComponent, watchHandOffs } from './support.ts';

const sc = scenario('c2');
const { s, P } = sc;

afterAll(async () => {
  expect((await restoreCluster()).ready).toBe(true);
});

describe('C2 kube-apiserver killed and restarted', () => {
  it('mid-build: the operator lives on, reconnects, and hands off the one Complete Build of the new inputs', async () => {
    const t0 = Date.now();
    const first = await sc.firstImage({ '/etc/chaos/motd': 'apiserver one\n' });
    const handoffs = watchHandOffs(s.ns, P);
    const files = { '/etc/chaos/motd': 'apiserver two\n' };
    await sc.setConfig(ignitionOf(files));
    const running = await waitFor(async () => (await builds(s.ns, P)).find((b) => b.phase === 'Running'), { what: 'the new Build Running', timeoutMs: 120_000, intervalMs: 200 });

    const killedAt = Date.now();
    await signal('kube_apiserver', 'KILL');
    const startMs = await startComponent('kube_apiserver');
    const downMs = Date.now() - killedAt;

    const st = await waitHandedOff(s.ns, P, (x) => x.image !== first.image, 'the new image after the API server restart');
    const convergedMs = Date.now() - killedAt;
    await handoffs.stop();
    const bs = (await builds(s.ns, P)).filter((b) => b.fingerprint === running.fingerprint);
    const { metricsUrl } = await sc.op.endpoints();
    const restarts = (await scrape(metricsUrl)).samples.filter((x) => x.name === 'lbc_informer_restarts_total').reduce((a, x) => a + x.value, 0);
    printFigures('C2 kube-apiserver SIGKILL + restart mid-build', [
      ['API server down (kill to ready)', seconds(downMs)],
      ['driver start until ready', seconds(startMs)],
      ['kill to new image handed off and rendered', seconds(convergedMs)],
      ['operator informer restarts', restarts],
      ['Builds of the new inputs', bs.map((b) => `${b.name}:${b.phase}`).join(' ')],
      ['hand-offs of a Build not Complete', handoffs.notComplete().length],
      ['time in all', seconds(Date.now() - t0)],
    ]);

    expect(sc.op.alive()).toBe(true);
    expect(bs.filter((b) => b.phase === 'Complete')).toHaveLength(1);
    expect(bs.filter((b) => b.phase === 'Complete')[0]!.name).toBe(running.name);
    expect(st.image).toMatch(new RegExp(`@${bs.find((b) => b.phase === 'Complete')!.digest}$`));
    expect(handoffs.notComplete()).toEqual([]);
    expect(Object.fromEntries(await readImageFiles(st.image!, Object.keys(files)))).toEqual(files);
    expect(metricValue((await scrape(metricsUrl)).samples, 'lbc_cache_synced')).toBe(1);
  });
});
