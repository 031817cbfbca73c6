import { it } from 'vitest';
import { machineConfig, pool, World } from './plan-world.ts';
import { ReconcilerWorld } from './reconciler-world.ts';
function diff(a: unknown, b: unknown, path = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diff((a as any)[k], (b as any)[k], `${path}.${k}`));
  }
  return [`${path}: ${JSON.stringify(a)?.slice(0, 150)} -> ${JSON.stringify(b)?.slice(0, 150)}`];
}
it('dbg', async () => {
  const P = 'worker';
  const world = new World(); world.importsEnabled = false; world.outcome = () => 'hang';
  const rw = new ReconcilerWorld(world);
  world.pools.set(P, pool(P));
  await rw.settle(P, () => world.statuses.get(P)?.status?.phase === 'Pending');
  world.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
  world.pools.get(P)!.spec!.configuration = { name: 'rendered-worker-1' };
  await rw.settle(P);
  world.importsEnabled = true;
  await rw.settle(P, () => world.buildsOf('content').some((b) => b.status?.phase === 'Running'));
  world.outcome = () => 'complete';
  await rw.settle(P, () => world.statuses.get(P)?.status?.phase === 'Ready' && world.pools.get(P)!.spec!.configuration!.name !== 'rendered-worker-1');
  for (let i = 1; i < rw.statusWrites.length; i++) console.log(`--- ${i} -> ${i + 1}\n` + diff(rw.statusWrites[i - 1]!.status, rw.statusWrites[i]!.status).join('\n'));
  console.log(rw.writes.join('\n'));
});
