// Helpers for tests that run the real operator process (`node src/cli.ts run`)
// against the cluster the global setup provided (test/harness/global-setup.ts).
// Used by the integration tests (RBAC run, leader election, metrics) and meant
// for the end-to-end suite too: nothing here is specific to one test.
//
//   startOperator(opts)        spawns `node src/cli.ts run ...` (Node 24), parses its
//                              JSON log lines; .waitForLog(), .endpoints(), .stop(),
//                              .kill(), .exited, .alive(), .errors(), .identity(),
//                              .tail(); with logDir, a copy of its output in a file
//   ignitionOf(), createMachineConfig(), createPool()
//                              what an admin (or MCO's render controller) creates
//   makePool(opts)             a MachineConfig whose Ignition config writes one file,
//                              and a MachineConfigPool opted in (label) that points
//                              at it (spec.configuration.name); returns a cleanup
//   readPool(), poolAnnotations()
//                              a pool, and its hand-off annotations
//   waitForPoolAnnotation()    polls a pool until an annotation is set
//   builds()                   the Builds of a pool in a namespace (of one kind), oldest first
//   readLease()                a Lease, or undefined
//   scrape(), parseMetrics(), metricValue()
//                              GET /metrics and parse the Prometheus text format
//   probe()                    GET a probe path, its status code
//   serviceAccountKubeconfig() a kubeconfig file holding a bearer token of a
//                              ServiceAccount (TokenRequest API via `kubectl create token`)
//   applyManifests()           kubectl apply of YAML text (server-side dry run optional)
//   renderManifests()          manifests/*.yaml with the namespace (and cluster-scoped
//                              names) replaced, so a test can install a private copy
//   uniqueName()               a DNS-1123 name with a random suffix
//
// Child processes get childEnv() (KUBECONFIG, LOCAL_REGISTRY, buildah settings)
// unless told otherwise; flags always win over the LBC_* variables in it.
// Every started operator is killed when the test process exits, so a failing
// test cannot leave one running.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { inject } from 'vitest';
import { childEnv, clusterEnv, getJson, isPlainHttpRegistry, kubeConfig, kubectl, listJson, objectApi, waitFor, type KObj } from './cluster.ts';
import { DEFAULT_VALUES } from '../../src/config/defaults.ts';
import {
  ANNOTATION_FINGERPRINT,
  ANNOTATION_NEWEST_IMAGE,
  ANNOTATION_NEWEST_IMAGE_CONFIG,
  ANNOTATION_NEWEST_IMAGE_SOURCE,
  ANNOTATION_POOL,
  DEFAULT_OPT_IN_LABEL,
  LABEL_BUILD_KIND,
  type BuildKind,
} from '../../src/plan/names.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Node 24: the `node` dev dependency's binary (the system node may be older). */
export function nodeBinary(): string {
  const local = path.join(ROOT, 'node_modules', 'node', 'bin', 'node');
  return existsSync(local) ? local : process.execPath;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/**
 * One run of the CLI (`node src/cli.ts <args>`) as an admin would type it,
 * against the cluster's kubeconfig unless `--kubeconfig` is among the args;
 * resolves with its exit code and output (never rejects on a non-zero exit).
 */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(nodeBinary(), [path.join(ROOT, 'src', 'cli.ts'), ...args], { cwd: ROOT, env: childEnv({ KUBECONFIG: clusterEnv().KUBECONFIG, ...env }), maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

// ---- the operator process --------------------------------------------------------------------

/** The operator's default apply command (MCO's apply step), which the tests' operators run unless told otherwise. */
export const APPLY_COMMAND: string = DEFAULT_VALUES.applyCommand;

/** One parsed pino line (msg, level, and whatever fields the line carried). */
export type LogLine = Record<string, unknown> & { msg?: string; level?: string | number };

export interface OperatorOptions {
  /** Operator namespace (--namespace). Default: the cluster's LBC_NAMESPACE. */
  namespace?: string;
  /** --kubeconfig; default the cluster's KUBECONFIG. */
  kubeconfig?: string;
  /** --registry; default INTERNAL_REGISTRY (the integrated registry). */
  registry?: string;
  /** --registry-insecure; default true when `registry` is one of the local control plane's (plain http). */
  registryInsecure?: boolean;
  /** --opt-in-label; default the product's (machineconfiguration.openshift.io/layering-enabled). */
  optInLabel?: string;
  /** --leader-elect; default false. */
  leaderElect?: boolean;
  /** --lease-name (with leaderElect). */
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** --apply-command; default APPLY_COMMAND (the CoreOS stand-in's). */
  applyCommand?: string;
  /** --debounce-ms; default 1000 (short, for tests). */
  debounceMs?: number;
  /** --log-level; default debug. */
  logLevel?: string;
  /** More CLI arguments, appended last. */
  args?: string[];
  /** Extra environment variables (over childEnv()). */
  env?: Record<string, string>;
  /** A name for messages (and the log file). */
  name?: string;
  /** A directory to keep the raw output (stdout and stderr) in, as `<name>-<time>.log`. */
  logDir?: string;
  /**
   * --registry-token-file (a ServiceAccount token for the integrated registry). Default: on the admin's
   * kubeconfig in the default namespace, the one global setup made; elsewhere none (see registryTokenFile()).
   */
  registryTokenFile?: string;
}

export interface OperatorProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The argv after `node`. */
  readonly argv: string[];
  /** Every JSON log line so far (stdout), parsed. */
  readonly logs: LogLine[];
  /** stderr so far (config errors and crashes go there). */
  stderr(): string;
  /** The file its raw output is copied to (with OperatorOptions.logDir). */
  readonly logFile: string | undefined;
  /** Resolves when the process exits (code, signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True while the process runs. */
  alive(): boolean;
  /** The log lines at level error or fatal (pino writes the level by name, or as 50/60). */
  errors(): LogLine[];
  /** The first log line (already seen or still to come) matching msg or predicate. */
  waitForLog(match: string | RegExp | ((l: LogLine) => boolean), timeoutMs?: number): Promise<LogLine>;
  /** The metrics and probe base URLs the process logged once it listened. */
  endpoints(timeoutMs?: number): Promise<{ metricsUrl: string; probeUrl: string }>;
  /** Its leader-election identity (from its log). */
  identity(timeoutMs?: number): Promise<string>;
  /** Sends a signal (default SIGTERM). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after graceMs; resolves with the exit. Safe to call twice. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last n log lines as text (for failure messages). */
  tail(n?: number): string;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

function matcher(match: string | RegExp | ((l: LogLine) => boolean)): (l: LogLine) => boolean {
  if (typeof match === 'function') return match;
  if (typeof match === 'string') return (l) => l.msg === match;
  return (l) => typeof l.msg === 'string' && match.test(l.msg);
}

/** The `node src/cli.ts run ...` argv for these options. */
export function operatorArgs(o: OperatorOptions = {}): string[] {
  const env = clusterEnv();
  const registry = o.registry ?? env.INTERNAL_REGISTRY;
  const local = inject('localClusterEnv');
  // An operator on the admin's credentials still needs a ServiceAccount token for
  // the integrated registry (global setup made one for the default namespace).
  const tokenFile = o.registryTokenFile ?? (!o.kubeconfig && (o.namespace ?? env.LBC_NAMESPACE) === env.LBC_NAMESPACE ? local.LBC_TEST_REGISTRY_TOKEN_FILE : undefined);
  const args = [
    path.join(ROOT, 'src', 'cli.ts'),
    'run',
    '--kubeconfig',
    o.kubeconfig ?? env.KUBECONFIG,
    '--namespace',
    o.namespace ?? env.LBC_NAMESPACE,
    '--registry',
    registry,
    ...((o.registryInsecure ?? isPlainHttpRegistry(registry)) ? ['--registry-insecure'] : []),
    ...(env.LOCAL_REGISTRY ? ['--insecure-registries', env.LOCAL_REGISTRY] : []),
    ...(tokenFile ? ['--registry-token-file', tokenFile] : []),
    '--opt-in-label',
    o.optInLabel ?? DEFAULT_OPT_IN_LABEL,
    '--apply-command',
    o.applyCommand ?? APPLY_COMMAND,
    '--debounce-ms',
    String(o.debounceMs ?? 1000),
    '--log-level',
    o.logLevel ?? 'debug',
    '--metrics-addr',
    '127.0.0.1:0',
    '--probe-addr',
    '127.0.0.1:0',
    '--leader-elect',
    String(o.leaderElect ?? false),
  ];
  if (o.leaseName) args.push('--lease-name', o.leaseName);
  if (o.leaseDurationMs !== undefined) args.push('--lease-duration-ms', String(o.leaseDurationMs));
  if (o.renewDeadlineMs !== undefined) args.push('--renew-deadline-ms', String(o.renewDeadlineMs));
  if (o.retryPeriodMs !== undefined) args.push('--retry-period-ms', String(o.retryPeriodMs));
  args.push(...(o.args ?? []));
  return args;
}

export function startOperator(o: OperatorOptions = {}): OperatorProcess {
  const argv = operatorArgs(o);
  const name = o.name ?? 'operator';
  const kubeconfig = o.kubeconfig ?? clusterEnv().KUBECONFIG;
  const child = spawn(nodeBinary(), argv, {
    cwd: ROOT,
    env: childEnv({ KUBECONFIG: kubeconfig, ...(o.env ?? {}) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  let logFile: string | undefined;
  let copy: ((chunk: string) => void) | undefined;
  if (o.logDir) {
    mkdirSync(o.logDir, { recursive: true });
    logFile = path.join(o.logDir, `${name}-${Date.now()}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    out.write(`# node ${argv.map((a) => JSON.stringify(a)).join(' ')}\n`);
    copy = (chunk) => void (out.writableEnded || out.write(chunk));
    // 'close': after the last output (stdio closed), unlike 'exit'.
    child.once('close', (code, signal) => out.end(`# exited: code ${code} signal ${signal}\n`));
  }
  const logs: LogLine[] = [];
  let stderr = '';
  const waiters: { fn: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    copy?.(chunk);
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (!text.trim()) continue;
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text, level: 'raw' };
      }
      logs.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i]!;
        if (w.fn(line)) {
          waiters.splice(i, 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    copy?.(c);
    stderr += c;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const tail = (n = 40) =>
    logs
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join('\n') + (stderr ? `\n[stderr]\n${stderr.slice(-4000)}` : '') + (logFile ? `\n(whole log: ${logFile})` : '');

  const waitForLog = (match: string | RegExp | ((l: LogLine) => boolean), timeoutMs = 60_000): Promise<LogLine> => {
    const fn = matcher(match);
    const seen = logs.find(fn);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const w = {
        fn,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`${name} (pid ${child.pid}): no log line matching ${String(match)} within ${timeoutMs} ms${hasExited ? ' (it exited)' : ''}; last lines:\n${tail(25)}`));
      }, timeoutMs);
      waiters.push(w);
      void exited.then(() => {
        // Lines are all in once the process is gone.
        setTimeout(() => {
          if (waiters.includes(w)) {
            waiters.splice(waiters.indexOf(w), 1);
            clearTimeout(timer);
            reject(new Error(`${name} (pid ${child.pid}) exited before logging ${String(match)}; last lines:\n${tail(25)}`));
          }
        }, 200);
      });
    });
  };

  const proc: OperatorProcess = {
    name,
    child,
    pid: child.pid!,
    argv,
    logs,
    stderr: () => stderr,
    logFile,
    exited,
    alive: () => !hasExited && child.exitCode === null && child.signalCode === null,
    errors: () => logs.filter((l) => l.level === 'error' || l.level === 'fatal' || (typeof l.level === 'number' && l.level >= 50)),
    waitForLog,
    async endpoints(timeoutMs = 120_000) {
      const l = await waitForLog('serving metrics and probes', timeoutMs);
      return { metricsUrl: String(l.metrics), probeUrl: String(l.probes) };
    },
    async identity(timeoutMs = 60_000) {
      const l = await waitForLog((x) => x.component === 'leader-election' && typeof x.identity === 'string', timeoutMs);
      return String(l.identity);
    },
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (!hasExited) child.kill(signal);
    },
    async stop(graceMs = 20_000) {
      if (!hasExited) child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!hasExited) child.kill('SIGKILL');
      }, graceMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
    tail,
  };
  return proc;
}

// ---- pools -------------------------------------------------------------------------------------

export interface PoolOptions {
  /** Pool name; default a unique `lbc-<hex>`. */
  name?: string;
  /** The opt-in label key on the pool; default the product's. */
  optInLabel?: string;
  /** The file the Ignition config writes. */
  file?: { path: string; contents: string; mode?: number };
}

export interface TestPool {
  pool: string;
  /** The rendered MachineConfig (by the machine-config-controller). */
  machineConfig: string;
  /** The source MachineConfig the test created. */
  source: string;
  file: { path: string; contents: string; mode: number };
  /** Deletes the pool and its MachineConfig (the operator's objects go by owner reference). */
  cleanup(): Promise<void>;
}

/** Files of a MachineConfig: absolute path -> contents (plain text). */
export type Files = Record<string, string>;

/** An Ignition (spec 3) config that writes `files` (data: URLs, the given mode). */
export function ignitionOf(files: Files, mode = 420): Record<string, unknown> {
  return {
    ignition: { version: '3.4.0' },
    storage: {
      files: Object.entries(files).map(([p, c]) => ({ path: p, mode, overwrite: true, contents: { source: `data:,${encodeURIComponent(c)}` } })),
    },
  };
}

/** Creates a (source) MachineConfig with the given Ignition config; the machine-config-controller renders the pools that select it. */
export async function createMachineConfig(name: string, config: Record<string, unknown>, labels?: Record<string, string>): Promise<void> {
  await objectApi().create({
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfig',
    metadata: { name, ...(labels ? { labels } : {}) },
    spec: { config },
  } as never);
}

/** The role label the harness's pools select their MachineConfigs by. */
export const ROLE_LABEL = 'machineconfiguration.openshift.io/role';

/**
 * Creates a MachineConfigPool labelled `optInLabel` that selects the
 * MachineConfigs of role `name` (and nodes labelled node-role.kubernetes.io/<name>,
 * which none is unless a test labels one). The real machine-config-controller
 * renders it: see renderedConfigOf().
 */
export async function createPool(name: string, o: { optInLabel?: string; inheritWorker?: boolean } = {}): Promise<void> {
  await objectApi().create({
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfigPool',
    metadata: { name, labels: { [o.optInLabel ?? DEFAULT_OPT_IN_LABEL]: '' } },
    spec: {
      // inheritWorker: an OpenShift custom pool's selector (role In [worker, <pool>]): MCC merges the worker
      // configs it templates (00-worker with the cluster's pull secret, kubelet, ...) into the pool.
      machineConfigSelector: o.inheritWorker ? { matchExpressions: [{ key: ROLE_LABEL, operator: 'In', values: ['worker', name] }] } : { matchLabels: { [ROLE_LABEL]: name } },
      nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${name}`]: '' } },
    },
  } as never);
}

/**
 * The pool's rendered MachineConfig once the machine-config-controller has
 * rendered it (spec.configuration.name), waiting until it differs from `not`
 * (a previous rendering) when given.
 */
export async function renderedConfigOf(pool: string, o: { not?: string; timeoutMs?: number } = {}): Promise<string> {
  return waitFor(
    async () => {
      const name = ((await readPool(pool))?.spec?.configuration as { name?: string } | undefined)?.name;
      return name && name !== o.not ? name : undefined;
    },
    { timeoutMs: o.timeoutMs ?? 60_000, intervalMs: 300, what: `machine-config-controller rendering pool ${pool}${o.not ? ` anew (after ${o.not})` : ''}` },
  );
}

/** A MachineConfig whose Ignition config writes one file, and an opted-in pool pointing at it. */
export async function makePool(o: PoolOptions = {}): Promise<TestPool> {
  const pool = o.name ?? uniqueName('lbc');
  const source = `50-${pool}-files`;
  const file = { mode: 420, ...(o.file ?? { path: `/etc/${pool}/hello.conf`, contents: `hello from ${pool}\n` }) };
  await createMachineConfig(source, ignitionOf({ [file.path]: file.contents }, file.mode), { [ROLE_LABEL]: pool });
  await createPool(pool, { optInLabel: o.optInLabel });
  const machineConfig = await renderedConfigOf(pool);
  return {
    pool,
    machineConfig,
    source,
    file,
    async cleanup() {
      const api = objectApi();
      for (const [kind, name] of [
        ['MachineConfigPool', pool],
        ['MachineConfig', source],
      ] as const) {
        try {
          await api.delete({ apiVersion: 'machineconfiguration.openshift.io/v1', kind, metadata: { name } });
        } catch {
          // already gone
        }
      }
    },
  };
}

/** A MachineConfigPool as the API server has it (managedFields included), or undefined. */
export async function readPool(pool: string): Promise<KObj | undefined> {
  return getJson(['machineconfigpool', pool, '--show-managed-fields']);
}

/** The pool's hand-off annotations (newestImage, newestImageEquivalentConfig, newestImageSource) that are set. */
export async function poolAnnotations(pool: string): Promise<Record<string, string>> {
  const a = (await readPool(pool))?.metadata.annotations ?? {};
  const out: Record<string, string> = {};
  for (const k of [ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_CONFIG, ANNOTATION_NEWEST_IMAGE_SOURCE]) if (a[k] !== undefined) out[k] = a[k];
  return out;
}

/** The hand-off annotations of a pool that uses `image`, built for rendered config `config`, from `source` (for toEqual). */
export function handOffAnnotations(image: string | undefined, config: string, source: string): Record<string, string | undefined> {
  return { [ANNOTATION_NEWEST_IMAGE]: image, [ANNOTATION_NEWEST_IMAGE_CONFIG]: config, [ANNOTATION_NEWEST_IMAGE_SOURCE]: source };
}

/** Polls the pool until `annotation` (default newestImage) is set; returns its value. */
export async function waitForPoolAnnotation(pool: string, annotation = ANNOTATION_NEWEST_IMAGE, timeoutMs = 240_000): Promise<string> {
  return waitFor(async () => (await readPool(pool))?.metadata.annotations?.[annotation], { timeoutMs, intervalMs: 500, what: `annotation ${annotation} on pool ${pool}` });
}

export interface BuildInfo {
  name: string;
  kind: string;
  phase: string;
  fingerprint: string;
  cancelled: boolean;
  digest: string | undefined;
  dockerfile: string;
  from: string | undefined;
  reason: string | undefined;
  logSnippet: string | undefined;
  obj: KObj;
}

/** The Builds of `pool` in `namespace` (by the pool annotation), of one kind if given, oldest first. */
export async function builds(namespace: string, pool: string, kind?: BuildKind): Promise<BuildInfo[]> {
  const items = await listJson(['-n', namespace, 'builds.build.openshift.io']);
  return items
    .filter((b) => b.metadata.annotations?.[ANNOTATION_POOL] === pool && (!kind || b.metadata.labels?.[LABEL_BUILD_KIND] === kind))
    .sort((a, b) => Date.parse(a.metadata.creationTimestamp ?? '') - Date.parse(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name))
    .map((b) => {
      const st = (b.status ?? {}) as { phase?: string; cancelled?: boolean; reason?: string; logSnippet?: string; output?: { to?: { imageDigest?: string } } };
      const spec = (b.spec ?? {}) as { source?: { dockerfile?: string }; strategy?: { dockerStrategy?: { from?: { name?: string } } } };
      return {
        name: b.metadata.name,
        kind: b.metadata.labels?.[LABEL_BUILD_KIND] ?? '',
        phase: st.phase ?? 'New',
        fingerprint: b.metadata.annotations?.[ANNOTATION_FINGERPRINT] ?? '',
        cancelled: st.cancelled === true,
        digest: st.output?.to?.imageDigest,
        dockerfile: spec.source?.dockerfile ?? '',
        from: spec.strategy?.dockerStrategy?.from?.name,
        reason: st.reason,
        logSnippet: st.logSnippet,
        obj: b,
      };
    });
}

// ---- leases --------------------------------------------------------------------------------------

export interface LeaseLike {
  metadata: { name: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number; renewTime?: unknown; acquireTime?: unknown };
}

export async function readLease(namespace: string, name: string): Promise<LeaseLike | undefined> {
  try {
    return (await objectApi().read({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace } })) as LeaseLike;
  } catch (e) {
    if ((e as { code?: number }).code === 404) return undefined;
    throw e;
  }
}

// ---- metrics and probes -------------------------------------------------------------------------

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (HELP/TYPE kept, other comments skipped; Inf and NaN in any case). */
export function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string>; help: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /^# (TYPE|HELP) (\S+) (.*)$/.exec(line);
      if (m) (m[1] === 'TYPE' ? types : help).set(m[2]!, m[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;
      let lm: RegExpExecArray | null;
      while ((lm = re.exec(m[2]))) labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    // Go's ParseFloat, which Prometheus uses, takes Inf/NaN in any case (prom-client writes "Nan").
    const v = m[3]!;
    const value = /^\+?inf$/i.test(v) ? Infinity : /^-inf$/i.test(v) ? -Infinity : /^nan$/i.test(v) ? NaN : Number(v);
    if (Number.isNaN(value) && !/^nan$/i.test(v)) throw new Error(`bad sample value in: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types, help };
}

/** Sum of the samples named `name` whose labels include `labels`. undefined when there is none. */
export function metricValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.length ? hits.reduce((a, s) => a + s.value, 0) : undefined;
}

export async function scrape(metricsUrl: string): Promise<{ status: number; contentType: string; text: string; samples: Sample[]; types: Map<string, string> }> {
  const res = await fetch(`${metricsUrl}/metrics`);
  const text = await res.text();
  const parsed = parseMetrics(text);
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, samples: parsed.samples, types: parsed.types };
}

/** GET probeUrl + path; the status code and body. */
export async function probe(probeUrl: string, p: '/healthz' | '/readyz'): Promise<{ status: number; body: string }> {
  const res = await fetch(`${probeUrl}${p}`);
  return { status: res.status, body: await res.text() };
}

// ---- service account credentials ---------------------------------------------------------------

/**
 * A kubeconfig (in a new temp dir) for the cluster's API server with a bearer
 * token of `namespace/serviceAccount`, made with the TokenRequest API
 * (`kubectl create token`). Returns its path and the token.
 */
export async function serviceAccountKubeconfig(namespace: string, serviceAccount: string, duration = '1h'): Promise<{ path: string; token: string; user: string }> {
  const token = (await kubectl(['create', 'token', serviceAccount, '-n', namespace, `--duration=${duration}`])).stdout.trim();
  if (!/^[A-Za-z0-9._-]+$/.test(token)) throw new Error('kubectl create token printed something that is not a token');
  const kc = kubeConfig();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the cluster kubeconfig has no current cluster');
  const ca = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString('base64') : undefined);
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cluster', cluster: { server: cluster.server, ...(ca ? { 'certificate-authority-data': ca } : {}), ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}) } }],
    users: [{ name: serviceAccount, user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: 'cluster', user: serviceAccount, namespace } }],
    'current-context': 'sa',
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'lbc-sa-'));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(file, yaml.dump(doc), { mode: 0o600 });
  return { path: file, token, user: `system:serviceaccount:${namespace}:${serviceAccount}` };
}

/**
 * A file holding a token the integrated registry accepts for pushes and pulls in
 * `namespace` (it takes only ServiceAccount/user tokens, and authorizes them per
 * namespace): a ServiceAccount there bound to OpenShift's `system:image-builder`.
 * For an operator a test runs on the admin's kubeconfig in a namespace of its own.
 */
export async function registryTokenFile(namespace: string, serviceAccount = 'lbc-test-registry'): Promise<string> {
  await applyManifests([
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount, namespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `${serviceAccount}-image-builder`, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:image-builder' },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
    },
  ]);
  const token = (await kubectl(['create', 'token', serviceAccount, '-n', namespace, '--duration=2h'])).stdout.trim();
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'lbc-token-')), 'token');
  writeFileSync(file, token, { mode: 0o600 });
  return file;
}

// ---- manifests -------------------------------------------------------------------------------------

export const MANIFEST_NAMESPACE = 'openshift-machine-config-operator';

/**
 * The documents of manifests/*.yaml (not monitoring/), with the operator
 * namespace replaced by `namespace` and, when `suffix` is given, the names of
 * the objects shared with other installs (cluster-scoped ones, and those in
 * other namespaces such as the events Role in `default`) suffixed, so a test
 * can install a private copy beside the real one. `patch` may edit each
 * document (e.g. add a lease name to the Role).
 */
export function renderManifests(opts: { namespace: string; suffix?: string; dir?: string; patch?: (doc: Record<string, unknown>) => void }): Record<string, unknown>[] {
  const dir = opts.dir ?? path.join(ROOT, 'manifests');
  const docs: Record<string, unknown>[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort()) {
    for (const d of yaml.loadAll(readFileSync(path.join(dir, f), 'utf8'))) {
      if (!d || typeof d !== 'object' || (d as { kind?: string }).kind === 'Kustomization') continue;
      const text = JSON.stringify(d).replaceAll(`"${MANIFEST_NAMESPACE}"`, JSON.stringify(opts.namespace));
      const doc = JSON.parse(text) as Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string }; roleRef?: { kind: string; name: string } };
      // Cluster-scoped objects, and objects in namespaces other than the operator's (the
      // events Role in `default`), are shared with any other install: suffix their names.
      const shared = doc.kind !== 'Namespace' && doc.metadata.namespace !== opts.namespace;
      if (opts.suffix && shared) {
        doc.metadata.name += `-${opts.suffix}`;
        if (doc.roleRef && (doc.kind === 'ClusterRoleBinding' || doc.roleRef.kind === 'Role')) doc.roleRef.name += `-${opts.suffix}`;
      }
      opts.patch?.(doc);
      docs.push(doc);
    }
  }
  return docs;
}

/** `kubectl apply` (server-side unless told) of documents or YAML text; with dryRun, a server-side dry run. */
export async function applyManifests(docs: readonly unknown[] | string, opts: { dryRun?: boolean; fieldManager?: string } = {}) {
  const input = typeof docs === 'string' ? docs : docs.map((d) => yaml.dump(d)).join('---\n');
  return kubectl(['apply', '--server-side', '--force-conflicts', `--field-manager=${opts.fieldManager ?? 'lbc-tests'}`, ...(opts.dryRun ? ['--dry-run=server'] : []), '-f', '-'], { input });
}

export interface PrivateInstall {
  namespace: string;
  /** A kubeconfig file with the ServiceAccount's bearer token. */
  kubeconfig: string;
  /** The token's user name (system:serviceaccount:<ns>:<sa>). */
  user: string;
  /** Re-applies the manifests (all but the Deployment), e.g. after fixing a Role. */
  reapply(patch?: (doc: Record<string, unknown>) => void): Promise<void>;
  /** Deletes the namespace and the suffixed cluster-scoped and `default` objects. */
  cleanup(): Promise<void>;
}

/**
 * The shipped manifests installed into a namespace of their own (cluster-scoped
 * names suffixed with it), all but the Deployment (no pods run here), and a
 * kubeconfig holding the operator ServiceAccount's token: what a test needs to
 * run the real operator with exactly the shipped permissions.
 */
export async function installPrivately(namespace: string, patch?: (doc: Record<string, unknown>) => void): Promise<PrivateInstall> {
  const apply = async (p?: (doc: Record<string, unknown>) => void) => {
    await applyManifests(renderManifests({ namespace, suffix: namespace, ...(p ? { patch: p } : {}) }).filter((d) => d.kind !== 'Deployment'));
  };
  await apply(patch);
  const sa = await serviceAccountKubeconfig(namespace, OPERATOR_SERVICE_ACCOUNT);
  return {
    namespace,
    kubeconfig: sa.path,
    user: sa.user,
    reapply: apply,
    async cleanup() {
      await kubectl(['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found']);
      await kubectl(['delete', 'clusterrolebinding,clusterrole', `${OPERATOR_SERVICE_ACCOUNT}-${namespace}`, '--ignore-not-found']);
      await kubectl(['delete', 'rolebinding,role', '-n', 'default', `${OPERATOR_SERVICE_ACCOUNT}-events-${namespace}`, '--ignore-not-found']);
    },
  };
}

/** The ServiceAccount (and name of the RBAC objects) of manifests/. */
export const OPERATOR_SERVICE_ACCOUNT = 'layered-build-controller';
