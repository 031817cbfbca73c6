// C3 faults of the cluster's components, one after the other on one pool and
// one operator process (never restarted), each while the pool moves to a new
// MachineConfig (so each needs a push and a build), each ending when the new
// image is handed off and rendered, checked from outside:
//   a. kube-apiserver SIGKILLed while the Build runs, started again by the driver;
//   b. the integrated registry killed during the operator's rendered-config push
//      (frozen with SIGSTOP first: the push request reaches its socket and waits
//      there unread; then SIGKILL and start): the push fails and is retried;
//   c. the integrated registry SIGKILLed while the Build runs (it pulls its base
//      and pushes its output there), started again at once: at most
//      --retry-limit attempts, one Complete;
//   d. etcd paused 10 s (SIGSTOP/SIGCONT) right after the change;
//   e. 1,000 events on the pool in 10 s (annotation merge patches), the config
//      changed halfway: one build, on the final inputs; few status writes.
// Through all of it, every hand-off MachineConfig value is watched: each names
// the output of a Complete Build. The outside registry (LOCAL_REGISTRY) is not
// faulted.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { internalRegistryHost, kubectl, waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf, metricValue, scrape, type BuildInfo, type OperatorProcess } from '../harness/operator.ts';
import { readImageFiles, scenario, waitHandedOff, type LayeredPoolStatus } from '../e2e/support.ts';
import { clusterStatus, countWrites, duplicateBuilds, mergePatcher, printFigures, restoreCluster, seconds, signal, startComponent, watchHandOffs } from './support.ts';

const sc = scenario('c3', { sweep: false });
const { s, P, source } = sc;
let handoffs: ReturnType<typeof watchHandOffs>;
let current: LayeredPoolStatus & { rendered: string };
let step = 0;

beforeAll(async () => {
  current = await sc.firstImage({ '/etc/chaos/motd': 'faults 0\n' });
  handoffs = watchHandOffs(s.ns, P);
});

afterAll(async () => {
  await handoffs?.stop();
  expect((await restoreCluster()).ready).toBe(true);
});

/** The next MachineConfig's files (one per step). */
function nextFiles(): Record<string, string> {
  return { '/etc/chaos/motd': `faults ${++step}\n` };
}

/** The Builds made since `before` (names), oldest first. */
async function newBuilds(before: ReadonlySet<string>): Promise<BuildInfo[]> {
  return (await builds(s.ns, P)).filter((b) => !before.has(b.name));
}

async function buildNames(): Promise<Set<string>> {
  return new Set((await builds(s.ns, P)).map((b) => b.name));
}

/** Waits for the image after `current`, handed off and rendered; checks it holds `files` and is the output of the one Complete new Build. */
async function converged(files: Record<string, string>, before: ReadonlySet<string>, what: string): Promise<BuildInfo[]> {
  const prev = current.image;
  current = await waitHandedOff(s.ns, P, (x) => x.image !== prev, what);
  const fresh = await newBuilds(before);
  const complete = fresh.filter((b) => b.phase === 'Complete');
  expect(complete).toHaveLength(1);
  expect(current.image).toMatch(new RegExp(`@${complete[0]!.digest}$`));
  expect(Object.fromEntries(await readImageFiles(current.image!, Object.keys(files)))).toEqual(files);
  expect(duplicateBuilds(fresh.filter((b) => b.phase === 'Complete'))).toEqual([]);
  expect(handoffs.notComplete()).toEqual([]);
  expect(sc.op.alive()).toBe(true);
  return fresh;
}

const runningNewBuild = (before: ReadonlySet<string>) =>
  waitFor(async () => (await newBuilds(before)).find((b) => b.phase === 'Running'), { what: 'the new Build Running', timeoutMs: 120_000, intervalMs: 100 });

function ss(): Promise<string> {
  return new Promise((resolve, reject) => execFile('ss', ['-Htnp'], (e, out) => (e ? reject(e) : resolve(out))));
}

/** Whether the registry's end of one of `op`'s connections to it holds request bytes it has not read (the registry is frozen). */
async function requestInFlight(op: OperatorProcess): Promise<boolean> {
  const port = internalRegistryHost().split(':')[1]!;
  // State Recv-Q Send-Q Local Peer [users]
  const lines = (await ss()).split('\n').map((l) => l.trim().split(/\s+/));
  const mine = new Set(lines.filter((f) => f[4]?.endsWith(`:${port}`) && (f[5] ?? '').includes(`pid=${op.pid},`)).map((f) => f[3]!.split(':').pop()));
  return lines.some((f) => f[3]?.endsWith(`:${port}`) && mine.has(f[4]?.split(':').pop()) && Number(f[1]) > 0);
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const { metricsUrl } = await sc.op.endpoints();
  const samples = (await scrape(metricsUrl)).samples;
  return Object.keys(labels).length ? (metricValue(samples, name, labels) ?? 0) : samples.filter((x) => x.name === name).reduce((a, x) => a + x.value, 0);
}

describe('C3 component faults on one pool', () => {
  it('a. kube-apiserver SIGKILLed mid-build and restarted: the operator reconnects and hands off the one Complete Build', async () => {
    const t0 = Date.now();
    const before = await buildNames();
    const restartsBefore = await metric('lbc_informer_restarts_total');
    const files = nextFiles();
    await sc.setConfig(ignitionOf(files));
    const running = await runningNewBuild(before);
    const killedAt = Date.now();
    await signal('kube_apiserver', 'KILL');
    await startComponent('kube_apiserver');
    const downMs = Date.now() - killedAt;
    const fresh = await converged(files, before, 'the image after the API server restart');
    const restarts = (await metric('lbc_informer_restarts_total')) - restartsBefore;
    printFigures('C3a kube-apiserver SIGKILL + restart mid-build', [
      ['killed while', `${running.name} Running`],
      ['API server down (kill to ready)', seconds(downMs)],
      ['kill to new image handed off and rendered', seconds(Date.now() - killedAt)],
      ['operator informer restarts', restarts],
      ['Builds of the step', fresh.map((b) => `${b.name.split('-').slice(-2).join('-')}:${b.phase}`).join(' ')],
      ['hand-offs of a Build not Complete', handoffs.notComplete().length],
      ['time of the step', seconds(Date.now() - t0)],
    ]);
    expect(fresh.map((b) => [b.name, b.phase])).toEqual([[running.name, 'Complete']]);
    expect(restarts).toBeGreaterThan(0);
    expect(await metric('lbc_cache_synced')).toBe(1);
  });

  it('b. the integrated registry killed during the rendered-config push: the push fails, is retried, the pool converges', async () => {
    const t0 = Date.now();
    const before = await buildNames();
    const failedBefore = await metric('lbc_rendered_config_pushes_total', { pool: P, result: 'failed' });
    await signal('image_registry', 'STOP');
    const files = nextFiles();
    await sc.setConfig(ignitionOf(files));
    await waitFor(() => requestInFlight(sc.op), { what: "the operator's push request waiting in the frozen registry", timeoutMs: 60_000, intervalMs: 100 });
    const killedAt = Date.now();
    await signal('image_registry', 'KILL');
    await startComponent('image_registry');
    const downMs = Date.now() - killedAt;
    const fresh = await converged(files, before, 'the image after the push was retried');
    const failed = (await metric('lbc_rendered_config_pushes_total', { pool: P, result: 'failed' })) - failedBefore;
    printFigures('C3b integrated registry SIGKILL during the push', [
      ['failed pushes (operator metric)', failed],
      ['registry down (kill to ready)', seconds(downMs)],
      ['kill to new image handed off and rendered', seconds(Date.now() - killedAt)],
      ['Builds of the step', fresh.map((b) => `${b.name.split('-').slice(-2).join('-')}:${b.phase}`).join(' ')],
      ['time of the step', seconds(Date.now() - t0)],
    ]);
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(fresh.map((b) => b.phase)).toEqual(['Complete']);
  });

  it('c. the integrated registry SIGKILLed during the build: at most --retry-limit attempts, one Complete, the pool converges', async () => {
    const t0 = Date.now();
    const before = await buildNames();
    const files = nextFiles();
    await sc.setConfig(ignitionOf(files));
    const running = await runningNewBuild(before);
    const killedAt = Date.now();
    await signal('image_registry', 'KILL');
    await startComponent('image_registry');
    const downMs = Date.now() - killedAt;
    const fresh = await converged(files, before, 'the image after the registry came back');
    printFigures('C3c integrated registry SIGKILL during the build', [
      ['killed while', `${running.name} Running`],
      ['registry down (kill to ready)', seconds(downMs)],
      ['kill to new image handed off and rendered', seconds(Date.now() - killedAt)],
      ['attempts of the inputs', fresh.map((b) => `${b.name.split('-').pop()}:${b.phase}${b.reason ? ` (${b.reason})` : ''}`).join(' ')],
      ['time of the step', seconds(Date.now() - t0)],
    ]);
    expect(new Set(fresh.map((b) => b.fingerprint)).size).toBe(1);
    expect(fresh.length).toBeLessThanOrEqual(2); // the scenario's --retry-limit 2
    expect(fresh.at(-1)!.phase).toBe('Complete');
  });

  it('d. etcd paused 10 s (SIGSTOP/SIGCONT) after a change: the operator survives, one build, the pool converges', async () => {
    const t0 = Date.now();
    const before = await buildNames();
    const files = nextFiles();
    await sc.setConfig(ignitionOf(files));
    await signal('etcd', 'STOP');
    const pausedAt = Date.now();
    try {
      await new Promise((r) => setTimeout(r, 10_000)); // the fault itself: etcd frozen for 10 s
    } finally {
      await signal('etcd', 'CONT');
    }
    const resumedAt = Date.now();
    const fresh = await converged(files, before, 'the image after the etcd pause');
    printFigures('C3d etcd SIGSTOP 10 s, SIGCONT', [
      ['etcd paused', seconds(resumedAt - pausedAt)],
      ['resume to new image handed off and rendered', seconds(Date.now() - resumedAt)],
      ['Builds of the step', fresh.map((b) => `${b.name.split('-').slice(-2).join('-')}:${b.phase}`).join(' ')],
      ['time of the step', seconds(Date.now() - t0)],
    ]);
    expect(fresh.map((b) => b.phase)).toEqual(['Complete']);
    expect((await clusterStatus()).ready).toBe(true);
  });

  it('e. 1,000 events on the pool in 10 s, the config changed halfway: one build on the final inputs, few status writes', async () => {
    const EVENTS = 1000;
    const WINDOW_MS = 10_000;
    const TICKS = 100;
    const t0 = Date.now();
    const before = await buildNames();
    const reconcilesBefore = await metric('lbc_reconcile_total');
    const writes = countWrites(s.ns, P);
    const files = nextFiles();
    const patcher = await mergePatcher(`/apis/machineconfiguration.openshift.io/v1/machineconfigpools/${P}`);
    let sent = 0;
    let changedAt = 0;
    const stormAt = Date.now();
    try {
      for (let tick = 0; tick < TICKS; tick++) {
        // The load's pacing (10 patches each 100 ms), not a wait for a condition.
        const due = stormAt + (tick * WINDOW_MS) / TICKS;
        if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
        const batch: Promise<unknown>[] = [];
        for (let j = 0; j < EVENTS / TICKS; j++) {
          const i = tick * (EVENTS / TICKS) + j;
          batch.push(patcher.patch({ metadata: { annotations: { 'chaos.layering.mco.dev/seq': String(i) } } }).then(() => sent++));
        }
        if (tick === TICKS / 2) {
          changedAt = Date.now() - stormAt;
          batch.push(kubectl(['patch', 'machineconfig', source, '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/config', value: ignitionOf(files) }])]));
        }
        await Promise.all(batch);
      }
    } finally {
      patcher.close();
    }
    const stormMs = Date.now() - stormAt;
    const fresh = await converged(files, before, 'the image of the final inputs');
    writes.stop();
    const reconciles = (await metric('lbc_reconcile_total')) - reconcilesBefore;
    const seq = (await kubectl(['get', 'mcp', P, '-o', 'jsonpath={.metadata.annotations.chaos\\.layering\\.mco\\.dev/seq}'])).stdout;
    printFigures('C3e 1,000 pool events in 10 s, config change halfway', [
      ['events sent (annotation merge patches)', sent],
      ['storm duration', seconds(stormMs)],
      ['config change sent at', seconds(changedAt)],
      ['storm start to new image handed off and rendered', seconds(Date.now() - stormAt)],
      ['operator reconciles', reconciles],
      ['LayeredPool writes (status)', writes.count()],
      ['Builds of the step', fresh.map((b) => `${b.name.split('-').slice(-2).join('-')}:${b.phase}`).join(' ')],
      ['time of the step', seconds(Date.now() - t0)],
    ]);
    expect(sent).toBe(EVENTS);
    // The last batch's patches are concurrent: any of them may be the last applied.
    expect(Number(seq)).toBeGreaterThanOrEqual(EVENTS - EVENTS / TICKS);
    expect(fresh.map((b) => b.phase)).toEqual(['Complete']);
    // The status changes with the phase (Waiting, Building, Ready, the rollout), not with each event.
    expect(writes.count()).toBeGreaterThan(0);
    expect(writes.count()).toBeLessThanOrEqual(40);
  });

  it('the hand-offs through all faults: each names the output of a Complete Build', () => {
    printFigures('C3 hand-offs', [
      ['hand-offs seen', handoffs.records.length],
      ['hand-offs of a Build not Complete', handoffs.notComplete().length],
    ]);
    expect(handoffs.records.length).toBeGreaterThanOrEqual(5);
    expect(handoffs.notComplete()).toEqual([]);
  });
});
