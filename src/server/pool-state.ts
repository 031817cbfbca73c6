// What the per-pool gauges say after a reconcile, from the status and the
// pool's Builds. Pure.
import type { Build, LayeredPoolStatus } from '../kube/types.ts';
import { buildKind, isActive } from '../plan/builds.ts';
import { timeMs } from '../plan/streams.ts';
import type { PoolState } from './metrics.ts';

export function poolStateOf(status: LayeredPoolStatus | undefined, builds: readonly Build[], managed: boolean): PoolState | undefined {
  if (!managed) return undefined;
  const activeBuilds: PoolState['activeBuilds'] = {};
  for (const b of builds) {
    const kind = buildKind(b);
    if (!kind || !isActive(b) || b.status?.cancelled) continue;
    const start = timeMs(b.status?.startTimestamp) ?? timeMs(b.metadata.creationTimestamp);
    if (start === undefined) continue;
    // The oldest running build of a kind is the one that runs long.
    activeBuilds[kind] = Math.min(activeBuilds[kind] ?? Infinity, start);
  }
  return { conditions: (status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason })), activeBuilds };
}
