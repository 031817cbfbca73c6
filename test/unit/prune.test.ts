import { describe, expect, it } from 'vitest';
import { DurationSchema } from '../../src/config/config.ts';
import type { PruneSnapshot } from '../../src/plan/prune.ts';
import { prunePlan } from '../../src/plan/prune.ts';
import { formatPrune, formatPruneResults } from '../../src/status/prune.ts';
import { NS, REG, World, machineConfig, pool } from './plan-world.ts';

const P = 'worker';
const DAY = 86_400_000;
const snapshotOf = (w: World, now: number, keepImages: number, nodes: PruneSnapshot['nodes'] = [], registry = REG): PruneSnapshot => ({
  now,
  keepImages,
  keepForMs: 7 * DAY,
  namespace: NS,
  registry,
  pools: [...w.pools.values()],
  machineConfigs: [...w.machineConfigs.values()],
  nodes,
  streams: [...w.streams.values()],
  layeredPools: [...w.statuses.values()],
  builds: [...w.builds.values()],
});

/** Five config changes of pool worker, a day apart; returns the images handed off, in order. */
function fiveChanges(w: World): string[] {
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
  return handed;
}
const digest = (ref: string) => ref.slice(ref.indexOf('@') + 1);

describe('prune: the decision and what it removes (the S19 shape, on the planner model)', () => {
  it('five config changes with --keep-images 2: the in-use images plus the last 2 stay; the rest go, with their tags, rendered configs and Builds', () => {
    const w = new World({ debounceMs: 0 });
    const handed = fiveChanges(w);
    expect(new Set(handed).size).toBe(6);
    // A node still runs the image of change 2 (its current config), 30 days later.
    w.machineConfigs.get('rendered-worker-2')!.spec!.osImageURL = handed[2]!;
    const [plan] = prunePlan(snapshotOf(w, w.now + 30 * DAY, 2, [{ metadata: { name: 'n1', annotations: { 'machineconfiguration.openshift.io/currentConfig': 'rendered-worker-2' } } }]));
    const content = plan!.verdicts.filter((v) => v.image.role === 'content');
    expect(content).toHaveLength(6);
    // in use (hand-off = newest; the node's image), and the 2 newest besides those.
    expect(content.filter((v) => v.keep).map((v) => v.image.digest).sort()).toEqual([5, 4, 3, 2].map((n) => digest(handed[n]!)).sort());
    expect(content.find((v) => v.image.digest === digest(handed[5]!))!.reasons[0]).toMatch(/^in use: hand-off MachineConfig 99-worker-layered-image/);
    expect(content.find((v) => v.image.digest === digest(handed[2]!))!.reasons).toEqual(['in use: node n1 currentConfig rendered-worker-2']);
    expect(content.find((v) => v.image.digest === digest(handed[3]!))!.reasons).toEqual(['one of the last 2 images of worker-mco-content besides those in use (#2)']);
    // Rendered-config images: exactly those the kept content images were built from stay.
    const rc = plan!.verdicts.filter((v) => v.image.role === 'rendered-config');
    expect(rc.filter((v) => v.keep)).toHaveLength(4);
    expect(rc.filter((v) => !v.keep)).toHaveLength(2);

    // What goes: the fp- tags of images 0 and 1, the sha256- tags of their rendered configs, their Builds; never latest.
    const goneContent = [0, 1].map((n) => digest(handed[n]!));
    expect(plan!.tags.filter((t) => t.stream === 'worker-mco-content').flatMap((t) => t.digests).sort()).toEqual(goneContent.sort());
    expect(plan!.tags.filter((t) => t.stream === 'worker-rendered-config').map((t) => t.tag)).toEqual(rc.filter((v) => !v.keep).map((v) => v.image.digest.replace(':', '-')).sort());
    expect(plan!.tags.some((t) => t.tag === 'latest')).toBe(false);
    expect(plan!.tags.every((t) => t.tag.startsWith('fp-') || t.tag.startsWith('sha256-'))).toBe(true);
    const builtGone = [...w.builds.values()].filter((b) => goneContent.includes(b.status?.output?.to?.imageDigest ?? '')).map((b) => b.metadata.name);
    expect(plan!.builds.map((b) => b.name)).toEqual(builtGone.sort());
    expect(plan!.builds).toHaveLength(2);
    expect(plan!.manifests).toEqual([]); // the integrated registry records its pushes: nothing to delete there

    const text = formatPrune([plan!], NS);
    expect(text.split('\n')[0]).toBe('pool worker: 4 would go, 8 stay (dry run: nothing removed)');
    expect(text.match(/^ {2}REMOVE /gm)).toHaveLength(4);
    expect(text.match(/^ {2}would delete ImageStreamTag /gm)).toHaveLength(4);
    expect(text.match(/^ {2}would delete Build /gm)).toHaveLength(2);
  });

  it('after the removal the pool stays Ready with no build; rolling back to a removed config builds it again (a new attempt, never the removed image)', () => {
    const w = new World({ debounceMs: 0 });
    const handed = fiveChanges(w);
    const [plan] = prunePlan(snapshotOf(w, w.now + 30 * DAY, 2));
    // What src/kube/prune.ts does: DELETE each tag (spec and status; the integrated registry forgets the tag too) and each Build.
    for (const t of plan!.tags) {
      w.registry.delete(`${REG}/${NS}/${t.stream}:${t.tag}`);
      const s = w.streams.get(t.stream)!;
      s.status!.tags = s.status!.tags!.filter((x) => x.tag !== t.tag);
      if (s.spec?.tags) s.spec.tags = s.spec.tags.filter((x) => x.name !== t.tag);
    }
    for (const b of plan!.builds) w.builds.delete(b.name);
    const before = w.buildsOf('content').length;
    w.settle();
    expect(w.buildsOf('content')).toHaveLength(before);
    expect(w.handoffImage(P)).toBe(handed[5]);
    // A second decision finds nothing more to remove.
    const [again] = prunePlan(snapshotOf(w, w.now + 30 * DAY, 2));
    expect([again!.tags, again!.builds]).toEqual([[], []]);
    // Back to config 0: its image was removed, so it is built anew.
    w.pools.get(P)!.spec = { ...w.pools.get(P)!.spec, configuration: { name: 'rendered-worker-0' } };
    w.settle();
    expect(w.buildsOf('content')).toHaveLength(before + 1);
    expect(w.handoffImage(P)).not.toBe(handed[0]);
    expect(w.handoffImage(P)).not.toBe(handed[5]);
  });

  it('an external registry: the removed rendered-config images are deleted there by digest', () => {
    const w = new World({ debounceMs: 0 });
    fiveChanges(w);
    // The stream advertises the integrated registry's repository, not the one pushed to.
    for (const s of w.streams.values()) s.status = { ...s.status, dockerImageRepository: `image-registry.openshift-image-registry.svc:5000/${NS}/${s.metadata.name}` };
    // ...and imports the rendered-config images pushed there through spec tags (src/plan/plan.ts).
    const rcs = w.streams.get('worker-rendered-config')!;
    rcs.spec = { tags: (rcs.status!.tags ?? []).map((t) => ({ name: t.tag, from: { kind: 'DockerImage', name: `quay.example.com/${NS}/worker-rendered-config@${t.items![0]!.image}` } })) };
    // A --registry other than the one the images came from matches nothing.
    expect(prunePlan(snapshotOf(w, w.now + 30 * DAY, 2, [], 'other.example.com'))[0]!.manifests).toEqual([]);
    const [plan] = prunePlan(snapshotOf(w, w.now + 30 * DAY, 2, [], 'quay.example.com'));
    const rcGone = plan!.verdicts.filter((v) => v.image.role === 'rendered-config' && !v.keep).map((v) => v.image.digest);
    expect(rcGone).toHaveLength(3);
    expect(plan!.manifests).toEqual(rcGone.sort().map((d) => ({ repository: `quay.example.com/${NS}/worker-rendered-config`, registry: 'quay.example.com', path: `${NS}/worker-rendered-config`, digest: d })));
  });

  it('within --keep-for nothing goes; --pool limits the output; the results are printed one line per object', () => {
    const w = new World({ debounceMs: 0 });
    w.machineConfigs.set('rendered-worker-0', machineConfig('rendered-worker-0'));
    w.pools.set(P, pool(P, { rendered: 'rendered-worker-0' }));
    w.settle();
    const plans = prunePlan(snapshotOf(w, w.now, 0));
    expect(plans.map((p) => p.pool)).toEqual([P]);
    expect(plans[0]!.verdicts.every((v) => v.keep)).toBe(true);
    expect(plans[0]!.tags).toEqual([]);
    expect(prunePlan(snapshotOf(w, w.now, 0), 'infra')).toEqual([]);
    expect(formatPrune([], 'ns')).toBe('no layered pools in namespace ns\n');
    const out = formatPruneResults(
      plans,
      [
        { pool: P, kind: 'ImageStreamTag', name: `${NS}/worker-mco-content:fp-1`, outcome: 'removed', message: 'retention: x' },
        { pool: P, kind: 'Manifest', name: 'quay.example.com/a/b@sha256:1', outcome: 'left', message: 'left: registry quay.example.com does not allow deletes' },
        { pool: P, kind: 'Build', name: `${NS}/b-1`, outcome: 'failed', message: 'HTTP 403\nforbidden' },
      ],
      NS,
    );
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe(`pool worker: 1 removed, 0 already gone, 1 left, 1 failed; ${plans[0]!.verdicts.length} image(s) stay`);
    expect(lines[1]).toBe(`  REMOVED ImageStreamTag ${NS}/worker-mco-content:fp-1: retention: x`);
    expect(lines[2]).toBe('  LEFT    Manifest quay.example.com/a/b@sha256:1: left: registry quay.example.com does not allow deletes');
    expect(lines[3]).toBe(`  FAILED  Build ${NS}/b-1: HTTP 403 forbidden`);
    expect(lines.slice(4).every((l) => l.startsWith('  KEEP    '))).toBe(true);
  });

  it.each([
    ['7d', 7 * DAY],
    ['12h', 12 * 3_600_000],
    ['30m', 1_800_000],
    ['90s', 90_000],
    ['1500', 1500],
  ])('--keep-for %s', (v, ms) => expect(DurationSchema.parse(v)).toBe(ms));
  it('rejects bad durations', () => {
    expect(DurationSchema.safeParse('7 days').success).toBe(false);
    expect(DurationSchema.safeParse('-1d').success).toBe(false);
  });
});
