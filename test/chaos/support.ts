// Helpers of the chaos suite (test/chaos/): faults injected into the local
// control plane through its driver (hack/local-cluster.sh stop|start|signal|pid
// <component>), a seeded random source for kill points, observers that record
// what the operator wrote while the faults happened (every hand-off
// MachineConfig value, every write of a status object), the invariants checked
// from outside (one Build per fingerprint, hand-offs only of Complete Builds),
// and the figures table each test prints. Scenarios, pools and operators are
// the end-to-end suite's (test/e2e/support.ts, test/harness/).
import { execFile } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { Watch } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { z } from 'zod';
import { kubeConfig, waitFor } from '../harness/cluster.ts';
import { ROOT, builds, type BuildInfo } from '../harness/operator.ts';
import { handoffMachineConfigName } from '../../src/plan/names.ts';

const DRIVER = path.join(ROOT, 'hack', 'local-cluster.sh');

// ---- the local control plane's driver ---------------------------------------------------------

/** The state dir of the local control plane the tests run on, or undefined on another cluster (chaos needs the local one). */
export function localStateDir(): string | undefined {
  return inject('localClusterEnv').LBC_STATE_DIR || undefined;
}

export interface DriverResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `hack/local-cluster.sh <args>` on the cluster under test (its LBC_STATE_DIR). Rejects on a non-zero exit unless allowFailure. */
export function driver(args: string[], o: { allowFailure?: boolean; timeoutMs?: number } = {}): Promise<DriverResult> {
  const state = localStateDir();
  if (!state) return Promise.reject(new Error('the chaos suite needs the local control plane (hack/local-cluster.sh); KUBECONFIG names another cluster'));
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    execFile(DRIVER, args, { cwd: ROOT, env: { ...process.env, LBC_STATE_DIR: state }, timeout: o.timeoutMs ?? 300_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      const r = { code, stdout, stderr, ms: Date.now() - t0 };
      if (code !== 0 && !o.allowFailure) reject(new Error(`hack/local-cluster.sh ${args.join(' ')} failed (${code}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
      else resolve(r);
    });
  });
}

/** Components the chaos tests fault (the driver's ids). */
export type Component = 'etcd' | 'kube_apiserver' | 'image_registry' | 'registry';

/** SIGKILL (or another signal) to a component's process. */
export async function signal(c: Component, sig: 'KILL' | 'STOP' | 'CONT'): Promise<void> {
  await driver(['signal', c, sig]);
}

/** Starts a component that is not ready and waits until it is; returns how long that took. */
export async function startComponent(c: Component): Promise<number> {
  return (await driver(['start', c])).ms;
}

/** `hack/local-cluster.sh status`: exit 0 when every component is ready; the report lines. */
export async function clusterStatus(): Promise<{ ready: boolean; report: string }> {
  const r = await driver(['status'], { allowFailure: true, timeoutMs: 120_000 });
  return { ready: r.code === 0, report: r.stdout.trim() };
}

/**
 * Brings back every component (a test that failed between a kill and its
 * restart leaves one down, and a component may exit on its own after an API
 * server outage): SIGCONT to etcd in case it was left stopped, then the
 * driver's `up`, which starts only what is not ready. Then the whole cluster
 * must be ready: the suite leaves it healthy for whatever runs next.
 */
export async function restoreCluster(): Promise<{ ready: boolean; report: string }> {
  await driver(['signal', 'etcd', 'CONT'], { allowFailure: true });
  await driver(['up'], { allowFailure: true, timeoutMs: 600_000 });
  return waitFor(
    async () => {
      const st = await clusterStatus();
      return st.ready ? st : undefined;
    },
    { what: 'every component of the local control plane ready', timeoutMs: 120_000, intervalMs: 1000 },
  );
}

// ---- seeded randomness ----------------------------------------------------------------------------

const seedSchema = z
  .string()
  .regex(/^[0-9]{1,10}$/, 'LBC_CHAOS_SEED must be a non-negative integer')
  .transform(Number)
  .refine((n) => n <= 0xffffffff, 'LBC_CHAOS_SEED must be below 2^32');

/** The suite's seed: LBC_CHAOS_SEED when set (to replay a run), else a fresh one; printed by every test that uses it. */
export function chaosSeed(): number {
  const v = process.env.LBC_CHAOS_SEED;
  if (v === undefined || v === '') return Math.floor(Math.random() * 0x100000000) >>> 0;
  const r = seedSchema.safeParse(v);
  if (!r.success) throw new Error(`${r.error.issues[0]?.message ?? 'bad LBC_CHAOS_SEED'} (got ${JSON.stringify(v)})`);
  return r.data;
}

/** mulberry32: a small deterministic PRNG; the same seed gives the same sequence in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- figures ------------------------------------------------------------------------------------

/** Prints a two-column table (figure, value) under a title: what each chaos test measured. */
export function printFigures(title: string, rows: readonly (readonly [string, string | number])[]): string {
  const w = Math.max(6, ...rows.map(([k]) => k.length));
  const lines = [`== chaos: ${title}`, `${'figure'.padEnd(w)}  value`, `${'-'.repeat(w)}  ${'-'.repeat(20)}`, ...rows.map(([k, v]) => `${k.padEnd(w)}  ${String(v)}`)];
  const text = lines.join('\n');
  console.log(text);
  return text;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

// ---- invariants, checked from outside --------------------------------------------------------------

/** Builds per (kind, fingerprint) beyond the first: 0 when every set of inputs was built once. */
export function duplicateBuilds(bs: readonly BuildInfo[]): { key: string; builds: string[] }[] {
  const by = new Map<string, string[]>();
  for (const b of bs) {
    const k = `${b.kind}/${b.fingerprint}`;
    by.set(k, [...(by.get(k) ?? []), b.name]);
  }
  return [...by].filter(([, names]) => names.length > 1).map(([key, names]) => ({ key, builds: names }));
}

/** The digest of `<host>/<repo>@sha256:...`. */
export function digestOf(ref: string): string | undefined {
  return /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1];
}

export interface HandOffRecord {
  image: string;
  /** The Build whose output has the image's digest, and its phase, read right after the hand-off was seen. */
  build: string | undefined;
  phase: string | undefined;
  at: number;
}

/**
 * Watches the hand-off MachineConfig `99-<pool>-layered-image` for the whole
 * test and, at each new spec.osImageURL, reads the pool's Builds: the Build
 * whose output digest it is must already be Complete (the operator writes the
 * hand-off only after it saw Complete, and a Build's phase never goes back).
 * The watch is re-established after it ends (an API server restart); the
 * current value is re-read then, so no value in effect is missed.
 */
export function watchHandOffs(ns: string, pool: string): { records: HandOffRecord[]; notComplete(): HandOffRecord[]; stop(): Promise<void> } {
  const name = handoffMachineConfigName(pool);
  const records: HandOffRecord[] = [];
  const pending: Promise<void>[] = [];
  let last: string | undefined;
  let stopped = false;
  let abort: AbortController | undefined;
  const seen = (image: string | undefined) => {
    if (!image || image === last) return;
    last = image;
    const at = Date.now();
    pending.push(
      (async () => {
        const digest = digestOf(image);
        // The read may meet an API server that is restarting: retry until it answers.
        const bs = await waitFor(() => builds(ns, pool), { what: `the Builds of ${pool}`, timeoutMs: 120_000, intervalMs: 500 });
        const b = bs.find((x) => x.digest === digest);
        records.push({ image, build: b?.name, phase: b?.phase, at });
      })(),
    );
  };
  const start = async (): Promise<void> => {
    if (stopped) return;
    try {
      abort = await new Watch(kubeConfig()).watch(
        '/apis/machineconfiguration.openshift.io/v1/machineconfigs',
        { fieldSelector: `metadata.name=${name}` },
        (phase, obj: { spec?: { osImageURL?: string } }) => {
          if (phase === 'ADDED' || phase === 'MODIFIED') seen(obj.spec?.osImageURL);
          if (phase === 'DELETED') last = undefined;
        },
        () => void restart(),
      );
    } catch {
      void restart();
    }
  };
  const restart = async (): Promise<void> => {
    if (stopped) return;
    await new Promise((r) => setTimeout(r, 500)); // reconnect pacing, not a wait for a condition
    await start();
  };
  void start();
  return {
    records,
    notComplete: () => records.filter((r) => r.phase !== 'Complete'),
    async stop() {
      stopped = true;
      abort?.abort();
      await Promise.all(pending);
    },
  };
}

/**
 * Counts the writes of one LayeredPool object (every ADDED/MODIFIED of a watch
 * on it) from now until stop(): the status writes the operator made.
 */
export function countWrites(ns: string, name: string): { count(): number; stop(): void } {
  let n = 0;
  let abort: AbortController | undefined;
  let stopped = false;
  const start = async () => {
    if (stopped) return;
    abort = await new Watch(kubeConfig()).watch(
      `/apis/layering.mco.dev/v1alpha1/namespaces/${ns}/layeredpools`,
      { fieldSelector: `metadata.name=${name}`, resourceVersion: undefined },
      (phase) => {
        if (phase === 'MODIFIED') n++;
      },
      () => void (stopped ? undefined : start()),
    );
  };
  void start();
  return {
    count: () => n,
    stop() {
      stopped = true;
      abort?.abort();
    },
  };
}

/**
 * Merge patches of an object through one pool of keep-alive HTTPS connections
 * to the API server (the admin's credentials): hundreds per second, where a
 * client opening a connection per request manages a few.
 */
export async function mergePatcher(apiPath: string, connections = 8): Promise<{ patch(body: unknown): Promise<void>; close(): void }> {
  const kc = kubeConfig();
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const server = new URL(kc.getCurrentCluster()!.server);
  const agent = new https.Agent({ keepAlive: true, maxSockets: connections });
  return {
    patch(body) {
      const data = JSON.stringify(body);
      return new Promise((resolve, reject) => {
        const req = https.request(
          { ...opts, agent, method: 'PATCH', hostname: server.hostname, port: server.port, path: `${apiPath}?fieldManager=lbc-chaos`, headers: { ...opts.headers, 'Content-Type': 'application/merge-patch+json', 'Content-Length': Buffer.byteLength(data) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PATCH ${apiPath}: HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`))));
          },
        );
        req.on('error', reject);
        req.end(data);
      });
    },
    close: () => agent.destroy(),
  };
}
