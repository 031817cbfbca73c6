// Step 7 of the plan, the hand-off (DESIGN.md, docs/handoff.md). Pure: from
// the chosen image, whether its build is Complete, the outcome of its registry
// check and the MachineConfigs/pools MCC merges, decide the hand-off
// MachineConfig `99-<pool>-layered-image`, the informational pool annotations,
// the check to run, and the rollout as MCO reports it.
import type { MachineConfig, MachineConfigPool, RolloutStatus } from '../kube/types.ts';
import { apiVersionOf, RESOURCES } from '../kube/types.ts';
import type { ImageCheckOutcome, ImageCheckRequest } from './image-check.ts';
import { imageCheckKey } from './image-check.ts';
import { expectedFiles } from './ignition-files.ts';
import {
  ANNOTATION_GENERATED_BY_CONTROLLER,
  ANNOTATION_NEWEST_IMAGE,
  ANNOTATION_NEWEST_IMAGE_CONFIG,
  ANNOTATION_NEWEST_IMAGE_SOURCE,
  ANNOTATION_POOL,
  FIELD_MANAGER,
  LABEL_MANAGED,
  LABEL_MC_ROLE,
  handoffMachineConfigName,
} from './names.ts';
import { labelsForSelector, selectorMatches } from './selector.ts';
import type { KubeObject } from './snapshot.ts';
import type { PlanEvent } from './status.ts';
import type { Owner } from './streams.ts';
import { quote } from '../util/escape.ts';

export type HandoffMode = 'machineconfig' | 'annotation';

export interface HandoffProblem {
  reason: string;
  message: string;
}

export interface HandoffInput {
  poolName: string;
  pool: MachineConfigPool;
  mode: HandoffMode;
  optInLabel: string;
  owner?: Owner | undefined;
  /** The image content selection chose, by digest. */
  chosen?: { source: string; image: string } | undefined;
  /** Why the chosen image may not be handed off yet (its Build is not Complete); undefined = it may. */
  notReady?: string | undefined;
  /** The rendered config the image was built for (spec.configuration.name) and its Ignition config. */
  renderedName?: string | undefined;
  ignition?: unknown;
  /** The base the image was built on (`repo@sha256:...`). */
  base?: string | undefined;
  maxImageSize: number;
  /** The existing `99-<pool>-layered-image`, if any. */
  existing?: MachineConfig | undefined;
  /** Every MachineConfig and pool (what MCC merges), for the precedence checks. */
  machineConfigs: readonly MachineConfig[];
  pools: readonly MachineConfigPool[];
  /** The rendered config the pool's status.configuration names. */
  statusConfig?: MachineConfig | undefined;
  checks: ReadonlyMap<string, ImageCheckOutcome>;
  /**
   * The chosen image is an admin's rollback to an image the pool had: checked again for what a node
   * needs (in the registry, complete, bootable, within the size budget), not against the current
   * config's files or base, which it was not built from.
   */
  rollback?: boolean | undefined;
}

export interface HandoffPlan {
  /** The hand-off MachineConfig to server-side apply. */
  apply?: KubeObject | undefined;
  /** Our hand-off MachineConfig to delete (name). */
  delete?: string | undefined;
  annotations?: Record<string, string> | undefined;
  check?: ImageCheckRequest | undefined;
  problems: HandoffProblem[];
  waiting: string[];
  events: PlanEvent[];
  /** True when, once this plan is applied, the pool is handed the chosen image. */
  handedOff: boolean;
  /** The image the pool is handed now (before this plan). */
  current?: string | undefined;
  rollout: RolloutStatus;
}

export function isOurHandoff(mc: MachineConfig | undefined, pool: string): mc is MachineConfig {
  return mc !== undefined && mc.metadata.annotations?.[ANNOTATION_POOL] === pool;
}

/** MCC's merge order (render controller, MergeMachineConfigs): worker-role configs first, then the others, each by name. */
export function mergeOrder(a: MachineConfig, b: MachineConfig): number {
  const ra = a.metadata.labels?.[LABEL_MC_ROLE] === 'worker' ? 0 : 1;
  const rb = b.metadata.labels?.[LABEL_MC_ROLE] === 'worker' ? 0 : 1;
  if (ra !== rb) return ra - rb;
  const na = a.metadata.name;
  const nb = b.metadata.name;
  return na < nb ? -1 : na > nb ? 1 : 0; // Go's byte-wise string order
}

/** The MachineConfig whose osImageURL MCC uses for a pool selecting `selected` (undefined: ControllerConfig's). */
export function osImageWinner(selected: readonly MachineConfig[]): MachineConfig | undefined {
  return selected
    .filter((mc) => !!mc.spec?.osImageURL && !mc.metadata.annotations?.[ANNOTATION_GENERATED_BY_CONTROLLER])
    .sort(mergeOrder)
    .at(-1);
}

/** The hand-off MachineConfig as the operator writes it. */
export function handoffMachineConfig(pool: string, labels: Record<string, string>, image: string, owner: Owner | undefined): KubeObject {
  const metadata: KubeObject['metadata'] = {
    name: handoffMachineConfigName(pool),
    labels: { ...labels, [LABEL_MANAGED]: FIELD_MANAGER },
    annotations: { [ANNOTATION_POOL]: pool },
  };
  if (owner) metadata.ownerReferences = [{ ...owner, controller: true, blockOwnerDeletion: false }];
  return { apiVersion: apiVersionOf(RESOURCES.machineConfig), kind: RESOURCES.machineConfig.kind, metadata, spec: { osImageURL: image } };
}

/** When the pool stops being managed: our hand-off MachineConfig goes, so MCC restores the previous rendered config. */
export function unmanagedHandoff(poolName: string, existing: MachineConfig | undefined, optInLabel: string): { delete?: string; events: PlanEvent[] } {
  if (!isOurHandoff(existing, poolName)) return { events: [] };
  return {
    delete: existing.metadata.name,
    events: [
      {
        type: 'Normal',
        reason: 'HandOffRemoved',
        message: `pool ${poolName}: label ${optInLabel} was removed; deleted MachineConfig ${existing.metadata.name} (image ${existing.spec?.osImageURL ?? '-'}), MCC restores the rendered config without it`,
        on: { kind: 'deleteMachineConfig', name: existing.metadata.name },
        key: `machineconfig/${existing.metadata.uid ?? existing.metadata.name}/deleted`,
      },
    ],
  };
}

export function planHandoff(i: HandoffInput): HandoffPlan {
  const name = handoffMachineConfigName(i.poolName);
  const annotations = i.pool.metadata.annotations ?? {};
  const out: HandoffPlan = { problems: [], waiting: [], events: [], handedOff: false, rollout: { handoff: i.mode } };
  const ours = isOurHandoff(i.existing, i.poolName) ? i.existing : undefined;
  if (i.existing && !ours) {
    out.problems.push({
      reason: 'ObjectConflict',
      message: `MachineConfig ${name} exists but is not managed for pool ${i.poolName} (no annotation ${ANNOTATION_POOL}=${i.poolName}); delete or rename it`,
    });
  }
  out.current = i.mode === 'machineconfig' ? (ours?.spec?.osImageURL ?? undefined) : annotations[ANNOTATION_NEWEST_IMAGE];
  // MCC refuses to render a pool that names an OS image stream while a MachineConfig sets osImageURL
  // (MCO render_controller.go: "cannot override MachineConfig osImageURL and set MachineConfigPool
  // spec.osImageStream.name simultaneously"): no hand-off MachineConfig for it, and ours goes.
  const osStream = i.mode === 'machineconfig' ? i.pool.spec?.osImageStream?.name : undefined;
  if (osStream) {
    out.problems.push({
      reason: 'OSImageStreamSet',
      message: `pool ${i.poolName} sets spec.osImageStream.name ${quote(osStream, 63)}, and the machine-config-controller refuses to render a pool that has it together with a MachineConfig osImageURL: the image is not handed off${ours ? ` and MachineConfig ${ours.metadata.name} is deleted` : ''}; to use the layered image remove the stream from the pool (oc patch mcp/${i.poolName} --type json -p '[{"op":"remove","path":"/spec/osImageStream"}]'), or run the operator with --handoff annotation`,
    });
  }
  if ((i.mode === 'annotation' || osStream) && ours) {
    out.delete = ours.metadata.name;
    out.events.push({
      type: 'Normal',
      reason: 'HandOffRemoved',
      message: osStream
        ? `pool ${i.poolName} sets spec.osImageStream.name: deleted MachineConfig ${ours.metadata.name} (MCC cannot render both)`
        : `pool ${i.poolName}: hand-off is annotation-only (--handoff annotation); deleted MachineConfig ${ours.metadata.name}`,
      on: { kind: 'deleteMachineConfig', name: ours.metadata.name },
      key: `machineconfig/${ours.metadata.uid ?? ours.metadata.name}/deleted`,
    });
  }
  const sel = i.mode === 'machineconfig' ? labelsForSelector(i.poolName, i.pool.spec?.machineConfigSelector) : undefined;
  if (sel && !sel.ok) out.problems.push({ reason: 'InvalidMachineConfigSelector', message: sel.message });

  let inEffect = out.current;
  const chosen = i.chosen;
  if (chosen && i.renderedName && !osStream && !(sel && !sel.ok) && !(i.existing && !ours)) {
    if (i.notReady) {
      out.waiting.push(i.notReady);
    } else {
      const files = i.rollback ? { ok: true as const, files: [] } : expectedFiles(i.ignition);
      if (!files.ok) {
        out.problems.push({ reason: 'InvalidMachineConfig', message: `MachineConfig ${i.renderedName}: ${files.message}; the image cannot be checked against it` });
      } else {
        const digest = chosen.image.slice(chosen.image.lastIndexOf('@') + 1);
        const base = { image: chosen.image, digest, base: i.rollback ? undefined : i.base, files: files.files, maxImageSize: i.maxImageSize };
        const req: ImageCheckRequest = { key: imageCheckKey(base), ...base };
        const outcome = i.checks.get(req.key);
        const keeps = out.current ? `; the pool keeps ${out.current}` : '';
        if (!outcome) {
          out.check = req;
          out.waiting.push(`verifying image ${chosen.image} in the registry before the hand-off`);
        } else if (outcome.result === 'error') {
          out.check = req;
          out.problems.push({ reason: 'RegistryError', message: `image ${chosen.image} could not be checked: ${outcome.message}${keeps}` });
        } else if (outcome.result === 'failed') {
          out.problems.push({ reason: 'ImageCheckFailed', message: `image ${chosen.image} failed its check before the hand-off: ${outcome.message}${keeps}` });
        } else {
          const conflict = sel?.ok ? precedence(i, sel.labels, chosen.image) : undefined;
          if (conflict?.problem) out.problems.push(conflict.problem);
          else if (conflict?.waiting) out.waiting.push(conflict.waiting);
          else {
            const want = {
              [ANNOTATION_NEWEST_IMAGE]: chosen.image,
              [ANNOTATION_NEWEST_IMAGE_CONFIG]: i.renderedName,
              [ANNOTATION_NEWEST_IMAGE_SOURCE]: chosen.source,
            };
            if (Object.entries(want).some(([k, v]) => annotations[k] !== v)) out.annotations = want;
            if (sel?.ok) out.apply = handoffMachineConfig(i.poolName, sel.labels, chosen.image, i.owner);
            if (chosen.image !== out.current) {
              out.events.push({
                type: 'Normal',
                reason: 'ImageHandedOff',
                message: `pool ${i.poolName} now uses ${chosen.source} image ${chosen.image} (config ${i.renderedName})${sel?.ok ? ` through MachineConfig ${name}` : ' (annotations only)'}`,
                on: { kind: 'handoff' },
                // Once per image handed over the current one: a cache that has not seen the write yet must not repeat it.
                key: `handoff/${out.current ?? '-'}/${chosen.image}`,
              });
            }
            out.handedOff = true;
            inEffect = chosen.image;
          }
        }
      }
    }
  }

  // The rollout, as MCO reports it.
  const st = i.pool.status;
  if (i.mode === 'machineconfig' && (ours || out.apply)) out.rollout.machineConfig = name;
  const statusName = st?.configuration?.name;
  if (inEffect && statusName && i.statusConfig?.metadata.name === statusName && i.statusConfig.spec?.osImageURL === inEffect) {
    out.rollout.renderedConfig = statusName;
  }
  for (const k of ['machineCount', 'updatedMachineCount', 'readyMachineCount', 'degradedMachineCount'] as const) {
    const v = st?.[k];
    if (typeof v === 'number') out.rollout[k] = v;
  }
  return out;
}

/**
 * Whether our MachineConfig, once written, is the one whose osImageURL MCC
 * uses for this pool, and is not used for another pool by accident.
 */
function precedence(i: HandoffInput, labels: Record<string, string>, image: string): { problem?: HandoffProblem; waiting?: string } | undefined {
  const name = handoffMachineConfigName(i.poolName);
  const mine = handoffMachineConfig(i.poolName, labels, image, i.owner) as unknown as MachineConfig;
  const others = i.machineConfigs.filter((mc) => mc.metadata.name !== name);
  const selectedBy = (p: MachineConfigPool) => [...others.filter((mc) => selectorMatches(p.spec?.machineConfigSelector, mc.metadata.labels)), mine];
  const winner = osImageWinner(selectedBy(i.pool));
  if (winner && winner.metadata.name !== name) {
    return {
      problem: {
        reason: 'HandOffOverridden',
        message: `MachineConfig ${winner.metadata.name} also sets osImageURL for pool ${i.poolName} and MCC merges it after ${name}, so its image would win: delete it, or rename it to sort before ${name} (see docs/handoff.md)`,
      },
    };
  }
  for (const p of i.pools) {
    if (p.metadata.name === i.poolName || p.metadata.deletionTimestamp) continue;
    if (!selectorMatches(p.spec?.machineConfigSelector, mine.metadata.labels)) continue;
    if (osImageWinner(selectedBy(p))?.metadata.name !== name) continue;
    const optedIn = p.metadata.labels?.[i.optInLabel] !== undefined && p.metadata.labels[i.optInLabel]!.toLowerCase() !== 'false';
    if (optedIn) return { waiting: `waiting for pool ${p.metadata.name}'s own hand-off: its machineConfigSelector also selects ${name}, which would otherwise set its OS image` };
    return {
      problem: {
        reason: 'HandOffSelectsOtherPool',
        message: `MachineConfig ${name} would also set the OS image of pool ${p.metadata.name} (its machineConfigSelector matches ${Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}); opt pool ${p.metadata.name} in too (its own hand-off then wins there), narrow its selector, or use --handoff annotation`,
      },
    };
  }
  return undefined;
}
