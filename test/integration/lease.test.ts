// Leader election on the real API server (the local control plane, or any
// cluster named by KUBECONFIG). Short durations: 3 s lease, 2 s renew
// deadline, 0.5 s retry. Timings are measured and printed, never asserted as
// limits; what is asserted is the protocol: one leader at a time, takeover only
// after expiry when the leader dies, before expiry when it releases, and a
// leader that cannot renew steps down.

import { randomBytes } from 'node:crypto';
import type { KubeConfig} from '@kubernetes/client-node';
import { CoordinationV1Api, RbacAuthorizationV1Api, type V1Lease } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElector, toMillis, type LeaderElectionOptions } from '../../src/leader/lease.ts';
import { impersonating, kubeConfig } from '../harness/cluster.ts';

const NAMESPACE = 'default';
const FAST = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };

let kc: KubeConfig;
let coord: CoordinationV1Api;
const leasesToDelete: string[] = [];

function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000, intervalMs = 50): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function readLease(name: string): Promise<V1Lease | undefined> {
  try {
    return await coord.readNamespacedLease({ name, namespace: NAMESPACE });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

interface Candidate {
  elector: LeaderElector;
  controller: AbortController;
  run: Promise<void>;
  started: number[];
  stopped: number[];
  newLeaders: string[];
  workDoneAt: number | undefined;
}

/** Tracks how many candidates believe they lead at once, across all of them. */
const leading = { now: 0, max: 0 };

function candidate(name: string, id: string, extra: Partial<LeaderElectionOptions> = {}, config = kc): Candidate {
  const c: Candidate = {
    elector: undefined as unknown as LeaderElector,
    controller: new AbortController(),
    run: Promise.resolve(),
    started: [],
    stopped: [],
    newLeaders: [],
    workDoneAt: undefined,
  };
  c.elector = new LeaderElector({
    namespace: NAMESPACE,
    name,
    identity: id,
    kubeConfig: config,
    ...FAST,
    onStartedLeading: async (signal) => {
      c.started.push(Date.now());
      leading.now++;
      leading.max = Math.max(leading.max, leading.now);
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      leading.now--;
      // Pretend to finish in-flight work before the Lease may be released.
      await new Promise((r) => setTimeout(r, 300));
      c.workDoneAt = Date.now();
    },
    onStoppedLeading: () => c.stopped.push(Date.now()),
    onNewLeader: (who) => c.newLeaders.push(who),
    ...extra,
  });
  c.run = c.elector.run(c.controller.signal);
  return c;
}

async function stopAll(...cs: Candidate[]): Promise<void> {
  for (const c of cs) c.controller.abort();
  await Promise.all(cs.map((c) => c.run));
}

beforeAll(() => {
  kc = kubeConfig();
  coord = kc.makeApiClient(CoordinationV1Api);
});

afterAll(async () => {
  for (const name of leasesToDelete) {
    await coord.deleteNamespacedLease({ name, namespace: NAMESPACE }).catch(() => undefined);
  }
});

describe('Lease leader election on the API server', () => {
  it('three candidates: exactly one leads, and everyone sees who', async () => {
    const name = uniqueName('lbc-elect');
    leasesToDelete.push(name);
    leading.now = 0;
    leading.max = 0;
    const cs = [candidate(name, 'cand-a'), candidate(name, 'cand-b'), candidate(name, 'cand-c')];
    const leader = await waitFor('a leader', () => cs.find((c) => c.elector.isLeader()));
    // Watch for a few lease durations: never two leaders, always this one.
    const until = Date.now() + 2 * FAST.leaseDurationMs;
    while (Date.now() < until) {
      expect(cs.filter((c) => c.elector.isLeader()).length).toBe(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(leader.elector.isLeader()).toBe(true);
    expect(leading.max).toBe(1);
    const lease = await readLease(name);
    expect(lease?.spec?.holderIdentity).toBe(leader.elector.identity);
    expect(lease?.spec?.leaseDurationSeconds).toBe(3);
    expect(lease?.spec?.leaseTransitions).toBe(0);
    // It kept renewing (at least once since it acquired, over two lease durations).
    expect(toMillis(lease?.spec?.renewTime)!).toBeGreaterThan(toMillis(lease?.spec?.acquireTime)!);
    for (const c of cs) {
      expect(c.elector.leader()).toBe(leader.elector.identity);
      expect(c.newLeaders).toEqual([leader.elector.identity]);
      expect(c.elector.isHealthy()).toBe(true);
    }
    for (const c of cs) if (c !== leader) expect(c.started).toEqual([]);
    await stopAll(...cs);
    expect(leader.stopped.length).toBe(1);
  });

  it('a leader that dies without releasing is replaced once its Lease has expired', async () => {
    const name = uniqueName('lbc-death');
    leasesToDelete.push(name);
    leading.now = 0;
    leading.max = 0;
    const a = candidate(name, 'dies', { releaseOnCancel: false });
    await waitFor('the first leader', () => a.elector.isLeader());
    const b = candidate(name, 'survives');
    await waitFor('the standby to see the leader', () => b.elector.leader() === 'dies');

    // "Kill" the leader: it stops renewing and does not release.
    a.controller.abort();
    const diedAt = Date.now();
    await a.run;
    const before = await readLease(name);
    expect(before?.spec?.holderIdentity).toBe('dies');
    const lastRenew = toMillis(before?.spec?.renewTime)!;

    await waitFor('the standby to take over', () => b.elector.isLeader(), 30_000);
    const tookOverAt = b.started[0]!;
    const after = await readLease(name);
    expect(after?.spec?.holderIdentity).toBe('survives');
    expect(after?.spec?.leaseTransitions).toBe((before?.spec?.leaseTransitions ?? 0) + 1);
    // Never before the dead leader's Lease expired.
    expect(toMillis(after?.spec?.acquireTime)! - lastRenew).toBeGreaterThan(FAST.leaseDurationMs);
    expect(leading.max).toBe(1);
    console.log(
      `[lease] failover after leader death: ${tookOverAt - diedAt} ms after death, ` +
        `${tookOverAt - lastRenew} ms after its last renewal (lease ${FAST.leaseDurationMs} ms, retry ${FAST.retryPeriodMs} ms)`,
    );
    await stopAll(b);
  });

  it('a graceful shutdown finishes its work, releases the Lease, and the standby takes over at once', async () => {
    const name = uniqueName('lbc-release');
    leasesToDelete.push(name);
    leading.now = 0;
    leading.max = 0;
    // A long lease: taking over before it expires can only be the release.
    const long = { leaseDurationMs: 60_000 };
    const a = candidate(name, 'graceful', long);
    await waitFor('the first leader', () => a.elector.isLeader());
    const b = candidate(name, 'standby', long);
    await waitFor('the standby to see the leader', () => b.elector.leader() === 'graceful');
    const held = await readLease(name);

    a.controller.abort();
    const stopAt = Date.now();
    await a.run;
    const releasedAt = Date.now();
    expect(a.elector.isLeader()).toBe(false);
    expect(a.stopped.length).toBe(1);
    const released = await readLease(name);
    expect(released?.spec?.holderIdentity ?? '').not.toBe('graceful');

    await waitFor('the standby to take over', () => b.elector.isLeader(), 30_000);
    const tookOverAt = b.started[0]!;
    // The old leader's work had finished before the Lease was handed over.
    expect(a.workDoneAt).toBeDefined();
    expect(a.workDoneAt!).toBeLessThanOrEqual(tookOverAt);
    const after = await readLease(name);
    expect(after?.spec?.holderIdentity).toBe('standby');
    expect(after?.spec?.leaseTransitions).toBe((held?.spec?.leaseTransitions ?? 0) + 1);
    // Well before the 60 s lease could have expired: the release did it.
    expect(toMillis(after?.spec?.acquireTime)!).toBeLessThan(toMillis(held?.spec?.renewTime)! + long.leaseDurationMs);
    console.log(
      `[lease] graceful hand-over: release done ${releasedAt - stopAt} ms after shutdown began (incl. 300 ms of work), ` +
        `standby leading ${tookOverAt - releasedAt} ms after the release (lease ${long.leaseDurationMs} ms, retry ${FAST.retryPeriodMs} ms)`,
    );
    await stopAll(b);
  });

  it('a leader that cannot renew steps down at once when the renew deadline passes', async () => {
    const name = uniqueName('lbc-deadline');
    leasesToDelete.push(name);
    const user = uniqueName('lbc-lease-tester');
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: NAMESPACE,
      body: {
        metadata: { name: user },
        rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: NAMESPACE,
      body: {
        metadata: { name: user },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: user },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    });
    try {
      // The same cluster, as an impersonated user whose permission we can take away.
      const limited = impersonating(user);
      const a = candidate(name, 'loses-access', {}, limited);
      await waitFor('the leader', () => a.elector.isLeader(), 30_000);
      await rbac.deleteNamespacedRoleBinding({ name: user, namespace: NAMESPACE });
      const revokedAt = Date.now();
      await waitFor('the leader to step down', () => a.stopped.length > 0, 30_000);
      const aborted = a.stopped[0]!;
      expect(a.elector.isLeader()).toBe(false);
      // It still holds the Lease on the server (it could not write): it stepped down on its own.
      const lease = await readLease(name);
      expect(lease?.spec?.holderIdentity).toBe('loses-access');
      console.log(
        `[lease] renew-deadline step-down: ${aborted - revokedAt} ms after losing access ` +
          `(renew deadline ${FAST.renewDeadlineMs} ms, retry ${FAST.retryPeriodMs} ms)`,
      );
      await stopAll(a);
    } finally {
      await rbac.deleteNamespacedRoleBinding({ name: user, namespace: NAMESPACE }).catch(() => undefined);
      await rbac.deleteNamespacedRole({ name: user, namespace: NAMESPACE }).catch(() => undefined);
    }
  });
});
