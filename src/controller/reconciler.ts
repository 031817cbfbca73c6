// One reconcile of one pool: observe -> plan -> apply. Apply writes only what
// differs from the cache, pushes the rendered-config image if the registry
// lacks it, and patches the status once at the end.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { KubeWriter } from '../kube/client.ts';
import { describeApiError, isSubset } from '../kube/client.ts';
import type { Build, LayeredPoolStatus } from '../kube/types.ts';
import { RESOURCES } from '../kube/types.ts';
import { ANNOTATION_FINGERPRINT, ANNOTATION_NEWEST_IMAGE, ANNOTATION_POOL, LABEL_BUILD_KIND } from '../plan/names.ts';
import type { Plan, RenderedConfigPush } from '../plan/plan.ts';
import { plan as makePlan } from '../plan/plan.ts';
import type { KubeObject, PlanConfig } from '../plan/snapshot.ts';
import type { EventAction, PlanEvent } from '../plan/status.ts';
import type { ApplyOutcome } from '../plan/plan-status.ts';
import { planStatus } from '../plan/plan-status.ts';
import type { ImageCheckOutcome, ImageCheckRequest } from '../plan/image-check.ts';
import { pushSecretProblem } from '../registry/auth.ts';
import { RegistryClient, RegistryError } from '../registry/client.ts';
import { RegistryClients } from '../registry/clients.ts';
import { checkImage, ImageCheckCache, MAX_CHECKED_LAYER_BYTES } from '../registry/image-checker.ts';
import { RegistryReader } from '../registry/reader.ts';
import type { Metrics } from '../server/metrics.ts';
import { poolStateOf } from '../server/pool-state.ts';
import type { Stores } from './observe.ts';
import { observe } from './observe.ts';

/** The writes a reconcile makes (KubeWriter against an API server; a unit test's in-memory cluster). */
export type ClusterWriter = Pick<KubeWriter, 'apply' | 'createIfAbsent' | 'createBuild' | 'cancelBuild' | 'importImage' | 'applyPool' | 'applyStatus' | 'event' | 'deleteMachineConfig'> &
  Partial<Pick<KubeWriter, 'buildLog' | 'imageArchitecture'>>;

/** The registry I/O of a reconcile: the rendered-config push and the check before a hand-off. */
export interface RegistryIO {
  push(push: RenderedConfigPush, secret: Record<string, string> | undefined): Promise<{ pushed: boolean; digest: string; bytes: number }>;
  check(req: ImageCheckRequest, secret: Record<string, string> | undefined): Promise<ImageCheckOutcome>;
}

export interface ReconcilerOptions {
  config: Config;
  stores: Stores;
  writer: ClusterWriter;
  /** Default: the OCI clients of src/registry against the configured registries. */
  registryIO?: RegistryIO;
  metrics: Metrics;
  log: Logger;
  now?: () => number;
  /** The ServiceAccount token for the integrated registry's token realm (Basic `unused:<token>`). */
  registryToken?: () => string | undefined;
  /** Long-lived registry clients and the bound on registry I/O across pools (default: its own, --registry-concurrency). */
  registries?: RegistryClients;
}

export function planConfig(c: Config): PlanConfig {
  return {
    namespace: c.namespace,
    optInLabel: c.optInLabel,
    registry: c.registry,
    applyCommand: c.applyCommand,
    debounceMs: c.debounceMs,
    historySize: c.historySize,
    retryLimit: c.retryLimit,
    retryBackoffMs: c.retryBackoffMs,
    baseOSImage: c.baseOSImage,
    insecureRegistries: c.insecureRegistries.split(',').map((h) => h.trim()).filter(Boolean),
    pushSecret: c.pushSecret,
    handoff: c.handoff,
    maxImageSize: c.maxImageSize,
  };
}

const FAILED_PHASES = new Set(['Failed', 'Error']);
/** How many keyed Events the reconciler remembers having sent. */
const SENT_EVENTS = 10_000;

/** The Builds with the logs read for them as their logSnippet (copies; the cache's objects are not touched). */
export function withLogs(builds: readonly Build[], logs: ReadonlyMap<string, string>): Build[] {
  return builds.map((b) => {
    const l = logs.get(b.metadata.uid ?? b.metadata.name);
    return l && !b.status?.logSnippet ? { ...b, status: { ...b.status, logSnippet: l } } : b;
  });
}

/** A write the API server refused (reported in the status, then retried). */
class WriteError extends Error {
  override name = 'WriteError';
}

/** An error already reported in the pool's status; the queue retries it with backoff. */
export class ReportedError extends Error {
  override name = 'ReportedError';
}

/** How long a created Build the cache does not show is still counted (then the cache is believed: it was deleted). */
export const PENDING_BUILD_TTL_MS = 5 * 60_000;

/**
 * The cache's Builds of `pool` plus those in `pending` (created by this process,
 * keyed namespace/name) that the cache does not show yet. Entries the cache has
 * caught up with, or older than PENDING_BUILD_TTL_MS, are removed from `pending`.
 */
export function withPendingBuilds(pending: Map<string, { build: Build; at: number }>, pool: string, cached: readonly Build[], now: number): Build[] {
  if (pending.size === 0) return [...cached];
  const seen = new Set(cached.map((b) => `${b.metadata.namespace ?? ''}/${b.metadata.name}`));
  const out = [...cached];
  for (const [key, { build, at }] of pending) {
    if (seen.has(key) || now - at > PENDING_BUILD_TTL_MS) {
      pending.delete(key);
      continue;
    }
    if (build.metadata.annotations?.[ANNOTATION_POOL] === pool) out.push(build);
  }
  return out;
}

/** How long a status that only says what the pool waits for must stand before it is written (see holdWaitingStatus). */
export const WAITING_STATUS_HOLD_MS = 2_000;

export class Reconciler {
  private readonly o: ReconcilerOptions;
  private readonly pc: PlanConfig;
  private readonly caBundle: string | undefined;
  /** Outcomes of the registry checks before the hand-off, by check key. */
  readonly imageChecks = new ImageCheckCache();
  /** Base architectures by digest, as OpenShift recorded them (an image's never changes). */
  private readonly baseArchitectures = new Map<string, string>();
  /** Events with a key already sent, `<pool>\n<key>` (oldest first, bounded). */
  private readonly sent = new Set<string>();
  /** Logs of failed Builds without a logSnippet, by uid ('' when there is none). */
  private readonly buildLogs = new Map<string, string>();
  private readonly registries: RegistryClients;
  /**
   * Builds this process created (or found existing on create) that the informer
   * cache has not shown yet, by namespace/name. The cache may lag behind the
   * write, e.g. after etcd stalled (the builds watch goes through
   * openshift-apiserver, which catches up later than the status object's):
   * planning from the cache alone would start the next attempt of the same
   * inputs. Dropped once the cache has the Build, or after PENDING_BUILD_TTL_MS.
   */
  private readonly pendingBuilds = new Map<string, { build: Build; at: number }>();
  /** The status last written per pool, and the resourceVersion of the status object it was written over. */
  private readonly writtenStatus = new Map<string, { over: string; status: LayeredPoolStatus }>();
  /** A waiting-only status not written yet, per pool: its message and since when it is the status (see WAITING_STATUS_HOLD_MS). */
  private readonly heldStatus = new Map<string, { message: string; since: number }>();

  constructor(o: ReconcilerOptions) {
    this.o = o;
    this.registries = o.registries ?? new RegistryClients({ concurrency: o.config.registryConcurrency });
    this.pc = planConfig(o.config);
    this.caBundle = o.config.caBundleFile ? readFileSync(o.config.caBundleFile, 'utf8') : undefined;
  }

  /** Plans a pool from the caches without writing anything. */
  async plan(pool: string): Promise<Plan> {
    return makePlan(this.observe(pool));
  }

  private observe(pool: string, extraChecks?: ReadonlyMap<string, ImageCheckOutcome>) {
    const secret = this.pushSecret();
    const problem = secret ? pushSecretProblem(secret, this.o.config.registry) : undefined;
    const snap = observe(this.o.stores, this.pc, pool, (this.o.now ?? Date.now)(), secret === undefined ? undefined : secret !== null, this.imageChecks.view(extraChecks), problem);
    return {
      ...snap,
      status: this.withWrittenStatus(pool, snap.status),
      builds: withLogs(this.withPendingBuilds(pool, snap.builds, snap.now), this.buildLogs),
      baseArchitectures: this.baseArchitectures,
    };
  }

  /**
   * The status object as the cache has it, or, while the cache still holds the
   * version this process last wrote its status over, with that written status:
   * a reconcile woken by another event before the cache has the operator's own
   * status write (the hand-off MachineConfig's deletion, say) must plan from
   * what was written, not from the status before it.
   */
  private withWrittenStatus<T extends { metadata: { resourceVersion?: string | undefined }; status?: unknown }>(pool: string, cached: T | undefined): T | undefined {
    const w = this.writtenStatus.get(pool);
    if (!w || !cached) return cached;
    if (cached.metadata.resourceVersion !== w.over) {
      this.writtenStatus.delete(pool);
      return cached;
    }
    return { ...cached, status: w.status };
  }

  private withPendingBuilds(pool: string, cached: readonly Build[], now: number): Build[] {
    return withPendingBuilds(this.pendingBuilds, pool, cached, now);
  }

  private rememberCreatedBuild(b: KubeObject): void {
    const at = (this.o.now ?? Date.now)();
    const ns = b.metadata.namespace ?? this.o.config.namespace;
    const build = { ...b, metadata: { ...b.metadata, namespace: ns, creationTimestamp: new Date(at).toISOString() } } as unknown as Build;
    this.pendingBuilds.set(`${ns}/${b.metadata.name}`, { build, at });
  }

  /**
   * Reads the log of every failed Build of the pool that has no
   * status.logSnippet (the real OCM sets it only from the build pod's
   * termination message), once per Build; the next snapshots carry it as the
   * Build's logSnippet, so the Degraded message quotes it.
   */
  private async readFailedBuildLogs(pool: string, log: Logger): Promise<void> {
    const w = this.o.writer;
    if (!w.buildLog) return;
    for (const b of observe(this.o.stores, this.pc, pool, 0).builds) {
      const key = b.metadata.uid ?? b.metadata.name;
      if (!FAILED_PHASES.has(b.status?.phase ?? '') || b.status?.logSnippet || this.buildLogs.has(key)) continue;
      try {
        this.buildLogs.set(key, (await w.buildLog.call(this.o.writer, b.metadata.name)) ?? '');
      } catch (e) {
        this.buildLogs.set(key, '');
        log.warn({ build: b.metadata.name, err: (e as Error).message }, 'cannot read the log of a failed build');
      }
    }
    while (this.buildLogs.size > 500) this.buildLogs.delete(this.buildLogs.keys().next().value!);
  }

  /**
   * The check before the hand-off, in the I/O layer. Its outcome becomes a
   * fact of the next snapshot, from which the planner decides the hand-off
   * and the status. Passed and failed outcomes are remembered per check key.
   */
  private async checkImage(req: ImageCheckRequest, log: Logger): Promise<ImageCheckOutcome> {
    const secret = this.pushSecret() ?? undefined;
    const outcome = await (this.o.registryIO ?? this.registryIO).check(req, secret);
    this.imageChecks.set(req.key, outcome);
    if (outcome.result === 'passed') log.info({ image: req.image, bytes: outcome.sizeBytes, addedLayers: outcome.addedLayers, files: outcome.files }, 'image passed its check');
    else log.warn({ image: req.image, result: outcome.result, err: outcome.message }, 'image check did not pass');
    return outcome;
  }

  /** The registry I/O against the configured registries. */
  private readonly registryIO: RegistryIO = {
    push: (push, secret) => this.push(push, secret),
    check: (req, secret) => this.readAndCheck(req, secret),
  };

  private async readAndCheck(req: ImageCheckRequest, secret: Record<string, string> | undefined): Promise<ImageCheckOutcome> {
    const reader = new RegistryReader({
      registry: this.o.config.registry,
      insecure: this.o.config.registryInsecure,
      insecureRegistries: this.pc.insecureRegistries,
      caBundlePem: this.caBundle,
      dockerConfigJson: secret?.['.dockerconfigjson'] ?? secret?.['.dockercfg'],
      serviceAccountToken: this.serviceAccountToken(),
      maxBlobBytes: MAX_CHECKED_LAYER_BYTES,
      clients: this.registries,
    });
    try {
      return await this.registries.run(() => checkImage(req, reader));
    } finally {
      reader.close();
    }
  }

  /**
   * The token for the integrated registry: the kubeconfig's (a ServiceAccount's,
   * in a pod or from `oc create token`), else the --registry-token-file.
   */
  private serviceAccountToken(): string | undefined {
    const fromKubeConfig = this.o.registryToken?.();
    if (fromKubeConfig) return fromKubeConfig;
    const f = this.o.config.registryTokenFile;
    if (!f) return undefined;
    try {
      return readFileSync(f, 'utf8').trim() || undefined;
    } catch {
      return undefined; // not in a pod: anonymous, or the push secret
    }
  }

  /**
   * One reconcile. `signal` is the leadership term: once it aborts (leadership
   * lost, or shutdown) no further write is sent.
   */
  async reconcile(pool: string, signal?: AbortSignal): Promise<{ requeueAfter?: number }> {
    const log = this.o.log.child({ pool });
    await this.readFailedBuildLogs(pool, log);
    let snap = this.observe(pool);
    let p = makePlan(snap);
    if (!p.managed && !p.status && p.deleteMachineConfigs.length === 0) {
      this.o.metrics.poolState(pool, undefined);
      return {};
    }
    // 0a. The base's architecture, when a build of the pool is about to be created (its pod's
    //     nodeSelector): read once per base digest, then plan again with it as a fact. A read that
    //     fails is reported like a refused write (Degraded ApplyFailed); the Build waits for it. A
    //     writer without it (a unit test's world) records none: no nodeSelector.
    let archRefused: string | undefined;
    const arch = p.readBaseArchitecture;
    if (arch && !this.baseArchitectures.has(arch.digest)) {
      signal?.throwIfAborted();
      const read = this.o.writer.imageArchitecture;
      try {
        const value = read ? await read.call(this.o.writer, arch.stream, arch.digest) : '';
        while (this.baseArchitectures.size >= 500) this.baseArchitectures.delete(this.baseArchitectures.keys().next().value!);
        this.baseArchitectures.set(arch.digest, value);
        log.debug({ base: arch.digest, architecture: value }, 'base architecture read');
        snap = this.observe(pool);
        p = makePlan(snap);
      } catch (e) {
        archRefused = `reading the architecture of base ${arch.stream}@${arch.digest} (imagestreamimages) failed (${describeApiError(e)}); the build waits for it`;
        log.warn({ err: archRefused }, 'a read was refused');
      }
    }
    // 0b. An image to verify before the hand-off: check it, then plan again with the outcome as a fact.
    if (p.checkImage && !this.imageChecks.has(p.checkImage.key)) {
      signal?.throwIfAborted();
      const req = p.checkImage;
      const outcome = await this.checkImage(req, log);
      snap = this.observe(pool, outcome.result === 'error' ? new Map([[req.key, outcome]]) : undefined);
      p = makePlan(snap);
    }
    let failure: Error | undefined = archRefused ? new ReportedError(archRefused) : undefined;
    const outcome: { builds: string[]; push?: ApplyOutcome['push']; refused?: string; poolGeneration?: number } = { builds: [], ...(archRefused ? { refused: archRefused } : {}) };
    const about = { name: pool, uid: snap.pool?.metadata.uid };

    // Observed Events first (a Build succeeded or failed: facts of the snapshot), each once.
    for (const e of p.events) if (!e.on) await this.emit(pool, about, e, log);

    // 0c. A new rollout hold first, before any push or Build: MCC's node controller moves the pool's
    //     nodes 5 s after a rendering (src/plan/rollout-hold.ts).
    if (p.poolApplyFirst && p.poolApply && snap.pool) {
      try {
        await this.applyPool(p, outcome, about, log);
      } catch (e) {
        const msg = `pausing MachineConfigPool ${pool} for one rollout was refused by the API server (${describeApiError(e)})`;
        log.warn({ err: msg }, 'a write was refused');
        failure = new ReportedError(msg);
        outcome.refused = msg;
      }
    }
    // 1. The rendered-config image, before the stream tag that names it; a stream not there yet is
    //    created first, so that it is the operator's (with its owner) and not the registry's.
    if (p.push?.streamFirst && p.push.stream) {
      try {
        await this.o.writer.apply(p.push.stream);
      } catch (e) {
        const msg = `creating ImageStream ${p.push.stream.metadata.name} before the push was refused by the API server (${describeApiError(e)})`;
        log.warn({ err: msg }, 'a write was refused');
        failure = new ReportedError(msg);
        outcome.refused = msg;
      }
    }
    if (p.push && !outcome.refused) {
      signal?.throwIfAborted();
      try {
        const res = await (this.o.registryIO ?? this.registryIO).push(p.push, this.pushSecret() ?? undefined);
        outcome.push = { ok: true };
        this.o.metrics.renderedConfigPush(pool, res.pushed ? 'pushed' : 'skipped', res.bytes);
        const fields = { renderedConfig: p.push.renderedConfig, digest: res.digest, pushed: res.pushed, bytes: res.bytes };
        if (res.pushed) log.info(fields, 'rendered-config image pushed');
        else log.debug(fields, 'rendered-config image already in the registry');
      } catch (e) {
        this.o.metrics.renderedConfigPush(pool, 'failed');
        const msg = e instanceof RegistryError ? e.message : `pushing the rendered-config image failed: ${(e as Error).message}`;
        log.warn({ renderedConfig: p.push.renderedConfig, err: msg }, 'rendered-config push failed');
        failure = new ReportedError(msg);
        outcome.push = { ok: false, message: msg };
      }
    }

    // 2-4. Builds, objects, hand-off; each action's Event once it succeeded. A refused write is reported in the status.
    try {
      await this.write(p, snap.pool !== undefined, outcome, about, log, signal);
    } catch (e) {
      if (!(e instanceof WriteError)) throw e;
      log.warn({ err: e.message }, 'a write was refused');
      failure = new ReportedError(e.message);
      outcome.refused = e.message;
    }

    // 5. Status, once: computed from the plan's decisions and what applying it did.
    signal?.throwIfAborted();
    let status = planStatus(p, snap, outcome);
    let requeueAfter = p.requeueAfterMs;
    const hold = this.holdWaitingStatus(pool, p.managed ? status : undefined, snap.now);
    if (hold > 0) {
      status = undefined;
      requeueAfter = Math.min(requeueAfter ?? hold, hold);
    }
    if (status && snap.status?.metadata.uid !== undefined) {
      const over = snap.status.metadata.resourceVersion;
      const sent = await this.o.writer.applyStatus(RESOURCES.layeredPool, pool, status);
      if (sent) log.debug({ phase: status.phase, message: status.message, conditions: status.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`) }, 'status written');
      if (sent && over !== undefined) this.writtenStatus.set(pool, { over, status });
    } else if (status && p.managed) {
      // The status object was just created by the apply above; its status goes next time round.
      requeueAfter = Math.min(requeueAfter ?? 1000, 1000);
    }

    this.o.metrics.poolState(pool, poolStateOf(status ?? snap.status?.status, snap.builds, p.managed));

    if (failure) throw failure;
    return requeueAfter !== undefined ? { requeueAfter } : {};
  }

  /**
   * Sends an Event, and the metrics it stands for, from its structured fields.
   * An Event with a key is sent once per process: a cache that has not yet
   * seen the operator's own write (the status, a Build, the hand-off) plans
   * the same Event again, and it is not repeated.
   */
  private async emit(pool: string, about: { name: string; uid?: string | undefined }, e: PlanEvent, log: Logger): Promise<void> {
    if (e.key !== undefined) {
      const k = `${pool}\n${e.key}`;
      if (this.sent.has(k)) return;
      this.sent.add(k);
      while (this.sent.size > SENT_EVENTS) this.sent.delete(this.sent.values().next().value!);
    }
    if (e.build) {
      if (e.reason === 'BuildSucceeded') this.o.metrics.build(pool, e.build.kind, 'succeeded');
      if (e.reason === 'BuildFailed') this.o.metrics.build(pool, e.build.kind, 'failed');
      if (e.reason === 'BuildCancelled') this.o.metrics.build(pool, e.build.kind, 'cancelled');
      if (e.reason === 'BuildInterrupted') this.o.metrics.build(pool, e.build.kind, 'interrupted');
      if ((e.reason === 'BuildSucceeded' || e.reason === 'BuildFailed') && e.build.start && e.build.end) {
        const sec = (Date.parse(e.build.end) - Date.parse(e.build.start)) / 1000;
        if (Number.isFinite(sec) && sec >= 0) this.o.metrics.buildDuration(pool, e.build.kind, sec);
      }
    }
    log.info({ event: e.reason }, e.message);
    try {
      await this.o.writer.event(about, e);
    } catch (err) {
      log.warn({ err: describeApiError(err) }, 'could not record event');
    }
  }

  /** The Events of the plan that report the action `match` selects (sent once it succeeded). */
  private async emitFor(p: Plan, match: (a: EventAction) => boolean, about: { name: string; uid?: string | undefined }, log: Logger): Promise<void> {
    for (const e of p.events) if (e.on && match(e.on)) await this.emit(p.pool, about, e, log);
  }

  /** Writes the plan's builds, objects and hand-off, recording what was done in `outcome`; each action's Event follows its write. */
  private async write(
    p: Plan,
    poolExists: boolean,
    outcome: { builds: string[]; push?: ApplyOutcome['push']; poolGeneration?: number | undefined },
    about: { name: string; uid?: string | undefined },
    log: Logger,
    signal?: AbortSignal,
  ): Promise<void> {
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      signal?.throwIfAborted();
      try {
        await fn();
      } catch (e) {
        throw new WriteError(`${what} was refused by the API server (${describeApiError(e)})`, { cause: e });
      }
    };
    // Builds first: stale ones cancelled, new ones created (a second create is AlreadyExists).
    // A Build is planned only once its BuildConfig exists, and it carries its own
    // Dockerfile: the objects applied below (the BuildConfig's Dockerfile among
    // them) are not its inputs, so writing them first would only delay the Build
    // by a write round trip. Only an output stream not there yet (deleted by
    // someone) goes before its Build.
    const outputs = new Set(p.createBuilds.map((b) => ((b.spec as { output?: { to?: { name?: string } } } | undefined)?.output?.to?.name ?? '').split(':')[0]));
    const first = p.apply.filter((o) => o.kind === 'ImageStream' && outputs.has(o.metadata.name) && this.cached(o) === undefined);
    const applyOne = async (obj: KubeObject) => {
      await attempt(`applying ${obj.kind} ${obj.metadata.name}`, () => this.o.writer.apply(obj));
      log.debug({ kind: obj.kind, name: obj.metadata.name }, 'applied');
    };
    for (const obj of first) await applyOne(obj);
    for (const name of p.cancelBuilds) {
      await attempt(`cancelling Build ${name}`, () => this.o.writer.cancelBuild(name));
      log.info({ build: name }, 'cancelling stale build');
      await this.emitFor(p, (a) => a.kind === 'cancelBuild' && a.name === name, about, log);
    }
    for (const b of p.createBuilds) {
      let created = false;
      await attempt(`creating Build ${b.metadata.name}`, async () => {
        created = await this.o.writer.createBuild(b);
        outcome.builds.push(b.metadata.name);
        this.rememberCreatedBuild(b);
      });
      if (created) {
        const kind = (b.metadata.labels?.[LABEL_BUILD_KIND] ?? 'content') as 'content' | 'custom';
        this.o.metrics.build(p.pool, kind, 'started');
        log.info({ build: b.metadata.name, kind, fingerprint: b.metadata.annotations?.[ANNOTATION_FINGERPRINT] }, 'build created');
        await this.emitFor(p, (a) => a.kind === 'createBuild' && a.name === b.metadata.name, about, log);
      } else {
        log.info({ build: b.metadata.name }, 'build already exists (adopted)');
      }
    }
    // Objects: applied when they differ, created when absent. The rendered-config stream only once its image is pushed.
    const pushed = outcome.push?.ok === true && p.push?.stream ? [p.push.stream] : [];
    for (const obj of [...pushed, ...p.apply]) {
      if (!first.includes(obj) && this.wouldChange(obj)) await applyOne(obj);
    }
    for (const obj of p.create) {
      if (this.cached(obj)) continue;
      await attempt(`creating ${obj.kind} ${obj.metadata.name}`, async () => {
        if (await this.o.writer.createIfAbsent(obj)) log.info({ kind: obj.kind, name: obj.metadata.name }, 'created');
      });
    }
    // Failed imports re-requested (ImageStreamImport, as `oc import-image`); the planner chose when.
    for (const req of p.importRequests) {
      const images = (req.spec as { images?: { to?: { name?: string }; from?: { name?: string } }[] } | undefined)?.images ?? [];
      const what = images.map((i) => `${req.metadata.name}:${i.to?.name ?? ''}`).join(', ');
      await attempt(`re-requesting the import of ${what}`, async () => {
        const results = await this.o.writer.importImage(req);
        const failed = results.filter((r) => r.status !== undefined && r.status !== 'Success');
        if (failed.length) log.warn({ import: what, reason: failed[0]!.reason, message: failed[0]!.message }, 'import re-requested; it failed again');
        else log.info({ import: what }, 'import re-requested');
      });
    }
    // Hand-off: the MachineConfig MCO rolls out, then the informational annotations.
    for (const name of p.deleteMachineConfigs) {
      await attempt(`deleting MachineConfig ${name}`, () => this.o.writer.deleteMachineConfig(name));
      log.info({ machineConfig: name }, 'hand-off MachineConfig deleted');
      await this.emitFor(p, (a) => a.kind === 'deleteMachineConfig' && a.name === name, about, log);
    }
    let handed = false;
    const mc = p.handoffMachineConfig;
    if (mc && poolExists && this.wouldChange(mc)) {
      await attempt(`applying MachineConfig ${mc.metadata.name}`, () => this.o.writer.apply(mc));
      log.info({ machineConfig: mc.metadata.name, image: (mc.spec as { osImageURL?: string }).osImageURL }, 'hand-off MachineConfig written');
      handed = true;
    }
    if (p.poolApply && poolExists && !p.poolApplyFirst) {
      await attempt(`applying MachineConfigPool ${p.pool}`, () => this.applyPool(p, outcome, about, log));
      if (p.poolApply.handoff) handed = true;
    }
    if (handed) await this.emitFor(p, (a) => a.kind === 'handoff', about, log);
  }

  /** The pool's operator-owned fields (hand-off annotations, rollout hold), then their Events. */
  private async applyPool(p: Plan, outcome: { poolGeneration?: number | undefined }, about: { name: string; uid?: string | undefined }, log: Logger): Promise<void> {
    const a = p.poolApply!;
    const res = await this.o.writer.applyPool(p.pool, a);
    if (res.generation !== undefined) outcome.poolGeneration = res.generation;
    log.info({ image: a.annotations[ANNOTATION_NEWEST_IMAGE], held: a.paused === true }, 'pool applied');
    await this.emitFor(p, (e) => e.kind === 'poolApply', about, log);
  }

  /**
   * How long (ms) to hold back `status` before writing it: > 0 only for a status
   * that says nothing but what the pool waits for (Pending, not Degraded), until
   * it has been the status for WAITING_STATUS_HOLD_MS. Most such waits (an
   * import OpenShift is doing, the watch event of a create) end sooner, and at
   * cold start each cost every pool a status write. A status that says more (a
   * build, a problem, an image) is written at once.
   */
  private holdWaitingStatus(pool: string, status: LayeredPoolStatus | undefined, now: number): number {
    const degraded = status?.conditions?.some((c) => c.type === 'Degraded' && c.status === 'True');
    if (status?.phase !== 'Pending' || degraded) {
      this.heldStatus.delete(pool);
      return 0;
    }
    const message = status.message ?? '';
    const held = this.heldStatus.get(pool);
    const since = held && held.message === message ? held.since : now;
    const left = since + WAITING_STATUS_HOLD_MS - now;
    if (left <= 0) {
      this.heldStatus.delete(pool);
      return 0;
    }
    this.heldStatus.set(pool, { message, since });
    return left;
  }

  /** Whether applying `obj` would change the cluster (what apply checks before sending). */
  wouldChange(obj: KubeObject): boolean {
    return !isSubset(obj, this.cached(obj));
  }

  private cached(obj: KubeObject): unknown {
    const s = this.o.stores;
    const ns = obj.metadata.namespace;
    switch (obj.kind) {
      case 'ImageStream':
        return s.imageStreams.get(obj.metadata.name, ns);
      case 'BuildConfig':
        return s.buildConfigs.get(obj.metadata.name, ns);
      case 'Build':
        return s.builds.get(obj.metadata.name, ns);
      case 'LayeredPool':
        return s.layeredPools.get(obj.metadata.name, ns);
      case 'MachineConfig':
        return s.machineConfigs.get(obj.metadata.name);
      default:
        return undefined;
    }
  }

  /** undefined: no push secret configured; null: configured but missing. Read from the watch cache. */
  private pushSecret(): Record<string, string> | null | undefined {
    const name = this.o.config.pushSecret;
    if (!name) return undefined;
    const s = this.o.stores.pushSecrets?.get(name, this.o.config.namespace);
    if (!s) return null;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
    return out;
  }

  /**
   * A client of --registry with the operator's credentials (the push secret,
   * else the ServiceAccount token); the caller closes it. `secret` defaults to
   * the push secret as the cache has it now.
   */
  registryClient(secret: Record<string, string> | undefined = this.pushSecret() ?? undefined): RegistryClient {
    return new RegistryClient(this.registryOptions(secret));
  }

  /** How to reach --registry with these credentials: the push secret, else (the integrated registry's bearer flow) the ServiceAccount token. */
  private registryOptions(secret: Record<string, string> | undefined): ConstructorParameters<typeof RegistryClient>[0] {
    const dockerConfigJson = secret?.['.dockerconfigjson'] ?? secret?.['.dockercfg'];
    const token = dockerConfigJson ? undefined : this.serviceAccountToken();
    return {
      registry: this.o.config.registry,
      insecure: this.o.config.registryInsecure,
      ...(this.caBundle ? { caBundlePem: this.caBundle } : {}),
      ...(dockerConfigJson ? { dockerConfigJson } : {}),
      ...(token ? { serviceAccountToken: token } : {}),
    };
  }

  /** The rendered-config push through the long-lived client of --registry and these credentials, bounded with the other registry I/O. */
  private async push(push: RenderedConfigPush, secret: Record<string, string> | undefined) {
    const repository = push.repository.slice(this.o.config.registry.length + 1);
    const client = this.registries.client(this.registryOptions(secret));
    return this.registries.run(() => client.pushImage(repository, push.image, push.tags));
  }
}
