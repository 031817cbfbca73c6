// The planner: a pure function of a pool's snapshot returning every object and
// action the pool needs. No I/O. It runs phase functions over one scope (as
// cluster-api's reconcilers do), in the order of docs/design.md "What the plan
// decides": push secret, base, rendered-config image, content build, custom
// build, build actions, content selection, hand-off, status object. The status
// is computed from the scope by statusOf (src/plan/plan-status.ts), before
// apply for the plan and again with the outcome of apply by the reconciler.
import type { Build, BuildAttempts, ImportRetry, LayeredPoolStatus, MachineConfigPool, TagReference } from '../kube/types.ts';
import { apiVersionOf, MCD_ANNOTATION, RESOURCES } from '../kube/types.ts';
import type { ScratchImage } from '../registry/scratch-image.ts';
import { cachedScratchImage } from '../registry/scratch-image.ts';
import { DEFAULT_VALUES } from '../config/defaults.ts';
import { escapeText, quote } from '../util/escape.ts';
import type { BuildDecision, BuildRequest } from './builds.ts';
import { buildFingerprint, decideBuild, fingerprintOf } from './builds.ts';
import type { HandoffPlan } from './handoff.ts';
import { planHandoff, unmanagedHandoff } from './handoff.ts';
import type { Gate, HandoffGateDecision } from './gate.ts';
import { gateHandoff, gateOf } from './gate.ts';
import type { ImageCheckRequest } from './image-check.ts';
import type { PoolApply } from './rollout-hold.ts';
import { planRolloutHold } from './rollout-hold.ts';
import {
  checkCustomDockerfile,
  contentDockerfile,
  defaultCustomDockerfile,
  DockerfileValueError,
  isDefaultCustomDockerfile,
  TEMPLATE_VERSION,
} from './dockerfile.ts';
import { formatDigestRef, parseImageRef, repoOf, safeParseImageRef } from './imageref.ts';
import type { ImportFailure } from './imports.ts';
import { decideImportRetry, IMPORT_RETRY_BASE_MS, IMPORT_RETRY_MAX_MS, importRetryText } from './imports.ts';
import { checkRenderedConfig } from './machineconfig.ts';
import { ANNOTATION_REBUILD, ANNOTATION_ROLLBACK_TO, CONTROLLER_CONFIG_NAME, COREOS_STREAM, FIELD_MANAGER, OS_IMAGE_STREAM_NAME, LABEL_MANAGED, LATEST, poolBuildConfigs, poolStreams, renderedConfigTag } from './names.ts';
import { sameStatus, startEvents, statusOf, unmanagedStatus } from './plan-status.ts';
import type { KubeObject, Snapshot } from './snapshot.ts';
import type { Owner, ResolvedImage } from './streams.ts';
import {
  dockerImageTag,
  imageStreamObject,
  isInsecureRegistry,
  isOurs,
  poolMetadata,
  specTag,
  tagHasDigest,
  tagImage,
  tagImportError,
  timeMs,
} from './streams.ts';
import type { PlanEvent } from './status.ts';
import { buildCancelledEvent, historyOf, logExcerpt } from './status.ts';

export type ImageSource = 'external' | 'custom' | 'mco-content' | 'rollback';

export interface RenderedConfigPush {
  /** `<registry>/<ns>/<pool>-rendered-config` */
  repository: string;
  renderedConfig: string;
  image: ScratchImage;
  /** Pushed by tag (the integrated registry records only tagged pushes): the content tag first, then `latest`. */
  tags: string[];
  /** The rendered-config ImageStream that names the image: applied once the push succeeded, never before. */
  stream?: KubeObject | undefined;
  /**
   * The stream does not exist yet: it is created (empty, with the pool as owner) BEFORE the push.
   * The integrated registry creates a missing stream itself on a tagged push, as the pusher,
   * without our owner or annotation; setting the owner afterwards is an update that
   * OwnerReferencesPermissionEnforcement refuses (`cannot set an ownerRef on a resource you
   * can't delete`: the operator may not delete streams), and the pool stayed in ObjectConflict.
   */
  streamFirst?: boolean | undefined;
}

export interface Plan {
  pool: string;
  /** False when the pool is gone or not opted in: nothing but (maybe) the status object is written. */
  managed: boolean;
  /** Server-side applied with the operator's field manager (only fields the operator owns). */
  apply: KubeObject[];
  /** Created when absent, never updated (their content belongs to users). */
  create: KubeObject[];
  push?: RenderedConfigPush | undefined;
  createBuilds: KubeObject[];
  /** Names of Builds to cancel (status.cancelled = true). */
  cancelBuilds: string[];
  /** ImageStreamImports to post: failed imports re-requested after their backoff. */
  importRequests: KubeObject[];
  /** The pool's operator-owned fields (hand-off annotations, rollout hold), when they differ from what it has. */
  poolApply?: PoolApply | undefined;
  /** poolApply starts a rollout hold: it is written first in the reconcile (MCC moves nodes 5 s after a rendering). */
  poolApplyFirst?: boolean | undefined;
  /** The hand-off MachineConfig `99-<pool>-layered-image` (server-side applied; written before the annotations). */
  handoffMachineConfig?: KubeObject | undefined;
  /** Our hand-off MachineConfigs to delete (unmanaged pool, or annotation-only hand-off). */
  deleteMachineConfigs: string[];
  /** An image the I/O layer must verify in the registry before it can be handed off. */
  checkImage?: ImageCheckRequest | undefined;
  /**
   * The base whose architecture the I/O layer must read (OpenShift's Image, through the pool's base
   * stream: `imagestreamimages/<stream>@<digest>`): a Build of the pool is about to start and waits
   * for it (its nodeSelector). Asked only then, so an idle pool reads nothing.
   */
  readBaseArchitecture?: { stream: string; digest: string } | undefined;
  /** The full status of the pool's status object; undefined = leave it alone. */
  status?: LayeredPoolStatus | undefined;
  /** Events: those with `on` are sent once that write succeeded, the others (observations) before any write of the reconcile; each `key` once. */
  events: PlanEvent[];
  requeueAfterMs?: number | undefined;
  /** What every phase decided (managed pools): the status after apply is computed from it (planStatus). */
  scope?: PlanScope | undefined;
}

export interface Problem {
  reason: string;
  message: string;
}

export const DEFAULT_MAX_IMAGE_SIZE = DEFAULT_VALUES.maxImageSize;

export function isOptedIn(labels: Record<string, string> | undefined, label: string): boolean {
  const v = labels?.[label];
  return v !== undefined && v.toLowerCase() !== 'false';
}

/**
 * Everything one reconcile of a managed pool decides, built up phase by phase
 * (as cluster-api's scope): the snapshot, the plan being built, and what each
 * phase found. The status is computed from it, and from the outcome of apply,
 * by one pure function (src/plan/plan-status.ts).
 */
export interface PlanScope {
  snap: Snapshot;
  pool: MachineConfigPool;
  out: Plan;
  ns: string;
  now: number;
  generation: number | undefined;
  prevStatus: LayeredPoolStatus | undefined;
  gate: Gate;
  owner: Owner;
  hasOwner: boolean;
  S: ReturnType<typeof poolStreams>;
  B: ReturnType<typeof poolBuildConfigs>;
  problems: Problem[];
  waiting: string[];
  /** The waiting line of a planned rendered-config push (gone once the push succeeded). */
  pushWaiting?: string | undefined;
  /**
   * The waiting line for an object this plan itself creates: the next reconcile
   * follows from its create (a watch event), so a status saying only this is
   * not written (it would last milliseconds and cost every pool a write).
   */
  ownWriteWaiting?: string | undefined;
  requeue?: number | undefined;
  importRetries: ImportRetry[];
  // base
  baseImageSpec?: string | undefined;
  /** Where baseImageSpec came from, when not ControllerConfig or the flag (the OSImageStream's default stream). */
  baseImageFrom?: string | undefined;
  baseSource: 'external-base' | 'coreos';
  wantBase?: ResolvedImage | undefined;
  base?: ResolvedImage | undefined;
  /** The base's architecture ('' when OpenShift records none; undefined while unknown). */
  baseArchitecture?: string | undefined;
  // rendered config
  mcName?: string | undefined;
  rendered?: ResolvedImage | undefined;
  // builds
  contentDecision?: BuildDecision | undefined;
  contentReq?: BuildRequest | undefined;
  contentImage?: ResolvedImage | undefined;
  customWanted: boolean;
  customDf?: string | undefined;
  customDecision?: BuildDecision | undefined;
  customReq?: BuildRequest | undefined;
  building?: string | undefined;
  /** The Building message of each build to start, once it is created (it replaces `building` then). */
  startedBuilding?: { name: string; message: string } | undefined;
  heldBuilds: string[];
  attemptRecords: BuildAttempts[];
  // selection and hand-off
  external?: ResolvedImage | undefined;
  chosen?: { source: ImageSource; image: string } | undefined;
  /** An admin's rollback (annotation layering.mco.dev/rollback-to): the image it hands off, and the newest checked one that waits. */
  rollback?: { image: string; newest?: string | undefined } | undefined;
  handoff?: HandoffPlan | undefined;
  /** Why the pool is paused by the operator after this plan (status.rollout.held). */
  rolloutHeld?: string | undefined;
  gateHold?: Extract<HandoffGateDecision, { hold: true }> | undefined;
}

export function plan(snap: Snapshot): Plan {
  const out: Plan = { pool: snap.poolName, managed: false, apply: [], create: [], createBuilds: [], cancelBuilds: [], importRequests: [], deleteMachineConfigs: [], events: [] };
  const pool = snap.pool;
  // Delete path: the pool is gone (or going). Owner references let the garbage
  // collector remove the per-pool objects; nothing to write.
  if (!pool || pool.metadata.deletionTimestamp) return out;
  if (!isOptedIn(pool.metadata.labels, snap.config.optInLabel)) return planUnmanaged(snap, pool, out);
  out.managed = true;
  const s = newScope(snap, pool, out);
  planPushSecret(s);
  planBase(s);
  planRenderedConfig(s);
  planContentBuild(s);
  planCustomBuild(s);
  planBuildActions(s);
  planSelection(s);
  planHandoffStep(s);
  planHoldStep(s);
  planStatusObject(s);
  out.scope = s;
  const status = statusOf(s);
  out.events.unshift(...status.events, ...startEvents(s));
  out.status = sameStatus(s.prevStatus, status.status) ? undefined : status.status;
  // A safety net while waiting; not while only a build runs: its Build's watch
  // events wake the pool, and polling every building pool every 10 s would
  // cost idle CPU in proportion to the pools.
  const buildRunning = s.contentDecision?.state === 'building' || s.customDecision?.state === 'building';
  const onlyBuilding = buildRunning && !s.waiting.length && !status.problem;
  if ((!s.chosen || s.waiting.length) && !onlyBuilding) requeueIn(s, status.problem ? 30_000 : 10_000);
  out.requeueAfterMs = s.requeue;
  return out;
}

/** The pool is not opted in: management stops; the status object (if any) says so. */
function planUnmanaged(snap: Snapshot, pool: MachineConfigPool, out: Plan): Plan {
  // Only the hand-off MachineConfig goes (MCC then restores the rendered config without it).
  // Only an operator that managed the pool (its status object is in this
  // operator's namespace) removes the hand-off: another install, on another
  // label and namespace, must leave a pool it never managed alone.
  const { config, poolName } = snap;
  const gone = snap.status ? unmanagedHandoff(poolName, snap.handoffMachineConfig, config.optInLabel) : { events: [] };
  if (gone.delete) out.deleteMachineConfigs.push(gone.delete);
  out.events.push(...gone.events);
  // A rollout hold of the operator is released with management (MCC then moves the nodes as usual).
  if (snap.status) {
    const hold = planRolloutHold({ pool, machineConfigMode: true, unmanaged: true, now: snap.now });
    out.poolApply = hold.apply;
    out.events.push(...hold.events);
  }
  out.status = unmanagedStatus(snap, pool, gone.delete);
  return out;
}

function newScope(snap: Snapshot, pool: MachineConfigPool, out: Plan): PlanScope {
  const poolName = snap.poolName;
  const owner: Owner = {
    apiVersion: pool.apiVersion ?? apiVersionOf(RESOURCES.machineConfigPool),
    kind: RESOURCES.machineConfigPool.kind,
    name: poolName,
    uid: pool.metadata.uid ?? '',
  };
  return {
    snap,
    pool,
    out,
    ns: snap.config.namespace,
    now: snap.now,
    generation: pool.metadata.generation,
    prevStatus: snap.status?.status,
    gate: gateOf(pool),
    owner,
    hasOwner: owner.uid !== '',
    S: poolStreams(poolName),
    B: poolBuildConfigs(poolName),
    problems: [],
    waiting: [],
    importRetries: [],
    baseSource: 'coreos',
    customWanted: false,
    heldBuilds: [],
    attemptRecords: [],
  };
}

function requeueIn(s: PlanScope, ms: number): void {
  s.requeue = s.requeue === undefined ? ms : Math.min(s.requeue, ms);
}

const streamOf = (s: PlanScope, name: string) => s.snap.streams.get(name);
const metadataOf = (s: PlanScope, name: string) => poolMetadata(name, s.ns, s.snap.poolName, s.hasOwner ? s.owner : undefined);

/** An ImageStream of the pool, server-side applied; one that exists and is not ours is a conflict (or an admin's, read only). */
function streamObject(s: PlanScope, name: string, tags?: TagReference[]): KubeObject | undefined {
  const existing = streamOf(s, name);
  if (existing && !isOurs(existing, s.snap.poolName)) {
    // Objects an admin may have created first (oc tag creates streams): read, never taken over.
    if (name !== s.S.externalBase && name !== s.S.external) {
      s.problems.push({
        reason: 'ObjectConflict',
        message: `ImageStream ${s.ns}/${name} exists but is not managed for pool ${s.snap.poolName} (no annotation machineconfiguration.openshift.io/pool=${s.snap.poolName}); delete or rename it`,
      });
    }
    return undefined;
  }
  return imageStreamObject(metadataOf(s, name), tags);
}

function applyStream(s: PlanScope, name: string, tags?: TagReference[]): void {
  const o = streamObject(s, name, tags);
  if (o) s.out.apply.push(o);
}

/** Failed imports of the tags the pool depends on are re-requested with backoff (OpenShift does not retry them at the same generation); the state is kept in the status. */
function importFailure(s: PlanScope, name: string): ImportFailure | undefined {
  const c = s.snap.config;
  const f = decideImportRetry(streamOf(s, name), s.ns, LATEST, s.prevStatus?.importRetries, s.now, {
    baseMs: c.importRetryBackoffMs ?? IMPORT_RETRY_BASE_MS,
    maxMs: c.importRetryMaxBackoffMs ?? IMPORT_RETRY_MAX_MS,
  });
  if (!f) return undefined;
  s.importRetries.push(f.state);
  if (f.request) s.out.importRequests.push(f.request);
  requeueIn(s, Math.max(1000, f.nextRetryAt - s.now));
  return f;
}

function importProblem(s: PlanScope, f: ImportFailure, tail: string): Problem {
  return { reason: 'ImportFailed', message: `ImageStream ${s.ns}/${f.stream}:${f.tag} could not import ${f.from} (${f.error}); ${importRetryText(f)}; ${tail}` };
}

/** A push secret of the wrong shape: named, with what is wrong (never its content). */
function planPushSecret(s: PlanScope): void {
  const { config } = s.snap;
  if (config.pushSecret && s.snap.pushSecretFound !== false && s.snap.pushSecretProblem) {
    s.problems.push({ reason: 'PushSecretInvalid', message: `push secret ${s.ns}/${config.pushSecret}: ${escapeText(s.snap.pushSecretProblem)}` });
  }
}

/** 1+2. Base selection: the external base if imported, else coreos:latest, written to <pool>-base:latest by digest. */
function planBase(s: PlanScope): void {
  const { snap, S, ns } = s;
  const config = snap.config;
  // Where the cluster serves OS image streams, the base follows the default stream's OS image (a pool
  // that names another stream gets no hand-off: OSImageStreamSet); else ControllerConfig's, else --base-os-image.
  const streams = snap.osImageStream?.status;
  const streamImage = streams?.availableStreams?.find((x) => x.name === streams.defaultStream)?.osImage || undefined;
  const baseImageSpec = streamImage || snap.controllerConfig?.spec?.baseOSContainerImage || config.baseOSImage;
  s.baseImageSpec = baseImageSpec;
  s.baseImageFrom = streamImage ? `OSImageStream ${OS_IMAGE_STREAM_NAME} (default stream ${quote(streams!.defaultStream ?? '', 63)})` : undefined;
  if (!baseImageSpec && (s.prevStatus?.base || tagImage(streamOf(s, COREOS_STREAM), LATEST))) {
    // It was known before (the pool was built from it): removing it must not be silent.
    s.problems.push({
      reason: 'BaseOSImageMissing',
      message: `ControllerConfig ${CONTROLLER_CONFIG_NAME} no longer has spec.baseOSContainerImage (and --base-os-image is not set): the pool keeps its current image and base, but nothing new is built until the base OS image is restored`,
    });
  } else if (!baseImageSpec) {
    s.waiting.push(`the cluster's base OS image is unknown: ControllerConfig has no spec.baseOSContainerImage and --base-os-image is not set`);
  } else if (!safeParseImageRef(baseImageSpec).ok) {
    const r = safeParseImageRef(baseImageSpec);
    s.problems.push({ reason: 'InvalidImageReference', message: `base OS image (ControllerConfig spec.baseOSContainerImage): ${r.ok ? '' : r.error.message}` });
  } else {
    // The global coreos stream: no owner and no pool annotation, shared by every pool.
    s.out.apply.push(
      imageStreamObject({ name: COREOS_STREAM, namespace: ns, labels: { [LABEL_MANAGED]: FIELD_MANAGER } }, [dockerImageTag(LATEST, baseImageSpec, { insecure: isInsecureRegistry(baseImageSpec, config.insecureRegistries) })]),
    );
  }
  const coreosImage = tagImage(streamOf(s, COREOS_STREAM), LATEST);
  const coreosFailure = importFailure(s, COREOS_STREAM);
  const externalBase = tagImage(streamOf(s, S.externalBase), LATEST);
  const externalBaseFailure = importFailure(s, S.externalBase);
  if (externalBaseFailure) {
    s.problems.push(
      importProblem(
        s,
        externalBaseFailure,
        `the pool ${externalBase ? 'stays on the external base imported before' : 'keeps coreos:latest as its base'} until the tag is fixed or removed (oc tag -d ${ns}/${S.externalBase}:${LATEST})`,
      ),
    );
  }
  s.baseSource = externalBase ? 'external-base' : 'coreos';
  const wantBase = externalBase ?? coreosImage;
  s.wantBase = wantBase;
  // <pool>-base:latest is written by digest: a cross-stream ImageStreamTag is resolved
  // once, when written, and refused while its source is missing, so it would never follow.
  let wantBaseRef: string | undefined;
  if (wantBase) {
    const r = safeParseImageRef(wantBase.ref);
    if (r.ok) wantBaseRef = formatDigestRef(repoOf(r.ref), wantBase.digest);
    else s.problems.push({ reason: 'InvalidImageReference', message: `ImageStream ${externalBase ? S.externalBase : COREOS_STREAM}:${LATEST} records ${r.error.message}` });
  }
  applyStream(s, S.externalBase);
  // Pulled through the integrated registry (Local), insecure like its source.
  const baseSourceTag = specTag(streamOf(s, externalBase ? S.externalBase : COREOS_STREAM), LATEST);
  const baseInsecure = baseSourceTag?.importPolicy?.insecure === true || (wantBaseRef !== undefined && isInsecureRegistry(wantBaseRef, config.insecureRegistries));
  applyStream(s, S.base, wantBaseRef ? [dockerImageTag(LATEST, wantBaseRef, { insecure: baseInsecure, local: true })] : keepTags(streamOf(s, S.base), LATEST));
  const baseNow = tagImage(streamOf(s, S.base), LATEST);
  const baseSpec = specTag(streamOf(s, S.base), LATEST)?.from;
  const baseFollows = baseSpec?.kind === 'DockerImage' && baseSpec.name === wantBaseRef;
  const baseFailure = baseFollows ? importFailure(s, S.base) : undefined;
  if (!wantBase) {
    if (coreosFailure) s.problems.push(importProblem(s, coreosFailure, `the base image ${baseImageSpec ?? ''} is needed before anything is built`));
    else s.waiting.push('waiting for the coreos ImageStream to import the base OS image');
  } else if (!baseNow || !baseFollows || baseNow.digest !== wantBase.digest) {
    if (baseFailure) s.problems.push(importProblem(s, baseFailure, `the pool's base stays as it is until the import succeeds`));
    else if (wantBaseRef) s.waiting.push(`waiting for ImageStream ${S.base} to import ${wantBaseRef}`);
  } else {
    s.base = baseNow;
    s.baseArchitecture = snap.baseArchitectures?.get(baseNow.digest);
  }
  if (wantBase && coreosFailure && !externalBase) {
    s.problems.push(importProblem(s, coreosFailure, `the pool keeps the base imported before`));
  }
}

/** 3. The rendered config as a scratch image: pushed by tag (its content hash) unless the stream records it already. */
function planRenderedConfig(s: PlanScope): void {
  const { snap, S, ns } = s;
  const config = snap.config;
  const poolName = snap.poolName;
  const mcName = s.pool.spec?.configuration?.name;
  s.mcName = mcName;
  const rcRepo = `${config.registry}/${ns}/${S.renderedConfig}`;
  const rcStream = streamOf(s, S.renderedConfig);
  // The image is pushed by tag, the tag being its content hash. The integrated
  // registry records a tagged push in the stream itself (a digest-only push
  // creates no entry); for another registry (the stream advertises a different
  // repository, or none) the stream imports the pushed image through spec tags.
  const rcRepoAdvertised = rcStream?.status?.dockerImageRepository;
  const recordsPushes = !rcStream || rcRepoAdvertised === rcRepo;
  const rcTags = new Map<string, TagReference>();
  if (!recordsPushes) {
    // Keep every rendered-config tag applied so far (server-side apply would drop omitted ones).
    for (const t of rcStream?.spec?.tags ?? []) {
      if (t.from?.kind === 'DockerImage' && t.from.name.startsWith(`${rcRepo}@`)) rcTags.set(t.name, dockerImageTag(t.name, t.from.name));
    }
  }
  // The machine-config-controller cannot render the pool: nothing new reaches it until the admin fixes its input.
  // Not when the rendering the pool names was made after the condition turned True: MCC writes the pool's
  // spec.configuration before its status, so for a moment a pool that has just rendered still says it cannot.
  const renderDegraded = s.pool.status?.conditions?.find((c) => c.type === 'RenderDegraded' && c.status === 'True');
  const failedAt = timeMs(renderDegraded?.lastTransitionTime ?? undefined);
  const renderedAt = timeMs(snap.machineConfig?.metadata.creationTimestamp);
  const renderedSince = failedAt !== undefined && renderedAt !== undefined && renderedAt > failedAt;
  if (renderDegraded && !renderedSince) {
    s.problems.push({
      reason: 'RenderDegraded',
      message: `the machine-config-controller cannot render pool ${poolName}: ${escapeText(renderDegraded.message || renderDegraded.reason || 'no message')}; fix the MachineConfig it names (oc describe mcp/${poolName}); nothing new is built until it renders again${mcName ? ` (the pool stays on ${mcName})` : ''}`,
    });
  }
  if (!mcName) {
    s.waiting.push(`pool ${poolName} has no rendered MachineConfig yet (spec.configuration.name is empty)`);
  } else if (!snap.machineConfig && s.prevStatus?.renderedConfig === mcName && s.prevStatus.renderedConfigImage !== undefined) {
    // It existed (the operator read it and pushed its image): deleted by hand.
    s.problems.push({
      reason: 'RenderedConfigMissing',
      message: `rendered MachineConfig ${mcName} that pool ${poolName} names does not exist (deleted?): nothing new is built for the pool until the machine-config-controller renders it again (it does on its next sync of the pool, e.g. when one of the pool's MachineConfigs changes)`,
    });
  } else if (!snap.machineConfig) {
    s.waiting.push(`waiting for rendered MachineConfig ${mcName}`);
  } else {
    const check = checkRenderedConfig(snap.machineConfig);
    if (!check.ok) {
      s.problems.push({ reason: 'InvalidMachineConfig', message: check.message });
    } else {
      const image = scratchImageOf(snap.machineConfig, check);
      // Tagged by content, not by the rendered config's name: the hand-off re-renders
      // the pool under a new name with the same content, which must find its tag.
      const contentTag = renderedConfigTag(image.manifestDigest);
      if (!recordsPushes) {
        const ref = formatDigestRef(rcRepo, image.manifestDigest);
        rcTags.set(contentTag, dockerImageTag(contentTag, ref));
        rcTags.set(LATEST, dockerImageTag(LATEST, ref));
      }
      const recorded = tagHasDigest(rcStream, contentTag, image.manifestDigest);
      const latestRecorded = tagImage(rcStream, LATEST)?.digest === image.manifestDigest;
      if (recorded && latestRecorded) {
        s.rendered = recorded;
      } else if (config.pushSecret && snap.pushSecretProblem) {
        // reported by planPushSecret (PushSecretInvalid)
      } else if (config.pushSecret && snap.pushSecretFound === false) {
        s.problems.push({
          reason: 'PushSecretMissing',
          message: `push secret ${ns}/${config.pushSecret} was not found: create a kubernetes.io/dockerconfigjson Secret with that name, or fix --push-secret`,
        });
      } else {
        const err = recordsPushes ? undefined : tagImportError(rcStream, contentTag);
        s.pushWaiting = `pushing rendered config ${mcName} as ${S.renderedConfig}:${contentTag}${err ? `; last import: ${err}` : ''}`;
        s.waiting.push(s.pushWaiting);
        // The stream that names the image is applied only once the image is there.
        const stream = streamObject(s, S.renderedConfig, sortedTags(rcTags));
        // Absent, it records pushes (recordsPushes): no spec tags, nothing names the image yet.
        s.out.push = { repository: rcRepo, renderedConfig: mcName, image, tags: [contentTag, LATEST], ...(stream ? { stream, streamFirst: !rcStream } : {}) };
        return;
      }
    }
  }
  applyStream(s, S.renderedConfig, sortedTags(rcTags));
}

const sortedTags = (m: ReadonlyMap<string, TagReference>) => [...m.values()].sort((a, b) => a.name.localeCompare(b.name));

function buildContext(s: PlanScope) {
  const { snap } = s;
  const config = snap.config;
  const rebuildToken = s.pool.metadata.annotations?.[ANNOTATION_REBUILD] ?? snap.status?.metadata.annotations?.[ANNOTATION_REBUILD] ?? '';
  return {
    attempts: s.prevStatus?.buildAttempts,
    now: s.now,
    debounceMs: config.debounceMs,
    retryLimit: config.retryLimit,
    retryBackoffMs: config.retryBackoffMs,
    rebuildToken,
    builds: snap.builds,
  };
}

/** 4. The content build: the operator's two-stage Dockerfile over the base and the rendered-config image. */
function planContentBuild(s: PlanScope): void {
  const { snap, S, B, ns, base, rendered, mcName } = s;
  const config = snap.config;
  const poolName = snap.poolName;
  const contentBC = snap.buildConfigs.get(B.content);
  const contentBCOurs = !contentBC || isOurs(contentBC, poolName);
  if (!contentBCOurs) {
    s.problems.push({ reason: 'ObjectConflict', message: `BuildConfig ${ns}/${B.content} exists but is not managed for pool ${poolName}; delete or rename it` });
  }
  let contentDf: string | undefined;
  if (base && rendered && mcName) {
    try {
      contentDf = contentDockerfile({ renderedConfigImage: rendered.ref, baseImage: base.ref, applyCommand: config.applyCommand });
    } catch (e) {
      if (!(e instanceof DockerfileValueError)) throw e;
      s.problems.push({ reason: 'InvalidImageReference', message: `content build not started: ${e.message}` });
    }
    if (contentDf && contentBCOurs) {
      const inputs = {
        kind: 'content',
        templateVersion: TEMPLATE_VERSION,
        base: base.ref,
        // The rendered config by content (its image digest), never by name: see "Build identity".
        renderedConfig: rendered.ref,
        applyCommand: config.applyCommand,
        dockerfile: contentDf,
      };
      s.contentReq = {
        kind: 'content',
        pool: poolName,
        namespace: ns,
        buildConfig: B.content,
        outputStream: S.content,
        inputs,
        fingerprint: fingerprintOf(inputs),
        dockerfile: contentDf,
        renderedConfigName: mcName,
        pushSecret: config.pushSecret,
        inputsChangedMs: Math.max(base.createdMs ?? 0, rendered.createdMs ?? 0) || undefined,
        architecture: s.baseArchitecture || undefined,
      };
      if (!contentBC) {
        s.ownWriteWaiting = `waiting for BuildConfig ${B.content} to be created`;
        s.waiting.push(s.ownWriteWaiting);
      } else {
        s.contentDecision = decideBuild(s.contentReq, { ...buildContext(s), outputStreamObj: streamOf(s, S.content), buildConfigObj: contentBC });
      }
    }
  }
  // Written once its Dockerfile is known (a placeholder first would cost every
  // pool a second BuildConfig write at cold start); kept as observed while the
  // inputs are briefly unknown again.
  const df = contentDf ?? contentBC?.spec?.source?.dockerfile;
  if (contentBCOurs && df !== undefined) {
    s.out.apply.push({
      apiVersion: apiVersionOf(RESOURCES.buildConfig),
      kind: RESOURCES.buildConfig.kind,
      metadata: metadataOf(s, B.content),
      spec: {
        runPolicy: 'Serial',
        triggers: [],
        source: { type: 'Dockerfile', dockerfile: df },
        strategy: { type: 'Docker', dockerStrategy: { noCache: false } },
        output: { to: { kind: 'ImageStreamTag', name: `${S.content}:${LATEST}` } },
      },
    });
  }
  s.contentImage = s.contentDecision?.state === 'built' ? s.contentDecision.image : undefined;
  applyStream(s, S.content, s.contentImage ? [dockerImageTag(LATEST, s.contentImage.ref)] : keepTags(streamOf(s, S.content), LATEST));
}

/** 5. The custom build: the admin's Dockerfile FROM the content image, when it is not the default. */
function planCustomBuild(s: PlanScope): void {
  const { snap, S, B, ns, contentImage, mcName } = s;
  const config = snap.config;
  const poolName = snap.poolName;
  const customBC = snap.buildConfigs.get(B.custom);
  if (!customBC) {
    s.out.create.push({
      apiVersion: apiVersionOf(RESOURCES.buildConfig),
      kind: RESOURCES.buildConfig.kind,
      metadata: metadataOf(s, B.custom),
      spec: {
        runPolicy: 'Serial',
        triggers: [],
        source: { type: 'Dockerfile', dockerfile: defaultCustomDockerfile(poolName) },
        strategy: { type: 'Docker', dockerStrategy: {} },
        output: { to: { kind: 'ImageStreamTag', name: `${S.custom}:${LATEST}` } },
      },
    });
  }
  const customDf = customBC?.spec?.source?.dockerfile;
  s.customDf = customDf;
  s.customWanted = !!customBC && !isDefaultCustomDockerfile(poolName, customDf);
  if (s.customWanted && customDf !== undefined) {
    const bad = checkCustomDockerfile(customDf);
    if (bad) {
      s.problems.push({ reason: 'InvalidCustomDockerfile', message: `BuildConfig ${B.custom}: ${bad}; edit its spec.source.dockerfile` });
    } else if (contentImage) {
      const inputs = { kind: 'custom', templateVersion: TEMPLATE_VERSION, content: contentImage.ref, dockerfile: customDf };
      s.customReq = {
        kind: 'custom',
        pool: poolName,
        namespace: ns,
        buildConfig: B.custom,
        outputStream: S.custom,
        inputs,
        fingerprint: fingerprintOf(inputs),
        dockerfile: customDf,
        from: contentImage.ref,
        renderedConfigName: mcName,
        pushSecret: config.pushSecret,
        inputsChangedMs: undefined,
        // FROM the content image, which is of the base's architecture.
        architecture: s.baseArchitecture || undefined,
      };
      s.customDecision = decideBuild(s.customReq, { ...buildContext(s), outputStreamObj: streamOf(s, S.custom), buildConfigObj: customBC });
    } else {
      s.waiting.push(`custom build waits for the newest ${S.content} image`);
    }
  }
  const customImage = s.customDecision?.state === 'built' ? s.customDecision.image : undefined;
  applyStream(s, S.custom, customImage ? [dockerImageTag(LATEST, customImage.ref)] : s.customWanted ? keepTags(streamOf(s, S.custom), LATEST) : []);
  applyStream(s, S.external);
}

/** Build actions (content first): starts and cancels, each with the Event sent once its write succeeded; what they mean for Building. */
function planBuildActions(s: PlanScope): void {
  const { snap, gate, now } = s;
  const config = snap.config;
  for (const [label, d] of [
    ['content', s.contentDecision],
    ['custom', s.customDecision],
  ] as const) {
    if (!d) continue;
    // Paused: nothing starts and nothing is cancelled; a running build runs on.
    if (gate.paused && (d.state === 'start' || (d.state === 'waiting' && d.reason !== 'RetryBackoff'))) {
      s.attemptRecords.push(d.state === 'start' ? { ...d.record, lastAttempt: d.record.lastAttempt - 1 } : d.record);
      s.heldBuilds.push(d.state === 'start' ? `${label} build ${d.name}` : `${label} build (inputs settling)`);
      continue;
    }
    // A Build about to start runs on a node of the base's architecture (its nodeSelector): while that
    // is not known, the Build waits and the I/O layer reads it (once per base digest), then plans again.
    if (d.state === 'start' && s.base && s.baseArchitecture === undefined) {
      s.attemptRecords.push({ ...d.record, lastAttempt: d.record.lastAttempt - 1 });
      s.out.readBaseArchitecture = { stream: s.S.base, digest: s.base.digest };
      s.waiting.push(`${label} build ${d.name} waits for the architecture of its base ${s.base.ref}`);
      continue;
    }
    s.attemptRecords.push(d.record);
    if (!gate.paused) {
      for (const name of d.cancel) {
        s.out.cancelBuilds.push(name);
        const b = snap.builds.find((x) => x.metadata.name === name);
        const entry = b ? historyOf([b], 1)[0] : undefined;
        if (entry) s.out.events.push({ ...buildCancelledEvent(entry, snap.poolName), on: { kind: 'cancelBuild', name } });
      }
    }
    switch (d.state) {
      case 'start':
        s.out.createBuilds.push(d.create);
        if (!s.building) {
          s.building = `${label} build ${d.name} is starting`;
          s.startedBuilding = { name: d.name, message: `${label} build ${d.name} is New` };
        }
        requeueIn(s, 5000);
        break;
      case 'building':
        s.building ??= `${label} build ${d.build.metadata.name} is ${d.build.status?.phase ?? 'New'}`;
        break;
      case 'waiting':
        requeueIn(s, d.requeueAfterMs);
        if (d.reason === 'RetryBackoff' && d.failure) {
          // Not Degraded yet: attempts are left. Building says which one failed and when the next starts.
          s.building ??= `${label} build attempt ${d.failures ?? 1} of ${config.retryLimit} failed: ${failureReason(d.failure)}, retrying at ${new Date(now + d.requeueAfterMs).toISOString()}`;
        } else if (d.reason === 'Debounce') {
          // No Build yet: the pool waits for its inputs to settle (Pending), like any other wait, so a
          // debounce shorter than the waiting-status hold costs no status write. A deadline, never a
          // countdown: the message stays the same until the state changes.
          s.waiting.push(`${label} build waits for its inputs to settle until ${new Date(now + d.requeueAfterMs).toISOString()}`);
        } else {
          s.building ??= `${label} build waits for a stale build to stop`;
        }
        break;
      case 'failed':
        s.problems.push(
          buildFailure(label, d.failure, `gave up after ${d.attempts} of ${config.retryLimit} attempts; fix the cause, change the inputs, or annotate the pool with ${ANNOTATION_REBUILD}=<new value> to retry`),
        );
        break;
      case 'built':
        break;
    }
  }
  if (s.out.cancelBuilds.length) requeueIn(s, 2000);
}

/** 6. Content selection: external, else custom, else mco-content, each by digest. */
function planSelection(s: PlanScope): void {
  const { S, ns } = s;
  const external = tagImage(streamOf(s, S.external), LATEST);
  s.external = external;
  const externalFailure = importFailure(s, S.external);
  if (externalFailure) {
    s.problems.push(
      importProblem(
        s,
        externalFailure,
        `${external ? 'the external content imported before is still used' : 'the pool keeps its own content'} until the tag is fixed or removed (oc tag -d ${ns}/${S.external}:${LATEST})`,
      ),
    );
  }
  const pinned = (img: ResolvedImage, what: string): string | undefined => {
    const r = safeParseImageRef(img.ref);
    if (!r.ok) {
      s.problems.push({ reason: 'InvalidImageReference', message: `${what}: ${r.error.message}; re-tag a valid image` });
      return undefined;
    }
    return formatDigestRef(repoOf(r.ref), img.digest);
  };
  const customImage = s.customDecision?.state === 'built' ? s.customDecision.image : undefined;
  if (external) {
    const image = pinned(external, `ImageStream ${S.external}:latest`);
    if (image) s.chosen = { source: 'external', image };
  } else if (s.customWanted) {
    if (customImage) {
      const image = pinned(customImage, `custom image`);
      if (image) s.chosen = { source: 'custom', image };
    }
  } else if (s.contentImage) {
    const image = pinned(s.contentImage, `content image`);
    if (image) s.chosen = { source: 'mco-content', image };
  }
  planRollback(s);
}

/**
 * An admin's rollback (`layered-build-controller rollback --pool P`, or the annotation
 * layering.mco.dev/rollback-to=<image>): the pool gets an image it had before, checked again in the
 * registry (still there, bootable), while the annotation stays; builds go on for its current inputs,
 * and their image waits. Only an image the pool had (status.image or status.previousImage) is taken.
 */
function planRollback(s: PlanScope): void {
  const want = s.pool.metadata.annotations?.[ANNOTATION_ROLLBACK_TO]?.trim();
  if (!want) return;
  const poolName = s.snap.poolName;
  const had = [s.prevStatus?.image, s.prevStatus?.previousImage].filter((x): x is string => !!x);
  const r = safeParseImageRef(want);
  if (!r.ok || !r.ref.digest || !had.includes(want)) {
    s.problems.push({
      reason: 'RollbackRefused',
      message: `${ANNOTATION_ROLLBACK_TO}=${quote(want, 300)} is refused: ${!r.ok || !r.ref.digest ? 'not an image reference by digest' : 'not an image this pool had'} (${had.length ? `it had ${had.join(' and ')}` : 'no earlier image is recorded'}); the pool keeps its image. Roll back with: layered-build-controller rollback --pool ${poolName}; remove it with: oc annotate mcp/${poolName} ${ANNOTATION_ROLLBACK_TO}-`,
    });
    return;
  }
  s.rollback = { image: want, newest: s.chosen?.image };
  s.chosen = { source: 'rollback', image: want };
}

/** 7. Hand-off: only an image whose Build is Complete (not merely pushed) and that passed the registry check; the gate may hold it. */
function planHandoffStep(s: PlanScope): void {
  const { snap, pool, chosen, gate, S, ns } = s;
  const config = snap.config;
  const poolName = snap.poolName;
  let notReady: string | undefined;
  if (chosen?.source === 'mco-content' || chosen?.source === 'custom') {
    notReady = incomplete('content', s.contentDecision, s.contentReq?.fingerprint, snap.builds);
    if (!notReady && chosen.source === 'custom') notReady = incomplete('custom', s.customDecision, s.customReq?.fingerprint, snap.builds);
  }
  const mcCheck = snap.machineConfig ? checkRenderedConfig(snap.machineConfig) : undefined;
  const ho = planHandoff({
    poolName,
    pool,
    mode: config.handoff ?? DEFAULT_VALUES.handoff,
    optInLabel: config.optInLabel,
    owner: s.hasOwner ? s.owner : undefined,
    chosen,
    notReady,
    renderedName: s.mcName,
    ignition: mcCheck?.ok ? mcCheck.ignition : undefined,
    // The base through the pool's own stream in the integrated registry (pull-through), whatever registry it came from.
    base: s.base ? formatDigestRef(`${config.registry}/${ns}/${S.base}`, s.base.digest) : undefined,
    maxImageSize: config.maxImageSize ?? DEFAULT_MAX_IMAGE_SIZE,
    existing: snap.handoffMachineConfig,
    machineConfigs: snap.allMachineConfigs ?? [],
    pools: snap.allPools ?? [],
    statusConfig: snap.statusMachineConfig,
    checks: snap.imageChecks ?? new Map(),
    rollback: s.rollback !== undefined,
  });
  // The gate: a paused pool, or a manual hand-off without the right approval, keeps its image.
  if (ho.handedOff && chosen) {
    // A rollback is the admin's own approval; a paused pool still holds it.
    const g = gateHandoff(chosen.source === 'rollback' ? { ...gate, manual: false } : gate, poolName, chosen.image, ho.current);
    if (g.hold) {
      s.gateHold = g;
      ho.apply = undefined;
      ho.annotations = undefined;
      ho.handedOff = false;
      ho.events = ho.events.filter((e) => e.reason !== 'ImageHandedOff');
      if (!ho.current) delete ho.rollout.machineConfig;
    }
  }
  if (!s.gateHold && gate.paused && !(ho.handedOff && chosen)) s.gateHold = { hold: true, reason: 'Paused', message: gate.paused.message };
  s.problems.push(...ho.problems);
  // Each node of the pool whose machine-config daemon reports Degraded, with the daemon's reason
  // (its annotations `state` and `reason`, MCO pkg/daemon/constants). MCC's NodeDegraded condition on
  // the pool says the same only where the daemons also write MachineConfigNodes
  // (pkg/controller/node/status.go builds its message from those).
  const degraded = (snap.nodes ?? []).filter((n) => n.metadata.annotations?.[`${MCD_ANNOTATION}state`] === 'Degraded');
  if (degraded.length) {
    const shown = degraded
      .slice(0, MAX_NODES_NAMED)
      .map((n) => `node ${n.metadata.name}: ${quote(n.metadata.annotations?.[`${MCD_ANNOTATION}reason`] || 'no reason given', 500)}`);
    const more = degraded.length > MAX_NODES_NAMED ? `; and ${degraded.length - MAX_NODES_NAMED} more` : '';
    s.problems.push({
      reason: 'NodeDegraded',
      message: `${degraded.length} node${degraded.length === 1 ? '' : 's'} of pool ${poolName} report${degraded.length === 1 ? 's' : ''} Degraded (the machine-config daemon's reason): ${shown.join('; ')}${more}; a degraded node stays on its current image and retries (oc describe node <name>)${ho.current ? `; when the image cannot be pulled, check that the nodes may pull ${ho.current}` : ''}`,
    });
  }
  s.waiting.push(...ho.waiting);
  s.out.handoffMachineConfig = ho.apply;
  if (ho.delete) s.out.deleteMachineConfigs.push(ho.delete);
  s.out.checkImage = ho.check;
  s.out.events.push(...ho.events);
  s.handoff = ho;
}

/** 8. The rollout hold: the pool paused while its rendering is ahead of its image (src/plan/rollout-hold.ts). */
function planHoldStep(s: PlanScope): void {
  const { snap, pool } = s;
  const ho = s.handoff!;
  const hold = planRolloutHold({
    pool,
    machineConfigMode: (snap.config.handoff ?? DEFAULT_VALUES.handoff) === 'machineconfig',
    current: ho.current,
    chosen: s.chosen?.image,
    renderedImage: snap.machineConfig?.spec?.osImageURL ?? undefined,
    renderedName: s.mcName,
    handoffAnnotations: ho.annotations,
    noHandoff: !!pool.spec?.osImageStream?.name,
    now: s.now,
  });
  s.rolloutHeld = hold.held;
  s.out.poolApply = hold.apply;
  s.out.poolApplyFirst = hold.first || undefined;
  s.out.events.push(...hold.events);
}

/** The pool's status object (its status is written separately, from statusOf). */
function planStatusObject(s: PlanScope): void {
  s.out.apply.push({
    apiVersion: apiVersionOf(RESOURCES.layeredPool),
    kind: RESOURCES.layeredPool.kind,
    metadata: metadataOf(s, s.snap.poolName),
    spec: { poolName: s.snap.poolName },
  });
}

// The informer cache hands out the same object until the MachineConfig changes,
// so the image (a pure function of it) is remembered per object; a new object
// still hits the content-keyed memo when its content is unchanged.
const byObject = new WeakMap<object, ScratchImage>();
function scratchImageOf(mc: object, check: { machineConfig: unknown; ignition: unknown }): ScratchImage {
  let image = byObject.get(mc);
  if (!image) {
    image = cachedScratchImage({ machineConfig: check.machineConfig, ignition: check.ignition });
    byObject.set(mc, image);
  }
  return image;
}

/**
 * Why an image of `kind` may not be handed off yet: it came from the output
 * tag while a Build for its inputs is not Complete (the builder pushes before
 * the Build finishes). A tagged image whose Builds were all pruned is trusted.
 */
function incomplete(kind: string, d: BuildDecision | undefined, fingerprint: string | undefined, builds: readonly Build[]): string | undefined {
  if (d?.state !== 'built' || d.build || !fingerprint) return undefined;
  const mine = builds.filter((b) => buildFingerprint(b) === fingerprint);
  if (mine.length === 0) return undefined;
  const b = mine[0]!;
  return `${kind} build ${b.metadata.name} pushed its image but is ${b.status?.phase ?? 'New'}; the hand-off waits until it is Complete`;
}

/** The spec tag `tag` as it is (so applying does not drop it while its replacement is not ready). */
function keepTags(stream: { spec?: { tags?: TagReference[] | null | undefined } | undefined } | undefined, tag: string): TagReference[] {
  const t = stream?.spec?.tags?.find((x) => x.name === tag);
  if (!t?.from || t.from.kind !== 'DockerImage') return [];
  try {
    parseImageRef(t.from.name);
  } catch {
    return [];
  }
  return [dockerImageTag(tag, t.from.name)];
}

/** Degraded nodes named in a status message; the rest are counted. */
const MAX_NODES_NAMED = 5;

function failureReason(b: Build): string {
  return escapeText([b.status?.reason, b.status?.message].filter(Boolean).join(': ') || 'the build failed');
}

function buildFailure(kind: string, b: Build, tail: string): Problem {
  const why = failureReason(b);
  const log = logExcerpt(b.status?.logSnippet);
  return {
    reason: 'BuildFailed',
    message: `${kind} build ${b.metadata.name} failed (${why}); ${tail}${log ? `\nlast lines of its log:\n${log}` : ''}`,
  };
}
