// Helpers for the end-to-end suite: one scenario's setup (scenario()), what an
// admin does beyond creating pools (oc tag, rendered-config changes), readers of
// what the operator did seen from the outside (the LayeredPool status, Events,
// the registry), and the cleanup of aborted runs. The operator process, pools,
// MachineConfigs, Builds and hand-off annotations are the shared harness's
// (test/harness/operator.ts). Nothing here talks to the operator's code.
//
// Isolation: the cluster is shared (a demo pool, other people's operators, the
// integration tests' emulator builds). Every scenario therefore gets its own
// namespace for the per-pool objects and its own opt-in label, both derived
// from a per-run id: an operator started here manages only the pools of its
// scenario, and no other operator (which watches the default label and
// namespace) touches them. Pool and MachineConfig names carry the same run id.
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll } from 'vitest';
import { getJson, kubectl, listJson, registryHost, registryUrl, waitFor, type KObj } from '../harness/cluster.ts';
import { ROOT, createMachineConfig, createPool, ignitionOf, startOperator, type Files, type OperatorProcess } from '../harness/operator.ts';

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

/** Names made by scope(): `e2e-<scenario>-<8 chars>` (pools and namespaces). */
const OURS = /^e2e-s[0-9]+[a-z]?-[0-9a-z]{8}$/;

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
  /** --registry; default the local one. --registry-insecure is always passed. */
  registry?: string;
  /** --apply-command; default APPLY_COMMAND. */
  applyCommand?: string;
}

export interface ScenarioOptions {
  /** How many rendered MachineConfig names (rendered-e2e-<id>-1, -2, ...) the scenario uses; default 1. */
  machineConfigs?: number;
  /** Name of the operator started before all (messages, log file); default the scenario's name. */
  operatorName?: string;
  /** Its options, or a function giving them (called before all, so it may use values made then). */
  operator?: E2eOperatorOptions | (() => E2eOperatorOptions | Promise<E2eOperatorOptions>);
  /** Sweep what aborted runs left first (default true; once per file is enough). */
  sweep?: boolean;
}

export interface Scenario {
  readonly s: Scope;
  /** The pool: e2e-<id>. */
  readonly P: string;
  /** The rendered MachineConfig names: rendered-e2e-<id>-1, -2, ... */
  readonly machineConfigs: readonly string[];
  /** The operator started before all. */
  readonly op: OperatorProcess;
  /** Starts another operator on this scope and waits until it leads; it is stopped after all. */
  startOperator(name: string, o?: E2eOperatorOptions): Promise<OperatorProcess>;
  /** Creates the rendered MachineConfig `mc` (default the first) with `config`, then the pool, opted in, pointing at it. */
  createPool(config: Record<string, unknown>, mc?: string): Promise<void>;
  /** createPool(ignitionOf(files)), then waits until the pool has settled on its first image. */
  firstImage(files: Files): Promise<LayeredPoolStatus>;
}

const LOG_DIR = path.join(os.tmpdir(), 'lbc-e2e-logs');

/**
 * The setup every scenario shares, as vitest hooks of the calling file or
 * describe block. Before all: sweep leftovers of aborted runs, create the
 * scope's namespace, start an operator on it (its own --namespace and
 * --opt-in-label, short retry settings, its log kept in $TMPDIR/lbc-e2e-logs)
 * and wait until it leads. After all: stop every operator it started, delete
 * the pool, the MachineConfigs and the namespace.
 */
export function scenario(name: string, o: ScenarioOptions = {}): Scenario {
  const s = scope(name);
  const P = `e2e-${s.id}`;
  const machineConfigs = Array.from({ length: o.machineConfigs ?? 1 }, (_, i) => `rendered-e2e-${s.id}-${i + 1}`);
  const started: OperatorProcess[] = [];

  const sc: Scenario = {
    s,
    P,
    machineConfigs,
    get op() {
      if (!started[0]) throw new Error(`scenario ${name}: no operator started`);
      return started[0];
    },
    async startOperator(opName, e = {}) {
      const op = startOperator({
        name: opName,
        namespace: s.ns,
        optInLabel: s.label,
        registry: e.registry,
        registryInsecure: true,
        applyCommand: e.applyCommand,
        args: ['--retry-backoff-ms', '2000', '--retry-limit', '2', ...(e.args ?? [])],
        env: { PATH: `${path.join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
        logDir: LOG_DIR,
      });
      started.push(op);
      await op.waitForLog('leading: reconciling pools', 60_000);
      return op;
    },
    async createPool(config, mc = machineConfigs[0]!) {
      await createMachineConfig(mc, config);
      await createPool(P, { renderedConfig: mc, optInLabel: s.label });
    },
    async firstImage(files) {
      await sc.createPool(ignitionOf(files));
      return waitStatus(s.ns, P, settled, 'the first image');
    },
  };

  beforeAll(async () => {
    if (o.sweep ?? true) await sweepLeftovers();
    await ensureNamespace(s.ns);
    await sc.startOperator(o.operatorName ?? name, typeof o.operator === 'function' ? await o.operator() : o.operator);
  });
  afterAll(async () => {
    for (const op of started) await op.stop();
    await cleanup(s, [P], [...machineConfigs]);
  });
  return sc;
}

async function ensureNamespace(ns: string): Promise<void> {
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
async function cleanup(s: Scope, pools: string[], machineConfigs: string[]): Promise<void> {
  if (pools.length) await kubectl(['delete', 'machineconfigpool', '--ignore-not-found', '--wait=false', ...pools], { allowFailure: true });
  if (machineConfigs.length) await kubectl(['delete', 'machineconfig', '--ignore-not-found', '--wait=false', ...machineConfigs], { allowFailure: true });
  await kubectl(['delete', 'namespace', '--ignore-not-found', '--wait=false', s.ns], { allowFailure: true });
}

// ---- what an admin / MCO's render controller does ---------------------------------------------

async function applyJson(obj: unknown): Promise<void> {
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) });
}

export async function mergePatch(args: string[], patch: unknown, subresource?: string): Promise<void> {
  await kubectl(['patch', ...args, '--type', 'merge', '-p', JSON.stringify(patch), ...(subresource ? ['--subresource', subresource] : [])]);
}

async function jsonPatch(args: string[], ops: unknown[], subresource?: string): Promise<void> {
  await kubectl(['patch', ...args, '--type', 'json', '-p', JSON.stringify(ops), ...(subresource ? ['--subresource', subresource] : [])]);
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
  return { manifest: JSON.parse(body.toString('utf8')) as Manifest, digest: sha(body), body };
}

export async function fetchBlob(repo: string, digest: string): Promise<Buffer> {
  const r = await fetch(regUrl(`/v2/${repo}/blobs/${digest}`));
  if (!r.ok) throw new Error(`GET blob ${repo}@${digest}: HTTP ${r.status}`);
  const b = Buffer.from(await r.arrayBuffer());
  const got = sha(b);
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
