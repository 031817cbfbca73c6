// Helpers for the end-to-end suite: the operator as a real process, the
// objects an admin (or MCO's render controller) would create, and readers of
// what the operator did, seen from the outside (the API server and the
// registry). Nothing here talks to the operator's code.
//
// Isolation: the cluster is shared (a demo pool, other people's operators, the
// integration tests' emulator builds). Every test file therefore gets its own
// namespace for the per-pool objects and its own opt-in label, both derived
// from a per-run id: an operator started here manages only the pools of its
// file, and no other operator (which watches the default label and namespace)
// touches them. Pool and MachineConfig names carry the same run id.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { execFile } from 'node:child_process';
import { childEnv, clusterEnv, kubectl, registryHost, registryUrl, waitFor } from '../harness/cluster.ts';

export { kubectl, waitFor, registryHost };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const ANN_POOL = 'machineconfiguration.openshift.io/pool';
export const ANN_IMAGE = 'machineconfiguration.openshift.io/newestImage';
export const ANN_CONFIG = 'machineconfiguration.openshift.io/newestImageEquivalentConfig';
export const ANN_SOURCE = 'machineconfiguration.openshift.io/newestImageSource';
export const LABEL_BUILD_KIND = 'layering.mco.dev/build-kind';
export const ANN_FINGERPRINT = 'layering.mco.dev/fingerprint';
/** Every label key the suite uses as an opt-in label starts with this. */
export const E2E_LABEL_PREFIX = 'e2e.layering.mco.dev/';

export const APPLY_COMMAND = 'ignition-apply /etc/machine-config-ignition.json';

// ---- names ------------------------------------------------------------------------------

export interface Scope {
  /** Short id of this run of this file, e.g. "s1-k3x9q". */
  id: string;
  /** Namespace of the per-pool objects (the operator's --namespace). */
  ns: string;
  /** The opt-in label key (the operator's --opt-in-label). */
  label: string;
}

/** Names made by scope(): `e2e-<scenario>-<8 chars>` (pools and namespaces). */
const OURS = /^e2e-s[0-9]+[a-z]?-[0-9a-z]{8}$/;

/** A fresh scope for one test file (or one operator configuration within it). */
export function scope(scenario: string): Scope {
  const id = `${scenario}-${Date.now().toString(36).slice(-4)}${randomBytes(2).toString('hex')}`;
  return { id, ns: `e2e-${id}`, label: `${E2E_LABEL_PREFIX}${id}` };
}

export function streams(pool: string) {
  return {
    base: `${pool}-base`,
    externalBase: `${pool}-external-base`,
    renderedConfig: `${pool}-rendered-config`,
    content: `${pool}-mco-content`,
    custom: `${pool}-mco-content-custom`,
    external: `${pool}-mco-content-external`,
  };
}

export function buildConfigs(pool: string) {
  return { content: `${pool}-build-mco-content`, custom: `${pool}-build-mco-content-custom` };
}

// ---- kubectl --------------------------------------------------------------------------------

export async function getJson<T = KObj>(args: string[]): Promise<T | undefined> {
  const r = await kubectl(['get', ...args, '-o', 'json'], { allowFailure: true });
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get ${args.join(' ')}: ${r.stderr.trim()}`);
  }
  return JSON.parse(r.stdout) as T;
}

export async function listJson<T = KObj>(args: string[]): Promise<T[]> {
  const r = await kubectl(['get', ...args, '-o', 'json']);
  return (JSON.parse(r.stdout) as { items: T[] }).items;
}

export async function applyJson(obj: unknown): Promise<void> {
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) });
}

export async function mergePatch(args: string[], patch: unknown, subresource?: string): Promise<void> {
  await kubectl(['patch', ...args, '--type', 'merge', '-p', JSON.stringify(patch), ...(subresource ? ['--subresource', subresource] : [])]);
}

export async function jsonPatch(args: string[], ops: unknown[], subresource?: string): Promise<void> {
  await kubectl(['patch', ...args, '--type', 'json', '-p', JSON.stringify(ops), ...(subresource ? ['--subresource', subresource] : [])]);
}

export interface KObj {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    creationTimestamp?: string;
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export async function ensureNamespace(ns: string): Promise<void> {
  const r = await kubectl(['create', 'namespace', ns], { allowFailure: true });
  if (r.code !== 0 && !/AlreadyExists/.test(r.stderr)) throw new Error(`create namespace ${ns}: ${r.stderr}`);
}

/**
 * Removes what an earlier, aborted run of the suite left: pools opted in with an
 * e2e label (nothing else manages them) and their namespaces. Only objects
 * older than `olderThanMs` are touched, so a run in progress is left alone.
 */
export async function sweepLeftovers(olderThanMs = 30 * 60_000): Promise<void> {
  const now = Date.now();
  const old = (o: KObj) => now - Date.parse(o.metadata.creationTimestamp ?? '') > olderThanMs;
  const pools = (await listJson(['machineconfigpools'])).filter(
    (p) => Object.keys(p.metadata.labels ?? {}).some((k) => k.startsWith(E2E_LABEL_PREFIX)) && OURS.test(p.metadata.name) && old(p),
  );
  if (pools.length) await kubectl(['delete', 'machineconfigpool', '--wait=false', ...pools.map((p) => p.metadata.name)], { allowFailure: true });
  const mcs = (await listJson(['machineconfigs'])).filter((m) => OURS.test(m.metadata.name.replace(/^rendered-/, '').replace(/-[0-9]+$/, '')) && old(m));
  if (mcs.length) await kubectl(['delete', 'machineconfig', '--wait=false', ...mcs.map((m) => m.metadata.name)], { allowFailure: true });
  const nss = (await listJson(['namespaces'])).filter((n) => OURS.test(n.metadata.name) && old(n) && !n.metadata.deletionTimestamp);
  if (nss.length) await kubectl(['delete', 'namespace', '--wait=false', ...nss.map((n) => n.metadata.name)], { allowFailure: true });
}

/** Deletes the pools and MachineConfigs a file created (owned objects follow by garbage collection). */
export async function cleanup(s: Scope, pools: string[], machineConfigs: string[]): Promise<void> {
  if (pools.length) await kubectl(['delete', 'machineconfigpool', '--ignore-not-found', '--wait=false', ...pools], { allowFailure: true });
  if (machineConfigs.length) await kubectl(['delete', 'machineconfig', '--ignore-not-found', '--wait=false', ...machineConfigs], { allowFailure: true });
  await kubectl(['delete', 'namespace', '--ignore-not-found', '--wait=false', s.ns], { allowFailure: true });
}

// ---- what an admin / MCO's render controller does ---------------------------------------------

/** A file of a MachineConfig: absolute path -> contents (plain text). */
export type Files = Record<string, string>;

export function ignitionOf(files: Files): Record<string, unknown> {
  return {
    ignition: { version: '3.4.0' },
    storage: {
      files: Object.entries(files).map(([p, c]) => ({ path: p, mode: 420, overwrite: true, contents: { source: `data:,${encodeURIComponent(c)}` } })),
    },
  };
}

/** Creates (or replaces) a rendered MachineConfig with the given Ignition config. */
export async function createMachineConfig(name: string, config: Record<string, unknown>): Promise<void> {
  await applyJson({
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfig',
    metadata: { name },
    spec: { config },
  });
}

export async function createPool(name: string, s: Scope, rendered: string): Promise<void> {
  await applyJson({
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfigPool',
    metadata: { name, labels: { [s.label]: '' } },
    spec: {
      machineConfigSelector: { matchLabels: { 'machineconfiguration.openshift.io/role': name } },
      nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${name}`]: '' } },
      configuration: { name: rendered },
    },
  });
}

/** What MCO's render controller does when a pool's rendered config changes. */
export async function setRenderedConfig(pool: string, rendered: string): Promise<void> {
  await mergePatch(['machineconfigpool', pool], { spec: { configuration: { name: rendered } } });
}

/** `oc tag <ref> <ns>/<stream>:<tag>` (the stream is created when missing, as oc does). */
export async function ocTag(ns: string, stream: string, tag: string, ref: string): Promise<void> {
  const cur = await getJson(['-n', ns, 'imagestream', stream]);
  const entry = { name: tag, from: { kind: 'DockerImage', name: ref } };
  if (!cur) {
    await applyJson({ apiVersion: 'image.openshift.io/v1', kind: 'ImageStream', metadata: { name: stream, namespace: ns }, spec: { tags: [entry] } });
    return;
  }
  const tags = ((cur.spec?.tags ?? []) as { name: string }[]).filter((t) => t.name !== tag);
  await mergePatch(['-n', ns, 'imagestream', stream], { spec: { tags: [...tags, entry] } });
}

/**
 * `oc tag -d <ns>/<stream>:<tag>`: OpenShift deletes the ImageStreamTag, i.e. the
 * spec tag and the status tag. (The emulator would also drop the status tag of a
 * spec tag it imported once the spec tag is gone; doing both is what oc does.)
 */
export async function ocTagDelete(ns: string, stream: string, tag: string): Promise<void> {
  const cur = await getJson(['-n', ns, 'imagestream', stream]);
  if (!cur) return;
  const specTags = (cur.spec?.tags ?? []) as { name: string }[];
  const i = specTags.findIndex((t) => t.name === tag);
  if (i >= 0) await jsonPatch(['-n', ns, 'imagestream', stream], [{ op: 'test', path: `/spec/tags/${i}/name`, value: tag }, { op: 'remove', path: `/spec/tags/${i}` }]);
  await waitFor(
    async () => {
      const now = await getJson(['-n', ns, 'imagestream', stream]);
      const st = ((now?.status?.tags ?? []) as { tag: string }[]).findIndex((t) => t.tag === tag);
      if (st < 0) return true;
      const r = await kubectl(
        ['patch', '-n', ns, 'imagestream', stream, '--subresource', 'status', '--type', 'json', '-p', JSON.stringify([{ op: 'test', path: `/status/tags/${st}/tag`, value: tag }, { op: 'remove', path: `/status/tags/${st}` }])],
        { allowFailure: true },
      );
      return r.code === 0;
    },
    { what: `status tag ${stream}:${tag} removed`, timeoutMs: 30_000 },
  );
}

// ---- what the operator did ---------------------------------------------------------------------

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

/** The pool's Builds (by the pool annotation), oldest first. */
export async function builds(ns: string, pool: string, kind?: 'content' | 'custom'): Promise<BuildInfo[]> {
  const items = await listJson(['-n', ns, 'builds.build.openshift.io']);
  return items
    .filter((b) => b.metadata.annotations?.[ANN_POOL] === pool && (!kind || b.metadata.labels?.[LABEL_BUILD_KIND] === kind))
    .sort((a, b) => Date.parse(a.metadata.creationTimestamp ?? '') - Date.parse(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name))
    .map((b) => {
      const st = (b.status ?? {}) as { phase?: string; cancelled?: boolean; reason?: string; logSnippet?: string; output?: { to?: { imageDigest?: string } } };
      const spec = (b.spec ?? {}) as { source?: { dockerfile?: string }; strategy?: { dockerStrategy?: { from?: { name?: string } } } };
      return {
        name: b.metadata.name,
        kind: b.metadata.labels?.[LABEL_BUILD_KIND] ?? '',
        phase: st.phase ?? 'New',
        fingerprint: b.metadata.annotations?.[ANN_FINGERPRINT] ?? '',
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

export async function pool(name: string): Promise<KObj | undefined> {
  return getJson(['machineconfigpool', name]);
}

export async function poolAnnotations(name: string): Promise<Record<string, string>> {
  const p = await pool(name);
  const a = p?.metadata.annotations ?? {};
  const out: Record<string, string> = {};
  for (const k of [ANN_IMAGE, ANN_CONFIG, ANN_SOURCE]) if (a[k] !== undefined) out[k] = a[k];
  return out;
}

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
  base?: string;
  baseSource?: string;
  renderedConfig?: string;
  renderedConfigImage?: string;
  observedGeneration?: number;
  conditions?: Condition[];
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

/** Ready, handed off, and nothing building: the pool has settled. */
export function settled(st: LayeredPoolStatus): boolean {
  return st.phase === 'Ready' && cond(st, 'Ready')?.status === 'True' && cond(st, 'Building')?.status === 'False' && cond(st, 'Degraded')?.status === 'False';
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

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- the operator, as a real process ------------------------------------------------------------

export interface OperatorOptions {
  scope: Scope;
  /** Extra or overriding flags, e.g. ['--retry-limit', '2']. */
  args?: string[];
  registry?: string;
  applyCommand?: string;
}

const LOG_DIR = path.join(os.tmpdir(), 'lbc-e2e-logs');

// Operators still running when the test process exits (a failed or aborted
// file) are killed, so none is left managing a pool nobody watches.
const children = new Set<ChildProcess>();
function track(child: ChildProcess): void {
  if (children.size === 0 && !exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
}
let exitHook = false;

export class Operator {
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private out = '';
  private exited: Promise<void> = Promise.resolve();

  readonly name: string;

  private constructor(name: string) {
    this.name = name;
    mkdirSync(LOG_DIR, { recursive: true });
    this.logFile = path.join(LOG_DIR, `${name}-${Date.now()}.log`);
  }

  static args(o: OperatorOptions): string[] {
    return [
      '--namespace', o.scope.ns,
      '--opt-in-label', o.scope.label,
      '--registry', o.registry ?? registryHost(),
      '--registry-insecure',
      '--leader-elect', 'false',
      '--apply-command', o.applyCommand ?? APPLY_COMMAND,
      '--metrics-addr', '127.0.0.1:0',
      '--probe-addr', '127.0.0.1:0',
      '--debounce-ms', '1000',
      '--retry-backoff-ms', '2000',
      '--retry-limit', '2',
      '--log-level', 'debug',
      ...(o.args ?? []),
    ];
  }

  /** Starts `node src/cli.ts run ...` and waits until it reconciles. */
  static async start(name: string, o: OperatorOptions): Promise<Operator> {
    const op = new Operator(name);
    op.spawn(Operator.args(o));
    await op.waitForLog('leading: reconciling pools', 60_000);
    return op;
  }

  private spawn(args: string[]): void {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    log.write(`# node src/cli.ts run ${args.map((a) => JSON.stringify(a)).join(' ')}\n`);
    const child = spawn(process.execPath, ['src/cli.ts', 'run', ...args], {
      cwd: ROOT,
      env: childEnv({ PATH: `${path.join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}` }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    track(child);
    const onData = (d: Buffer) => {
      const s = d.toString('utf8');
      this.out += s;
      if (this.out.length > 4_000_000) this.out = this.out.slice(-2_000_000);
      log.write(s);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        log.end(`# exited: code ${code} signal ${signal}\n`);
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** True while the process runs (it never exits on its own: a crash is a bug). */
  alive(): boolean {
    return this.child !== undefined && this.exit === undefined && this.child.exitCode === null;
  }

  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exit;
  }

  output(): string {
    return this.out;
  }

  /** Parsed JSON log lines (pino). */
  logLines(): Record<string, unknown>[] {
    return this.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  }

  /** Lines at level error or fatal (pino writes the level by name, or as 50/60). */
  errors(): Record<string, unknown>[] {
    return this.logLines().filter((l) => l.level === 'error' || l.level === 'fatal' || (typeof l.level === 'number' && l.level >= 50));
  }

  async waitForLog(msg: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      () => {
        if (this.exit) throw new Error(`operator ${this.name} exited (${JSON.stringify(this.exit)}); log ${this.logFile}:\n${this.out.slice(-3000)}`);
        return this.logLines().some((l) => l.msg === msg);
      },
      { what: `operator log "${msg}" (${this.logFile})`, timeoutMs, intervalMs: 100 },
    );
  }

  /** SIGKILL: the process dies at once, mid-whatever. */
  async kill(): Promise<void> {
    if (!this.alive()) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (graceful); SIGKILL after 20 s. */
  async stop(): Promise<void> {
    if (!this.alive()) return;
    this.child!.kill('SIGTERM');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(t);
  }
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

function regUrl(p: string): string {
  return `${registryUrl()}${p}`;
}

/** The manifest at `ref` (which must be in the local registry), with its digest; undefined on 404. */
export async function fetchManifest(ref: string): Promise<{ manifest: Manifest; digest: string; body: Buffer } | undefined> {
  const { host, repo, reference } = splitRef(ref);
  if (host !== registryHost()) throw new Error(`${ref} is not in the local registry ${registryHost()}`);
  const r = await fetch(regUrl(`/v2/${repo}/manifests/${reference}`), { headers: { Accept: MANIFEST_ACCEPT } });
  if (r.status === 404) return undefined;
  if (!r.ok) throw new Error(`GET manifest ${ref}: HTTP ${r.status}`);
  const body = Buffer.from(await r.arrayBuffer());
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  return { manifest: JSON.parse(body.toString('utf8')) as Manifest, digest, body };
}

export async function fetchBlob(repo: string, digest: string): Promise<Buffer> {
  const r = await fetch(regUrl(`/v2/${repo}/blobs/${digest}`));
  if (!r.ok) throw new Error(`GET blob ${repo}@${digest}: HTTP ${r.status}`);
  const b = Buffer.from(await r.arrayBuffer());
  const got = `sha256:${createHash('sha256').update(b).digest('hex')}`;
  if (got !== digest) throw new Error(`blob ${repo}@${digest} has digest ${got}`);
  return b;
}

export async function imageConfig(ref: string): Promise<{ config?: { Labels?: Record<string, string> }; rootfs?: { diff_ids: string[] } }> {
  const m = await fetchManifest(ref);
  if (!m) throw new Error(`no manifest at ${ref}`);
  return JSON.parse((await fetchBlob(splitRef(ref).repo, m.manifest.config.digest)).toString('utf8')) as never;
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
  const { repo } = splitRef(ref);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lbc-e2e-layers-'));
  const found = new Map<string, string>();
  try {
    const layers = [...m.manifest.layers].reverse(); // topmost first
    for (const [i, layer] of layers.entries()) {
      const file = path.join(dir, `layer-${i}.tar.gz`);
      writeFileSync(file, await fetchBlob(repo, layer.digest));
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

async function uploadBlob(repo: string, data: Buffer, digest: string): Promise<void> {
  const head = await fetch(regUrl(`/v2/${repo}/blobs/${digest}`), { method: 'HEAD' });
  if (head.ok) return;
  const start = await fetch(regUrl(`/v2/${repo}/blobs/uploads/`), { method: 'POST' });
  if (start.status !== 202) throw new Error(`start upload to ${repo}: HTTP ${start.status}`);
  const loc = new URL(start.headers.get('location') ?? '', registryUrl());
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: data, headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`upload blob to ${repo}: HTTP ${put.status} ${await put.text()}`);
}

async function mountBlob(repo: string, from: string, digest: string): Promise<void> {
  const r = await fetch(regUrl(`/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`), { method: 'POST' });
  if (r.status === 201) return;
  await uploadBlob(repo, await fetchBlob(from, digest), digest);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Pushes a new image to `<local registry>/<repo>:<tag>`: the image at `fromRef`
 * (in the local registry) plus one layer holding `files`, with `label` added to
 * its config. Returns `<registry>/<repo>@<digest>`. This is how the suite makes
 * an "external" base or content image whose digest and files differ from the
 * CoreOS stand-in (buildah is left to the emulator).
 */
export async function pushDerivedImage(fromRef: string, repo: string, tag: string, files: Files, label: Record<string, string>): Promise<string> {
  const src = await fetchManifest(fromRef);
  if (!src) throw new Error(`no manifest at ${fromRef}`);
  const from = splitRef(fromRef).repo;
  const cfg = JSON.parse((await fetchBlob(from, src.manifest.config.digest)).toString('utf8')) as {
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
  for (const l of src.manifest.layers) await mountBlob(repo, from, l.digest);
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
  const r = await fetch(regUrl(`/v2/${repo}/manifests/${tag}`), { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (r.status !== 201) throw new Error(`PUT manifest ${repo}:${tag}: HTTP ${r.status} ${await r.text()}`);
  return `${registryHost()}/${repo}@${sha(manifest)}`;
}

/** The cluster's base OS image (ControllerConfig spec.baseOSContainerImage). */
export async function clusterBaseImage(): Promise<string> {
  const r = await kubectl(['get', 'controllerconfig', 'machine-config-controller', '-o', 'jsonpath={.spec.baseOSContainerImage}']);
  return r.stdout.trim();
}

export function localRegistry(): string {
  return clusterEnv().LOCAL_REGISTRY;
}
