// C6 1,000 events on one pool in 10 s: merge patches of an annotation of the
// pool (each one a watch event for the operator, and for MCC), 100 per second,
// with the source MachineConfig changed halfway. One build, on the final
// inputs; the operator's status writes stay few (counted by a watch on its
// LayeredPool object), far below one per event.
import { PatchStrategy } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { kubectl, objectApi } from '../harness/cluster.ts';
import { builds, ignitionOf, metricValue, scrape } from '../harness/operator.ts';
import { readImageFiles, scenario, waitHandedOff } from '../e2e/support.ts';
import { countWrites, printFigures, restoreCluster, seconds, watchHandOffs } from './support.ts';

const sc = scenario('c6');
const { s, P, source } = sc;
const EVENTS = 1000;
const WINDOW_MS = 10_000;
const MAX_STATUS_WRITES = 40;

afterAll(async () => {
  expect((await restoreCluster()).ready).toBe(true);
});

describe('C6 1,000 events on one pool in 10 s', () => {
  it('one build on the final inputs, a bounded number of status writes', async () => {
    const t0 = Date.now();
    const first = await sc.firstImage({ '/etc/chaos/motd': 'storm one\n' });
    const before = new Set((await builds(s.ns, P)).map((b) => b.name));
    const { metricsUrl } = await sc.op.endpoints();
    const reconcilesBefore = metricValue((await scrape(metricsUrl)).samples, 'lbc_reconcile_total') ?? 0;
    const writes = countWrites(s.ns, P);
    const handoffs = watchHandOffs(s.ns, P);
    const files = { '/etc/chaos/motd': 'storm two\n' };

    const api = objectApi();
    const patch = (i: number) =>
      api.patch(
        { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', metadata: { name: P, annotations: { 'chaos.layering.mco.dev/seq': String(i) } } },
        undefined,
        undefined,
        'lbc-chaos',
        undefined,
        PatchStrategy.MergePatch,
      );
    // The load: 10 patches every 10th of a second (a pacing of the load, not a wait for a condition).
    const stormAt = Date.now();
    let sent = 0;
    let configChanged = 0;
    for (let tick = 0; tick < EVENTS / 10; tick++) {
      const due = stormAt + (tick * WINDOW_MS) / (EVENTS / 10);
      if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
      const batch: Promise<unknown>[] = [];
      for (let j = 0; j < 10; j++) batch.push(patch(tick * 10 + j).then(() => sent++));
      if (tick === EVENTS / 20) {
        configChanged = Date.now() - stormAt;
        batch.push(kubectl(['patch', 'machineconfig', source, '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/config', value: ignitionOf(files) }])]));
      }
      await Promise.all(batch);
    }
    const stormMs = Date.now() - stormAt;

    const st = await waitHandedOff(s.ns, P, (x) => x.image !== first.image, 'the image of the final inputs');
    const convergedMs = Date.now() - stormAt;
    writes.stop();
    await handoffs.stop();
    const reconciles = (metricValue((await scrape(metricsUrl)).samples, 'lbc_reconcile_total') ?? 0) - reconcilesBefore;
    const fresh = (await builds(s.ns, P)).filter((b) => !before.has(b.name));
    const pool = await kubectl(['get', 'mcp', P, '-o', 'jsonpath={.metadata.annotations.chaos\\.layering\\.mco\\.dev/seq}']);
    printFigures('C6 1,000 pool events in 10 s (config change halfway)', [
      ['events sent (annotation merge patches)', sent],
      ['storm duration', seconds(stormMs)],
      ['config change sent at', seconds(configChanged)],
      ['storm start to new image handed off and rendered', seconds(convergedMs)],
      ['operator reconciles', reconciles],
      ['LayeredPool writes (status)', writes.count()],
      ['Builds started', fresh.map((b) => `${b.name}:${b.phase}`).join(' ')],
      ['hand-offs of a Build not Complete', handoffs.notComplete().length],
      ['time in all', seconds(Date.now() - t0)],
    ]);

    expect(sent).toBe(EVENTS);
    expect(pool.stdout).toBe(String(EVENTS - 1));
    expect(fresh.map((b) => b.phase)).toEqual(['Complete']);
    expect(st.image).toMatch(new RegExp(`@${fresh[0]!.digest}$`));
    expect(Object.fromEntries(await readImageFiles(st.image!, Object.keys(files)))).toEqual(files);
    expect(writes.count()).toBeGreaterThan(0);
    expect(writes.count()).toBeLessThanOrEqual(MAX_STATUS_WRITES);
    expect(handoffs.notComplete()).toEqual([]);
    expect(sc.op.alive()).toBe(true);
  });
});
