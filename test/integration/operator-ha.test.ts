// Two real operator processes with leader election on the real API server:
// exactly one leads (its lbc_leader metric and the Lease's holderIdentity), both
// are live and ready; /metrics parsed after a first setup; kill -9 of the leader
// and the standby takes over once the Lease expires (the failover time is
// measured and printed, never asserted); SIGTERM on a leader: it exits 0,
// releases the Lease, and a standby takes over at once.
//
// Isolation: a namespace of its own (so its own Lease, streams and builds) and
// an opt-in label of its own, so no other operator on the cluster touches the pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../harness/cluster.ts';
import {
  builds,
  makePool,
  metricValue,
  probe,
  readLease,
  registryTokenFile,
  scrape,
  startOperator,
  uniqueName,
  waitForPoolAnnotation,
  type OperatorOptions,
  type OperatorProcess,
  type TestPool,
} from '../harness/operator.ts';

const ns = uniqueName('lbc-ha');
const optInLabel = `test.layering.mco.dev/${ns}`;
const LEASE = 'layered-build-controller';
const FAST = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };

const started: OperatorProcess[] = [];
let pool: TestPool | undefined;
/** The integrated registry takes only ServiceAccount tokens, authorized per namespace. */
let tokenFile = '';

function replica(name: string): OperatorProcess {
  const o: OperatorOptions = { name, namespace: ns, optInLabel, leaderElect: true, leaseName: LEASE, registryTokenFile: tokenFile, ...FAST };
  const p = startOperator(o);
  started.push(p);
  return p;
}

interface Replica {
  p: OperatorProcess;
  id: string;
  metricsUrl: string;
  probeUrl: string;
}

async function ready(p: OperatorProcess): Promise<Replica> {
  const { metricsUrl, probeUrl } = await p.endpoints();
  await p.waitForLog('caches synced', 90_000);
  const id = await p.identity();
  return { p, id, metricsUrl, probeUrl };
}

async function holder(): Promise<string> {
  return (await readLease(ns, LEASE))?.spec?.holderIdentity ?? '';
}

async function leaderGauge(r: Replica): Promise<number | undefined> {
  return metricValue((await scrape(r.metricsUrl)).samples, 'lbc_leader');
}

/** Polls the Lease (every 25 ms) until `want(holder)`; returns the holder and when it was seen. */
async function watchLease(want: (h: string) => boolean, timeoutMs = 60_000): Promise<{ holder: string; at: number; seen: string[] }> {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await holder();
    if (seen[seen.length - 1] !== h) seen.push(h);
    if (want(h)) return { holder: h, at: Date.now(), seen };
    if (Date.now() > deadline) throw new Error(`Lease ${ns}/${LEASE}: holder still ${JSON.stringify(h)} after ${timeoutMs} ms (seen ${JSON.stringify(seen)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let a: Replica;
let b: Replica;
let leader: Replica;
let standby: Replica;

beforeAll(async () => {
  await kubectl(['create', 'namespace', ns]);
  tokenFile = await registryTokenFile(ns);
  [a, b] = await Promise.all([ready(replica('replica-a')), ready(replica('replica-b'))]);
}, 180_000);

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop()));
  await pool?.cleanup();
  await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
}, 120_000);

describe('two replicas with leader election', () => {
  it('exactly one leads: the Lease holder, lbc_leader 1 there and 0 on the standby; both live and ready', async () => {
    const { holder: h } = await watchLease((x) => x === a.id || x === b.id);
    [leader, standby] = h === a.id ? [a, b] : [b, a];
    await leader.p.waitForLog('leading: reconciling pools', 30_000);
    expect(await waitFor(async () => ((await leaderGauge(leader)) === 1 ? 1 : undefined), { what: 'lbc_leader 1 on the leader' })).toBe(1);
    expect(await leaderGauge(standby)).toBe(0);

    // Three renewals later (observed on the Lease) nothing changed: still one leader, the standby never led.
    const renewals = new Set<string>();
    await waitFor(
      async () => {
        const l = await readLease(ns, LEASE);
        if (l?.spec?.holderIdentity === leader.id) renewals.add(String(l.spec.renewTime));
        return renewals.size > 3;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'three renewals of the Lease by the leader' },
    );
    expect(await holder()).toBe(leader.id);
    expect(await leaderGauge(standby)).toBe(0);
    expect(standby.p.logs.some((l) => l.msg === 'leading: reconciling pools')).toBe(false);
    const lease = await readLease(ns, LEASE);
    expect(lease?.spec?.leaseDurationSeconds).toBe(FAST.leaseDurationMs / 1000);

    for (const r of [leader, standby]) {
      expect(await probe(r.probeUrl, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
      // The standby is ready once it has read the Lease (it could take over).
      const rz = await waitFor(async () => {
        const x = await probe(r.probeUrl, '/readyz');
        return x.status === 200 ? x : undefined;
      }, { timeoutMs: 30_000, what: `/readyz 200 on ${r.p.name}` });
      expect(rz.body).toBe('ok\n');
      expect(metricValue((await scrape(r.metricsUrl)).samples, 'lbc_cache_synced')).toBe(1);
    }
  });

  it('/metrics after a first setup: reconciles, builds, pushes, queue, leader and process metrics', { timeout: 420_000 }, async () => {
    pool = await makePool({ optInLabel });
    const image = await waitForPoolAnnotation(pool.pool, undefined, 360_000);
    expect(image).toContain(`/${ns}/${pool.pool}-mco-content@sha256:`);
    const P = { pool: pool.pool };

    // The success of the build is counted in the reconcile that hands the image off.
    const m = await waitFor(
      async () => {
        const s = await scrape(leader.metricsUrl);
        return metricValue(s.samples, 'lbc_builds_total', { ...P, kind: 'content', event: 'succeeded' }) === 1 ? s : undefined;
      },
      { timeoutMs: 60_000, what: 'lbc_builds_total{event="succeeded"} 1' },
    );
    expect(m.status).toBe(200);
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const v = (name: string, labels: Record<string, string> = {}) => metricValue(m.samples, name, labels);

    // Types as declared.
    for (const [name, type] of [
      ['lbc_reconcile_total', 'counter'],
      ['lbc_reconcile_duration_seconds', 'histogram'],
      ['lbc_builds_total', 'counter'],
      ['lbc_build_duration_seconds', 'histogram'],
      ['lbc_rendered_config_pushes_total', 'counter'],
      ['lbc_rendered_config_push_bytes_total', 'counter'],
      ['lbc_workqueue_depth', 'gauge'],
      ['lbc_workqueue_adds_total', 'counter'],
      ['lbc_workqueue_retries_total', 'counter'],
      ['lbc_workqueue_wait_seconds', 'histogram'],
      ['lbc_workqueue_work_duration_seconds', 'histogram'],
      ['lbc_informer_restarts_total', 'counter'],
      ['lbc_leader', 'gauge'],
      ['lbc_cache_synced', 'gauge'],
    ] as const) {
      expect(m.types.get(name), name).toBe(type);
    }

    // Reconciles: some succeeded; every one was timed.
    const reconciles = (v('lbc_reconcile_total') ?? 0);
    expect(v('lbc_reconcile_total', { result: 'success' })).toBeGreaterThanOrEqual(1);
    expect(v('lbc_reconcile_duration_seconds_count')).toBe(reconciles);
    expect(v('lbc_reconcile_duration_seconds_sum')).toBeGreaterThan(0);
    // One content build: started once, succeeded once, never failed; its duration observed once.
    expect(v('lbc_builds_total', { ...P, kind: 'content', event: 'started' })).toBe(1);
    // (Once a kind has started, its other events are exported at 0, so rate() alerts see a series.)
    expect(v('lbc_builds_total', { ...P, kind: 'content', event: 'failed' })).toBe(0);
    expect(v('lbc_builds_total', { ...P, kind: 'content', event: 'cancelled' })).toBe(0);
    expect(v('lbc_builds_total', { ...P, kind: 'custom' })).toBeUndefined();
    expect(v('lbc_build_duration_seconds_count', { ...P, kind: 'content' })).toBe(1);
    expect(v('lbc_build_duration_seconds_sum', { ...P, kind: 'content' })).toBeGreaterThanOrEqual(0);
    // The rendered-config image: pushed once, with its bytes.
    expect(v('lbc_rendered_config_pushes_total', { ...P, result: 'pushed' })).toBe(1);
    expect(v('lbc_rendered_config_push_bytes_total', P)).toBeGreaterThan(0);
    // The queue moved keys, and is drained once idle.
    expect(v('lbc_workqueue_adds_total')).toBeGreaterThanOrEqual(1);
    expect(v('lbc_workqueue_wait_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(v('lbc_workqueue_depth')).toBeGreaterThanOrEqual(0);
    expect(v('lbc_leader')).toBe(1);
    expect(v('lbc_cache_synced')).toBe(1);
    // Node's process metrics.
    expect(v('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(v('process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(v('process_start_time_seconds')).toBeGreaterThan(1_600_000_000);
    expect(v('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(v('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(m.samples.some((s) => s.name === 'nodejs_version_info' && s.labels.major === '24')).toBe(true);

    // The standby did no work: no reconcile, no build counted there.
    const sb = await scrape(standby.metricsUrl);
    expect(metricValue(sb.samples, 'lbc_reconcile_total') ?? 0).toBe(0);
    expect(metricValue(sb.samples, 'lbc_builds_total') ?? 0).toBe(0);
    expect(metricValue(sb.samples, 'lbc_leader')).toBe(0);
    expect(await builds(ns, pool.pool, 'content')).toHaveLength(1);
  });

  it('kill -9 of the leader: the standby takes over once the Lease expires (failover time printed)', { timeout: 120_000 }, async () => {
    const before = await readLease(ns, LEASE);
    expect(before?.spec?.holderIdentity).toBe(leader.id);
    const killedAt = Date.now();
    leader.p.kill('SIGKILL');
    const { at, seen } = await watchLease((h) => h === standby.id, 60_000);
    const failoverMs = at - killedAt;
    const exit = await leader.p.exited;
    expect(exit.signal).toBe('SIGKILL');
    console.log(
      `[operator-ha] failover after kill -9: ${failoverMs} ms from the kill to the standby holding the Lease ` +
        `(lease duration ${FAST.leaseDurationMs} ms, retry period ${FAST.retryPeriodMs} ms; holders seen ${JSON.stringify(seen)})`,
    );
    // It took over an expired Lease, not a released one.
    const takeover = await standby.p.waitForLog('taking over the lease', 10_000);
    expect(takeover.previous).toBe(leader.id);
    await standby.p.waitForLog('leading: reconciling pools', 10_000);
    expect(await waitFor(async () => ((await leaderGauge(standby)) === 1 ? 1 : undefined), { what: 'lbc_leader 1 on the new leader' })).toBe(1);
    const after = await readLease(ns, LEASE);
    expect(after?.spec?.leaseTransitions).toBe((before?.spec?.leaseTransitions ?? 0) + 1);

    // The new leader reconciles the pool from its warm cache and builds nothing again.
    await waitFor(async () => ((metricValue((await scrape(standby.metricsUrl)).samples, 'lbc_reconcile_total', { result: 'success' }) ?? 0) >= 1 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'a reconcile on the new leader',
    });
    expect(metricValue((await scrape(standby.metricsUrl)).samples, 'lbc_builds_total', { event: 'started' }) ?? 0).toBe(0);
    expect(await builds(ns, pool!.pool, 'content')).toHaveLength(1);
    [leader, standby] = [standby, leader];
  });

  it('SIGTERM on the leader: it exits 0 and releases the Lease; the standby takes over at once', { timeout: 300_000 }, async () => {
    // A fresh standby for the current leader.
    const c = await ready(replica('replica-c'));
    await waitFor(async () => ((await probe(c.probeUrl, '/readyz')).status === 200 ? true : undefined), { timeoutMs: 90_000, what: '/readyz on replica-c' });
    expect(await leaderGauge(c)).toBe(0);
    expect(await holder()).toBe(leader.id);

    const termAt = Date.now();
    leader.p.kill('SIGTERM');
    const { at, seen } = await watchLease((h) => h === c.id, 60_000);
    const handoverMs = at - termAt;
    const exit = await leader.p.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    console.log(
      `[operator-ha] hand-over after SIGTERM: ${handoverMs} ms from the signal to the standby holding the Lease ` +
        `(lease duration ${FAST.leaseDurationMs} ms; holders seen ${JSON.stringify(seen)})`,
    );
    // The old leader released it (holder emptied), and the standby took over a released Lease, not an expired one.
    expect(leader.p.logs.some((l) => l.msg === 'released the leader lease')).toBe(true);
    expect(leader.p.logs.some((l) => l.msg === 'stopped')).toBe(true);
    const takeover = await c.p.waitForLog('taking over the lease', 10_000);
    expect(takeover.previous).toBe('');
    await c.p.waitForLog('leading: reconciling pools', 10_000);
    expect(await waitFor(async () => ((await leaderGauge(c)) === 1 ? 1 : undefined), { what: 'lbc_leader 1 on replica-c' })).toBe(1);
    expect(await builds(ns, pool!.pool, 'content')).toHaveLength(1);

    // And replica-c also exits 0 on SIGTERM and leaves the Lease released.
    const last = await c.p.stop();
    expect(last).toEqual({ code: 0, signal: null });
    expect(await holder()).toBe('');
  });
});
