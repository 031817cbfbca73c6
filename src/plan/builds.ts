// Build identity and the build decision for one kind (content or custom). Pure.
import type { Build, BuildAttempts, BuildConfig, ImageStream } from '../kube/types.ts';
import { apiVersionOf, RESOURCES } from '../kube/types.ts';
import { canonicalJson, sha256Hex } from '../util/canonical-json.ts';
import { isDigest } from './imageref.ts';
import type { BuildKind } from './names.ts';
import {
  ANNOTATION_FINGERPRINT,
  ANNOTATION_INPUTS,
  ANNOTATION_POOL,
  ANNOTATION_REBUILD_TOKEN,
  BUILD_CONFIG_ANNOTATION,
  BUILD_CONFIG_LABEL,
  BUILD_CONFIG_LABEL_SHORT,
  BUILD_NUMBER_ANNOTATION,
  BUILD_START_POLICY_LABEL,
  FIELD_MANAGER,
  LABEL_BUILD_KIND,
  LABEL_FINGERPRINT,
  LABEL_MANAGED,
  buildName,
  buildNamePrefix,
  fingerprintTag,
} from './names.ts';
import type { KubeObject } from './snapshot.ts';
import type { ResolvedImage } from './streams.ts';
import { tagImage, timeMs } from './streams.ts';

/** Every input that changes a build's output, as strings. */
export type BuildInputs = Record<string, string>;

export function fingerprintOf(inputs: BuildInputs): string {
  return sha256Hex(canonicalJson(inputs));
}

/** The node label the kubelet sets to its architecture (GOARCH names, as image configs use). */
export const NODE_ARCH_LABEL = 'kubernetes.io/arch';

export const ACTIVE_PHASES: ReadonlySet<string | undefined> = new Set(['New', 'Pending', 'Running', undefined]);
export const FAILED_PHASES: ReadonlySet<string | undefined> = new Set(['Failed', 'Error']);

/**
 * Why OpenShift's build controller ends a Build whose pod went away under it
 * (OCM build_controller.go): evicted (a node drain, Failed) or deleted (Error;
 * also a node that went away and took its pods). The build itself did not
 * fail: it is started again at once, and it does not count toward --retry-limit.
 */
export const INTERRUPTED_REASONS: ReadonlyMap<string, string> = new Map([
  ['BuildPodEvicted', 'its build pod was evicted (a node drain?)'],
  ['BuildPodDeleted', 'its build pod was deleted (a node drain or a node that went away?)'],
]);

/** The reason of a Build OpenShift ended because its pod went away, else undefined. */
export function interruptedReason(b: Build): string | undefined {
  const r = b.status?.reason;
  return FAILED_PHASES.has(b.status?.phase) && r !== undefined && INTERRUPTED_REASONS.has(r) ? r : undefined;
}

export function isActive(b: Build): boolean {
  return ACTIVE_PHASES.has(b.status?.phase);
}

export function buildKind(b: Build): BuildKind | undefined {
  const k = b.metadata.labels?.[LABEL_BUILD_KIND];
  return k === 'content' || k === 'custom' ? k : undefined;
}

export function buildFingerprint(b: Build): string | undefined {
  return b.metadata.annotations?.[ANNOTATION_FINGERPRINT];
}

export function buildCreatedMs(b: Build): number {
  return timeMs(b.metadata.creationTimestamp) ?? 0;
}

/** The image a Complete build produced, as `<repo>@sha256:...`. */
export function buildOutput(b: Build): ResolvedImage | undefined {
  if (b.status?.phase !== 'Complete') return undefined;
  const digest = b.status.output?.to?.imageDigest;
  const ref = b.status.outputDockerImageReference;
  if (!digest || !isDigest(digest) || !ref) return undefined;
  const repo = ref.replace(/@.*$/, '').replace(/:[^/:]+$/, '');
  return { digest, ref: `${repo}@${digest}`, createdMs: timeMs(b.status.completionTimestamp) };
}

export interface BuildRequest {
  kind: BuildKind;
  pool: string;
  namespace: string;
  buildConfig: string;
  /** The output ImageStream. */
  outputStream: string;
  inputs: BuildInputs;
  fingerprint: string;
  dockerfile: string;
  /** dockerStrategy.from (custom builds): the image replacing the Dockerfile's FROM. */
  from?: string | undefined;
  renderedConfigName?: string | undefined;
  pushSecret?: string | undefined;
  /** When the newest input appeared (ms), for the debounce window. */
  inputsChangedMs?: number | undefined;
  /** The base's architecture: the build pod runs on a node labelled kubernetes.io/arch with it. */
  architecture?: string | undefined;
}

export interface BuildContext {
  now: number;
  debounceMs: number;
  /** Attempts in all at one fingerprint (under one rebuild token) before it is given up. */
  retryLimit: number;
  retryBackoffMs: number;
  rebuildToken: string;
  /** All the pool's Builds. */
  builds: readonly Build[];
  outputStreamObj: ImageStream | undefined;
  buildConfigObj: BuildConfig | undefined;
  /** The attempt records of the pool's status object (they outlive pruned Builds). */
  attempts?: readonly BuildAttempts[] | undefined;
}

export type BuildDecision = (
  | { state: 'built'; image: ResolvedImage; build?: Build | undefined; cancel: string[] }
  | { state: 'building'; build: Build; cancel: string[] }
  | { state: 'start'; create: KubeObject; name: string; cancel: string[] }
  | {
      state: 'waiting';
      reason: 'Debounce' | 'StaleBuildStopping' | 'RetryBackoff';
      requeueAfterMs: number;
      cancel: string[];
      failure?: Build | undefined;
      /** RetryBackoff: how many attempts failed so far (of retryLimit in all). */
      failures?: number | undefined;
    }
  | { state: 'failed'; failure: Build; attempts: number; cancel: string[] }
) & {
  /** The fingerprint's attempt record after this decision (goes into the status). */
  record: BuildAttempts;
};

/** The attempt number in a Build name `<buildConfig>-<fp10>-<n>`, if it has one. */
export function attemptOf(name: string, buildConfig: string, fingerprint: string): number | undefined {
  const prefix = buildNamePrefix(buildConfig, fingerprint);
  if (!name.startsWith(prefix)) return undefined;
  const n = Number(name.slice(prefix.length));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The attempt records with the attempts whose Build the API server refused to
 * create taken back: a Build that was never created is no attempt, so the next
 * try uses the same name (a refused create, e.g. RBAC, burns no attempt number).
 */
export function withoutRefusedAttempts(records: readonly BuildAttempts[], refused: readonly KubeObject[]): BuildAttempts[] {
  return records.map((r) => {
    const mine = refused.find((b) => {
      const bc = b.metadata.labels?.[BUILD_CONFIG_LABEL] ?? '';
      return buildKind(b as Build) === r.kind && b.metadata.annotations?.[ANNOTATION_FINGERPRINT] === r.fingerprint && attemptOf(b.metadata.name, bc, r.fingerprint) === r.lastAttempt;
    });
    return mine ? { ...r, lastAttempt: r.lastAttempt - 1 } : r;
  });
}

/** A recorded failure as a Build-shaped object (its Build may have been pruned). */
function failureFromRecord(f: NonNullable<BuildAttempts['lastFailure']>): Build {
  const status: NonNullable<Build['status']> = { phase: 'Failed' };
  if (f.reason !== undefined) status.reason = f.reason;
  if (f.message !== undefined) status.message = f.message;
  if (f.logSnippet !== undefined) status.logSnippet = f.logSnippet;
  if (f.at !== undefined) status.completionTimestamp = f.at;
  return { metadata: { name: f.build }, status };
}

function failureRecord(b: Build): NonNullable<BuildAttempts['lastFailure']> {
  const f: NonNullable<BuildAttempts['lastFailure']> = { build: b.metadata.name };
  if (b.status?.reason) f.reason = b.status.reason;
  if (b.status?.message) f.message = b.status.message;
  if (b.status?.logSnippet) f.logSnippet = b.status.logSnippet.slice(-2000);
  const at = b.status?.completionTimestamp ?? b.metadata.creationTimestamp;
  if (at !== undefined) f.at = at instanceof Date ? at.toISOString() : at;
  return f;
}

/**
 * Decides what to do for one kind of build given its desired inputs:
 * reuse a finished image, wait for a running build, cancel stale builds,
 * back off after failures, or start exactly one new Build with a name
 * derived from the fingerprint.
 */
export function decideBuild(req: BuildRequest, ctx: BuildContext): BuildDecision {
  const mine = ctx.builds.filter((b) => buildKind(b) === req.kind);
  const forFp = mine.filter((b) => buildFingerprint(b) === req.fingerprint);
  const cancel = mine
    .filter((b) => buildFingerprint(b) !== req.fingerprint && isActive(b) && !b.status?.cancelled)
    .map((b) => b.metadata.name)
    .sort();

  // What is known of this fingerprint's attempts: the status object's record
  // (it outlives Builds OpenShift prunes) joined with the Builds still there.
  const rec = ctx.attempts?.find((a) => a.kind === req.kind && a.fingerprint === req.fingerprint);
  const recFailed = rec && rec.rebuildToken === ctx.rebuildToken ? rec.failedBuilds : [];
  // A Build interrupted by its pod going away (interruptedReason) is no failure: started again, not counted.
  const cachedFailures = forFp
    .filter((b) => FAILED_PHASES.has(b.status?.phase) && !interruptedReason(b) && (b.metadata.annotations?.[ANNOTATION_REBUILD_TOKEN] ?? '') === ctx.rebuildToken)
    .sort((a, b) => buildCreatedMs(b) - buildCreatedMs(a));
  const failedNames = [...new Set([...cachedFailures.map((b) => b.metadata.name), ...recFailed])];
  const recordedLast = rec && recFailed.length && rec.lastFailure && recFailed.includes(rec.lastFailure.build) ? failureFromRecord(rec.lastFailure) : undefined;
  const failedAtOf = (b: Build) => timeMs(b.status?.completionTimestamp) ?? buildCreatedMs(b);
  const lastFailure = [cachedFailures[0], recordedLast]
    .filter((b): b is Build => b !== undefined)
    .sort((a, b) => failedAtOf(b) - failedAtOf(a))[0];
  const highest = Math.max(rec?.lastAttempt ?? 0, forFp.length, ...forFp.map((b) => attemptOf(b.metadata.name, req.buildConfig, req.fingerprint) ?? 0));
  const record = (lastAttempt: number): BuildAttempts => {
    const r: BuildAttempts = { kind: req.kind, fingerprint: req.fingerprint, lastAttempt, rebuildToken: ctx.rebuildToken, failedBuilds: failedNames };
    if (lastFailure) r.lastFailure = failureRecord(lastFailure);
    return r;
  };
  const keep = record(highest);

  // 1. A fingerprint with a complete build (or an image on its tag) is never built again.
  const done = forFp.filter((b) => buildOutput(b)).sort((a, b) => buildCreatedMs(b) - buildCreatedMs(a))[0];
  if (done) return { state: 'built', image: buildOutput(done)!, build: done, cancel, record: keep };
  const tagged = tagImage(ctx.outputStreamObj, fingerprintTag(req.fingerprint));
  if (tagged) return { state: 'built', image: tagged, cancel, record: keep };

  // 2. One running for these inputs: wait for it.
  const running = forFp.find((b) => isActive(b) && !b.status?.cancelled);
  if (running) return { state: 'building', build: running, cancel, record: keep };

  // 3. Failures under the current rebuild token: at most retryLimit attempts in all, spaced by the backoff.
  const failures = failedNames.length;
  if (lastFailure && failures >= ctx.retryLimit) {
    return { state: 'failed', failure: lastFailure, attempts: failures, cancel, record: keep };
  }
  if (lastFailure) {
    const retryAt = failedAtOf(lastFailure) + ctx.retryBackoffMs * 2 ** (failures - 1);
    if (ctx.now < retryAt) {
      return { state: 'waiting', reason: 'RetryBackoff', requeueAfterMs: retryAt - ctx.now, cancel, failure: lastFailure, failures, record: keep };
    }
  }

  // 4. Let a burst of input changes settle.
  if (req.inputsChangedMs !== undefined && ctx.now < req.inputsChangedMs + ctx.debounceMs) {
    return { state: 'waiting', reason: 'Debounce', requeueAfterMs: req.inputsChangedMs + ctx.debounceMs - ctx.now, cancel, record: keep };
  }

  // 5. At most one active build per kind: stale ones must be gone first.
  if (mine.some((b) => isActive(b))) {
    return { state: 'waiting', reason: 'StaleBuildStopping', requeueAfterMs: 1000, cancel, record: keep };
  }

  // Attempt numbers only grow (recorded in the status), so a name is never reused after pruning.
  const attempt = highest + 1;
  const name = buildName(req.buildConfig, req.fingerprint, attempt);
  const number = mine.length + 1;
  return { state: 'start', name, create: buildObject(req, name, number, ctx), cancel, record: record(attempt) };
}

export function buildObject(req: BuildRequest, name: string, number: number, ctx: Pick<BuildContext, 'rebuildToken' | 'buildConfigObj'>): KubeObject {
  const bc = ctx.buildConfigObj;
  const labels: Record<string, string> = {
    [BUILD_CONFIG_LABEL]: req.buildConfig,
    [BUILD_CONFIG_LABEL_SHORT]: req.buildConfig,
    [BUILD_START_POLICY_LABEL]: 'Serial',
    [LABEL_FINGERPRINT]: req.fingerprint.slice(0, 40),
    [LABEL_BUILD_KIND]: req.kind,
    [LABEL_MANAGED]: FIELD_MANAGER,
  };
  const annotations: Record<string, string> = {
    [ANNOTATION_POOL]: req.pool,
    [BUILD_CONFIG_ANNOTATION]: req.buildConfig,
    [BUILD_NUMBER_ANNOTATION]: String(number),
    [ANNOTATION_FINGERPRINT]: req.fingerprint,
    [ANNOTATION_INPUTS]: canonicalJson(req.inputs),
    [ANNOTATION_REBUILD_TOKEN]: ctx.rebuildToken,
  };
  const imageLabels = [{ name: 'io.openshift.build.fingerprint', value: req.fingerprint }];
  if (req.renderedConfigName) imageLabels.push({ name: 'machineconfig', value: req.renderedConfigName });
  const dockerStrategy: Record<string, unknown> = { noCache: false };
  if (req.from) dockerStrategy.from = { kind: 'DockerImage', name: req.from };
  const output: Record<string, unknown> = {
    to: { kind: 'ImageStreamTag', name: `${req.outputStream}:${fingerprintTag(req.fingerprint)}` },
    imageLabels,
  };
  if (req.pushSecret) output.pushSecret = { name: req.pushSecret };
  const metadata: KubeObject['metadata'] = { name, namespace: req.namespace, labels, annotations };
  if (bc?.metadata.uid) {
    metadata.ownerReferences = [
      { apiVersion: apiVersionOf(RESOURCES.buildConfig), kind: RESOURCES.buildConfig.kind, name: bc.metadata.name, uid: bc.metadata.uid, controller: true },
    ];
  }
  return {
    apiVersion: apiVersionOf(RESOURCES.build),
    kind: RESOURCES.build.kind,
    metadata,
    spec: {
      serviceAccount: 'builder',
      source: { type: 'Dockerfile', dockerfile: req.dockerfile },
      strategy: { type: 'Docker', dockerStrategy },
      output,
      triggeredBy: [{ message: `layered-build-controller: inputs ${req.fingerprint.slice(0, 10)}` }],
      // The base's architecture: a build pod elsewhere would run the base's binaries (Ignition, ostree)
      // under emulation or not at all, and the image would be of the base's architecture anyway.
      ...(req.architecture ? { nodeSelector: { [NODE_ARCH_LABEL]: req.architecture } } : {}),
    },
  };
}
