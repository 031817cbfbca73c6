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
  applyCommand: 'ignition-apply /etc/machine-config-ignition.json && ostree container commit',
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
} as const;

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
