// The one set of defaults of the operator's settings. Pure (no I/O), so the
// planner, the leader elector and the HTTP servers read the same values the
// configuration module validates; nothing else repeats them.
import { DEFAULT_NAMESPACE, DEFAULT_OPT_IN_LABEL } from '../plan/names.ts';

export const DEFAULT_VALUES = {
  namespace: DEFAULT_NAMESPACE,
  optInLabel: DEFAULT_OPT_IN_LABEL,
  registry: 'image-registry.openshift-image-registry.svc:5000',
  registryInsecure: false,
  debounceMs: 3000,
  historySize: 10,
  /** Attempts in all at one set of inputs (1 = no retry). */
  retryLimit: 3,
  retryBackoffMs: 10_000,
  concurrency: 2,
  /** Registry operations (pushes, image checks) in flight at once, across all pools. */
  registryConcurrency: 4,
  /**
   * MCO's own apply step (its Containerfile.on-cluster-build-template): the base's Ignition, which RHCOS
   * has only in the initramfs's dracut module, run as ignition-apply (it acts as that only under this
   * argv[0], and only in a container); then `ostree container commit`. The subshell is ours: in
   * MCO's `exec -a ... && ostree container commit` the exec replaces the shell and the commit never runs.
   */
  applyCommand:
    '(container="oci" exec -a ignition-apply /usr/lib/dracut/modules.d/30ignition/ignition --ignore-unsupported /etc/machine-config-ignition.json) && ostree container commit',
  logLevel: 'info',
  metricsAddr: '0.0.0.0:8080',
  probeAddr: '0.0.0.0:8081',
  leaderElect: true,
  leaseName: 'layered-build-controller',
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  resyncPeriodMs: 600_000,
  shutdownTimeoutMs: 30_000,
  handoff: 'machineconfig',
  maxImageSize: 20 * 1024 ** 3,
  registryTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
  /** Registries (host[:port], comma-separated) reached over plain http: none. */
  insecureRegistries: '',
  /** Retention (issue 9): how often the operator prunes (0 = never), images kept per stream besides those in use, and the age below which every image stays. */
  pruneIntervalMs: 3_600_000,
  keepImages: 3,
  keepForMs: 7 * 86_400_000,
} as const;

const DURATION_UNITS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;

/**
 * A duration setting to milliseconds: a number is milliseconds; a string is a
 * whole number with d, h, m, s or ms (`7d`, `12h`, `30m`, `90s`), or without
 * a unit milliseconds. Anything else is returned as is, for the schema to reject.
 */
export function durationMs(v: unknown): unknown {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return v;
  const m = /^\s*(\d+)\s*(d|h|m|s|ms)?\s*$/.exec(v);
  if (!m) return v;
  return Number(m[1]) * DURATION_UNITS[(m[2] ?? 'ms') as keyof typeof DURATION_UNITS];
}

/** `604800000` -> `7d`, for messages. */
export function formatDuration(ms: number): string {
  for (const [u, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms >= n && ms % n === 0) return `${ms / n}${u}`;
  return `${ms}ms`;
}

/** Extra random fraction a leader-election candidate adds to its retry period. */
export const LEADER_JITTER = 0.2;

/**
 * The rule the lease durations must follow (client-go's): the lease outlives
 * the renew deadline, and a renewal retried after a jittered retry period
 * still fits in the renew deadline. Problems as [setting, text], empty when fine.
 */
export function leaseTimingProblems(o: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }, jitter = LEADER_JITTER): ['leaseDurationMs' | 'renewDeadlineMs', string][] {
  const out: ['leaseDurationMs' | 'renewDeadlineMs', string][] = [];
  if (o.leaseDurationMs <= o.renewDeadlineMs) {
    out.push(['renewDeadlineMs', `--renew-deadline-ms (${o.renewDeadlineMs}) must be shorter than --lease-duration-ms (${o.leaseDurationMs})`]);
  }
  const retry = o.retryPeriodMs * (1 + jitter);
  if (o.renewDeadlineMs <= retry) {
    out.push([
      'renewDeadlineMs',
      `--renew-deadline-ms (${o.renewDeadlineMs}) must be longer than --retry-period-ms (${o.retryPeriodMs}) plus its ${Math.round(jitter * 100)}% jitter (${Math.round(retry)})`,
    ]);
  }
  return out;
}
