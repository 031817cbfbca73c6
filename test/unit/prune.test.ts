import { describe, expect, it } from 'vitest';
import { DurationSchema, formatPrune, KeepImagesSchema, prunePlan, type PruneSnapshot } from '../../src/status/prune.ts';
import { World, machineConfig, pool } from './plan-world.ts';

const P = 'worker';
const DAY = 86_400_000;
const snapshotOf = (w: World, now: number, keepImages: number, nodes: PruneSnapshot['nodes'] = []): PruneSnapshot => ({
  now,
  keepImages,
  keepForMs: 7 * DAY,
  pools: [...w.pools.values()],
  machineConfigs: [...w.machineConfigs.values()],
  nodes,
  streams: [...w.streams.values()],
  layeredPools: [...w.statuses.values()],
});

describe('prune --dry-run (the S19 shape, on the planner model)', () => {
  it('five config changes with --keep-images 2: the in-use image plus the last 2 stay; the rest go, with their rendered configs', () => {
    const w = new World({ debounceMs: 0 });
    w.machineConfigs.set('rendered-worker-0', machineConfig('rendered-worker-0', { '/etc/motd': 'v0' }));
    w.pools.set(P, pool(P, { rendered: 'rendered-worker-0' }));
    w.settle();
    const handed: string[] = [w.handoffImage(P)!];
    for (let i = 1; i <= 5; i++) {
      w.now += DAY;
      w.machineConfigs.set(`rendered-worker-${i}`, machineConfig(`rendered-worker-${i}`, { '/etc/motd': `v${i}` }));
      w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: `rendered-worker-${i}` } };
      w.settle();
      handed.push(w.handoffImage(P)!);
    }
    expect(new Set(handed).size).toBe(6);
    const digest = (ref: string) => ref.slice(ref.indexOf('@') + 1);
    // A node still runs the image of change 2 (its current config), 30 days later.
    w.machineConfigs.get('rendered-worker-2')!.spec!.osImageURL = handed[2]!;
    const [plan] = prunePlan(snapshotOf(w, w.now + 30 * DAY, 2, [{ metadata: { name: 'n1', annotations: { 'machineconfiguration.openshift.io/currentConfig': 'rendered-worker-2' } } }]));
    const content = plan!.verdicts.filter((v) => v.image.role === 'content');
    expect(content).toHaveLength(6);
    const kept = content.filter((v) => v.keep).map((v) => v.image.digest);
    // in use (hand-off = newest), the one before it (last 2), and the node's image.
    expect(kept.sort()).toEqual([digest(handed[5]!), digest(handed[4]!), digest(handed[2]!)].sort());
    expect(content.find((v) => v.image.digest === digest(handed[5]!))!.reasons[0]).toMatch(/^in use: hand-off MachineConfig 99-worker-layered-image/);
    expect(content.find((v) => v.image.digest === digest(handed[2]!))!.reasons).toEqual(['in use: node n1 currentConfig rendered-worker-2']);
    // Rendered-config images: exactly those the kept content images were built from stay.
    const rc = plan!.verdicts.filter((v) => v.image.role === 'rendered-config');
    expect(rc.filter((v) => v.keep)).toHaveLength(3);
    expect(rc.filter((v) => !v.keep)).toHaveLength(3);
    const text = formatPrune([plan!], 'openshift-machine-config-operator');
    expect(text.split('\n')[0]).toBe('pool worker: 6 would go, 6 stay (dry run: nothing removed)');
    expect(text).toContain('(removal would be: oc tag -d openshift-machine-config-operator/worker-mco-content:fp-');
    expect(text.match(/^ {2}REMOVE /gm)).toHaveLength(6);
  });

  it('within --keep-for nothing goes; --pool limits the output', () => {
    const w = new World({ debounceMs: 0 });
    w.machineConfigs.set('rendered-worker-0', machineConfig('rendered-worker-0'));
    w.pools.set(P, pool(P, { rendered: 'rendered-worker-0' }));
    w.settle();
    const plans = prunePlan(snapshotOf(w, w.now, 0));
    expect(plans.map((p) => p.pool)).toEqual([P]);
    expect(plans[0]!.verdicts.every((v) => v.keep)).toBe(true);
    expect(prunePlan(snapshotOf(w, w.now, 0), 'infra')).toEqual([]);
    expect(formatPrune([], 'ns')).toBe('no layered pools in namespace ns\n');
  });

  it.each([
    ['7d', 7 * DAY],
    ['12h', 12 * 3_600_000],
    ['30m', 1_800_000],
    ['90', 90_000],
  ])('--keep-for %s', (v, ms) => expect(DurationSchema.parse(v)).toBe(ms));
  it('rejects bad values', () => {
    expect(DurationSchema.safeParse('7 days').success).toBe(false);
    expect(DurationSchema.safeParse('-1d').success).toBe(false);
    expect(KeepImagesSchema.safeParse('-1').success).toBe(false);
    expect(KeepImagesSchema.parse('2')).toBe(2);
  });
});
