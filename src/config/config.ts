// Operator configuration: defaults < optional YAML/JSON file < environment < flags.
// Every value is validated with zod; a bad value is reported by name with what is allowed.
import { readFileSync, statSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { z } from 'zod';
import { DEFAULT_OPT_IN_LABEL, MCO_LAYERING_LABEL } from '../plan/names.ts';
import { safeParseImageRef } from '../plan/imageref.ts';
import { DEFAULT_VALUES, durationMs, leaseTimingProblems } from './defaults.ts';

export { DEFAULT_VALUES, LEADER_JITTER, durationMs, formatDuration, leaseTimingProblems } from './defaults.ts';

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const labelKey = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const hostPort = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):[0-9]{1,5}$/;
const registryHost = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/;

const duration = (what: string) =>
  z.coerce.number({ error: `${what} must be a number of milliseconds` }).int(`${what} must be a whole number of milliseconds`).min(0, `${what} must not be negative`);

export const ConfigSchema = z.object({
  namespace: z.string().regex(dns1123Label, 'must be a DNS-1123 label (lowercase letters, digits and "-")').max(63, 'must be at most 63 characters'),
  optInLabel: z.string().regex(labelKey, 'must be a Kubernetes label key such as layering.mco.dev/enabled'),
  registry: z
    .string()
    .regex(registryHost, 'must be a registry host[:port] such as image-registry.openshift-image-registry.svc:5000, without scheme or path'),
  registryInsecure: z.boolean({ error: 'must be true or false' }),
  pushSecret: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be the name of a Secret in the operator namespace').optional(),
  caBundleFile: z
    .string()
    .min(1)
    .superRefine((f, ctx) => {
      const problem = readablePem(f);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  baseOSImage: z
    .string()
    .superRefine((ref, ctx) => {
      const r = safeParseImageRef(ref);
      if (!r.ok) ctx.addIssue({ code: 'custom', message: `must be an image reference such as quay.io/org/os@sha256:<hex>: ${r.error.message}` });
    })
    .optional(),
  debounceMs: duration('debounce'),
  historySize: z.coerce.number({ error: 'history size must be a whole number' }).int('history size must be a whole number').min(1, 'history size must be at least 1').max(100, 'history size must be at most 100'),
  retryLimit: z.coerce
    .number({ error: 'retry limit must be a whole number of attempts' })
    .int('retry limit must be a whole number of attempts')
    .min(1, 'retry limit is the number of attempts in all: at least 1 (1 = no retry)')
    .max(20, 'retry limit must be at most 20'),
  retryBackoffMs: duration('retry backoff'),
  concurrency: z.coerce.number({ error: 'concurrency must be a whole number' }).int('concurrency must be a whole number').min(1, 'concurrency must be at least 1').max(64, 'concurrency must be at most 64'),
  registryConcurrency: z.coerce
    .number({ error: 'registry concurrency must be a whole number' })
    .int('registry concurrency must be a whole number')
    .min(1, 'registry concurrency must be at least 1')
    .max(64, 'registry concurrency must be at most 64'),
  applyCommand: z
    .string()
    .min(1, 'apply command must not be empty')
    .max(1024)
    .refine((s) => !/[\r\n\0]/.test(s), 'apply command must be a single line (it becomes one RUN instruction)'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  metricsAddr: z.string().regex(hostPort, 'must be host:port, e.g. 0.0.0.0:8080 (port 0 picks a free one)'),
  probeAddr: z.string().regex(hostPort, 'must be host:port, e.g. 0.0.0.0:8081'),
  leaderElect: z.boolean({ error: 'must be true or false' }),
  leaseName: z.string().regex(dns1123Label, 'must be a DNS-1123 label (lowercase letters, digits and "-")').max(63, 'must be at most 63 characters'),
  leaseDurationMs: duration('lease duration').min(1000, 'lease duration must be at least 1000 ms (the Lease counts whole seconds)'),
  renewDeadlineMs: duration('renew deadline').min(500, 'renew deadline must be at least 500 ms'),
  retryPeriodMs: duration('retry period').min(100, 'retry period must be at least 100 ms'),
  resyncPeriodMs: duration('resync period'),
  shutdownTimeoutMs: duration('shutdown timeout').min(1000, 'shutdown timeout must be at least 1000 ms'),
  // The hand-off (docs/handoff.md).
  handoff: z.enum(['machineconfig', 'annotation'], { error: 'must be machineconfig (the MachineConfig 99-<pool>-layered-image) or annotation (pool annotations only)' }),
  maxImageSize: z.preprocess(
    byteSize,
    z.number({ error: 'must be a size in bytes, or with a suffix Ki, Mi, Gi, Ti (e.g. 20Gi)' }).int('must be a whole number of bytes').min(1, 'must be at least 1 byte'),
  ),
  registryTokenFile: z
    .string()
    .min(1)
    .superRefine((f, ctx) => {
      // Absent is fine (not in a pod: anonymous, or the push secret); a directory is a mistake.
      try {
        if (statSync(f).isDirectory()) ctx.addIssue({ code: 'custom', message: 'is a directory; must be the file holding a ServiceAccount token' });
      } catch {
        /* absent */
      }
    })
    .optional(),
  insecureRegistries: z
    .string()
    .refine((s) => s === '' || s.split(',').every((h) => registryHost.test(h.trim())), 'must be a comma-separated list of registry host[:port]'),
  // Retention (issue 9; src/plan/retention.ts).
  pruneIntervalMs: unitDuration('prune interval'),
  keepImages: z.coerce
    .number({ error: 'keep images must be a whole number' })
    .int('keep images must be a whole number')
    .min(0, 'keep images must be 0 or more')
    .max(1000, 'keep images must be at most 1000'),
  keepForMs: unitDuration('keep for'),
});

/** A duration in milliseconds, or with a unit d, h, m, s, ms (`7d`). */
export const DurationSchema = z.preprocess(
  durationMs,
  z.number({ error: 'must be a whole number with d, h, m, s or ms (e.g. 7d, 12h, 30m), or milliseconds' }).int('must be a whole number of milliseconds').min(0, 'must not be negative'),
);
function unitDuration(what: string) {
  return z.preprocess(
    durationMs,
    z.number({ error: `${what} must be a whole number with d, h, m, s or ms (e.g. 7d, 12h, 30m), or milliseconds` }).int(`${what} must be a whole number of milliseconds`).min(0, `${what} must not be negative`),
  );
}
export type Config = z.infer<typeof ConfigSchema>;

export const DEFAULTS: Config = { ...DEFAULT_VALUES };

/** Flag name (kebab case) and environment variable of each setting. */
export const SETTINGS: Record<keyof Config, { flag: string; env: string; help: string }> = {
  namespace: { flag: 'namespace', env: 'LBC_NAMESPACE', help: 'namespace of the per-pool ImageStreams, BuildConfigs, Builds and status objects' },
  optInLabel: { flag: 'opt-in-label', env: 'LBC_OPT_IN_LABEL', help: 'pool label that opts a pool into layering' },
  registry: { flag: 'registry', env: 'LBC_REGISTRY', help: 'registry host[:port] the rendered-config images are pushed to' },
  registryInsecure: { flag: 'registry-insecure', env: 'LBC_REGISTRY_INSECURE', help: 'talk plain HTTP to the registry (loopback/test registries only)' },
  pushSecret: { flag: 'push-secret', env: 'LBC_PUSH_SECRET', help: 'name of a kubernetes.io/dockerconfigjson Secret in the namespace used to push' },
  caBundleFile: { flag: 'ca-bundle', env: 'LBC_CA_BUNDLE', help: 'PEM file of CAs trusted for the registry' },
  baseOSImage: { flag: 'base-os-image', env: 'LBC_BASE_OS_IMAGE', help: 'base OS image used when ControllerConfig has no baseOSContainerImage' },
  debounceMs: { flag: 'debounce-ms', env: 'LBC_DEBOUNCE_MS', help: 'quiet time after an input changes before a build starts' },
  historySize: { flag: 'history-size', env: 'LBC_HISTORY_SIZE', help: 'builds kept in each status object history' },
  retryLimit: { flag: 'retry-limit', env: 'LBC_RETRY_LIMIT', help: 'build attempts in all at one set of inputs; the pool is Degraded when the last one fails (1 = no retry)' },
  retryBackoffMs: { flag: 'retry-backoff-ms', env: 'LBC_RETRY_BACKOFF_MS', help: 'first wait before retrying a failed build (doubles each attempt)' },
  concurrency: { flag: 'concurrency', env: 'LBC_CONCURRENCY', help: 'pools reconciled at once' },
  registryConcurrency: {
    flag: 'registry-concurrency',
    env: 'LBC_REGISTRY_CONCURRENCY',
    help: 'registry operations (rendered-config pushes, image checks) in flight at once, across all pools',
  },
  applyCommand: { flag: 'apply-command', env: 'LBC_APPLY_COMMAND', help: 'command the content build runs on the base to apply the config' },
  logLevel: { flag: 'log-level', env: 'LBC_LOG_LEVEL', help: 'trace|debug|info|warn|error|fatal|silent' },
  metricsAddr: { flag: 'metrics-addr', env: 'LBC_METRICS_ADDR', help: 'host:port of /metrics' },
  probeAddr: { flag: 'probe-addr', env: 'LBC_PROBE_ADDR', help: 'host:port of /healthz and /readyz' },
  leaderElect: { flag: 'leader-elect', env: 'LBC_LEADER_ELECT', help: 'elect a leader on a Lease before reconciling' },
  leaseName: { flag: 'lease-name', env: 'LBC_LEASE_NAME', help: 'name of the leader-election Lease in the namespace' },
  leaseDurationMs: { flag: 'lease-duration-ms', env: 'LBC_LEASE_DURATION_MS', help: 'leader lease duration' },
  renewDeadlineMs: { flag: 'renew-deadline-ms', env: 'LBC_RENEW_DEADLINE_MS', help: 'leader gives up if it cannot renew within this' },
  retryPeriodMs: { flag: 'retry-period-ms', env: 'LBC_RETRY_PERIOD_MS', help: 'leader election retry period' },
  shutdownTimeoutMs: {
    flag: 'shutdown-timeout-ms',
    env: 'LBC_SHUTDOWN_TIMEOUT_MS',
    help: 'after SIGTERM/SIGINT, the longest the operator drains work in flight and releases its Lease before it exits anyway',
  },
  resyncPeriodMs: { flag: 'resync-period-ms', env: 'LBC_RESYNC_PERIOD_MS', help: 'full relist of every informer as a safety net (0 = never)' },
  handoff: { flag: 'handoff', env: 'LBC_HANDOFF', help: 'machineconfig (write MachineConfig 99-<pool>-layered-image) or annotation (pool annotations only)' },
  maxImageSize: { flag: 'max-image-size', env: 'LBC_MAX_IMAGE_SIZE', help: 'largest image handed off (layers + config), bytes or with Ki/Mi/Gi/Ti' },
  insecureRegistries: {
    flag: 'insecure-registries',
    env: 'LBC_INSECURE_REGISTRIES',
    help: 'comma-separated registries (host[:port]) the base images come from over plain http; their ImageStream tags are marked insecure so imports and the integrated registry\'s pull-through work (as images.config.openshift.io registrySources.insecureRegistries)',
  },
  pruneIntervalMs: {
    flag: 'prune-interval',
    env: 'LBC_PRUNE_INTERVAL',
    help: 'how often the leader removes what retention says goes (d, h, m, s, or ms; 0 = never; the first run is one interval after it starts leading)',
  },
  keepImages: { flag: 'keep-images', env: 'LBC_KEEP_IMAGES', help: 'retention: good images kept per stream besides those in use, pinned or young' },
  keepForMs: { flag: 'keep-for', env: 'LBC_KEEP_FOR', help: 'retention: images younger than this stay (d, h, m, s, or ms)' },
  registryTokenFile: {
    flag: 'registry-token-file',
    env: 'LBC_REGISTRY_TOKEN_FILE',
    help: "ServiceAccount token used for the registry's bearer flow when no push secret is configured",
  },
};

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1000, m: 1000 ** 2, g: 1000 ** 3, t: 1000 ** 4, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, ti: 1024 ** 4 };

/** `20Gi` -> bytes; numbers pass; anything else is left for zod to reject. */
function byteSize(v: unknown): unknown {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return v;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]i?)?[bB]?\s*$/.exec(v);
  if (!m) return v;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  return unit === undefined ? v : Math.round(Number(m[1]) * unit);
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function boolish(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off', ''].includes(s)) return false;
  return v; // left for zod to reject
}

/** A problem with a CA bundle file, or undefined when it is a readable PEM file. */
function readablePem(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return `cannot read the file (${code === 'ENOENT' ? 'it does not exist' : code === 'EISDIR' ? 'it is a directory' : (code ?? (e as Error).message)})`;
  }
  return text.includes('-----BEGIN CERTIFICATE-----') ? undefined : 'must be a PEM file of CA certificates (no "-----BEGIN CERTIFICATE-----" in it)';
}

const BOOLEAN_KEYS = new Set<keyof Config>(['registryInsecure', 'leaderElect']);

/**
 * Resolves the configuration. `flags` uses the Config keys (the CLI maps
 * kebab-case flags to them); `env` is usually process.env.
 */
export function loadConfig(opts: { flags?: Partial<Record<keyof Config, unknown>>; env?: NodeJS.ProcessEnv; file?: string }): Config {
  const env = opts.env ?? {};
  const merged: Record<string, unknown> = { ...DEFAULTS };
  const file = opts.file ?? env.LBC_CONFIG_FILE;
  if (file) {
    let parsed: unknown;
    try {
      parsed = yaml.load(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError(`config file ${file}: ${(e as Error).message}`);
    }
    if (parsed !== undefined && parsed !== null) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file}: must be a mapping of settings`);
      for (const [k, v] of Object.entries(parsed)) {
        if (!(k in SETTINGS)) throw new ConfigError(`config file ${file}: unknown setting "${k}"; known: ${Object.keys(SETTINGS).join(', ')}`);
        merged[k] = v;
      }
    }
  }
  for (const [key, s] of Object.entries(SETTINGS) as [keyof Config, (typeof SETTINGS)[keyof Config]][]) {
    const v = env[s.env];
    if (v !== undefined) merged[key] = v;
  }
  for (const [k, v] of Object.entries(opts.flags ?? {})) if (v !== undefined) merged[k] = v;
  for (const k of BOOLEAN_KEYS) merged[k] = boolish(merged[k]);
  for (const k of ['pushSecret', 'caBundleFile', 'baseOSImage', 'registryTokenFile'] as const) if (merged[k] === '') delete merged[k];

  const result = ConfigSchema.safeParse(merged);
  const where = (key: keyof Config) => {
    const s = SETTINGS[key];
    return s ? `--${s.flag} / ${s.env}` : String(key);
  };
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const key = String(i.path[0] ?? '') as keyof Config;
      return `${where(key)} = ${JSON.stringify(merged[key])}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const cfg = result.data;
  if (cfg.optInLabel === MCO_LAYERING_LABEL) {
    // One line: this is the mistake an admin coming from MCO's layering makes.
    throw new ConfigError(
      `--opt-in-label / LBC_OPT_IN_LABEL = ${MCO_LAYERING_LABEL} is refused: it is MCO's own on-cluster layering opt-in (a pool carrying it without a MachineOSConfig makes the machine-config operator Degraded); use the operator's own label, default ${DEFAULT_OPT_IN_LABEL}`,
    );
  }
  // The leader elector's rule, checked here (and only here) so that a bad combination exits 2 before anything starts.
  const timing = leaseTimingProblems(cfg);
  if (timing.length) throw new ConfigError(`invalid configuration: ${timing.map(([, text]) => text).join('; ')}`);
  return cfg;
}
