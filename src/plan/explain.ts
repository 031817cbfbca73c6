// The decision chain of a reconcile, in words, for `status --explain` (issue 9):
// the inputs and their digests, each step's decision, why the pool is idle,
// waiting, building, paused or degraded, and what the admin can do. Pure; the
// planner stores the result in the status object (no timestamps, so it changes
// only when a decision does).
import type { BuildDecision } from './builds.ts';
import { ANNOTATION_REBUILD } from './names.ts';

export type ExplainInput = {
  name: string;
  value: string;
  source?: string | undefined;
};

export type Explain = {
  state: 'Idle' | 'Waiting' | 'Building' | 'Degraded' | 'Paused' | 'AwaitingApproval';
  inputs: ExplainInput[];
  steps: string[];
  why: string[];
  actions: string[];
};

export interface ExplainFacts {
  pool: string;
  namespace: string;
  inputs: ExplainInput[];
  base?: string | undefined;
  baseSource: string;
  renderedConfig?: string | undefined;
  renderedConfigImage?: string | undefined;
  content?: BuildDecision | undefined;
  customWanted: boolean;
  custom?: BuildDecision | undefined;
  chosen?: { source: string; image: string } | undefined;
  current?: string | undefined;
  handedOff: boolean;
  building?: string | undefined;
  problems: readonly { reason: string; message: string }[];
  waiting: readonly string[];
  gate?: { reason: string; message: string } | undefined;
  paused: boolean;
  /** Why the operator holds the pool's rollout (spec.paused), when it does. */
  rolloutHeld?: string | undefined;
}

function decisionText(label: string, d: BuildDecision | undefined): string {
  if (!d) return `${label} build: not decided (its inputs are not all known by digest yet)`;
  const fp = d.record.fingerprint.slice(0, 10);
  switch (d.state) {
    case 'built':
      return `${label} build: inputs ${fp} already built${d.build ? ` by ${d.build.metadata.name}` : ''} -> ${d.image.ref} (never built twice)`;
    case 'building':
      return `${label} build: ${d.build.metadata.name} for inputs ${fp} is ${d.build.status?.phase ?? 'New'}`;
    case 'start':
      return `${label} build: inputs ${fp} have no image: starting ${d.name}`;
    case 'waiting':
      return d.reason === 'Debounce'
        ? `${label} build: inputs ${fp} changed recently; waiting for them to settle`
        : d.reason === 'StaleBuildStopping'
          ? `${label} build: inputs ${fp} wait for a stale build to stop`
          : `${label} build: inputs ${fp} failed (${d.failure?.metadata.name ?? 'a build'}); retrying after backoff`;
    case 'failed':
      return `${label} build: inputs ${fp} failed ${d.attempts} times (last ${d.failure.metadata.name}); no more retries`;
  }
}

function lastBuildName(d: BuildDecision | undefined): string | undefined {
  if (!d) return undefined;
  if (d.state === 'building') return d.build.metadata.name;
  if (d.state === 'failed') return d.failure.metadata.name;
  if (d.state === 'waiting') return d.failure?.metadata.name;
  return undefined;
}

export function explainPlan(f: ExplainFacts): Explain {
  const ns = f.namespace;
  const steps: string[] = [];
  steps.push(f.base ? `base: ${f.base} from ${f.baseSource === 'external-base' ? `${f.pool}-external-base:latest (an admin's external base)` : 'coreos:latest (the cluster base OS image)'}` : 'base: not resolved yet');
  steps.push(f.renderedConfig ? `rendered config: ${f.renderedConfig}${f.renderedConfigImage ? ` pushed as ${f.renderedConfigImage}` : ' (not pushed yet)'}` : 'rendered config: the pool has none yet');
  steps.push(decisionText('content', f.content));
  steps.push(f.customWanted ? decisionText('custom', f.custom) : `custom build: not wanted (BuildConfig ${f.pool}-build-mco-content-custom has the default Dockerfile)`);
  steps.push(f.chosen ? `content selection: ${f.chosen.source} image ${f.chosen.image}` : 'content selection: no image yet');
  steps.push(
    f.handedOff
      ? `hand-off: the pool uses ${f.chosen?.image ?? '-'}`
      : f.gate
        ? `hand-off: held (${f.gate.reason})${f.current ? `; the pool keeps ${f.current}` : ''}`
        : `hand-off: not yet${f.current ? `; the pool keeps ${f.current}` : ''}`,
  );
  if (f.rolloutHeld) steps.push(`rollout: held: ${f.rolloutHeld}`);

  const why: string[] = [];
  const actions: string[] = [];
  let state: Explain['state'];
  if (f.problems.length) {
    state = 'Degraded';
    why.push(...f.problems.map((p) => `${p.reason}: ${p.message.split('\n')[0]!}`));
  } else if (f.paused) {
    state = 'Paused';
  } else if (f.building) {
    state = 'Building';
    why.push(f.building);
  } else if (f.gate) {
    state = 'AwaitingApproval';
  } else if (f.waiting.length) {
    state = 'Waiting';
  } else {
    state = f.handedOff ? 'Idle' : 'Waiting';
  }
  if (f.gate) why.push(`${f.gate.reason}: ${f.gate.message}`);
  if (state !== 'Degraded' || f.waiting.length) why.push(...f.waiting.map((w) => `waiting: ${w}`));

  const reasons = new Set(f.problems.map((p) => p.reason));
  const failedBuild = lastBuildName(f.content) ?? lastBuildName(f.custom);
  if (f.gate?.reason === 'Paused' || f.paused) {
    const m = /resume with: (.*)$/.exec(f.gate?.message.replace(/; image .* passed its checks and waits$/, '') ?? '');
    if (m) actions.push(`resume: ${m[1]}`);
  }
  if (f.gate?.reason === 'AwaitingApproval' || f.gate?.reason === 'ApprovalRefused') {
    const m = /(oc annotate mcp\/\S+ \S+=sha256:[0-9a-f]{64} --overwrite)/.exec(f.gate.message);
    if (m) actions.push(`approve the checked image: ${m[1]}`);
  }
  if (reasons.has('BuildFailed')) {
    if (failedBuild) actions.push(`read the failed build's log: oc logs build/${failedBuild} -n ${ns}`);
    actions.push(`after fixing the cause, retry: oc annotate mcp/${f.pool} ${ANNOTATION_REBUILD}=$(date +%s) --overwrite`);
  }
  if (reasons.has('ImportFailed')) actions.push(`see the failed import: oc describe imagestream -n ${ns} (fix the tagged image, or remove the tag with oc tag -d)`);
  if (reasons.has('ImageCheckFailed')) actions.push(`the built image lacks what the MachineConfig needs: fix the custom Dockerfile (oc edit bc/${f.pool}-build-mco-content-custom -n ${ns}) or the external content`);
  if (reasons.has('RegistryError') || reasons.has('PushSecretMissing')) actions.push('check the registry address, its CA bundle and the push secret (the Degraded message names the error)');
  if (reasons.has('NodeDegraded')) actions.push(`a node cannot take the image: read its reason above (oc describe node <name>); to give the pool its previous image back: layered-build-controller rollback --pool ${f.pool}`);
  if (f.chosen?.source === 'rollback') actions.push(`the pool is rolled back; to give it its newest image again: layered-build-controller rollback --pool ${f.pool} --undo`);
  for (const r of ['RollbackRefused', 'HandOffOverridden', 'HandOffSelectsOtherPool', 'ObjectConflict', 'InvalidMachineConfigSelector', 'InvalidCustomDockerfile', 'InvalidImageReference', 'InvalidMachineConfig', 'InvalidPoolName']) {
    if (reasons.has(r)) actions.push(`${r}: do what its message says (layered-build-controller status --explain shows it above)`);
  }
  if (state === 'Building') {
    const b = lastBuildName(f.content) ?? lastBuildName(f.custom);
    actions.push(b ? `follow the build: oc logs -f build/${b} -n ${ns}` : `follow the builds: oc get builds -n ${ns} -w`);
  }
  if (state === 'Waiting') actions.push('nothing: the operator proceeds by itself once what it waits for is there');
  if (state === 'Idle') {
    actions.push(`nothing needed. To use another base: oc tag <image> ${ns}/${f.pool}-external-base:latest`);
    actions.push(`to derive content: oc edit bc/${f.pool}-build-mco-content-custom -n ${ns}`);
    actions.push(`to hold roll-outs: oc annotate mcp/${f.pool} layering.mco.dev/hand-off=manual`);
  }
  return { state, inputs: f.inputs, steps, why, actions };
}
