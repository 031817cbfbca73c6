// Label selectors as Kubernetes evaluates them (metav1.LabelSelectorAsSelector),
// and the labels a hand-off MachineConfig needs to be selected by a pool. Pure.
import type { LabelSelector } from '../kube/types.ts';
import { LABEL_MC_ROLE } from './names.ts';

export type SelectorLabels = { ok: true; labels: Record<string, string> } | { ok: false; message: string };

/** Whether `labels` satisfy `selector`. A missing (null) selector selects nothing; an empty one everything. */
export function selectorMatches(selector: LabelSelector | null | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(l[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(l[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false; // an unknown operator selects nothing (the API server would refuse it)
    }
  }
  return true;
}

/**
 * The labels the hand-off MachineConfig carries so that the pool selects it:
 * the selector's matchLabels, or, for a custom pool that selects
 * `machineconfiguration.openshift.io/role In [worker, <pool>]` (OpenShift's
 * convention), that role label with the pool's name. A selector that labels alone cannot satisfy
 * (none, only matchExpressions, or expressions its matchLabels do not meet)
 * is reported: the operator never guesses labels.
 */
export function labelsForSelector(pool: string, selector: LabelSelector | null | undefined): SelectorLabels {
  if (!selector) {
    return { ok: false, message: `pool ${pool} has no spec.machineConfigSelector, so no MachineConfig can be selected into it; give it matchLabels (e.g. machineconfiguration.openshift.io/role: ${pool})` };
  }
  const labels = { ...(selector.matchLabels ?? {}) };
  // OpenShift's custom pools select `machineconfiguration.openshift.io/role In [worker, <pool>]`
  // (they inherit the worker configs): the pool's own role is the label that selects into it alone.
  const ownRole = selector.matchExpressions?.find((e) => e.key === LABEL_MC_ROLE && e.operator === 'In' && e.values?.includes(pool));
  if (Object.keys(labels).length === 0 && ownRole) labels[LABEL_MC_ROLE] = pool;
  if (Object.keys(labels).length === 0) {
    const what = selector.matchExpressions?.length ? 'only matchExpressions' : 'an empty selector (it would select every MachineConfig into this pool)';
    return {
      ok: false,
      message: `pool ${pool}'s spec.machineConfigSelector has ${what}; the hand-off MachineConfig needs labels that select it: add matchLabels (e.g. machineconfiguration.openshift.io/role: ${pool}) or use --handoff annotation`,
    };
  }
  if (!selectorMatches(selector, labels)) {
    const bad = (selector.matchExpressions ?? []).find((e) => !selectorMatches({ matchExpressions: [e] }, labels));
    return {
      ok: false,
      message: `pool ${pool}'s spec.machineConfigSelector cannot be satisfied by its matchLabels alone (matchExpression ${bad ? `${bad.key} ${bad.operator} ${JSON.stringify(bad.values ?? [])}` : ''} is not met by them); add matchLabels that meet it or use --handoff annotation`,
    };
  }
  return { ok: true, labels };
}
