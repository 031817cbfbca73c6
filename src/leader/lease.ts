// Leader election on a coordination.k8s.io/v1 Lease, in the manner of
// client-go's leaderelection package:
// - a candidate creates the Lease, or takes it over once it has expired (its
//   record has not changed for leaseDurationSeconds, see below) or was
//   released (no holder), incrementing leaseTransitions;
// - the leader renews every retryPeriod and steps down at once
//   (onStoppedLeading, its signal aborted) when it has not renewed within
//   renewDeadline;
// - every write is a replace carrying the resourceVersion that was read, so the
//   API server's optimistic concurrency makes two simultaneous winners
//   impossible (the loser gets 409 Conflict);
// - on shutdown the leader first lets its work finish (awaits what
//   onStartedLeading returned), then releases the Lease by clearing the holder,
//   so a standby takes over on its next retry instead of after a lease
//   duration.
// Expiry is measured on the candidate's own clock, from when it first saw the
// Lease's current record (holder, renewTime, leaseTransitions), as client-go's
// observedTime. The holder's renewTime only tells whether the record changed;
// it is never compared with this clock, so skew between replicas does not matter.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { realClock, sleep, type Clock } from '../util/clock.ts';
import { describeApiError, statusCode } from '../kube/errors.ts';
import { DEFAULT_VALUES, LEADER_JITTER, leaseTimingProblems } from '../config/defaults.ts';

// ---- the pure decision ------------------------------------------------------

/** The part of a Lease the decision depends on; times in ms since the epoch. */
export interface LeaseRecord {
  holderIdentity?: string | null;
  renewTime?: number;
  acquireTime?: number;
  leaseDurationSeconds?: number;
  leaseTransitions?: number;
}

export type Decision =
  /** No Lease yet: create it, holding it. */
  | { action: 'create' }
  /** Take the Lease over (it expired, or was released): leaseTransitions becomes `transitions`. */
  | { action: 'acquire'; transitions: number; reason: 'expired' | 'released' }
  /** We hold it: renew (keeping acquireTime and leaseTransitions). */
  | { action: 'renew' }
  /** Someone else holds a live Lease until `expiresAt`. */
  | { action: 'wait'; holder: string; expiresAt: number };

export interface DecideOptions {
  /** Used when the Lease does not say its own duration. */
  leaseDurationMs: number;
  /**
   * When this candidate first saw the Lease's current record, on its own clock.
   * Expiry counts from here (as client-go does), so clock skew between
   * replicas does not matter. Without it, the holder's renewTime is used.
   */
  observedAt?: number | undefined;
}

/**
 * What a candidate `identity` should do about `lease` at `now`. Pure: no I/O,
 * no clock. The Lease's own leaseDurationSeconds (written by its holder) wins
 * over the candidate's configured duration.
 */
export function decide(lease: LeaseRecord | undefined, now: number, identity: string, opts: DecideOptions): Decision {
  if (!lease) return { action: 'create' };
  const transitions = (lease.leaseTransitions ?? 0) + 1;
  const holder = lease.holderIdentity ?? '';
  if (holder === '') return { action: 'acquire', transitions, reason: 'released' };
  if (holder === identity) return { action: 'renew' };
  const durationMs =
    lease.leaseDurationSeconds !== undefined && lease.leaseDurationSeconds > 0
      ? lease.leaseDurationSeconds * 1000
      : opts.leaseDurationMs;
  // A held Lease with no time at all cannot be judged live: treat it as expired.
  const last = opts.observedAt ?? lease.renewTime ?? lease.acquireTime;
  if (last === undefined || !Number.isFinite(last)) return { action: 'acquire', transitions, reason: 'expired' };
  const expiresAt = last + durationMs;
  if (expiresAt < now) return { action: 'acquire', transitions, reason: 'expired' };
  return { action: 'wait', holder, expiresAt };
}

/** Reads a Lease's times whichever way the client delivered them (Date or RFC 3339 string). */
export function toMillis(t: unknown): number | undefined {
  if (t instanceof Date) return Number.isFinite(t.getTime()) ? t.getTime() : undefined;
  if (typeof t === 'string') {
    const ms = Date.parse(t);
    return Number.isFinite(ms) ? ms : undefined;
  }
  return undefined;
}

export function leaseRecord(lease: V1Lease): LeaseRecord {
  const s = lease.spec ?? {};
  return {
    holderIdentity: s.holderIdentity ?? null,
    renewTime: toMillis(s.renewTime),
    acquireTime: toMillis(s.acquireTime),
    leaseDurationSeconds: s.leaseDurationSeconds,
    leaseTransitions: s.leaseTransitions,
  };
}

// ---- the elector ------------------------------------------------------------

export interface LeaderElectionOptions {
  /** Where the Lease lives. */
  namespace: string;
  /** The Lease's name. Default `layered-build-controller`. */
  name?: string;
  /** This candidate's identity. Default hostname + '_' + 8 random hex. */
  identity?: string;
  /** Either a KubeConfig or a ready CoordinationV1Api. */
  kubeConfig?: KubeConfig;
  api?: CoordinationV1Api;
  /** How long a Lease is valid after its last renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader steps down when it could not renew for this long. Default 10 s. */
  renewDeadlineMs?: number;
  /** Interval between attempts to acquire or renew. Default 2 s. */
  retryPeriodMs?: number;
  /** Extra random fraction added to a candidate's retry wait (spreads candidates). Default 0.2. */
  jitter?: number;
  /** Clear the holder on shutdown so a standby takes over at once. Default true. */
  releaseOnCancel?: boolean;
  clock?: Clock;
  logger?: Logger;
  metrics?: { setLeader(isLeader: boolean): void };
  /**
   * Called on becoming the leader. `signal` aborts when leadership ends (lost
   * or shutting down). If it returns a promise, a graceful shutdown awaits it
   * before releasing the Lease.
   */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called once each time leadership ends (lost, or released at shutdown). */
  onStoppedLeading?: () => void;
  /** Called whenever the observed holder changes (including to this identity). */
  onNewLeader?: (identity: string) => void;
}

export const LEADER_ELECTION_DEFAULTS = {
  name: DEFAULT_VALUES.leaseName,
  leaseDurationMs: DEFAULT_VALUES.leaseDurationMs,
  renewDeadlineMs: DEFAULT_VALUES.renewDeadlineMs,
  retryPeriodMs: DEFAULT_VALUES.retryPeriodMs,
  jitter: LEADER_JITTER,
  releaseOnCancel: true,
} as const;

export function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(4).toString('hex')}`;
}

export class LeaderElector {
  readonly identity: string;
  private readonly opts: Required<Omit<LeaderElectionOptions, 'kubeConfig' | 'api' | 'logger' | 'metrics' | 'onStoppedLeading' | 'onNewLeader' | 'identity'>>;
  private readonly api: CoordinationV1Api;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly cb: Pick<LeaderElectionOptions, 'onStartedLeading' | 'onStoppedLeading' | 'onNewLeader' | 'metrics'>;
  private leading = false;
  private observedHolder = '';
  private lastContact: number | undefined;
  /** The Lease record last read (holder, renewTime, transitions) and when, on our clock, it was first seen. */
  private observedRecord = '';
  private observedAt: number | undefined;
  /** The Lease as we last wrote or read it (its resourceVersion for the next replace). */
  private lease: V1Lease | undefined;
  private running = false;

  constructor(opts: LeaderElectionOptions) {
    const o = {
      namespace: opts.namespace,
      name: opts.name ?? LEADER_ELECTION_DEFAULTS.name,
      leaseDurationMs: opts.leaseDurationMs ?? LEADER_ELECTION_DEFAULTS.leaseDurationMs,
      renewDeadlineMs: opts.renewDeadlineMs ?? LEADER_ELECTION_DEFAULTS.renewDeadlineMs,
      retryPeriodMs: opts.retryPeriodMs ?? LEADER_ELECTION_DEFAULTS.retryPeriodMs,
      jitter: opts.jitter ?? LEADER_ELECTION_DEFAULTS.jitter,
      releaseOnCancel: opts.releaseOnCancel ?? LEADER_ELECTION_DEFAULTS.releaseOnCancel,
      clock: opts.clock ?? realClock,
      onStartedLeading: opts.onStartedLeading,
    };
    validateDurations(o);
    this.opts = o;
    this.identity = opts.identity ?? defaultIdentity();
    if (opts.api) this.api = opts.api;
    else if (opts.kubeConfig) this.api = opts.kubeConfig.makeApiClient(CoordinationV1Api);
    else throw new Error('LeaderElector needs a kubeConfig or an api');
    this.clock = o.clock;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'leader-election', lease: `${o.namespace}/${o.name}`, identity: this.identity });
    this.cb = { onStartedLeading: opts.onStartedLeading, onStoppedLeading: opts.onStoppedLeading, onNewLeader: opts.onNewLeader, metrics: opts.metrics };
    this.cb.metrics?.setLeader(false);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last observed on the Lease ('' when none). */
  leader(): string {
    return this.observedHolder;
  }

  /** True while leading, or while a standby has been able to read the Lease within a lease duration. */
  isHealthy(): boolean {
    if (this.leading) return true;
    return this.lastContact !== undefined && this.clock.now() - this.lastContact <= this.opts.leaseDurationMs;
  }

  /**
   * Campaigns until `signal` aborts: acquire, lead (renewing), and after losing
   * the Lease campaign again. Resolves after shutdown, once the work started by
   * onStartedLeading has finished and the Lease has been released.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error('LeaderElector.run is already running');
    this.running = true;
    try {
      while (!signal.aborted) {
        const acquired = await this.acquire(signal);
        if (!acquired) break;
        await this.lead(signal);
      }
    } finally {
      this.running = false;
    }
  }

  /** Retries until it holds the Lease (true) or `signal` aborts (false). */
  private async acquire(signal: AbortSignal): Promise<boolean> {
    this.log.info('trying to acquire the leader lease');
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew()) return true;
      const wait = this.opts.retryPeriodMs * (1 + Math.random() * this.opts.jitter);
      try {
        await sleep(this.clock, wait, signal);
      } catch {
        return false;
      }
    }
    return false;
  }

  private async lead(signal: AbortSignal): Promise<void> {
    const leaderController = new AbortController();
    this.setLeading(true);
    this.log.info('became the leader');
    let work: Promise<void>;
    try {
      work = Promise.resolve(this.cb.onStartedLeading(leaderController.signal)).catch((err: unknown) => {
        this.log.error({ err: describeApiError(err) }, 'onStartedLeading failed');
      });
    } catch (err) {
      this.log.error({ err: describeApiError(err) }, 'onStartedLeading threw');
      work = Promise.resolve();
    }

    let lastRenew = this.clock.now();
    let lost = false;
    while (!signal.aborted) {
      try {
        await sleep(this.clock, this.opts.retryPeriodMs, signal);
      } catch {
        break; // shutting down
      }
      const deadline = lastRenew + this.opts.renewDeadlineMs;
      const renewed = await this.renewBefore(deadline, signal);
      if (signal.aborted) break;
      if (renewed) {
        lastRenew = this.clock.now();
        continue;
      }
      if (this.clock.now() >= deadline || this.observedHolder !== this.identity) {
        lost = true;
        break;
      }
    }

    leaderController.abort(new Error(lost ? 'leader lease lost' : 'shutting down'));
    if (lost) {
      // Step down at once: do not wait for the work to notice.
      this.setLeading(false);
      this.log.warn('lost the leader lease: stopped leading');
      this.cb.onStoppedLeading?.();
      // Campaign again only once the old work has wound down, so one process
      // never runs two leaders' work at once.
      await work;
      return;
    }
    await work;
    if (this.opts.releaseOnCancel) await this.release();
    this.setLeading(false);
    this.log.info('stopped leading (shutdown)');
    this.cb.onStoppedLeading?.();
  }

  /** One renew attempt, abandoned (false) if it has not succeeded by `deadline`. */
  private async renewBefore(deadline: number, signal: AbortSignal): Promise<boolean> {
    const remaining = deadline - this.clock.now();
    if (remaining <= 0) return false;
    const timeout = new AbortController();
    const onAbort = () => timeout.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([
        this.tryAcquireOrRenew(),
        sleep(this.clock, remaining, timeout.signal).then(
          () => {
            this.log.warn({ renewDeadlineMs: this.opts.renewDeadlineMs }, 'renewing the lease did not finish within the renew deadline');
            return false;
          },
          () => false,
        ),
      ]);
    } finally {
      timeout.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** One round: read (unless renewing what we last wrote), decide, write. True when we hold the Lease. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.opts;
    try {
      let current = this.leading && this.lease?.spec?.holderIdentity === this.identity ? this.lease : undefined;
      if (!current) {
        try {
          current = await this.api.readNamespacedLease({ name, namespace });
        } catch (err) {
          if (statusCode(err) !== 404) throw err;
          current = undefined;
        }
        this.lastContact = this.clock.now();
      }
      const now = this.clock.now();
      const record = current ? leaseRecord(current) : undefined;
      // The record changed since we last looked: its holder renewed (or it changed hands) "now", on our clock.
      const key = record ? `${record.holderIdentity ?? ''}|${record.renewTime ?? ''}|${record.leaseTransitions ?? ''}` : '';
      if (key !== this.observedRecord) {
        this.observedRecord = key;
        this.observedAt = now;
      }
      const decision = decide(record, now, this.identity, { leaseDurationMs: this.opts.leaseDurationMs, observedAt: this.observedAt });
      switch (decision.action) {
        case 'wait':
          this.lease = current;
          this.observe(decision.holder);
          return false;
        case 'create': {
          const created = await this.api.createNamespacedLease({ namespace, body: this.desired(undefined, now, 0, now) });
          return this.won(created);
        }
        case 'acquire':
        case 'renew': {
          const spec = current?.spec ?? {};
          const acquireTime = decision.action === 'renew' ? (toMillis(spec.acquireTime) ?? now) : now;
          const transitions = decision.action === 'renew' ? (spec.leaseTransitions ?? 0) : decision.transitions;
          if (decision.action === 'acquire') this.log.info({ previous: spec.holderIdentity ?? '', reason: decision.reason }, 'taking over the lease');
          const replaced = await this.api.replaceNamespacedLease({ name, namespace, body: this.desired(current, now, transitions, acquireTime) });
          return this.won(replaced);
        }
      }
    } catch (err) {
      const code = statusCode(err);
      // A 409 is another candidate winning the race; read again next round.
      this.lease = undefined;
      if (code === 409) this.log.debug('lost a write race on the lease');
      else this.log.warn({ err: describeApiError(err) }, 'lease request failed');
      return false;
    }
  }

  private won(lease: V1Lease): true {
    this.lease = lease;
    this.lastContact = this.clock.now();
    this.observe(this.identity);
    return true;
  }

  private desired(current: V1Lease | undefined, now: number, transitions: number, acquireTime: number): V1Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.opts.name,
        namespace: this.opts.namespace,
        // The resourceVersion read: the server refuses the write (409) if anyone wrote since.
        ...(current?.metadata?.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
        ...(current?.metadata?.labels ? { labels: current.metadata.labels } : {}),
        ...(current?.metadata?.annotations ? { annotations: current.metadata.annotations } : {}),
      },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.opts.leaseDurationMs / 1000),
        acquireTime: new V1MicroTime(acquireTime),
        renewTime: new V1MicroTime(now),
        leaseTransitions: transitions,
      },
    };
  }

  /** Clears the holder (if it is still us) so a standby takes over on its next retry. */
  private async release(): Promise<void> {
    const { namespace, name } = this.opts;
    try {
      const current = await this.api.readNamespacedLease({ name, namespace });
      if (current.spec?.holderIdentity !== this.identity) return;
      const now = this.clock.now();
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { ...current.metadata, name, namespace },
          spec: {
            // no holderIdentity: released
            leaseDurationSeconds: 1,
            acquireTime: new V1MicroTime(now),
            renewTime: new V1MicroTime(now),
            leaseTransitions: current.spec?.leaseTransitions ?? 0,
          },
        },
      });
      this.lease = undefined;
      this.observe('');
      this.log.info('released the leader lease');
    } catch (err) {
      this.log.warn({ err: describeApiError(err) }, 'could not release the lease; it will expire instead');
    }
  }

  private observe(holder: string): void {
    if (holder === this.observedHolder) return;
    this.observedHolder = holder;
    if (holder !== '') {
      this.log.info({ leader: holder }, 'new leader observed');
      try {
        this.cb.onNewLeader?.(holder);
      } catch (err) {
        this.log.error({ err: describeApiError(err) }, 'onNewLeader threw');
      }
    }
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.cb.metrics?.setLeader(v);
  }
}

function validateDurations(o: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number; jitter: number }): void {
  const positive = (n: number, what: string) => {
    if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${what} must be a positive number of milliseconds, got ${n}`);
  };
  positive(o.leaseDurationMs, 'leaseDurationMs');
  positive(o.renewDeadlineMs, 'renewDeadlineMs');
  positive(o.retryPeriodMs, 'retryPeriodMs');
  if (o.leaseDurationMs < 1000) throw new RangeError(`leaseDurationMs must be at least 1000 (the Lease counts whole seconds), got ${o.leaseDurationMs}`);
  // The same rule the configuration validates (src/config/defaults.ts): a Config never gets here with a bad one.
  const timing = leaseTimingProblems(o, o.jitter);
  if (timing.length) throw new RangeError(timing.map(([, text]) => text).join('; '));
  if (o.jitter < 0) throw new RangeError(`jitter must be >= 0, got ${o.jitter}`);
}
