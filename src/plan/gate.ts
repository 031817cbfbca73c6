// The hand-off gate of a pool (issue 9): pause and manual approval. Pure.
//
// - `layering.mco.dev/paused: "true"` on the pool, or MCO's own `spec.paused` set by
//   an admin (not the operator's rollout hold), holds builds (none starts, none is cancelled) and hand-offs; the status says so.
// - `layering.mco.dev/hand-off: manual` builds and checks as usual but holds the
//   hand-off of a new image until the pool is annotated
//   `layering.mco.dev/approve=<digest>` with the digest of the pool's newest
//   checked image; any other digest is refused with a message.
import type { MachineConfigPool } from '../kube/types.ts';
import { GROUP } from './names.ts';
import { heldByOperator } from './rollout-hold.ts';

export const ANNOTATION_PAUSED = `${GROUP}/paused`;
export const ANNOTATION_HANDOFF_MODE = `${GROUP}/hand-off`;
export const ANNOTATION_APPROVE = `${GROUP}/approve`;

export interface Gate {
  /** Why builds and hand-offs are held, when they are. */
  paused?: { by: 'annotation' | 'spec.paused'; message: string } | undefined;
  manual: boolean;
  /** The digest the admin approved (`sha256:<hex>`), as written. */
  approved?: string | undefined;
  /** A `hand-off` annotation value that is neither `manual` nor `auto`. */
  invalid?: string | undefined;
}

export function gateOf(pool: MachineConfigPool): Gate {
  const a = pool.metadata.annotations ?? {};
  const name = pool.metadata.name;
  const g: Gate = { manual: false };
  if ((a[ANNOTATION_PAUSED] ?? '').toLowerCase() === 'true') {
    g.paused = {
      by: 'annotation',
      message: `pool ${name} is paused (annotation ${ANNOTATION_PAUSED}=true): no build starts and no image is handed off; resume with: oc annotate mcp/${name} ${ANNOTATION_PAUSED}-`,
    };
  } else if (pool.spec?.paused === true && !heldByOperator(pool)) {
    // The operator's own rollout hold (src/plan/rollout-hold.ts) is not an admin's pause: builds go on.
    g.paused = {
      by: 'spec.paused',
      message: `pool ${name} is paused (spec.paused: true): no build starts and no image is handed off; resume with: oc patch mcp/${name} --type merge -p '{"spec":{"paused":false}}'`,
    };
  }
  const mode = a[ANNOTATION_HANDOFF_MODE];
  if (mode !== undefined) {
    const m = mode.trim().toLowerCase();
    if (m === 'manual') g.manual = true;
    else if (m !== 'auto' && m !== '') {
      g.invalid = mode;
      g.manual = true; // the safe reading of a typo: hold rather than roll out
    }
  }
  const approved = a[ANNOTATION_APPROVE]?.trim();
  if (approved) g.approved = approved;
  return g;
}

export type HandoffGateDecision =
  | { hold: false }
  | { hold: true; reason: 'Paused' | 'AwaitingApproval' | 'ApprovalRefused'; message: string };

/**
 * Whether a hand-off the planner would make now is held. `image` is the checked
 * image (`repo@sha256:...`) it would hand off, `current` the image the pool has.
 * Re-writing the image the pool already has is never held (only its annotations change).
 */
export function gateHandoff(g: Gate, pool: string, image: string, current: string | undefined): HandoffGateDecision {
  if (image === current) return { hold: false };
  if (g.paused) return { hold: true, reason: 'Paused', message: `${g.paused.message}; image ${image} passed its checks and waits` };
  if (!g.manual) return { hold: false };
  const digest = image.slice(image.lastIndexOf('@') + 1);
  const how = `oc annotate mcp/${pool} ${ANNOTATION_APPROVE}=${digest} --overwrite`;
  const typo = g.invalid !== undefined ? ` (${ANNOTATION_HANDOFF_MODE}=${JSON.stringify(g.invalid)} is not manual or auto; read as manual)` : '';
  if (g.approved === undefined) {
    return { hold: true, reason: 'AwaitingApproval', message: `hand-off of pool ${pool} is manual${typo}: image ${image} passed its checks and waits for approval: ${how}` };
  }
  if (g.approved !== digest) {
    return {
      hold: true,
      reason: 'ApprovalRefused',
      message: `${ANNOTATION_APPROVE}=${g.approved} is refused: it is not the pool's newest checked image ${digest}${typo}; to hand that one off: ${how}`,
    };
  }
  return { hold: false };
}
