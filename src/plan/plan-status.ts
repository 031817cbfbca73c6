// The status of a pool, in one pure function of the plan's scope (the
// snapshot and every phase's decision) and the outcome of applying the plan:
// the builds the API server created, the rendered-config push, a refused
// write. The reconciler writes what this returns and nothing else; it does not
// edit the plan or the status after the fact.
import type { Build, Condition, LayeredPoolStatus, MachineConfigPool, RolloutStatus } from '../kube/types.ts';
import { canonicalJson, sha256Hex } from '../util/canonical-json.ts';
import type { BuildDecision } from './builds.ts';
import { withoutRefusedAttempts } from './builds.ts';
import { explainPlan } from './explain.ts';
import { formatDigestRef, safeParseImageRef } from './imageref.ts';
import { ANNOTATION_NEWEST_IMAGE_SOURCE, ANNOTATION_ROLLBACK_TO, COREOS_STREAM, LATEST, shortenedNames } from './names.ts';
import type { Plan, PlanScope } from './plan.ts';
import type { Snapshot } from './snapshot.ts';
import type { PlanEvent } from './status.ts';
import { buildEvents, buildStartedEvent, condition, mergeHistory } from './status.ts';
import type { ResolvedImage } from './streams.ts';
import { explainHistory, withDockerfileHash } from './why.ts';

/** What applying a plan did, as the I/O layer saw it. */
export interface ApplyOutcome {
  /** The plan's Builds that exist now: created, or found already there (AlreadyExists), by name. */
  builds: readonly string[];
  /** The planned rendered-config push: done (the image is in the registry under its tags), or the registry's error. */
  push?: { ok: true } | { ok: false; message: string } | undefined;
  /** The write the API server refused (nothing after it was sent). */
  refused?: string | undefined;
  /**
   * The pool's metadata.generation after the operator's own write of it (a rollout hold or release
   * changes spec.paused): the status observed that generation too, as the operator made it.
   */
  poolGeneration?: number | undefined;
}

/** How many fingerprints' attempt records the status keeps. */
const ATTEMPT_RECORDS = 10;

const ISSUE_ORDER = [
  'RenderDegraded',
  'RenderedConfigMissing',
  'OSImageStreamSet',
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
  'RollbackRefused',
  'NodeDegraded',
  'RegistryError',
];

/** Events that are observations of Builds (their starts and cancels are sent where the operator acts). */
const OBSERVED_BUILD_EVENTS = new Set(['BuildSucceeded', 'BuildFailed', 'BuildInterrupted'] as const);

/**
 * The status to write after applying `p` with `outcome`, or undefined when it
 * equals the recorded one (nothing to write).
 */
export function planStatus(p: Plan, snap: Snapshot, outcome: ApplyOutcome): LayeredPoolStatus | undefined {
  const prev = snap.status?.status;
  let status = p.scope ? statusOf(p.scope, outcome).status : (p.status ?? prev);
  if (!status) return undefined;
  const generation = outcome.poolGeneration ?? snap.pool?.metadata.generation;
  if (outcome.push?.ok === false) status = degraded(status, prev, 'RegistryError', outcome.push.message, generation, snap.now);
  if (outcome.refused) status = degraded(status, prev, 'ApplyFailed', outcome.refused, generation, snap.now);
  else if (outcome.push?.ok !== false && p.scope?.ownWriteWaiting !== undefined && status.message === p.scope.ownWriteWaiting) return undefined;
  return sameStatus(prev, status) ? undefined : status;
}

/** Builds as the API server returns them right after their create (for the history, before the cache has them). */
function asCreated(s: PlanScope, names: ReadonlySet<string>): Build[] {
  const iso = new Date(s.now).toISOString();
  return s.out.createBuilds
    .filter((b) => names.has(b.metadata.name) && !s.snap.builds.some((x) => x.metadata.name === b.metadata.name))
    .map((b) => ({ ...(b as unknown as Build), metadata: { ...b.metadata, creationTimestamp: iso }, status: { phase: 'New' } }) as Build);
}

/** The history with the Builds in `created` in it: what was recorded, the Builds that exist, the ones just created. */
export function historyWith(s: PlanScope, created: ReadonlySet<string>) {
  const { snap, prevStatus } = s;
  const builds = [...snap.builds, ...asCreated(s, created)];
  return explainHistory(prevStatus?.history, withDockerfileHash(mergeHistory(prevStatus?.history, builds, snap.config.historySize), builds), {
    baseSource: s.baseSource,
    base: s.base?.ref,
    builds,
  });
}

/** The BuildStarted Event of each Build the plan creates, sent once its create succeeded. */
export function startEvents(s: PlanScope): PlanEvent[] {
  if (!s.out.createBuilds.length) return [];
  const names = new Set(s.out.createBuilds.map((b) => b.metadata.name));
  return historyWith(s, names)
    .filter((e) => names.has(e.build))
    .reverse()
    .map((e) => ({ ...buildStartedEvent(e, s.snap.poolName), on: { kind: 'createBuild', name: e.build } }));
}

/**
 * The status of a managed pool: from the scope alone (`outcome` undefined:
 * as planned, before any write), or with what applying the plan did.
 * Also the observed Build Events (succeeded, failed) since the recorded history.
 */
export function statusOf(s: PlanScope, outcome?: ApplyOutcome): { status: LayeredPoolStatus; events: PlanEvent[]; problem: boolean } {
  const { snap, pool, gate, prevStatus, now, S, B, ns, chosen, gateHold } = s;
  const generation = outcome?.poolGeneration ?? s.generation;
  const poolName = snap.poolName;
  const ho = s.handoff!;
  const created = new Set(outcome?.builds ?? []);
  const pushed = outcome?.push?.ok === true;
  // The push succeeded: the image is in the registry under its content tag.
  const rendered: ResolvedImage | undefined =
    s.rendered ?? (pushed && s.out.push ? { ref: formatDigestRef(s.out.push.repository, s.out.push.image.manifestDigest), digest: s.out.push.image.manifestDigest } : undefined);
  const waiting = pushed ? s.waiting.filter((w) => w !== s.pushWaiting) : s.waiting;
  const building = s.startedBuilding && created.has(s.startedBuilding.name) ? s.startedBuilding.message : s.building;
  const problems = [...s.problems].sort((a, b) => ISSUE_ORDER.indexOf(a.reason) - ISSUE_ORDER.indexOf(b.reason));

  const history = historyWith(s, created);
  // A build just created is followed like one found running (a New Build of the API server).
  const createdNow = asCreated(s, created);
  const asDecided = (d: BuildDecision | undefined): BuildDecision | undefined => {
    if (d?.state !== 'start') return d;
    const b = createdNow.find((x) => x.metadata.name === d.name);
    return b ? { state: 'building', build: b, cancel: d.cancel, record: d.record } : d;
  };
  const events = buildEvents(prevStatus?.history, history, poolName, OBSERVED_BUILD_EVENTS);
  const handedOff = chosen !== undefined && ho.handedOff;
  const current = ho.current;
  const prev = prevStatus?.conditions;
  const problem = problems[0];
  const rolledBack = handedOff && s.rollback
    ? `pool ${poolName} is rolled back to ${chosen.image} (annotation ${ANNOTATION_ROLLBACK_TO})${s.rollback.newest && s.rollback.newest !== chosen.image ? `; the newest checked image ${s.rollback.newest} waits` : ''}; to resume: layered-build-controller rollback --pool ${poolName} --undo`
    : undefined;
  const conditions: Condition[] = [
    handedOff
      ? condition(
          prev,
          'Ready',
          'True',
          rolledBack ? 'RolledBack' : 'ImageHandedOff',
          `${rolledBack ?? `pool ${poolName} uses ${chosen.source} image ${chosen.image}`}; ${rolloutText(ho.rollout)}${s.rolloutHeld ? '; its nodes are held (spec.paused) until MCC has rendered it' : ''}`,
          generation,
          now,
        )
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
        ? condition(prev, 'Building', 'False', 'Paused', `${s.heldBuilds.length ? `held: ${s.heldBuilds.join(', ')}; ` : ''}${gate.paused.message}`, generation, now)
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
    message: problem?.message ?? (gate.paused ? gate.paused.message : undefined) ?? building ?? gateHold?.message ?? rolledBack ?? (handedOff ? `using ${chosen.source} image` : (waiting[0] ?? '')),
    conditions,
    history,
  };
  const annotations = pool.metadata.annotations ?? {};
  const img = handedOff ? chosen.image : current;
  if (img) status.image = img;
  // The image before it: what a rollback hands off.
  const previous = handedOff && current !== undefined && chosen.image !== current ? current : prevStatus?.previousImage;
  if (previous && previous !== img) status.previousImage = previous;
  const src = handedOff ? chosen.source : current ? (annotations[ANNOTATION_NEWEST_IMAGE_SOURCE] ?? prevStatus?.imageSource) : undefined;
  if (src) status.imageSource = src;
  // Only a valid reference goes into status.base; an invalid one is named, quoted, in the message.
  if (s.base) status.base = s.base.ref;
  else if (s.wantBase && safeParseImageRef(s.wantBase.ref).ok) status.base = s.wantBase.ref;
  status.baseSource = s.baseSource;
  if (s.mcName) status.renderedConfig = s.mcName;
  if (rendered) status.renderedConfigImage = rendered.ref;
  // Its rendered config deleted by hand: the image pushed for it stays known (and the problem with it).
  else if (problems.some((p) => p.reason === 'RenderedConfigMissing') && prevStatus?.renderedConfigImage) status.renderedConfigImage = prevStatus.renderedConfigImage;
  // Attempt records: the current fingerprints' first, then earlier ones (a rollback
  // to earlier inputs keeps its count), bounded. A Build never created is no attempt: its number is not used up.
  const records = [...s.attemptRecords, ...(prevStatus?.buildAttempts ?? []).filter((r) => !s.attemptRecords.some((a) => a.kind === r.kind && a.fingerprint === r.fingerprint))].slice(0, ATTEMPT_RECORDS);
  const refused = outcome ? s.out.createBuilds.filter((b) => !created.has(b.metadata.name)) : [];
  if (records.length) status.buildAttempts = refused.length ? withoutRefusedAttempts(records, refused) : records;
  // Names derived from a long pool name that were shortened (a prefix plus a hash), so an admin can find the objects.
  const shortened = shortenedNames(poolName);
  if (Object.keys(shortened).length) status.shortenedNames = shortened;
  if (s.importRetries.length) status.importRetries = s.importRetries;
  status.rollout = s.rolloutHeld ? { ...ho.rollout, held: s.rolloutHeld } : ho.rollout;
  if (lastBuild) {
    status.lastBuild = lastBuild.build;
    const t = lastBuild.end ?? lastBuild.start;
    if (t) status.lastBuildTime = t;
  }
  const external = s.external;
  const customDf = s.customDf;
  status.explain = explainPlan({
    pool: poolName,
    namespace: ns,
    inputs: [
      {
        name: 'base',
        value: s.base?.ref ?? s.wantBase?.ref ?? '-',
        source: s.baseSource === 'external-base' ? `ImageStream ${S.externalBase}:${LATEST}` : `ImageStream ${COREOS_STREAM}:${LATEST} (${s.baseImageSpec ?? 'no base OS image known'}${s.baseImageFrom ? `, from ${s.baseImageFrom}` : ''})`,
      },
      { name: 'rendered config', value: s.mcName ?? '-', source: `MachineConfigPool ${poolName} spec.configuration.name` },
      { name: 'rendered-config image', value: rendered?.ref ?? '-', source: `ImageStream ${S.renderedConfig}` },
      { name: 'custom Dockerfile', value: s.customWanted && customDf !== undefined ? `custom, sha256:${sha256Hex(customDf).slice(0, 16)}` : 'default', source: `BuildConfig ${B.custom}` },
      { name: 'external content', value: external?.ref ?? '-', source: `ImageStream ${S.external}:${LATEST}` },
      { name: 'content inputs', value: s.contentReq?.fingerprint ?? '-', source: 'fingerprint of base, rendered-config image, Dockerfile, apply command' },
    ],
    base: s.base?.ref,
    baseSource: s.baseSource,
    renderedConfig: s.mcName,
    renderedConfigImage: rendered?.ref,
    content: asDecided(s.contentDecision),
    customWanted: s.customWanted,
    custom: asDecided(s.customDecision),
    chosen,
    current,
    handedOff,
    building,
    problems,
    waiting,
    gate: gateHold,
    paused: gate.paused !== undefined,
    rolloutHeld: s.rolloutHeld,
  });
  return { status, events, problem: problem !== undefined };
}

/** The status of a pool that is no longer opted in (undefined: leave it as it is). */
export function unmanagedStatus(snap: Snapshot, pool: MachineConfigPool, deleted: string | undefined): LayeredPoolStatus | undefined {
  const { config, poolName, now } = snap;
  const prevStatus = snap.status?.status;
  if (!snap.status || (prevStatus?.phase === 'Unmanaged' && !deleted)) return undefined;
  const generation = pool.metadata.generation;
  const rest = { ...prevStatus };
  delete rest.rollout;
  delete rest.explain;
  if (deleted) {
    delete rest.image;
    delete rest.imageSource;
  }
  return {
    ...rest,
    phase: 'Unmanaged',
    message: deleted
      ? `label ${config.optInLabel} was removed from pool ${poolName}: the operator no longer manages it and deleted its hand-off MachineConfig ${deleted}; MCC restores the previous rendered config`
      : `label ${config.optInLabel} was removed from pool ${poolName}: the operator no longer manages it`,
    conditions: [
      condition(prevStatus?.conditions, 'Ready', 'False', 'NotOptedIn', `pool ${poolName} is not labelled ${config.optInLabel}`, generation, now),
      condition(prevStatus?.conditions, 'Building', 'False', 'NotOptedIn', 'no builds run for an unmanaged pool', generation, now),
      condition(prevStatus?.conditions, 'Degraded', 'False', 'NotOptedIn', 'nothing to report', generation, now),
    ],
  };
}

/** The status Degraded for an I/O failure found while applying the plan (Ready and Building stay as planned). */
function degraded(status: LayeredPoolStatus, prevStatus: LayeredPoolStatus | undefined, reason: string, message: string, generation: number | undefined, now: number): LayeredPoolStatus {
  const conditions = (status.conditions ?? []).filter((c) => c.type !== 'Degraded');
  conditions.push(condition(prevStatus?.conditions, 'Degraded', 'True', reason, message, generation, now));
  return { ...status, phase: 'Degraded', message, conditions };
}

export function sameStatus(a: LayeredPoolStatus | undefined, b: LayeredPoolStatus): boolean {
  return a !== undefined && canonicalJson(a) === canonicalJson(b);
}

export function rolloutText(r: RolloutStatus): string {
  const via = r.machineConfig ? `MachineConfig ${r.machineConfig}` : 'pool annotations only';
  const counts = r.machineCount !== undefined ? `, ${r.updatedMachineCount ?? 0}/${r.machineCount} machines updated` : '';
  return `handed to MCO by ${via}${r.renderedConfig ? `, rolled out as ${r.renderedConfig}` : ''}${counts}`;
}
