import { CoordinationV1Api, KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { LeaderElector, decide, leaseRecord, toMillis, type LeaseRecord } from '../../src/leader/lease.ts';

const NOW = 1_700_000_000_000;
const ME = 'me_1234';
const OTHER = 'other_abcd';
const opts = { leaseDurationMs: 15_000 };

function lease(p: Partial<LeaseRecord>): LeaseRecord {
  return { leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: NOW - 60_000, renewTime: NOW - 1_000, ...p };
}

describe('decide with observedAt (expiry on the candidate\'s own clock, as client-go)', () => {
  it("a holder whose clock is behind is still live while its renewals keep being observed", () => {
    // renewTime says an hour ago (skewed clock), but we saw the record change 5 s ago.
    const l = lease({ holderIdentity: OTHER, renewTime: NOW - 3_600_000, leaseDurationSeconds: 15 });
    expect(decide(l, NOW, ME, { ...opts, observedAt: NOW - 5_000 })).toEqual({ action: 'wait', holder: OTHER, expiresAt: NOW + 10_000 });
    expect(decide(l, NOW, ME, opts)).toMatchObject({ action: 'acquire', reason: 'expired' });
  });
  it('a holder whose clock is ahead expires once its record stops changing for a lease duration', () => {
    const l = lease({ holderIdentity: OTHER, renewTime: NOW + 3_600_000, leaseDurationSeconds: 15 });
    expect(decide(l, NOW, ME, { ...opts, observedAt: NOW - 16_000 })).toMatchObject({ action: 'acquire', reason: 'expired' });
    expect(decide(l, NOW, ME, opts)).toMatchObject({ action: 'wait' });
  });
  it('observedAt does not change released or own leases', () => {
    expect(decide(lease({ holderIdentity: '' }), NOW, ME, { ...opts, observedAt: NOW })).toMatchObject({ action: 'acquire', reason: 'released' });
    expect(decide(lease({ holderIdentity: ME, renewTime: NOW - 60_000 }), NOW, ME, { ...opts, observedAt: NOW - 60_000 })).toEqual({ action: 'renew' });
  });
});

describe('decide()', () => {
  it('creates a Lease that does not exist', () => {
    expect(decide(undefined, NOW, ME, opts)).toEqual({ action: 'create' });
  });

  it('renews a Lease it holds, live or expired', () => {
    expect(decide(lease({ holderIdentity: ME }), NOW, ME, opts)).toEqual({ action: 'renew' });
    expect(decide(lease({ holderIdentity: ME, renewTime: NOW - 3_600_000 }), NOW, ME, opts)).toEqual({ action: 'renew' });
  });

  it('waits while another holder renewed within its lease duration', () => {
    expect(decide(lease({ holderIdentity: OTHER, renewTime: NOW - 1_000 }), NOW, ME, opts)).toEqual({
      action: 'wait',
      holder: OTHER,
      expiresAt: NOW + 14_000,
    });
  });

  it('treats the exact expiry instant as still held (expired means renewTime + duration < now)', () => {
    expect(decide(lease({ holderIdentity: OTHER, renewTime: NOW - 15_000 }), NOW, ME, opts)).toMatchObject({ action: 'wait', expiresAt: NOW });
    expect(decide(lease({ holderIdentity: OTHER, renewTime: NOW - 15_001 }), NOW, ME, opts)).toEqual({
      action: 'acquire',
      transitions: 4,
      reason: 'expired',
    });
  });

  it('uses the duration written in the Lease by its holder, not its own', () => {
    // The holder wrote 60 s: still live after 20 s even though our own setting is 15 s.
    expect(decide(lease({ holderIdentity: OTHER, leaseDurationSeconds: 60, renewTime: NOW - 20_000 }), NOW, ME, opts)).toMatchObject({
      action: 'wait',
    });
    // The holder wrote 5 s: expired after 6 s.
    expect(decide(lease({ holderIdentity: OTHER, leaseDurationSeconds: 5, renewTime: NOW - 6_000 }), NOW, ME, opts)).toMatchObject({
      action: 'acquire',
    });
  });

  it('falls back to its own duration when the Lease has none (or a non-positive one)', () => {
    for (const leaseDurationSeconds of [undefined, 0, -3]) {
      expect(decide(lease({ holderIdentity: OTHER, leaseDurationSeconds, renewTime: NOW - 14_000 }), NOW, ME, opts)).toMatchObject({ action: 'wait' });
      expect(decide(lease({ holderIdentity: OTHER, leaseDurationSeconds, renewTime: NOW - 16_000 }), NOW, ME, opts)).toMatchObject({ action: 'acquire' });
    }
  });

  it('acquires a released Lease (no holder) at once, whatever its times say', () => {
    for (const holderIdentity of [undefined, null, '']) {
      expect(decide(lease({ holderIdentity, renewTime: NOW }), NOW, ME, opts)).toEqual({ action: 'acquire', transitions: 4, reason: 'released' });
    }
  });

  it('counts transitions from 0 when the Lease has none', () => {
    expect(decide(lease({ holderIdentity: OTHER, leaseTransitions: undefined, renewTime: NOW - 20_000 }), NOW, ME, opts)).toMatchObject({
      transitions: 1,
    });
  });

  it('judges a held Lease without renewTime by acquireTime, and one with no time at all as expired', () => {
    expect(decide(lease({ holderIdentity: OTHER, renewTime: undefined, acquireTime: NOW - 1_000 }), NOW, ME, opts)).toMatchObject({ action: 'wait' });
    expect(decide(lease({ holderIdentity: OTHER, renewTime: undefined, acquireTime: NOW - 20_000 }), NOW, ME, opts)).toMatchObject({ action: 'acquire' });
    expect(decide(lease({ holderIdentity: OTHER, renewTime: undefined, acquireTime: undefined }), NOW, ME, opts)).toMatchObject({
      action: 'acquire',
      reason: 'expired',
    });
    expect(decide(lease({ holderIdentity: OTHER, renewTime: NaN, acquireTime: undefined }), NOW, ME, opts)).toMatchObject({ action: 'acquire' });
  });

  it('waits for a holder whose renewTime is in the future (clock ahead)', () => {
    expect(decide(lease({ holderIdentity: OTHER, renewTime: NOW + 5_000 }), NOW, ME, opts)).toEqual({ action: 'wait', holder: OTHER, expiresAt: NOW + 20_000 });
  });

  it('is exhaustive over holder x liveness', () => {
    const holders = [undefined, '', ME, OTHER];
    const ages = [0, 14_999, 15_000, 15_001, 10 * 60_000];
    for (const h of holders) {
      for (const age of ages) {
        const d = decide(lease({ holderIdentity: h, renewTime: NOW - age }), NOW, ME, opts);
        const expected = !h ? 'acquire' : h === ME ? 'renew' : age > 15_000 ? 'acquire' : 'wait';
        expect(d.action, `holder=${h} age=${age}`).toBe(expected);
      }
    }
  });
});

describe('lease times', () => {
  it('reads MicroTime strings and Dates', () => {
    expect(toMillis('2024-01-02T03:04:05.123456Z')).toBe(Date.parse('2024-01-02T03:04:05.123Z'));
    expect(toMillis(new Date(5))).toBe(5);
    expect(toMillis('not a time')).toBeUndefined();
    expect(toMillis(undefined)).toBeUndefined();
    expect(toMillis(new Date('x'))).toBeUndefined();
  });

  it('V1MicroTime serialises with microseconds, as the API server expects', () => {
    expect(JSON.stringify({ t: new V1MicroTime(Date.parse('2024-01-02T03:04:05.123Z')) })).toBe('{"t":"2024-01-02T03:04:05.123000Z"}');
  });

  it('leaseRecord() maps a Lease as the client returns it', () => {
    expect(
      leaseRecord({
        metadata: { name: 'x' },
        spec: {
          holderIdentity: OTHER,
          renewTime: '2024-01-02T03:04:05.000000Z' as unknown as V1MicroTime,
          leaseDurationSeconds: 15,
          leaseTransitions: 2,
        },
      }),
    ).toEqual({
      holderIdentity: OTHER,
      renewTime: Date.parse('2024-01-02T03:04:05Z'),
      acquireTime: undefined,
      leaseDurationSeconds: 15,
      leaseTransitions: 2,
    });
    expect(leaseRecord({ metadata: { name: 'x' } }).holderIdentity).toBeNull();
  });
});

describe('LeaderElector options', () => {
  // A client for an address nothing listens on: these tests never send a request.
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }, { name: 'u' });
  const api = kc.makeApiClient(CoordinationV1Api);
  const base = { namespace: 'ns', api, onStartedLeading: () => {} };

  it('has client-go style defaults and a hostname-based identity', () => {
    const e = new LeaderElector(base);
    expect(e.identity).toMatch(/^.+_[0-9a-f]{8}$/);
    expect(e.isLeader()).toBe(false);
    expect(e.isHealthy()).toBe(false);
    expect(new LeaderElector(base).identity).not.toBe(e.identity);
  });

  it('refuses inconsistent durations with a message naming them', () => {
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(/--renew-deadline-ms \(10000\) must be shorter than --lease-duration-ms \(10000\)/);
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(/--renew-deadline-ms \(2000\) must be longer than --retry-period-ms \(2000\) plus its 20% jitter/);
    expect(() => new LeaderElector({ ...base, retryPeriodMs: 0 })).toThrow(/retryPeriodMs must be a positive/);
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 900, renewDeadlineMs: 500, retryPeriodMs: 100 })).toThrow(/at least 1000/);
    expect(() => new LeaderElector({ namespace: 'ns', onStartedLeading: () => {} })).toThrow(/kubeConfig or an api/);
  });
});
