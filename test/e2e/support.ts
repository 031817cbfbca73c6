// Helpers for the end-to-end suite: one scenario's setup (scenario()), what an
// admin does beyond creating pools (`oc tag`, `oc import-image`, editing the
// source MachineConfig the machine-config-controller renders), readers of what
// the operator did seen from the outside (the LayeredPool status, Events, the
// hand-off MachineConfig, the registries), and the cleanup of aborted runs. The
// operator process, pools, MachineConfigs and Builds are the shared harness's
// (test/harness/operator.ts). Nothing here talks to the operator's code.
//
// Isolation: the cluster is shared (a demo pool, other people's operators, the
// integration tests). Every scenario therefore gets its own namespace (a
// private install of the shipped RBAC, whose ServiceAccount the scenario's
// operators run as: the integrated registry accepts only a ServiceAccount token
// with rights in the namespace it pushes to) and its own opt-in label, both
// derived from a per-run id: an operator started here manages only the pools
// of its scenario. Pool and MachineConfig names carry the same run id.
import { createHash, randomBytes } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as yaml from 'js-yaml';
import { afterAll, beforeAll, expect } from 'vitest';
import { getJson, internalRegistryHost, kubectl, listJson, oc, registryHost, registryUrl, waitFor, type KObj } from '../harness/cluster.ts';
import {
  ROLE_LABEL,
  ROOT,
  createMachineConfig,
  createPool,
  ignitionOf,
  installPrivately,
  metricValue,
  scrape,
  readPool,
  renderedConfigOf,
  startOperator,
  type Files,
  type OperatorProcess,
  type PrivateInstall,
} from '../harness/operator.ts';
import { ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_CONFIG, ANNOTATION_NEWEST_IMAGE_SOURCE, handoffMachineConfigName } from '../../src/plan/names.ts';
import { decodeDataUrl } from '../../src/plan/ignition-files.ts';

/** Every label key the suite uses as an opt-in label starts with this. */
export const E2E_LABEL_PREFIX = 'e2e.layering.mco.dev/';

// ---- names ------------------------------------------------------------------------------

export interface Scope {
  /** Short id of this run of this scenario, e.g. "s1-k3x9q". */
  id: string;
  /** Namespace of the per-pool objects (the operator's --namespace). */
  ns: string;
  /** The opt-in label key (the operator's --opt-in-label). */
  label: string;
}

/** Names made by scope(): `e2e-<scenario>-<8 chars>` (pools and namespaces; scenarios s<N> of this suite, c<N> of test/chaos). */
const OURS = /^e2e-[sc][0-9]+[a-z]?-[0-9a-z]{8}$/;

/** A fresh scope for one scenario (one operator configuration). */
function scope(scenario: string): Scope {
  const id = `${scenario}-${Date.now().toString(36).slice(-4)}${randomBytes(2).toString('hex')}`;
  return { id, ns: `e2e-${id}`, label: `${E2E_LABEL_PREFIX}${id}` };
}

// ---- one scenario: its namespace, operator, pool and MachineConfigs ---------------------------

/** How the suite's operators differ from one scenario to the next. */
export interface E2eOperatorOptions {
  /** Extra or overriding flags, e.g. ['--retry-limit', '2']. */
  args?: string[];
  /** --registry; default the integrated one. --registry-insecure is always passed. */
  registry?: string;
  /** --apply-command; default APPLY_COMMAND. */
  applyCommand?: string;
  /**
   * Started as a standby replica (with --leader-elect true in args): wait for its caches, not for
   * it to lead. Default false: wait until it logs that it leads.
   */
  standby?: boolean;
}

export interface ScenarioOptions {
  /** Name of the operator started before all (messages, log file); default the scenario's name. */
  operatorName?: string;
  /** Its options, or a function giving them (called before all, so it may use values made then). */
  operator?: E2eOperatorOptions | (() => E2eOperatorOptions | Promise<E2eOperatorOptions>);
  /** Sweep what aborted runs left first (default true; once per file is enough). */
  sweep?: boolean;
  /** The pool as an OpenShift custom pool: it selects role In [worker, <pool>], so MCC merges the worker configs into it. */
  inheritWorker?: boolean;
}

export interface Scenario {
  readonly s: Scope;
  /** The pool: e2e-<id>. */
  readonly P: string;
  /** The source MachineConfig the pool selects (role label P): 50-e2e-<id>-files. */
  readonly source: string;
  /** The operator started before all. */
  readonly op: OperatorProcess;
  /** The private install (its ServiceAccount kubeconfig and token). */
  readonly install: PrivateInstall;
  /** Starts another operator on this scope and waits until it leads; it is stopped after all. */
  startOperator(name: string, o?: E2eOperatorOptions): Promise<OperatorProcess>;
  /** Creates the source MachineConfig with `config`, then the pool, opted in; returns its first rendered config (by MCC). */
  createPool(config: Record<string, unknown>): Promise<string>;
  /**
   * What an admin's MachineConfig change is: replaces the source
   * MachineConfig's Ignition config and waits until MCC has rendered the pool
   * anew; returns the new rendered config's name.
   */
  setConfig(config: Record<string, unknown>): Promise<string>;
  /** The pool's current rendered config (spec.configuration.name). */
  renderedConfig(): Promise<string>;
  /** createPool(ignitionOf(files)), then waits until the pool has settled on its first image, handed off and rendered (waitHandedOff). */
  firstImage(files: Files): Promise<LayeredPoolStatus & { rendered: string }>;
}

const LOG_DIR = path.join(os.tmpdir(), 'lbc-e2e-logs');

/**
 * The setup every scenario shares, as vitest hooks of the calling file or
 * describe block. Before all: sweep leftovers of aborted runs, install the
 * shipped RBAC privately into the scope's namespace, start an operator as its
 * ServiceAccount (its own --namespace and --opt-in-label, short retry
 * settings, its log kept in $TMPDIR/lbc-e2e-logs) and wait until it leads.
 * After all: stop every operator it started, delete the pool, its source and
 * hand-off MachineConfigs, the namespace and the suffixed RBAC.
 */
export function scenario(name: string, o: ScenarioOptions = {}): Scenario {
  const s = scope(name);
  const P = `e2e-${s.id}`;
  const source = `50-${P}-files`;
  const started: OperatorProcess[] = [];
  let install: PrivateInstall | undefined;

  const sc: Scenario = {
    s,
    P,
    source,
    get op() {
      if (!started[0]) throw new Error(`scenario ${name}: no operator started`);
      return started[0];
    },
    get install() {
      if (!install) throw new Error(`scenario ${name}: not installed yet`);
      return install;
    },
    async startOperator(opName, e = {}) {
      const op = startOperator({
        name: opName,
        namespace: s.ns,
        kubeconfig: sc.install.kubeconfig,
        optInLabel: s.label,
        registry: e.registry,
        registryInsecure: true,
        applyCommand: e.applyCommand,
        args: ['--retry-backoff-ms', '2000', '--retry-limit', '2', ...(e.args ?? [])],
        env: { PATH: `${path.join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
        logDir: LOG_DIR,
      });
      started.push(op);
      await op.waitForLog(e.standby ? 'caches synced' : 'leading: reconciling pools', 60_000);
      return op;
    },
    async createPool(config) {
      await createMachineConfig(source, config, { [ROLE_LABEL]: P });
      await createPool(P, { optInLabel: s.label, inheritWorker: o.inheritWorker ?? false });
      return renderedConfigOf(P);
    },
    async setConfig(config) {
      const before = await sc.renderedConfig();
      await kubectl(['patch', 'machineconfig', source, '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/config', value: config }])]);
      return renderedConfigOf(P, { not: before });
    },
    async renderedConfig() {
      return renderedConfigOf(P);
    },
    async firstImage(files) {
      await sc.createPool(ignitionOf(files));
      return waitHandedOff(s.ns, P, () => true, 'the first image');
    },
  };

  beforeAll(async () => {
    if (o.sweep ?? true) await sweepLeftovers();
    install = await installPrivately(s.ns);
    registryTokens.set(s.ns, (yaml.load(readFileSync(install.kubeconfig, 'utf8')) as { users: { user: { token: string } }[] }).users[0]!.user.token);
    await sc.startOperator(o.operatorName ?? name, typeof o.operator === 'function' ? await o.operator() : o.operator);
  });
  afterAll(async () => {
    for (const op of started) await op.stop();
    await cleanup(P);
    await install?.cleanup();
  });
  return sc;
}

/**
 * Removes what an earlier, aborted run of the suite left: pools opted in with an
 * e2e label (nothing else manages them), their source MachineConfigs, their
 * namespaces and suffixed RBAC. Only objects older than `olderThanMs` are
 * touched, so a run in progress is left alone.
 */
export async function sweepLeftovers(olderThanMs = 30 * 60_000): Promise<void> {
  const now = Date.now();
  const old = (o: KObj) => now - Date.parse(o.metadata.creationTimestamp ?? '') > olderThanMs;
  const del = async (kind: string, names: string[], ns?: string) => {
    if (names.length) await kubectl(['delete', kind, ...(ns ? ['-n', ns] : []), '--ignore-not-found', '--wait=false', ...names], { allowFailure: true });
  };
  const pools = (await listJson(['machineconfigpools'])).filter(
    (p) => Object.keys(p.metadata.labels ?? {}).some((k) => k.startsWith(E2E_LABEL_PREFIX)) && OURS.test(p.metadata.name) && old(p),
  );
  await del('machineconfigpool', pools.map((p) => p.metadata.name));
  const mcs = (await listJson(['machineconfigs'])).filter((m) => OURS.test(m.metadata.labels?.[ROLE_LABEL] ?? '') && old(m));
  await del('machineconfig', mcs.map((m) => m.metadata.name));
  const nss = (await listJson(['namespaces'])).filter((n) => OURS.test(n.metadata.name) && old(n) && !n.metadata.deletionTimestamp);
  await del('namespace', nss.map((n) => n.metadata.name));
  const suffixed = (o: KObj) => OURS.test(o.metadata.name.replace(/^layered-build-controller-(events-)?/, '')) && old(o);
  await del('clusterrolebinding', (await listJson(['clusterrolebindings'])).filter(suffixed).map((o) => o.metadata.name));
  await del('clusterrole', (await listJson(['clusterroles'])).filter(suffixed).map((o) => o.metadata.name));
  await del('rolebinding', (await listJson(['-n', 'default', 'rolebindings'])).filter(suffixed).map((o) => o.metadata.name), 'default');
  await del('role', (await listJson(['-n', 'default', 'roles'])).filter(suffixed).map((o) => o.metadata.name), 'default');
}

/** Deletes the pool and the MachineConfigs of its role (source and hand-off; rendered ones are owned by the pool). */
async function cleanup(pool: string): Promise<void> {
  await kubectl(['delete', 'machineconfigpool', '--ignore-not-found', '--wait=false', pool], { allowFailure: true });
  await kubectl(['delete', 'machineconfig', '--ignore-not-found', '--wait=false', '-l', `${ROLE_LABEL}=${pool}`], { allowFailure: true });
}

// ---- what an admin does ---------------------------------------------------------------------

/** oc's flags for a source image in a plain-http registry (the "outside" one). */
function insecureFlags(ref: string): string[] {
  return ref.startsWith(`${registryHost()}/`) || ref.startsWith(`${internalRegistryHost()}/`) ? ['--insecure'] : [];
}

/** `oc tag --source=docker [--insecure] <ref> <ns>/<stream>:<tag>` (oc creates the stream when missing). */
export async function ocTag(ns: string, stream: string, tag: string, ref: string): Promise<void> {
  await oc(['tag', '--source=docker', ...insecureFlags(ref), ref, `${ns}/${stream}:${tag}`]);
}

/** `oc tag -d <ns>/<stream>:<tag>`: deletes the ImageStreamTag (spec and status tag). */
export async function ocTagDelete(ns: string, stream: string, tag: string): Promise<void> {
  await oc(['tag', '-d', `${ns}/${stream}:${tag}`]);
}

/** `oc import-image <stream>:<tag> -n <ns>`: re-runs the import of an existing spec tag (an ImageStreamImport). */
export async function ocImportImage(ns: string, stream: string, tag: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return oc(['import-image', `${stream}:${tag}`, '-n', ns], { allowFailure: true });
}

/** The hand-off MachineConfig 99-<pool>-layered-image (the operator's), or undefined. */
export async function handOffMachineConfig(pool: string): Promise<(KObj & { spec?: { osImageURL?: string } }) | undefined> {
  return getJson(['machineconfig', handoffMachineConfigName(pool)]);
}

/** The image the hand-off MachineConfig gives the pool (spec.osImageURL), or undefined when there is none. */
export async function handedOffImage(pool: string): Promise<string | undefined> {
  return (await handOffMachineConfig(pool))?.spec?.osImageURL;
}

/**
 * Waits until MCC has rendered the pool with `image` as its osImageURL (the
 * hand-off taken effect); returns the rendered config's name.
 */
export async function renderedWithImage(pool: string, image: string, timeoutMs = 60_000): Promise<string> {
  return waitFor(
    async () => {
      const name = ((await readPool(pool))?.spec?.configuration as { name?: string } | undefined)?.name;
      if (!name) return undefined;
      const mc = await getJson<KObj & { spec?: { osImageURL?: string } }>(['machineconfig', name]);
      return mc?.spec?.osImageURL === image ? name : undefined;
    },
    { timeoutMs, intervalMs: 500, what: `pool ${pool} rendered with osImageURL ${image}` },
  );
}

/**
 * The hand-off as MCO sees it, for toEqual: the image of the hand-off
 * MachineConfig, and the informational pool annotations (image, source, and the
 * rendered config in effect).
 */
export async function handOff(pool: string): Promise<{ osImageURL: string | undefined; annotations: Record<string, string> }> {
  return { osImageURL: await handedOffImage(pool), annotations: await poolAnnotationsOf(pool) };
}

/** What handOff() returns when the pool uses `image` from `source` on its current rendering. */
export async function expectedHandOff(pool: string, image: string | undefined, source: string): Promise<{ osImageURL: string | undefined; annotations: Record<string, string> }> {
  const rendered = await renderedConfigOf(pool);
  return {
    osImageURL: image,
    annotations: { [ANNOTATION_NEWEST_IMAGE]: image!, [ANNOTATION_NEWEST_IMAGE_CONFIG]: rendered, [ANNOTATION_NEWEST_IMAGE_SOURCE]: source },
  };
}

/**
 * Expects the hand-off of `image` from `source` (expectedHandOff()), allowing
 * up to 30 s for it to be restored: on the shared cluster an install of an
 * older operator build may delete our hand-off MachineConfig (then MCC renders
 * without it until ours is written again).
 */
export async function expectHandOff(pool: string, image: string | undefined, source: string): Promise<void> {
  let got: unknown;
  let want: unknown;
  try {
    await waitFor(
      async () => {
        got = await handOff(pool);
        want = await expectedHandOff(pool, image, source);
        return JSON.stringify(got) === JSON.stringify(want);
      },
      { timeoutMs: 30_000, intervalMs: 500, what: `the hand-off of ${image} on pool ${pool}` },
    );
  } catch {
    expect(got).toEqual(want);
  }
}

async function poolAnnotationsOf(pool: string): Promise<Record<string, string>> {
  const a = (await readPool(pool))?.metadata.annotations ?? {};
  const out: Record<string, string> = {};
  for (const k of [ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_CONFIG, ANNOTATION_NEWEST_IMAGE_SOURCE]) if (a[k] !== undefined) out[k] = a[k];
  return out;
}

/** An ImageStream's status tags: tag -> the digests of its items, newest first ({} when the stream is absent). */
export async function streamTags(ns: string, stream: string): Promise<Record<string, string[]>> {
  const st = await getJson<KObj & { status?: { tags?: { tag: string; items?: { image: string }[] | null }[] | null } }>(['-n', ns, 'imagestream', stream]);
  return Object.fromEntries((st?.status?.tags ?? []).map((t) => [t.tag, (t.items ?? []).map((i) => i.image)]));
}

/** The rendered MachineConfig's osImageURL. */
export async function osImageOf(rendered: string): Promise<string | undefined> {
  return (await getJson<KObj & { spec?: { osImageURL?: string } }>(['machineconfig', rendered]))?.spec?.osImageURL;
}

// ---- what the operator did ---------------------------------------------------------------------

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export interface LayeredPoolStatus {
  phase?: string;
  message?: string;
  image?: string;
  imageSource?: string;
  previousImage?: string;
  base?: string;
  baseSource?: string;
  renderedConfig?: string;
  renderedConfigImage?: string;
  observedGeneration?: number;
  conditions?: Condition[];
  rollout?: { handoff?: string; machineConfig?: string; renderedConfig?: string; machineCount?: number; updatedMachineCount?: number; readyMachineCount?: number; held?: string };
  buildAttempts?: unknown;
  history?: { build: string; kind: string; fingerprint: string; result: string; outputDigest?: string; inputs: Record<string, string> }[];
}

export async function layeredPool(ns: string, name: string): Promise<(KObj & { status?: LayeredPoolStatus }) | undefined> {
  return getJson(['-n', ns, 'layeredpools.layering.mco.dev', name]);
}

export async function status(ns: string, name: string): Promise<LayeredPoolStatus> {
  return (await layeredPool(ns, name))?.status ?? {};
}

export function cond(st: LayeredPoolStatus, type: 'Ready' | 'Building' | 'Degraded'): Condition | undefined {
  return st.conditions?.find((c) => c.type === type);
}

/** Waits until the status object satisfies `pred`; returns it. */
export async function waitStatus(ns: string, name: string, pred: (st: LayeredPoolStatus) => boolean, what: string, timeoutMs = 240_000): Promise<LayeredPoolStatus> {
  let last: LayeredPoolStatus = {};
  try {
    return await waitFor(
      async () => {
        last = await status(ns, name);
        return pred(last) ? last : undefined;
      },
      { what, timeoutMs, intervalMs: 500 },
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\nlast status of ${ns}/${name}: ${JSON.stringify({ ...last, history: undefined }, null, 1)}`);
  }
}

/**
 * Waits until the pool has settled (see settled()) on an image satisfying
 * `pred`, MCC has rendered the pool with that image as its osImageURL (the
 * hand-off MachineConfig took effect) and the status names that rendering.
 * Returns the status and the rendered config's name.
 */
export async function waitHandedOff(ns: string, pool: string, pred: (st: LayeredPoolStatus) => boolean, what: string, timeoutMs = 240_000): Promise<LayeredPoolStatus & { rendered: string }> {
  const first = await waitStatus(ns, pool, (x) => settled(x) && pred(x), what, timeoutMs);
  await waitFor(async () => (await handedOffImage(pool)) === first.image, { what: `MachineConfig ${handoffMachineConfigName(pool)} with ${first.image}`, timeoutMs: 30_000 });
  const rendered = await renderedWithImage(pool, first.image!);
  const st = await waitStatus(ns, pool, (x) => settled(x) && pred(x) && x.renderedConfig === rendered, `${what}, on the rendering with its image (${rendered})`, 60_000);
  return { ...st, rendered };
}

/** Ready, handed off, nothing building, and not held for a rollout: the pool has settled. */
export function settled(st: LayeredPoolStatus): boolean {
  return st.phase === 'Ready' && st.rollout?.held === undefined && cond(st, 'Ready')?.status === 'True' && cond(st, 'Building')?.status === 'False' && cond(st, 'Degraded')?.status === 'False';
}

export interface EventInfo {
  reason: string;
  type: string;
  message: string;
}

/**
 * Events about the pool (wherever they were recorded: a pool is cluster-scoped,
 * so Kubernetes keeps them in namespace "default"), oldest first.
 */
export async function events(pool: string): Promise<EventInfo[]> {
  const items = await listJson<KObj & { reason: string; type: string; message: string; involvedObject: { kind: string; name: string }; firstTimestamp?: string; eventTime?: string }>([
    '--all-namespaces',
    'events',
    '--field-selector',
    `involvedObject.name=${pool},involvedObject.kind=MachineConfigPool`,
  ]);
  // Timestamps have one-second resolution; the resourceVersion (etcd's revision
  // on this API server) orders events written within the same second.
  const rv = (o: KObj) => Number((o.metadata as { resourceVersion?: string }).resourceVersion ?? 0);
  return items
    .sort((a, b) => Date.parse(a.metadata.creationTimestamp ?? '') - Date.parse(b.metadata.creationTimestamp ?? '') || rv(a) - rv(b))
    .map((e) => ({ reason: e.reason, type: e.type, message: e.message }));
}

/** lbc_reconcile_total of an operator. */
async function reconciles(op: OperatorProcess): Promise<number> {
  const { metricsUrl } = await op.endpoints();
  return metricValue((await scrape(metricsUrl)).samples, 'lbc_reconcile_total') ?? 0;
}

/**
 * Observes that `op` has caught up with what happened since `mark()` was
 * called: it finished more reconciles and its work queue is empty. The way to
 * check that something did NOT happen without a fixed sleep:
 * `const seen = await caughtUp(op); <change>; await seen();`.
 */
export async function caughtUp(op: OperatorProcess): Promise<(what: string) => Promise<void>> {
  const before = await reconciles(op);
  return async (what) => {
    await waitFor(
      async () => {
        const { metricsUrl } = await op.endpoints();
        const m = (await scrape(metricsUrl)).samples;
        return (metricValue(m, 'lbc_reconcile_total') ?? 0) > before && metricValue(m, 'lbc_workqueue_depth') === 0;
      },
      { what: `operator ${op.name} reconciled after ${what} and idle`, timeoutMs: 60_000, intervalMs: 500 },
    );
  };
}

/**
 * The images the pool was handed, in order, from its ImageHandedOff Events:
 * [source, image] pairs, a repeat of the same image collapsed (an install of
 * the operator elsewhere on the shared cluster that predates the fix of
 * HandOffRemoved may delete our hand-off MachineConfig, which is then written
 * again and recorded again).
 */
export function handOffSequence(ev: readonly EventInfo[]): [string, string][] {
  const out: [string, string][] = [];
  for (const e of ev) {
    if (e.reason !== 'ImageHandedOff') continue;
    const m = / now uses (\S+) image (\S+) /.exec(e.message);
    if (!m) throw new Error(`unexpected ImageHandedOff message: ${e.message}`);
    const last = out.at(-1);
    if (!last || last[0] !== m[1] || last[1] !== m[2]) out.push([m[1]!, m[2]!]);
  }
  return out;
}

/** A port on loopback that nothing listens on. */
export async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// ---- the registry ---------------------------------------------------------------------------------

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface Manifest {
  mediaType?: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number }[];
  annotations?: Record<string, string>;
}

/** Splits `<registry>/<repo>@sha256:...` (or `:tag`). */
export function splitRef(ref: string): { host: string; repo: string; reference: string } {
  const m = /^([^/]+)\/(.+?)(?:@(sha256:[0-9a-f]{64})|:([^/:@]+))$/.exec(ref);
  if (!m) throw new Error(`not an image reference with a tag or digest: ${JSON.stringify(ref)}`);
  return { host: m[1]!, repo: m[2]!, reference: m[3] ?? m[4]! };
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** ServiceAccount tokens by namespace (each scenario's, set before all): the integrated registry accepts only a token with rights in the repository's namespace. */
const registryTokens = new Map<string, string>();
/** Bearer tokens of the integrated registry by repository and access. */
const bearerTokens = new Map<string, { token: string; until: number }>();

async function saToken(ns: string): Promise<string> {
  let t = registryTokens.get(ns);
  if (!t) {
    t = (await kubectl(['create', 'token', 'layered-build-controller', '-n', ns, '--duration=1h'])).stdout.trim();
    registryTokens.set(ns, t);
  }
  return t;
}

/**
 * A bearer token of the integrated registry for `repo` (`<ns>/<stream>`):
 * Basic `unused:<ServiceAccount token>` on /openshift/token, as docker login does.
 */
async function bearer(repo: string, access: string): Promise<string> {
  const key = `${repo}:${access}`;
  const cached = bearerTokens.get(key);
  if (cached && cached.until > Date.now()) return cached.token;
  const basic = Buffer.from(`unused:${await saToken(repo.split('/')[0]!)}`).toString('base64');
  const r = await fetch(`${registryUrl(internalRegistryHost())}/openshift/token?scope=${encodeURIComponent(`repository:${repo}:${access}`)}`, { headers: { Authorization: `Basic ${basic}` } });
  if (!r.ok) throw new Error(`token for ${repo} (${access}) from the integrated registry: HTTP ${r.status} ${await r.text()}`);
  const body = (await r.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new Error(`the integrated registry gave no token for ${repo}`);
  bearerTokens.set(key, { token, until: Date.now() + 60_000 });
  return token;
}

/**
 * fetch() on a registry's /v2/ API: the outside registry (LOCAL_REGISTRY)
 * anonymously, the integrated one with a bearer token for the repository.
 */
async function registryFetch(host: string, repo: string, p: string, init: RequestInit = {}, access = 'pull'): Promise<Response> {
  const headers = new Headers(init.headers);
  if (host === internalRegistryHost()) headers.set('Authorization', `Bearer ${await bearer(repo, access)}`);
  else if (host !== registryHost()) throw new Error(`${host}/${repo} is in neither the outside registry ${registryHost()} nor the integrated one ${internalRegistryHost()}`);
  const url = p.startsWith('http') ? p : `${registryUrl(host)}${p}`;
  return fetch(url, { ...init, headers });
}

/** The manifest at `ref` (in the outside or the integrated registry), with its digest; undefined on 404. */
export async function fetchManifest(ref: string): Promise<{ manifest: Manifest; digest: string; body: Buffer } | undefined> {
  const { host, repo, reference } = splitRef(ref);
  const r = await registryFetch(host, repo, `/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
  if (r.status === 404) return undefined;
  if (!r.ok) throw new Error(`GET manifest ${ref}: HTTP ${r.status} ${await r.text()}`);
  const body = Buffer.from(await r.arrayBuffer());
  return { manifest: JSON.parse(body.toString('utf8')) as Manifest, digest: sha(body), body };
}

/** A blob of `<host>/<repo>`, checked against its digest. */
export async function fetchBlob(host: string, repo: string, digest: string): Promise<Buffer> {
  const r = await registryFetch(host, repo, `/v2/${repo}/blobs/${digest}`);
  if (!r.ok) throw new Error(`GET blob ${host}/${repo}@${digest}: HTTP ${r.status}`);
  const b = Buffer.from(await r.arrayBuffer());
  const got = sha(b);
  if (got !== digest) throw new Error(`blob ${repo}@${digest} has digest ${got}`);
  return b;
}

export async function imageConfig(ref: string): Promise<{ config?: { Labels?: Record<string, string> }; rootfs?: { diff_ids: string[] } }> {
  const m = await fetchManifest(ref);
  if (!m) throw new Error(`no manifest at ${ref}`);
  const { host, repo } = splitRef(ref);
  return JSON.parse((await fetchBlob(host, repo, m.manifest.config.digest)).toString('utf8')) as never;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 256 * 1024 * 1024, encoding: 'buffer' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr.toString('utf8')}`));
      else resolve(stdout.toString('utf8'));
    });
  });
}

/**
 * The files of an image as the container would see them: every layer blob is
 * downloaded, checked against its digest and read with tar; for each path
 * asked for, the topmost layer that has it wins. Paths are absolute
 * ("/etc/x"); a path no layer has is absent from the result.
 */
export async function readImageFiles(ref: string, paths: string[]): Promise<Map<string, string>> {
  const m = await fetchManifest(ref);
  if (!m) throw new Error(`no manifest at ${ref}`);
  const { host, repo } = splitRef(ref);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lbc-e2e-layers-'));
  const found = new Map<string, string>();
  try {
    const layers = [...m.manifest.layers].reverse(); // topmost first
    for (const [i, layer] of layers.entries()) {
      const file = path.join(dir, `layer-${i}.tar.gz`);
      writeFileSync(file, await fetchBlob(host, repo, layer.digest));
      const z = layer.mediaType.endsWith('gzip') ? 'z' : '';
      const entries = (await run('tar', [`-t${z}f`, file])).split('\n').filter(Boolean);
      for (const p of paths) {
        if (found.has(p)) continue;
        const rel = p.replace(/^\//, '');
        const entry = entries.find((e) => e === rel || e === `./${rel}`);
        if (entry) found.set(p, await run('tar', [`-x${z}Of`, file, entry]));
      }
      if (found.size === paths.length) break;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return found;
}

/**
 * Which of `needles` appear anywhere in the image at `ref`: its config blob and
 * every layer (gunzipped), raw and inside every `data:` URL found there, decoded
 * (how an Ignition config carries a file's content). Returns `needle in <where>` lines.
 */
export async function secretsInImage(ref: string, needles: readonly string[]): Promise<string[]> {
  const m = await fetchManifest(ref);
  if (!m) throw new Error(`no manifest at ${ref}`);
  const { host, repo } = splitRef(ref);
  const found: string[] = [];
  const search = (where: string, data: Buffer) => {
    const text = data.toString('latin1');
    const decoded = [...text.matchAll(/data:[^"\s]*/g)].flatMap((u) => {
      try {
        return [decodeDataUrl(u[0]).toString('latin1')];
      } catch {
        return [];
      }
    });
    for (const n of needles) if (text.includes(n) || decoded.some((d) => d.includes(n))) found.push(`${n} in ${where}`);
  };
  search(`${ref} config`, await fetchBlob(host, repo, m.manifest.config.digest));
  for (const layer of m.manifest.layers) {
    const blob = await fetchBlob(host, repo, layer.digest);
    search(`${ref} layer ${layer.digest}`, layer.mediaType.endsWith('gzip') ? gunzipSync(blob) : blob);
  }
  return found;
}

/** Sets the cluster's global pull secret (openshift-config/pull-secret, what MCC renders into every pool); returns the restore. */
export async function setGlobalPullSecret(dockerConfigJson: string): Promise<() => Promise<void>> {
  const before = (await kubectl(['get', 'secret', 'pull-secret', '-n', 'openshift-config', '-o', 'jsonpath={.data.\\.dockerconfigjson}'])).stdout;
  const patch = (b64: string) => kubectl(['patch', 'secret', 'pull-secret', '-n', 'openshift-config', '--type', 'merge', '-p', JSON.stringify({ data: { '.dockerconfigjson': b64 } })]);
  await patch(Buffer.from(dockerConfigJson).toString('base64'));
  return async () => {
    await patch(before);
  };
}

// Pushes go to the outside registry only (anonymous, plain http): like quay.io, not the cluster's.
function outsideUrl(p: string): string {
  return `${registryUrl(registryHost())}${p}`;
}

async function uploadBlob(repo: string, data: Buffer, digest: string): Promise<void> {
  const head = await fetch(outsideUrl(`/v2/${repo}/blobs/${digest}`), { method: 'HEAD' });
  if (head.ok) return;
  const start = await fetch(outsideUrl(`/v2/${repo}/blobs/uploads/`), { method: 'POST' });
  if (start.status !== 202) throw new Error(`start upload to ${repo}: HTTP ${start.status}`);
  const loc = new URL(start.headers.get('location') ?? '', registryUrl(registryHost()));
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: data, headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`upload blob to ${repo}: HTTP ${put.status} ${await put.text()}`);
}

/** Copies a blob of `<fromHost>/<from>` into the outside registry's `repo` (a cross-repository mount when it is there already). */
async function copyBlob(repo: string, fromHost: string, from: string, digest: string): Promise<void> {
  if (fromHost === registryHost()) {
    const r = await fetch(outsideUrl(`/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`), { method: 'POST' });
    if (r.status === 201) return;
  }
  await uploadBlob(repo, await fetchBlob(fromHost, from, digest), digest);
}

/**
 * Pushes a new image to `<outside registry>/<repo>:<tag>`: the image at
 * `fromRef` (in either registry) plus one layer holding `files`, with `label`
 * added to its config. Returns `<registry>/<repo>@<digest>`. This is how the
 * suite makes an "external" base or content image whose digest and files
 * differ from the CoreOS stand-in: built elsewhere, pushed to an outside
 * registry, then tagged in with `oc tag`.
 */
export async function pushDerivedImage(fromRef: string, repo: string, tag: string, files: Files, label: Record<string, string>): Promise<string> {
  const src = await fetchManifest(fromRef);
  if (!src) throw new Error(`no manifest at ${fromRef}`);
  const { host: fromHost, repo: from } = splitRef(fromRef);
  const cfg = JSON.parse((await fetchBlob(fromHost, from, src.manifest.config.digest)).toString('utf8')) as {
    config?: { Labels?: Record<string, string> };
    rootfs: { diff_ids: string[] };
    history?: unknown[];
  };
  // The new layer: a tar of `files`, written by tar, gzipped here.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lbc-e2e-img-'));
  let tarBytes: Buffer;
  try {
    const rels: string[] = [];
    for (const [p, c] of Object.entries(files)) {
      const rel = p.replace(/^\//, '');
      mkdirSync(path.join(dir, 'root', path.dirname(rel)), { recursive: true });
      writeFileSync(path.join(dir, 'root', rel), c);
      rels.push(rel);
    }
    await run('tar', ['--owner=0', '--group=0', '--numeric-owner', '-C', path.join(dir, 'root'), '-cf', path.join(dir, 'layer.tar'), ...rels]);
    tarBytes = readFileSync(path.join(dir, 'layer.tar'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const layer = gzipSync(tarBytes);
  const layerDigest = sha(layer);
  cfg.config = { ...(cfg.config ?? {}), Labels: { ...(cfg.config?.Labels ?? {}), ...label } };
  cfg.rootfs.diff_ids = [...cfg.rootfs.diff_ids, sha(tarBytes)];
  cfg.history = [...(cfg.history ?? []), { created: new Date().toISOString(), created_by: 'lbc e2e: derived image' }];
  const config = Buffer.from(JSON.stringify(cfg));
  const configDigest = sha(config);
  for (const l of src.manifest.layers) await copyBlob(repo, fromHost, from, l.digest);
  await uploadBlob(repo, layer, layerDigest);
  await uploadBlob(repo, config, configDigest);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [...src.manifest.layers, { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }),
  );
  const r = await fetch(outsideUrl(`/v2/${repo}/manifests/${tag}`), { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (r.status !== 201) throw new Error(`PUT manifest ${repo}:${tag}: HTTP ${r.status} ${await r.text()}`);
  return `${registryHost()}/${repo}@${sha(manifest)}`;
}

/** The cluster's base OS image (ControllerConfig spec.baseOSContainerImage). */
export async function clusterBaseImage(): Promise<string> {
  const r = await kubectl(['get', 'controllerconfig', 'machine-config-controller', '-o', 'jsonpath={.spec.baseOSContainerImage}']);
  return r.stdout.trim();
}

// ---- the real node ------------------------------------------------------------------------------

const NODE_ROLE = 'node-role.kubernetes.io/';
const MCD = 'machineconfiguration.openshift.io/';

/** The node's MCD annotations: currentConfig, desiredConfig, state, reason. */
export async function nodeConfig(node: string): Promise<{ current?: string; desired?: string; state?: string; reason?: string }> {
  const a = (await getJson(['node', node]))?.metadata.annotations ?? {};
  return { current: a[`${MCD}currentConfig`], desired: a[`${MCD}desiredConfig`], state: a[`${MCD}state`], reason: a[`${MCD}reason`] };
}

/**
 * Moves the real node into `pool` for one scenario with one `oc label`
 * (node-role.kubernetes.io/<pool>=, dropping the custom pool it was in: MCC
 * allows worker plus at most one custom pool). Returns the restore: the labels
 * as they were, then waits until the node is back on its previous config
 * (desiredConfig == currentConfig == before, state Done).
 */
export async function moveNodeInto(node: string, pool: string): Promise<() => Promise<void>> {
  const labels = (await getJson(['node', node]))?.metadata.labels ?? {};
  const before = await nodeConfig(node);
  const others = Object.keys(labels).filter((k) => k.startsWith(NODE_ROLE) && k !== `${NODE_ROLE}worker` && k !== `${NODE_ROLE}master`);
  await oc(['label', 'node', node, `${NODE_ROLE}${pool}=`, ...others.map((k) => `${k}-`)]);
  return async () => {
    await oc(['label', 'node', node, `${NODE_ROLE}${pool}-`, ...others.map((k) => `${k}=${labels[k]}`)]);
    if (!before.desired) return;
    // Back in its pool, the node goes to that pool's current target, which need
    // not be the config it had before: the pool's rendered config may have
    // changed meanwhile (an images.config change of another scenario re-renders
    // every pool, and the node, out of the pool, was not rolled).
    const home = others[0]?.slice(NODE_ROLE.length) ?? (`${NODE_ROLE}worker` in labels ? 'worker' : 'master');
    await waitFor(
      async () => {
        const target = (await getJson<{ spec?: { configuration?: { name?: string } } }>(['machineconfigpool', home]))?.spec?.configuration?.name;
        const n = await nodeConfig(node);
        return target !== undefined && n.desired === target && n.current === target && n.state === 'Done';
      },
      { what: `node ${node} back in pool ${home}, on the pool's current target`, timeoutMs: 120_000, intervalMs: 500 },
    );
  };
}

// ---- a private registry of one scenario ---------------------------------------------------------

export interface PrivateRegistry {
  /** host:port, on the node address (reachable by openshift-apiserver's importer). */
  host: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A plain-http registry for one scenario only (Debian's `docker-registry
 * serve`, its own storage directory) on the node address of LOCAL_REGISTRY and
 * a free port; stopped and removed with remove(). Not started until start().
 */
export async function privateRegistry(): Promise<PrivateRegistry & { remove(): Promise<void> }> {
  const addr = registryHost().split(':')[0]!;
  const port = await closedPort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lbc-e2e-registry-'));
  const host = `${addr}:${port}`;
  const config = path.join(dir, 'config.yml');
  writeFileSync(config, yaml.dump({ version: 0.1, log: { level: 'warn' }, storage: { filesystem: { rootdirectory: path.join(dir, 'storage') }, delete: { enabled: true } }, http: { addr: host } }));
  let child: ReturnType<typeof spawn> | undefined;
  const reg = {
    host,
    async start() {
      if (child) return;
      const c = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr?.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-2000)));
      child = c;
      await waitFor(
        async () => {
          if (c.exitCode !== null) throw new Error(`docker-registry exited ${c.exitCode}: ${err}`);
          return (await fetch(`http://${host}/v2/`).then((r) => r.status, () => 0)) === 200;
        },
        { what: `the private registry on ${host}`, timeoutMs: 20_000, intervalMs: 200 },
      );
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    },
    async remove() {
      await reg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return reg;
}

/** `skopeo copy` between plain-http registries; returns the digest of the manifest at `to`. */
export async function skopeoCopy(from: string, to: string): Promise<string> {
  await run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${from}`, `docker://${to}`]);
  const { host, repo, reference } = splitRef(to);
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
  if (!r.ok) throw new Error(`GET manifest ${to}: HTTP ${r.status}`);
  return sha(Buffer.from(await r.arrayBuffer()));
}

/**
 * Adds `host` to images.config.openshift.io/cluster
 * spec.registrySources.insecureRegistries (what the real OCM writes into a
 * build's registries.conf: a build pulls a plain-http base only from a registry
 * listed there); returns the removal of exactly that entry.
 */
export async function addClusterInsecureRegistry(host: string): Promise<() => Promise<void>> {
  await oc(['patch', 'images.config.openshift.io', 'cluster', '--type', 'json', '-p', JSON.stringify([{ op: 'add', path: '/spec/registrySources/insecureRegistries/-', value: host }])]);
  return async () => {
    const list = (await getJson<{ spec?: { registrySources?: { insecureRegistries?: string[] } } }>(['images.config.openshift.io', 'cluster']))?.spec?.registrySources?.insecureRegistries ?? [];
    const i = list.indexOf(host);
    if (i >= 0) await oc(['patch', 'images.config.openshift.io', 'cluster', '--type', 'json', '-p', JSON.stringify([{ op: 'test', path: `/spec/registrySources/insecureRegistries/${i}`, value: host }, { op: 'remove', path: `/spec/registrySources/insecureRegistries/${i}` }])]);
  };
}
