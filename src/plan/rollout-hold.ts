// The rollout hold (docs/handoff.md "One rollout per change"). Pure.
//
// A MachineConfig change re-renders a pool at once (MCC's render controller,
// 5 s after the change), and MCC's node controller moves the pool's nodes to
// that rendering 5 s later (MCO pkg/controller/node/node_controller.go,
// updateDelay): the new files on the OLD image, a combination never built or
// checked, and a drain and a reboot per node. Then the new image arrives and
// every node moves again. To give each node one update per change, the
// operator pauses the pool (`spec.paused`, which only MCC's node controller
// reads: the render controller renders a paused pool as usual) from the moment
// the pool's rendering no longer matches its handed-off image until MCC has
// rendered the new image for it, and then releases it. The node controller
// then moves the nodes once, to the rendering with the new files AND the new
// image.
//
// Only a pool that runs one of our images is held (before the first hand-off
// the nodes run the cluster's own OS image, as MCO would have them). An
// admin's pause is never taken over and never undone: the operator's hold is
// marked by its annotation, written with spec.paused in one server-side apply
// of the operator's field manager; on release the operator stops applying
// both, so a spec.paused an admin also set stays set (their field manager
// owns it too).
import type { MachineConfigPool } from '../kube/types.ts';
import { ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_CONFIG, ANNOTATION_NEWEST_IMAGE_SOURCE, GROUP } from './names.ts';
import type { PlanEvent } from './status.ts';
import { quote } from '../util/escape.ts';

/** On the pool while the operator holds it (spec.paused is then the operator's): when the hold began (RFC 3339). */
export const ANNOTATION_ROLLOUT_HELD = `${GROUP}/rollout-held`;

/** The pool annotations the operator owns (the hand-off's informational annotations). */
const HANDOFF_ANNOTATIONS = [ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_CONFIG, ANNOTATION_NEWEST_IMAGE_SOURCE] as const;

/**
 * What the operator server-side applies to a MachineConfigPool: every field it
 * owns there, each time (a field left out of an apply is removed when no other
 * manager owns it).
 */
export interface PoolApply {
  annotations: Record<string, string>;
  /** spec.paused: true while the operator holds the pool; absent otherwise. */
  paused?: true | undefined;
  /** Not applied: the annotations carry a new hand-off (its Event follows this write). */
  handoff?: true | undefined;
}

export interface RolloutHoldInput {
  pool: MachineConfigPool;
  /** Hand-off through MachineConfig (`--handoff machineconfig`): only then does a rendering move nodes to our image. */
  machineConfigMode: boolean;
  /** The image our hand-off MachineConfig gives the pool now (before this plan); undefined: none yet. */
  current?: string | undefined;
  /** The image the pool should have for its current inputs (checked, by digest); undefined: not there yet. */
  chosen?: string | undefined;
  /** osImageURL of the rendered MachineConfig the pool's spec.configuration names. */
  renderedImage?: string | undefined;
  renderedName?: string | undefined;
  /** The hand-off annotations this plan writes (undefined: they stay as the pool has them). */
  handoffAnnotations?: Record<string, string> | undefined;
  /** Why the pool may get no hand-off at all (spec.osImageStream.name...): never held then. */
  noHandoff?: boolean | undefined;
  /** The pool is no longer managed: a hold of the operator is released. */
  unmanaged?: boolean | undefined;
  now: number;
}

export interface RolloutHold {
  /** Held after this plan (what status.rollout.held says), with why. */
  held?: string | undefined;
  /** The apply of the pool's operator-owned fields, when it differs from what the pool has. */
  apply?: PoolApply | undefined;
  /** The hold is new in this plan: its write goes first, before builds and pushes (MCC moves nodes 5 s after a rendering). */
  first: boolean;
  events: PlanEvent[];
}

/** Whether spec.paused on the pool is the operator's hold (not an admin's pause). */
export function heldByOperator(pool: MachineConfigPool): boolean {
  return pool.spec?.paused === true && pool.metadata.annotations?.[ANNOTATION_ROLLOUT_HELD] !== undefined;
}

export function planRolloutHold(i: RolloutHoldInput): RolloutHold {
  const { pool } = i;
  const name = pool.metadata.name;
  const annotations = pool.metadata.annotations ?? {};
  const ours = heldByOperator(pool);
  const adminPaused = pool.spec?.paused === true && !ours;
  // Settled: the pool's rendering carries the image built and checked for its current inputs.
  const settled = i.chosen !== undefined && i.chosen === i.current && i.renderedImage === i.chosen;
  // Ahead: the pool's rendering is new (MCC rendered a change onto our current image) while the
  // image for it is not there: that rendering is what MCO would roll out first. Not at a first
  // hand-off: until then the rendering carries no image of ours, and MCO moves the nodes once.
  const ahead = i.current !== undefined && i.renderedImage === i.current && i.chosen !== i.current;
  const want = !i.unmanaged && i.machineConfigMode && !i.noHandoff && !adminPaused && (ours ? !settled : ahead);
  const since = want ? (ours ? annotations[ANNOTATION_ROLLOUT_HELD]! : new Date(i.now).toISOString()) : undefined;

  const owned: Record<string, string> = {};
  for (const k of HANDOFF_ANNOTATIONS) if (annotations[k] !== undefined) owned[k] = annotations[k];
  Object.assign(owned, i.handoffAnnotations);
  if (since) owned[ANNOTATION_ROLLOUT_HELD] = since;
  const changes = i.handoffAnnotations !== undefined || (since !== undefined) !== ours;
  const out: RolloutHold = { first: want && !ours, events: [] };
  if (changes) {
    out.apply = { annotations: owned };
    if (since) out.apply.paused = true;
    if (i.handoffAnnotations) out.apply.handoff = true;
  }
  // The annotation is on the admin's object: a value the operator did not write is quoted, never raw.
  const shown = (v: string) => (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v) ? v : quote(v, 40));
  if (since) {
    const waitsFor =
      i.chosen === undefined
        ? 'the image for its new inputs is built, checked and handed off'
        : i.chosen !== i.current
          ? `image ${i.chosen} is handed off and MCC has rendered it`
          : `MCC renders it with image ${i.chosen}`;
    out.held = `MachineConfigPool ${name} is paused by the operator since ${shown(since)} so that its nodes update once, to the new config and its image together (MCO would move them first to ${i.renderedName ? `${i.renderedName}, ` : ''}the new config on the old image ${i.current}); it is released when ${waitsFor}`;
    if (!ours) {
      out.events.push({ type: 'Normal', reason: 'RolloutHeld', message: out.held, on: { kind: 'poolApply' }, key: `hold/${i.renderedName ?? '-'}/${i.current}` });
    }
  } else if (ours) {
    const since0 = annotations[ANNOTATION_ROLLOUT_HELD]!;
    out.events.push({
      type: 'Normal',
      reason: 'RolloutReleased',
      message: i.unmanaged
        ? `MachineConfigPool ${name} is no longer managed: the operator's pause (since ${shown(since0)}) is released`
        : `MachineConfigPool ${name} released (paused by the operator since ${shown(since0)}): MCC moves its nodes to ${i.renderedName ?? 'its rendering'} with image ${i.chosen}`,
      on: { kind: 'poolApply' },
      key: `release/${since0}`,
    });
  }
  return out;
}
