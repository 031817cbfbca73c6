// Mapping an event on any watched object to the pool keys it concerns. Pure:
// handlers call it and enqueue, nothing else.
import type { MachineConfigPool } from '../kube/types.ts';
import { selectorMatches } from '../plan/selector.ts';
import { ANNOTATION_POOL, COREOS_STREAM, CONTROLLER_CONFIG_NAME, OS_IMAGE_STREAM_NAME, poolStreams } from '../plan/names.ts';

export type WatchedKind = 'MachineConfigPool' | 'MachineConfig' | 'ControllerConfig' | 'OSImageStream' | 'ImageStream' | 'BuildConfig' | 'Build' | 'LayeredPool' | 'Secret' | 'Node';

interface Meta {
  metadata: {
    name: string;
    labels?: Record<string, string> | null | undefined;
    annotations?: Record<string, string> | null | undefined;
    ownerReferences?: { kind: string; name: string }[] | undefined;
  };
}

/** Suffixes of the streams an admin may create first with `oc tag` (no annotation yet). */
const ADMIN_STREAM_SUFFIXES = ['-external-base', '-mco-content-external'];

export function poolKeysFor(kind: WatchedKind, obj: Meta, pools: () => readonly MachineConfigPool[]): string[] {
  const name = obj.metadata.name;
  switch (kind) {
    case 'MachineConfigPool':
      return [name];
    case 'MachineConfig': {
      // The pool whose hand-off MachineConfig this is, and the pools whose rendered config (target or current) it is.
      const keys = new Set<string>();
      const owner = obj.metadata.annotations?.[ANNOTATION_POOL];
      if (owner) keys.add(owner);
      for (const p of pools()) {
        if (p.spec?.configuration?.name === name || p.status?.configuration?.name === name) keys.add(p.metadata.name);
      }
      return [...keys];
    }
    case 'ControllerConfig':
      return name === CONTROLLER_CONFIG_NAME ? pools().map((p) => p.metadata.name) : [];
    case 'OSImageStream':
      // The default stream's OS image is every pool's base.
      return name === OS_IMAGE_STREAM_NAME ? pools().map((p) => p.metadata.name) : [];
    case 'Secret':
      // Only the push secret is watched; every pool pushes with it.
      return pools().map((p) => p.metadata.name);
    case 'LayeredPool':
      return [name];
    case 'Node':
      // The pools the node belongs to (its labels match their nodeSelector): their status names a degraded node.
      return pools()
        .filter((p) => selectorMatches(p.spec?.nodeSelector, obj.metadata.labels ?? undefined))
        .map((p) => p.metadata.name);
    default: {
      const pool = obj.metadata.annotations?.[ANNOTATION_POOL];
      if (pool) return [pool];
      const owner = obj.metadata.ownerReferences?.find((o) => o.kind === 'MachineConfigPool');
      if (owner) return [owner.name];
      if (kind === 'ImageStream') {
        if (name === COREOS_STREAM) return pools().map((p) => p.metadata.name);
        for (const suffix of ADMIN_STREAM_SUFFIXES) {
          if (name.endsWith(suffix) && name.length > suffix.length) return [name.slice(0, -suffix.length)];
        }
        // A long pool's streams are shortened (a prefix plus a hash): match them by the pools' derived names.
        const owners = pools().filter((p) => {
          const s = poolStreams(p.metadata.name);
          return s.externalBase === name || s.external === name;
        });
        if (owners.length) return owners.map((p) => p.metadata.name);
      }
      return [];
    }
  }
}

/**
 * Which events wake a pool (as controller-runtime's GenerationChanged and
 * AnnotationChanged predicates): every event of every kind, except a
 * LayeredPool update that changed only its status, i.e. the operator's own
 * status write (its generation (spec), annotations or deletion, or the object
 * going, still wake the pool), and a Node update that changed neither its
 * labels nor the daemon's annotations. Stateful: one per informer set.
 */
export function eventPredicate(): (kind: WatchedKind, obj: { metadata: { name: string } }, type: string) => boolean {
  const seen = new Map<string, string>();
  return (kind, obj, type) => {
    if (kind !== 'LayeredPool' && kind !== 'Node') return true;
    const m = obj.metadata as { name: string; generation?: number; labels?: unknown; annotations?: unknown; deletionTimestamp?: unknown };
    const key = `${kind}/${m.name}`;
    if (type === 'delete') {
      seen.delete(key);
      return true;
    }
    // A Node wakes its pools only when its labels (which pools) or the daemon's annotations change, not on a status update.
    const sig = kind === 'Node' ? JSON.stringify([m.labels ?? {}, m.annotations ?? {}]) : JSON.stringify([m.generation ?? 0, m.annotations ?? {}, m.deletionTimestamp ?? null]);
    const before = seen.get(key);
    seen.set(key, sig);
    return before !== sig;
  };
}
