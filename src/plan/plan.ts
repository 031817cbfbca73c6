// The planner: a pure function of a pool's snapshot returning every object and
// action the pool needs. No I/O. The order follows DESIGN.md "What the plan decides".
import type { Build, BuildAttempts, Condition, ImportRetry, LayeredPoolStatus, RolloutStatus, TagReference } from '../kube/types.ts';
import { apiVersionOf, RESOURCES } from '../kube/types.ts';
import type { ScratchImage } from '../registry/scratch-image.ts';
import { cachedScratchImage } from '../registry/scratch-image.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { DEFAULT_VALUES } from '../config/defaults.ts';
import { escapeText } from '../util/escape.ts';
import type { BuildDecision, BuildRequest } from './builds.ts';
import { buildFingerprint, decideBuild, fingerprintOf } from './builds.ts';
import { planHandoff, unmanagedHandoff } from './handoff.ts';
import type { HandoffGateDecision } from './gate.ts';
import { gateHandoff, gateOf } from './gate.ts';
import { explainHistory, withDockerfileHash } from './why.ts';
import { explainPlan } from './explain.ts';
import { sha256Hex } from '../util/canonical-json.ts';
import type { ImageCheckRequest } from './image-check.ts';
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
import {
  ANNOTATION_NEWEST_IMAGE_SOURCE,
  ANNOTATION_REBUILD,
  CONTROLLER_CONFIG_NAME,
  COREOS_STREAM,
  FIELD_MANAGER,
  LABEL_MANAGED,
  LATEST,
  poolBuildConfigs,
  poolStreams,
  renderedConfigTag,
  shortenedNames,
} from './names.ts';
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
} from './streams.ts';
import type { PlanEvent } from './status.ts';
import { buildEvents, condition, logExcerpt, mergeHistory } from './status.ts';

export type ImageSource = 'external' | 'custom' | 'mco-content';

export interface RenderedConfigPush {
  /** `<registry>/<ns>/<pool>-rendered-config` */
  repository: string;
  renderedConfig: string;
  image: ScratchImage;
  /** Pushed by tag (the integrated registry records only tagged pushes): the content tag first, then `latest`. */
  tags: string[];
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
  /** Hand-off annotations for the pool, when they differ from what it has. */
  poolAnnotations?: Record<string, string> | undefined;
  /** The hand-off MachineConfig `99-<pool>-layered-image` (server-side applied; written before the annotations). */
  handoffMachineConfig?: KubeObject | undefined;
  /** Our hand-off MachineConfigs to delete (unmanaged pool, or annotation-only hand-off). */
  deleteMachineConfigs: string[];
  /** An image the I/O layer must verify in the registry before it can be handed off. */
  checkImage?: ImageCheckRequest | undefined;
  /** The full status of the pool's status object; undefined = leave it alone. */
  status?: LayeredPoolStatus | undefined;
  events: PlanEvent[];
  requeueAfterMs?: number | undefined;
}

interface Problem {
  reason: string;
  message: string;
}

/** How many fingerprints' attempt records the status keeps. */
const ATTEMPT_RECORDS = 10;

const ISSUE_ORDER = [
  'InvalidMachineConfig',
  'InvalidMachineConfigSelector',
  'InvalidImageReference',
  'InvalidCustomDockerfile',
  'ObjectConflict',
  'BaseOSImageMissing',
  'PushSecretMissing',
  'PushSecretInvalid',
  'ImportFailed',
  'BuildFailed',
  'ImageCheckFailed',
  'HandOffOverridden',
  'HandOffSelectsOtherPool',
  'RegistryError',
];

export const DEFAULT_MAX_IMAGE_SIZE = DEFAULT_VALUES.maxImageSize;

export function isOptedIn(labels: Record<string, string> | undefined, label: string): boolean {
  const v = labels?.[label];
  return v !== undefined && v.toLowerCase() !== 'false';
}

export function plan(snap: Snapshot): Plan {
  const { config, poolName } = snap;
  const ns = config.namespace;
  const out: Plan = { pool: poolName, managed: false, apply: [], create: [], createBuilds: [], cancelBuilds: [], importRequests: [], deleteMachineConfigs: [], events: [] };
  const pool = snap.pool;

  // Delete path: the pool is gone (or going). Owner references let the garbage
  // collector remove the per-pool objects; nothing to write.
  if (!pool || pool.metadata.deletionTimestamp) return out;

  const prevStatus = snap.status?.status;
  const generation = pool.metadata.generation;
  const now = snap.now;

  if (!isOptedIn(pool.metadata.labels, config.optInLabel)) {
    // Management stops; the status object (if any) says so. Only the hand-off
    // MachineConfig goes (MCC then restores the rendered config without it).
    // Only an operator that managed the pool (its status object is in this
    // operator's namespace) removes the hand-off: another install, on another
    // label and namespace, must leave a pool it never managed alone.
    const gone = snap.status ? unmanagedHandoff(poolName, snap.handoffMachineConfig, config.optInLabel) : { events: [] };
    if (gone.delete) out.deleteMachineConfigs.push(gone.delete);
    out.events.push(...gone.events);
    if (snap.status && (prevStatus?.phase !== 'Unmanaged' || gone.delete)) {
      const rest = { ...prevStatus };
      delete rest.rollout;
      delete rest.explain;
      if (gone.delete) {
        delete rest.image;
        delete rest.imageSource;
      }
      out.status = {
        ...rest,
        phase: 'Unmanaged',
        message: gone.delete
          ? `label ${config.optInLabel} was removed from pool ${poolName}: the operator no longer manages it and deleted its hand-off MachineConfig ${gone.delete}; MCC restores the previous rendered config`
          : `label ${config.optInLabel} was removed from pool ${poolName}: the operator no longer manages it`,
        conditions: [
          condition(prevStatus?.conditions, 'Ready', 'False', 'NotOptedIn', `pool ${poolName} is not labelled ${config.optInLabel}`, generation, now),
          condition(prevStatus?.conditions, 'Building', 'False', 'NotOptedIn', 'no builds run for an unmanaged pool', generation, now),
          condition(prevStatus?.conditions, 'Degraded', 'False', 'NotOptedIn', 'nothing to report', generation, now),
        ],
      };
    }
    return out;
  }
  out.managed = true;
  const gate = gateOf(pool);

  const owner: Owner = {
    apiVersion: pool.apiVersion ?? apiVersionOf(RESOURCES.machineConfigPool),
    kind: RESOURCES.machineConfigPool.kind,
    name: poolName,
    uid: pool.metadata.uid ?? '',
  };
  const hasOwner = owner.uid !== '';
  const S = poolStreams(poolName);
  const B = poolBuildConfigs(poolName);
  const problems: Problem[] = [];
  const waiting: string[] = [];
  let requeue: number | undefined;
  const requeueIn = (ms: number) => {
    requeue = requeue === undefined ? ms : Math.min(requeue, ms);
  };
  const stream = (name: string) => snap.streams.get(name);
  const md = (name: string) => poolMetadata(name, ns, poolName, hasOwner ? owner : undefined);

  // Objects an admin may have created first (oc tag creates streams): read, never taken over.
  const adminStreams = new Set<string>([S.externalBase, S.external]);
  const applyStream = (name: string, tags?: TagReference[]) => {
    const existing = stream(name);
    if (existing && !isOurs(existing, poolName)) {
      if (!adminStreams.has(name)) {
        problems.push({
          reason: 'ObjectConflict',
          message: `ImageStream ${ns}/${name} exists but is not managed for pool ${poolName} (no annotation machineconfiguration.openshift.io/pool=${poolName}); delete or rename it`,
        });
      }
      return;
    }
    out.apply.push(imageStreamObject(md(name), tags));
  };

  // A push secret of the wrong shape: named, with what is wrong (never its content).
  if (config.pushSecret && snap.pushSecretFound !== false && snap.pushSecretProblem) {
    problems.push({ reason: 'PushSecretInvalid', message: `push secret ${ns}/${config.pushSecret}: ${escapeText(snap.pushSecretProblem)}` });
  }

  // ---- 1+2. Base selection -------------------------------------------------------
  const baseImageSpec = snap.controllerConfig?.spec?.baseOSContainerImage || config.baseOSImage;
  if (!baseImageSpec && (prevStatus?.base || tagImage(stream(COREOS_STREAM), LATEST))) {
    // It was known before (the pool was built from it): removing it must not be silent.
    problems.push({
      reason: 'BaseOSImageMissing',
      message: `ControllerConfig ${CONTROLLER_CONFIG_NAME} no longer has spec.baseOSContainerImage (and --base-os-image is not set): the pool keeps its current image and base, but nothing new is built until the base OS image is restored`,
    });
  } else if (!baseImageSpec) {
    waiting.push(`the cluster's base OS image is unknown: ControllerConfig has no spec.baseOSContainerImage and --base-os-image is not set`);
  } else if (!safeParseImageRef(baseImageSpec).ok) {
    const r = safeParseImageRef(baseImageSpec);
    problems.push({ reason: 'InvalidImageReference', message: `base OS image (ControllerConfig spec.baseOSContainerImage): ${r.ok ? '' : r.error.message}` });
  } else {
    // The global coreos stream: no owner and no pool annotation, shared by every pool.
    out.apply.push(
      imageStreamObject({ name: COREOS_STREAM, namespace: ns, labels: { [LABEL_MANAGED]: FIELD_MANAGER } }, [dockerImageTag(LATEST, baseImageSpec, { insecure: isInsecureRegistry(baseImageSpec, config.insecureRegistries) })]),
    );
  }
  // Failed imports of the tags the pool depends on are re-requested with backoff
  // (OpenShift does not retry them at the same generation); the state is kept in the status.
  const importRetries: ImportRetry[] = [];
  const importFailure = (name: string): ImportFailure | undefined => {
    const f = decideImportRetry(stream(name), ns, LATEST, prevStatus?.importRetries, now, {
      baseMs: config.importRetryBackoffMs ?? IMPORT_RETRY_BASE_MS,
      maxMs: config.importRetryMaxBackoffMs ?? IMPORT_RETRY_MAX_MS,
    });
    if (!f) return undefined;
    importRetries.push(f.state);
    if (f.request) out.importRequests.push(f.request);
    requeueIn(Math.max(1000, f.nextRetryAt - now));
    return f;
  };
  const importProblem = (f: ImportFailure, tail: string): Problem => ({
    reason: 'ImportFailed',
    message: `ImageStream ${ns}/${f.stream}:${f.tag} could not import ${f.from} (${f.error}); ${importRetryText(f)}; ${tail}`,
  });
  const coreosImage = tagImage(stream(COREOS_STREAM), LATEST);
  const coreosFailure = importFailure(COREOS_STREAM);
  const externalBase = tagImage(stream(S.externalBase), LATEST);
  const externalBaseFailure = importFailure(S.externalBase);
  if (externalBaseFailure) {
    problems.push(
      importProblem(
        externalBaseFailure,
        `the pool ${externalBase ? 'stays on the external base imported before' : 'keeps coreos:latest as its base'} until the tag is fixed or removed (oc tag -d ${ns}/${S.externalBase}:${LATEST})`,
      ),
    );
  }
  const baseSource = externalBase ? 'external-base' : 'coreos';
  const wantBase = externalBase ?? coreosImage;
  // <pool>-base:latest is written by digest: a cross-stream ImageStreamTag is resolved
  // once, when written, and refused while its source is missing, so it would never follow.
  let wantBaseRef: string | undefined;
  if (wantBase) {
    const r = safeParseImageRef(wantBase.ref);
    if (r.ok) wantBaseRef = formatDigestRef(repoOf(r.ref), wantBase.digest);
    else problems.push({ reason: 'InvalidImageReference', message: `ImageStream ${externalBase ? S.externalBase : COREOS_STREAM}:${LATEST} records ${r.error.message}` });
  }
  applyStream(S.externalBase);
  // Pulled through the integrated registry (Local), insecure like its source.
  const baseSourceTag = specTag(stream(externalBase ? S.externalBase : COREOS_STREAM), LATEST);
  const baseInsecure = baseSourceTag?.importPolicy?.insecure === true || (wantBaseRef !== undefined && isInsecureRegistry(wantBaseRef, config.insecureRegistries));
  applyStream(S.base, wantBaseRef ? [dockerImageTag(LATEST, wantBaseRef, { insecure: baseInsecure, local: true })] : keepTags(stream(S.base), LATEST));
  const baseNow = tagImage(stream(S.base), LATEST);
  const baseSpec = specTag(stream(S.base), LATEST)?.from;
  const baseFollows = baseSpec?.kind === 'DockerImage' && baseSpec.name === wantBaseRef;
  const baseFailure = baseFollows ? importFailure(S.base) : undefined;
  let base: ResolvedImage | undefined;
  if (!wantBase) {
    if (coreosFailure) problems.push(importProblem(coreosFailure, `the base image ${baseImageSpec ?? ''} is needed before anything is built`));
    else waiting.push('waiting for the coreos ImageStream to import the base OS image');
  } else if (!baseNow || !baseFollows || baseNow.digest !== wantBase.digest) {
    if (baseFailure) problems.push(importProblem(baseFailure, `the pool's base stays as it is until the import succeeds`));
    else if (wantBaseRef) waiting.push(`waiting for ImageStream ${S.base} to import ${wantBaseRef}`);
  } else {
    base = baseNow;
  }
  if (wantBase && coreosFailure && !externalBase) {
    problems.push(importProblem(coreosFailure, `the pool keeps the base imported before`));
  }

  // ---- 3. Rendered config ----------------------------------------------------------
  const mcName = pool.spec?.configuration?.name;
  let rendered: ResolvedImage | undefined;
  const rcRepo = `${config.registry}/${ns}/${S.renderedConfig}`;
  const rcStream = stream(S.renderedConfig);
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
  if (!mcName) {
    waiting.push(`pool ${poolName} has no rendered MachineConfig yet (spec.configuration.name is empty)`);
  } else if (!snap.machineConfig) {
    waiting.push(`waiting for rendered MachineConfig ${mcName}`);
  } else {
    const check = checkRenderedConfig(snap.machineConfig);
    if (!check.ok) {
      problems.push({ reason: 'InvalidMachineConfig', message: check.message });
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
        rendered = recorded;
      } else {
        out.push = { repository: rcRepo, renderedConfig: mcName, image, tags: [contentTag, LATEST] };
        if (config.pushSecret && snap.pushSecretProblem) {
          out.push = undefined; // reported above (PushSecretInvalid)
        } else if (config.pushSecret && snap.pushSecretFound === false) {
          problems.push({
            reason: 'PushSecretMissing',
            message: `push secret ${ns}/${config.pushSecret} was not found: create a kubernetes.io/dockerconfigjson Secret with that name, or fix --push-secret`,
          });
          out.push = undefined;
        } else {
          const err = recordsPushes ? undefined : tagImportError(rcStream, contentTag);
          waiting.push(`pushing rendered config ${mcName} as ${S.renderedConfig}:${contentTag}${err ? `; last import: ${err}` : ''}`);
        }
      }
    }
  }
  applyStream(S.renderedConfig, [...rcTags.values()].sort((a, b) => a.name.localeCompare(b.name)));

  // ---- 4. Content build ------------------------------------------------------------------
  const rebuildToken = pool.metadata.annotations?.[ANNOTATION_REBUILD] ?? snap.status?.metadata.annotations?.[ANNOTATION_REBUILD] ?? '';
  const ctxBase = {
    attempts: prevStatus?.buildAttempts,
    now,
    debounceMs: config.debounceMs,
    retryLimit: config.retryLimit,
    retryBackoffMs: config.retryBackoffMs,
    rebuildToken,
    builds: snap.builds,
  };
  const contentBC = snap.buildConfigs.get(B.content);
  const contentBCOurs = !contentBC || isOurs(contentBC, poolName);
  if (!contentBCOurs) {
    problems.push({ reason: 'ObjectConflict', message: `BuildConfig ${ns}/${B.content} exists but is not managed for pool ${poolName}; delete or rename it` });
  }
  let contentDf: string | undefined;
  let contentDecision: BuildDecision | undefined;
  let contentReq: BuildRequest | undefined;
  if (base && rendered && mcName) {
    try {
      contentDf = contentDockerfile({ renderedConfigImage: rendered.ref, baseImage: base.ref, applyCommand: config.applyCommand });
    } catch (e) {
      if (!(e instanceof DockerfileValueError)) throw e;
      problems.push({ reason: 'InvalidImageReference', message: `content build not started: ${e.message}` });
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
      contentReq = {
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
      };
      if (!contentBC) {
        waiting.push(`waiting for BuildConfig ${B.content} to be created`);
      } else {
        contentDecision = decideBuild(contentReq, { ...ctxBase, outputStreamObj: stream(S.content), buildConfigObj: contentBC });
      }
    }
  }
  if (contentBCOurs) {
    const observedDf = contentBC?.spec?.source?.dockerfile;
    const df = contentDf ?? observedDf ?? '# Waiting for the base and rendered-config images; the operator writes this Dockerfile.\n';
    out.apply.push({
      apiVersion: apiVersionOf(RESOURCES.buildConfig),
      kind: RESOURCES.buildConfig.kind,
      metadata: md(B.content),
      spec: {
        runPolicy: 'Serial',
        triggers: [],
        source: { type: 'Dockerfile', dockerfile: df },
        strategy: { type: 'Docker', dockerStrategy: { noCache: false } },
        output: { to: { kind: 'ImageStreamTag', name: `${S.content}:${LATEST}` } },
      },
    });
  }
  const contentImage = contentDecision?.state === 'built' ? contentDecision.image : undefined;
  applyStream(S.content, contentImage ? [dockerImageTag(LATEST, contentImage.ref)] : keepTags(stream(S.content), LATEST));

  // ---- 5. Custom build -------------------------------------------------------------------------
  const customBC = snap.buildConfigs.get(B.custom);
  if (!customBC) {
    out.create.push({
      apiVersion: apiVersionOf(RESOURCES.buildConfig),
      kind: RESOURCES.buildConfig.kind,
      metadata: md(B.custom),
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
  const customWanted = !!customBC && !isDefaultCustomDockerfile(poolName, customDf);
  let customDecision: BuildDecision | undefined;
  let customReq: BuildRequest | undefined;
  if (customWanted && customDf !== undefined) {
    const bad = checkCustomDockerfile(customDf);
    if (bad) {
      problems.push({ reason: 'InvalidCustomDockerfile', message: `BuildConfig ${B.custom}: ${bad}; edit its spec.source.dockerfile` });
    } else if (contentImage) {
      const inputs = { kind: 'custom', templateVersion: TEMPLATE_VERSION, content: contentImage.ref, dockerfile: customDf };
      const req: BuildRequest = {
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
      };
      customReq = req;
      customDecision = decideBuild(req, { ...ctxBase, outputStreamObj: stream(S.custom), buildConfigObj: customBC });
    } else {
      waiting.push(`custom build waits for the newest ${S.content} image`);
    }
  }
  const customImage = customDecision?.state === 'built' ? customDecision.image : undefined;
  applyStream(S.custom, customImage ? [dockerImageTag(LATEST, customImage.ref)] : customWanted ? keepTags(stream(S.custom), LATEST) : []);
  applyStream(S.external);

  // Build actions (content first), and what they mean for the status.
  let building: string | undefined;
  const heldBuilds: string[] = [];
  const attemptRecords: BuildAttempts[] = [];
  for (const [label, d] of [
    ['content', contentDecision],
    ['custom', customDecision],
  ] as const) {
    if (!d) continue;
    // Paused: nothing starts and nothing is cancelled; a running build runs on.
    if (gate.paused && (d.state === 'start' || (d.state === 'waiting' && d.reason !== 'RetryBackoff'))) {
      attemptRecords.push(d.state === 'start' ? { ...d.record, lastAttempt: d.record.lastAttempt - 1 } : d.record);
      heldBuilds.push(d.state === 'start' ? `${label} build ${d.name}` : `${label} build (inputs settling)`);
      continue;
    }
    attemptRecords.push(d.record);
    if (!gate.paused) out.cancelBuilds.push(...d.cancel);
    switch (d.state) {
      case 'start':
        out.createBuilds.push(d.create);
        building ??= `${label} build ${d.name} is starting`;
        requeueIn(5000);
        break;
      case 'building':
        building ??= `${label} build ${d.build.metadata.name} is ${d.build.status?.phase ?? 'New'}`;
        break;
      case 'waiting':
        requeueIn(d.requeueAfterMs);
        if (d.reason === 'RetryBackoff' && d.failure) {
          // Not Degraded yet: attempts are left. Building says which one failed and when the next starts.
          building ??= `${label} build attempt ${d.failures ?? 1} of ${config.retryLimit} failed: ${failureReason(d.failure)}, retrying at ${new Date(now + d.requeueAfterMs).toISOString()}`;
        } else {
          // A deadline, never a countdown: the message stays the same until the state changes.
          building ??=
            d.reason === 'Debounce'
              ? `${label} build waits for its inputs to settle until ${new Date(now + d.requeueAfterMs).toISOString()}`
              : `${label} build waits for a stale build to stop`;
        }
        break;
      case 'failed':
        problems.push(
          buildFailure(label, d.failure, `gave up after ${d.attempts} of ${config.retryLimit} attempts; fix the cause, change the inputs, or annotate the pool with ${ANNOTATION_REBUILD}=<new value> to retry`),
        );
        break;
      case 'built':
        break;
    }
  }
  if (out.cancelBuilds.length) requeueIn(2000);

  // ---- 6. Content selection -----------------------------------------------------------------------
  let chosen: { source: ImageSource; image: string } | undefined;
  const external = tagImage(stream(S.external), LATEST);
  const externalFailure = importFailure(S.external);
  if (externalFailure) {
    problems.push(
      importProblem(
        externalFailure,
        `${external ? 'the external content imported before is still used' : 'the pool keeps its own content'} until the tag is fixed or removed (oc tag -d ${ns}/${S.external}:${LATEST})`,
      ),
    );
  }
  const pinned = (img: ResolvedImage, what: string): string | undefined => {
    const r = safeParseImageRef(img.ref);
    if (!r.ok) {
      problems.push({ reason: 'InvalidImageReference', message: `${what}: ${r.error.message}; re-tag a valid image` });
      return undefined;
    }
    return formatDigestRef(repoOf(r.ref), img.digest);
  };
  if (external) {
    const image = pinned(external, `ImageStream ${S.external}:latest`);
    if (image) chosen = { source: 'external', image };
  } else if (customWanted) {
    if (customImage) {
      const image = pinned(customImage, `custom image`);
      if (image) chosen = { source: 'custom', image };
    }
  } else if (contentImage) {
    const image = pinned(contentImage, `content image`);
    if (image) chosen = { source: 'mco-content', image };
  }

  // ---- 7. Hand-off ----------------------------------------------------------------------------------------
  // Only an image whose Build is Complete (not merely pushed) and that passed the registry check.
  let notReady: string | undefined;
  if (chosen?.source === 'mco-content' || chosen?.source === 'custom') {
    notReady = incomplete('content', contentDecision, contentReq?.fingerprint, snap.builds);
    if (!notReady && chosen.source === 'custom') notReady = incomplete('custom', customDecision, customReq?.fingerprint, snap.builds);
  }
  const mcCheck = snap.machineConfig ? checkRenderedConfig(snap.machineConfig) : undefined;
  const ho = planHandoff({
    poolName,
    pool,
    mode: config.handoff ?? DEFAULT_VALUES.handoff,
    optInLabel: config.optInLabel,
    owner: hasOwner ? owner : undefined,
    chosen,
    notReady,
    renderedName: mcName,
    ignition: mcCheck?.ok ? mcCheck.ignition : undefined,
    // The base through the pool's own stream in the integrated registry (pull-through), whatever registry it came from.
    base: base ? formatDigestRef(`${config.registry}/${ns}/${S.base}`, base.digest) : undefined,
    maxImageSize: config.maxImageSize ?? DEFAULT_MAX_IMAGE_SIZE,
    existing: snap.handoffMachineConfig,
    machineConfigs: snap.allMachineConfigs ?? [],
    pools: snap.allPools ?? [],
    statusConfig: snap.statusMachineConfig,
    checks: snap.imageChecks ?? new Map(),
  });
  // The gate: a paused pool, or a manual hand-off without the right approval, keeps its image.
  let gateHold: Extract<HandoffGateDecision, { hold: true }> | undefined;
  if (ho.handedOff && chosen) {
    const g = gateHandoff(gate, poolName, chosen.image, ho.current);
    if (g.hold) {
      gateHold = g;
      ho.apply = undefined;
      ho.annotations = undefined;
      ho.handedOff = false;
      ho.events = ho.events.filter((e) => e.reason !== 'ImageHandedOff');
      if (!ho.current) delete ho.rollout.machineConfig;
    }
  }
  if (!gateHold && gate.paused && !(ho.handedOff && chosen)) gateHold = { hold: true, reason: 'Paused', message: gate.paused.message };
  problems.push(...ho.problems);
  waiting.push(...ho.waiting);
  out.poolAnnotations = ho.annotations;
  out.handoffMachineConfig = ho.apply;
  if (ho.delete) out.deleteMachineConfigs.push(ho.delete);
  out.checkImage = ho.check;
  out.events.push(...ho.events);
  const annotations = pool.metadata.annotations ?? {};

  // ---- Status -----------------------------------------------------------------------------------------------
  out.apply.push({
    apiVersion: apiVersionOf(RESOURCES.layeredPool),
    kind: RESOURCES.layeredPool.kind,
    metadata: md(poolName),
    spec: { poolName },
  });
  const history = explainHistory(prevStatus?.history, withDockerfileHash(mergeHistory(prevStatus?.history, snap.builds, config.historySize), snap.builds), {
    baseSource,
    base: base?.ref,
    builds: snap.builds,
  });
  out.events.unshift(...buildEvents(prevStatus?.history, history, poolName));
  problems.sort((a, b) => ISSUE_ORDER.indexOf(a.reason) - ISSUE_ORDER.indexOf(b.reason));
  const handedOff = chosen !== undefined && ho.handedOff;
  const current = ho.current;
  const prev = prevStatus?.conditions;
  const problem = problems[0];
  const conditions: Condition[] = [
    handedOff
      ? condition(prev, 'Ready', 'True', 'ImageHandedOff', `pool ${poolName} uses ${chosen!.source} image ${chosen!.image}; ${rolloutText(ho.rollout)}`, generation, now)
      : condition(
          prev,
          'Ready',
          'False',
          gateHold ? gateHold.reason : building ? 'Building' : problem ? problem.reason : 'WaitingForInputs',
          `${gateHold?.message ?? building ?? problem?.message ?? waiting[0] ?? 'waiting'}${current ? `; the pool keeps ${current}` : ''}`,
          generation,
          now,
        ),
    building
      ? condition(prev, 'Building', 'True', 'BuildInProgress', gate.paused ? `${building}; ${gate.paused.message}` : building, generation, now)
      : gate.paused
        ? condition(prev, 'Building', 'False', 'Paused', `${heldBuilds.length ? `held: ${heldBuilds.join(', ')}; ` : ''}${gate.paused.message}`, generation, now)
        : condition(prev, 'Building', 'False', 'NoBuild', 'no build is running', generation, now),
    problem
      ? condition(prev, 'Degraded', 'True', problem.reason, problems.map((p) => p.message).join('\n'), generation, now)
      : condition(prev, 'Degraded', 'False', 'AsExpected', 'no problems', generation, now),
  ];
  const phase = problem ? 'Degraded' : gate.paused ? 'Paused' : building ? 'Building' : gateHold ? 'AwaitingApproval' : handedOff ? 'Ready' : 'Pending';
  const lastBuild = history[0];
  const status: LayeredPoolStatus = {
    observedGeneration: generation,
    phase,
    message: problem?.message ?? (gate.paused ? gate.paused.message : undefined) ?? building ?? gateHold?.message ?? (handedOff ? `using ${chosen!.source} image` : (waiting[0] ?? '')),
    conditions,
    history,
  };
  const img = handedOff ? chosen!.image : current;
  if (img) status.image = img;
  const src = handedOff ? chosen!.source : current ? (annotations[ANNOTATION_NEWEST_IMAGE_SOURCE] ?? prevStatus?.imageSource) : undefined;
  if (src) status.imageSource = src;
  // Only a valid reference goes into status.base; an invalid one is named, quoted, in the message.
  if (base) status.base = base.ref;
  else if (wantBase && safeParseImageRef(wantBase.ref).ok) status.base = wantBase.ref;
  status.baseSource = baseSource;
  if (mcName) status.renderedConfig = mcName;
  if (rendered) status.renderedConfigImage = rendered.ref;
  // Attempt records: the current fingerprints' first, then earlier ones (a rollback
  // to earlier inputs keeps its count), bounded.
  const records = [...attemptRecords, ...(prevStatus?.buildAttempts ?? []).filter((r) => !attemptRecords.some((a) => a.kind === r.kind && a.fingerprint === r.fingerprint))].slice(0, ATTEMPT_RECORDS);
  if (records.length) status.buildAttempts = records;
  // Names derived from a long pool name that were shortened (a prefix plus a hash), so an admin can find the objects.
  const shortened = shortenedNames(poolName);
  if (Object.keys(shortened).length) status.shortenedNames = shortened;
  if (importRetries.length) status.importRetries = importRetries;
  status.rollout = ho.rollout;
  if (lastBuild) {
    status.lastBuild = lastBuild.build;
    const t = lastBuild.end ?? lastBuild.start;
    if (t) status.lastBuildTime = t;
  }
  status.explain = explainPlan({
    pool: poolName,
    namespace: ns,
    inputs: [
      { name: 'base', value: base?.ref ?? wantBase?.ref ?? '-', source: baseSource === 'external-base' ? `ImageStream ${S.externalBase}:${LATEST}` : `ImageStream ${COREOS_STREAM}:${LATEST} (${baseImageSpec ?? 'no base OS image known'})` },
      { name: 'rendered config', value: mcName ?? '-', source: `MachineConfigPool ${poolName} spec.configuration.name` },
      { name: 'rendered-config image', value: rendered?.ref ?? '-', source: `ImageStream ${S.renderedConfig}` },
      { name: 'custom Dockerfile', value: customWanted && customDf !== undefined ? `custom, sha256:${sha256Hex(customDf).slice(0, 16)}` : 'default', source: `BuildConfig ${B.custom}` },
      { name: 'external content', value: external?.ref ?? '-', source: `ImageStream ${S.external}:${LATEST}` },
      { name: 'content inputs', value: contentReq?.fingerprint ?? '-', source: 'fingerprint of base, rendered-config image, Dockerfile, apply command' },
    ],
    base: base?.ref,
    baseSource,
    renderedConfig: mcName,
    renderedConfigImage: rendered?.ref,
    content: contentDecision,
    customWanted,
    custom: customDecision,
    chosen,
    current,
    handedOff,
    building,
    problems,
    waiting,
    gate: gateHold,
    paused: gate.paused !== undefined,
  });
  out.status = sameStatus(prevStatus, status) ? undefined : status;
  if (!chosen || waiting.length) requeueIn(problem ? 30_000 : 10_000);
  out.requeueAfterMs = requeue;
  return out;
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

/** The tag of a rendered-config image: its content hash (the manifest digest), never the rendered config's name. */
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

function rolloutText(r: RolloutStatus): string {
  const via = r.machineConfig ? `MachineConfig ${r.machineConfig}` : 'pool annotations only';
  const counts = r.machineCount !== undefined ? `, ${r.updatedMachineCount ?? 0}/${r.machineCount} machines updated` : '';
  return `handed to MCO by ${via}${r.renderedConfig ? `, rolled out as ${r.renderedConfig}` : ''}${counts}`;
}

function sameStatus(a: LayeredPoolStatus | undefined, b: LayeredPoolStatus): boolean {
  return a !== undefined && canonicalJson(a) === canonicalJson(b);
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
