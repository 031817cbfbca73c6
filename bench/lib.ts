// What the benchmarks on the local control plane share: its environment (from
// `eval "$(hack/local-cluster.sh env)"`), `oc`, a namespace with a registry
// token for an operator, the operator process (any checkout's src/cli.ts) with
// its /proc figures and its metrics.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Informer } from '../src/kube/informer.ts';
import { ObjectMetaSchema } from '../src/kube/types.ts';
import { DEFAULT_VALUES } from '../src/config/defaults.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) {
    console.error(`${k} is not set: run eval "$(hack/local-cluster.sh env)" first`);
    process.exit(2);
  }
  return v;
};
export const OC = env('OC');
export const KUBECONFIG = env('KUBECONFIG');
export const STATE = env('LBC_STATE_DIR');
export const INTERNAL_REGISTRY = env('INTERNAL_REGISTRY');
export const LOCAL_REGISTRY = env('LOCAL_REGISTRY');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');

/** `oc ARGS` as the cluster admin; its stdout. */
export function oc(args: string[], input?: string, allowFailure = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(OC, args, { env: { ...process.env, KUBECONFIG }, maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && !allowFailure) reject(new Error(`oc ${args.slice(0, 4).join(' ')}: ${stderr.trim().split('\n').pop() ?? err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** The node selector that holds a namespace's pods off every node (kube-apiserver's PodNodeSelector admission). */
export const HOLD_PODS_SELECTOR = 'bench.layering.mco.dev/hold-pods=true';

/**
 * Namespace NS with a ServiceAccount that may push to the integrated registry
 * (system:image-builder), and a token file for it. holdPods: the namespace's
 * pods (the build pods) get a node selector no node has, so they stay Pending
 * and the Builds stay Pending: the machine runs the operator and the control
 * plane, not a thousand builds.
 */
export async function benchNamespace(ns: string, opts: { holdPods?: boolean } = {}): Promise<{ tokenFile: string }> {
  await oc(['create', 'namespace', ns]);
  if (opts.holdPods) await oc(['annotate', 'namespace', ns, `scheduler.alpha.kubernetes.io/node-selector=${HOLD_PODS_SELECTOR}`]);
  const sa = 'lbc-bench-registry';
  await oc(['create', 'serviceaccount', sa, '-n', ns]);
  await oc(['create', 'rolebinding', `${sa}-image-builder`, '-n', ns, '--clusterrole=system:image-builder', `--serviceaccount=${ns}:${sa}`]);
  const tokenFile = path.join(mkdtempSync(path.join(tmpdir(), 'lbc-bench-')), 'token');
  writeFileSync(tokenFile, (await oc(['create', 'token', sa, '-n', ns, '--duration=2h'])).trim(), { mode: 0o600 });
  return { tokenFile };
}

/** Peak and current RSS and CPU seconds (user + system) of a process, from /proc. */
export function procStats(pid: number): { hwmBytes: number; rssBytes: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { hwmBytes: kb('VmHWM'), rssBytes: kb('VmRSS'), cpuS: (Number(f[11]) + Number(f[12])) / 100 };
}

export interface Operator {
  child: ChildProcess;
  metricsUrl: Promise<string>;
  stop(): Promise<void>;
}

export interface OperatorOptions {
  /** The checkout whose src/cli.ts runs (another one, for a before/after). */
  checkout: string;
  ns: string;
  /** The opt-in label of the run's pools. */
  label: string;
  tokenFile: string;
  debounceMs: number;
  /** More flags of `run` (e.g. --concurrency 8). */
  extraArgs?: readonly string[] | undefined;
}

/**
 * Node flags of the operator, as the image's ENTRYPOINT runs it (Dockerfile);
 * BENCH_OPERATOR_NODE_FLAGS replaces them ("" for none), BENCH_OPERATOR_NODE_OPTIONS adds NODE_OPTIONS.
 */
const OPERATOR_NODE_FLAGS = (process.env.BENCH_OPERATOR_NODE_FLAGS ?? '--max-semi-space-size=4').split(' ').filter(Boolean);

/** `layered-build-controller run` for the run's namespace and label, without leader election; metrics on a free port. */
export function startOperator(o: OperatorOptions): Operator {
  const argv = [
    ...OPERATOR_NODE_FLAGS,
    path.join(o.checkout, 'src', 'cli.ts'), 'run',
    '--kubeconfig', KUBECONFIG, '--namespace', o.ns,
    '--registry', INTERNAL_REGISTRY, '--registry-insecure', '--insecure-registries', LOCAL_REGISTRY,
    '--registry-token-file', o.tokenFile, '--opt-in-label', o.label,
    // Every checkout compared runs the current default (MCO's apply step): the base is the same for all.
    '--apply-command', DEFAULT_VALUES.applyCommand,
    '--debounce-ms', String(o.debounceMs), '--log-level', process.env.BENCH_OPERATOR_LOG_LEVEL ?? 'info',
    '--metrics-addr', '127.0.0.1:0', '--probe-addr', '127.0.0.1:0', '--leader-elect', 'false',
    ...(o.extraArgs ?? []),
  ];
  // BENCH_OPERATOR_NODE_OPTIONS: node flags for the operator only (e.g. --max-semi-space-size=4).
  const nodeOptions = process.env.BENCH_OPERATOR_NODE_OPTIONS;
  const child = spawn(NODE, argv, { cwd: o.checkout, env: { ...process.env, KUBECONFIG, ...(nodeOptions !== undefined ? { NODE_OPTIONS: nodeOptions } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let resolveUrl!: (u: string) => void;
  const metricsUrl = new Promise<string>((r) => (resolveUrl = r));
  let partial = '';
  // BENCH_OPERATOR_LOG=<file>: the operator's JSON log lines go there too.
  const logTo = process.env.BENCH_OPERATOR_LOG ? createWriteStream(process.env.BENCH_OPERATOR_LOG, { flags: 'a' }) : undefined;
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    logTo?.write(chunk);
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      const m = /"metrics":"([^"]+)"/.exec(line);
      if (m) resolveUrl(m[1]!);
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => (stderr += c));
  child.once('exit', (code) => {
    if (code && code !== 0 && code !== 143) console.error(`operator exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  });
  return {
    child,
    metricsUrl,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
      }),
  };
}

/** A Prometheus text page as series -> value. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}
/** The sum of every series of one metric. */
export const sumOf = (m: Map<string, number>, prefix: string) => [...m].filter(([k]) => k === prefix || k.startsWith(`${prefix}{`)).reduce((a, [, v]) => a + v, 0);

/** Objects as the benches' informers keep them: metadata only. */
export const MetaOnly = z.looseObject({ metadata: ObjectMetaSchema });
export type MetaOnly = z.infer<typeof MetaOnly>;

/** CPU seconds (user + system) so far of each local control-plane process, by component (from the state dir's <name>.pid files). */
export function controlPlaneCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of readdirSync(STATE)) {
    if (!f.endsWith('.pid')) continue;
    const pid = Number(readFileSync(path.join(STATE, f), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      out.set(f.slice(0, -'.pid'.length), procStats(pid).cpuS);
    } catch {
      // not running
    }
  }
  return out;
}

/** after - before, per component (a component that restarted in between counts from 0). */
export function cpuDelta(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) out.set(k, v >= (before.get(k) ?? 0) ? v - (before.get(k) ?? 0) : v);
  return out;
}

/** Resolves when `pred` holds, checked now and on every event of the informers; rejects after `timeoutMs`. */
export function waitOn<T, O extends MetaOnly>(informers: Informer<O>[], pred: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const done = (f: () => void) => {
      offs.forEach((o) => o());
      clearTimeout(timer);
      f();
    };
    const check = () => {
      const v = pred();
      if (v !== undefined) done(() => resolve(v));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`))), timeoutMs);
    for (const i of informers) offs.push(i.addHandler(check));
    check();
  });
}
