import { describe, expect, it } from 'vitest';
import type { ImageStream } from '../../src/kube/types.ts';
import { ANNOTATION_PIN, decideRetention, imagesInUse, poolImages, type RetentionImage } from '../../src/plan/retention.ts';

const DAY = 86_400_000;
const NOW = 100 * DAY;
const d = (n: number | string) => `sha256:${String(n).padStart(64, '0')}`;
const img = (o: Partial<RetentionImage> & { digest: string }): RetentionImage => ({ stream: 'worker-mco-content', role: 'content', tags: ['fp-x'], createdMs: NOW - 30 * DAY, pinned: false, parents: [], ...o });
const decide = (images: RetentionImage[], inUse: Record<string, string> = {}, keepImages = 3, keepForMs = 7 * DAY) =>
  Object.fromEntries(decideRetention({ now: NOW, keepImages, keepForMs, images, inUse: new Map(Object.entries(inUse)) }).map((v) => [v.image.digest + ':' + v.image.stream, v]));

describe('retention decision', () => {
  // Five old content images, newest = 5.
  const five = [1, 2, 3, 4, 5].map((n) => img({ digest: d(n), createdMs: NOW - (40 - n) * DAY }));
  it.each([
    ['keeps the last N, removes older ones', five, {}, 2, { [d(5)]: true, [d(4)]: true, [d(3)]: false, [d(2)]: false, [d(1)]: false }],
    ['the in-use image stays even when old and beyond N', five, { [d(1)]: 'hand-off MachineConfig 99-worker-layered-image' }, 2, { [d(5)]: true, [d(4)]: true, [d(3)]: false, [d(1)]: true }],
    ['a pinned image stays', five.map((i) => (i.digest === d(2) ? { ...i, pinned: true } : i)), {}, 2, { [d(2)]: true, [d(3)]: false }],
    ['a young image stays', five.map((i) => (i.digest === d(1) ? { ...i, createdMs: NOW - DAY } : i)), {}, 1, { [d(1)]: true, [d(2)]: false, [d(4)]: false, [d(5)]: false }],
    ['an image of unknown age stays', five.map((i) => (i.digest === d(1) ? { ...i, createdMs: undefined } : i)), {}, 1, { [d(1)]: true, [d(2)]: false }],
    ['the last N are counted besides the image in use: the newest in use and 2 more', five, { [d(5)]: 'hand-off MachineConfig 99-worker-layered-image' }, 2, { [d(5)]: true, [d(4)]: true, [d(3)]: true, [d(2)]: false, [d(1)]: false }],
    ['keep 0: only what is in use', five, { [d(3)]: 'node n1 currentConfig rendered-worker-3' }, 0, { [d(3)]: true, [d(5)]: false }],
  ] as const)('%s', (_, images, inUse, keep, want) => {
    const got = decide([...images], inUse, keep);
    for (const [digest, keepIt] of Object.entries(want)) expect(got[digest + ':worker-mco-content']!.keep, digest).toBe(keepIt);
  });

  it('says why each stays and why each goes', () => {
    const got = decide(five, { [d(1)]: 'newestImage of pool worker' }, 2);
    expect(got[d(1) + ':worker-mco-content']!.reasons).toEqual(['in use: newestImage of pool worker']);
    expect(got[d(5) + ':worker-mco-content']!.reasons).toEqual(['one of the last 2 images of worker-mco-content besides those in use (#1)']);
    expect(got[d(3) + ':worker-mco-content']!.reasons).toEqual(['not in use, not pinned, older than 7d', 'not among the last 2']);
  });

  it('a rendered-config image stays while a kept content image was built from it; custom -> content -> rendered-config', () => {
    const rc = (n: number) => img({ stream: 'worker-rendered-config', role: 'rendered-config', digest: d(`r${n}`), createdMs: NOW - 50 * DAY });
    const images = [
      rc(1),
      rc(2),
      rc(3),
      img({ digest: d(1), parents: [d('r1')], createdMs: NOW - 40 * DAY }),
      img({ digest: d(2), parents: [d('r2')], createdMs: NOW - 39 * DAY }),
      img({ stream: 'worker-mco-content-custom', role: 'custom', digest: d('c1'), parents: [d(1)], createdMs: NOW - 20 * DAY }),
    ];
    // Only 1 content image is kept by count (d2); d1 stays because the kept custom image was built from it; r1 through d1.
    const got = decide(images, {}, 1);
    expect(got[d(2) + ':worker-mco-content']!.keep).toBe(true);
    expect(got[d(1) + ':worker-mco-content']!.reasons).toEqual([`parent of kept custom image ${d('c1').slice(0, 19)}`]);
    expect(got[d('r1') + ':worker-rendered-config']!.keep).toBe(true);
    expect(got[d('r2') + ':worker-rendered-config']!.keep).toBe(true);
    expect(got[d('r3') + ':worker-rendered-config']).toMatchObject({ keep: false, reasons: ['not in use, not pinned, older than 7d', 'no kept image was built from it'] });
  });

  it('a kept image with unknown parents keeps every rendered-config image', () => {
    const images = [img({ stream: 'worker-rendered-config', role: 'rendered-config', digest: d('r1') }), img({ digest: d(1), parents: undefined })];
    const got = decide(images, {}, 1);
    expect(got[d('r1') + ':worker-rendered-config']!.keep).toBe(true);
    expect(got[d('r1') + ':worker-rendered-config']!.reasons[0]).toContain('has no recorded parents');
  });

  it('an image shared by two pools stays while the other pool uses it', () => {
    const inUse = imagesInUse({
      pools: [{ metadata: { name: 'infra', annotations: { 'machineconfiguration.openshift.io/newestImage': `r/worker-mco-content@${d(1)}` } } }],
      machineConfigs: [],
      nodes: [],
      streams: new Map(),
    });
    const got = decide([img({ digest: d(1) }), img({ digest: d(2), createdMs: NOW - 10 * DAY })], Object.fromEntries(inUse), 1);
    expect(got[d(1) + ':worker-mco-content']!.reasons).toEqual(['in use: newestImage of pool infra']);
  });
});

describe('what is in use, and a pool images from its streams', () => {
  it('hand-off MachineConfigs, newestImage, nodes current and desired configs, and each stream latest', () => {
    const stream = (name: string, tags: Record<string, string[]>): ImageStream => ({
      metadata: { name },
      status: { tags: Object.entries(tags).map(([tag, ds]) => ({ tag, items: ds.map((x) => ({ image: x, dockerImageReference: `r/${name}@${x}` })) })) },
    });
    const use = imagesInUse({
      pools: [{ metadata: { name: 'worker', annotations: { 'machineconfiguration.openshift.io/newestImage': `r/x@${d(2)}` } } }],
      machineConfigs: [
        { metadata: { name: '99-worker-layered-image', annotations: { 'machineconfiguration.openshift.io/pool': 'worker' } }, spec: { osImageURL: `r/x@${d(1)}` } },
        { metadata: { name: 'rendered-worker-old' }, spec: { osImageURL: `r/x@${d(3)}` } },
        { metadata: { name: 'rendered-worker-new' }, spec: { osImageURL: `r/x@${d(4)}` } },
        { metadata: { name: 'rendered-worker-unused' }, spec: { osImageURL: `r/x@${d(9)}` } },
      ],
      nodes: [{ metadata: { name: 'n1', annotations: { 'machineconfiguration.openshift.io/currentConfig': 'rendered-worker-old', 'machineconfiguration.openshift.io/desiredConfig': 'rendered-worker-new' } } }],
      streams: new Map([['worker-rendered-config', stream('worker-rendered-config', { latest: [d('a5')] })]]),
    });
    expect(Object.fromEntries(use)).toEqual({
      [d(1)]: 'hand-off MachineConfig 99-worker-layered-image',
      [d(2)]: 'newestImage of pool worker',
      [d(3)]: 'node n1 currentConfig rendered-worker-old',
      [d(4)]: 'node n1 desiredConfig rendered-worker-new',
      [d('a5')]: 'worker-rendered-config:latest',
    });
  });

  it('poolImages: one image per digest with its tags, oldest creation time, pins, and parents from the history', () => {
    const streams = new Map<string, ImageStream>([
      [
        'worker-mco-content',
        {
          metadata: { name: 'worker-mco-content' },
          spec: { tags: [{ name: 'fp-a', annotations: { [ANNOTATION_PIN]: 'true' } }] },
          status: {
            tags: [
              { tag: 'latest', items: [{ image: d(1), dockerImageReference: 'x', created: '2026-01-02T00:00:00Z' }] },
              { tag: 'fp-a', items: [{ image: d(1), dockerImageReference: 'x', created: '2026-01-01T00:00:00Z' }] },
              { tag: 'fp-b', items: [{ image: d(2), dockerImageReference: 'x', created: '2025-12-01T00:00:00Z' }] },
            ],
          },
        },
      ],
    ]);
    const images = poolImages('worker', streams, [{ build: 'b', kind: 'content', fingerprint: 'f', inputs: { renderedConfig: `r/worker-rendered-config@${d('a1')}` }, outputDigest: d(1), result: 'Complete' }]);
    expect(images).toEqual([
      { stream: 'worker-mco-content', role: 'content', digest: d(1), tags: ['fp-a', 'latest'], createdMs: Date.parse('2026-01-01T00:00:00Z'), pinned: true, parents: [d('a1')] },
      { stream: 'worker-mco-content', role: 'content', digest: d(2), tags: ['fp-b'], createdMs: Date.parse('2025-12-01T00:00:00Z'), pinned: false, parents: undefined },
    ]);
  });

  it('poolImages: of `latest` only the current item counts (older items are revisions of the tag, never deleted by the operator)', () => {
    const streams = new Map<string, ImageStream>([
      [
        'worker-mco-content',
        {
          metadata: { name: 'worker-mco-content' },
          status: {
            tags: [
              { tag: 'latest', items: [{ image: d(2), dockerImageReference: 'x', created: '2026-01-02T00:00:00Z' }, { image: d(1), dockerImageReference: 'x', created: '2026-01-01T00:00:00Z' }, { image: d(9), dockerImageReference: 'x' }] },
              { tag: 'fp-a', items: [{ image: d(1), dockerImageReference: 'x', created: '2026-01-01T00:00:00Z' }] },
              { tag: 'fp-b', items: [{ image: d(2), dockerImageReference: 'x', created: '2026-01-02T00:00:00Z' }] },
            ],
          },
        },
      ],
    ]);
    expect(poolImages('worker', streams, []).map((i) => [i.digest, i.tags])).toEqual([
      [d(2), ['fp-b', 'latest']],
      [d(1), ['fp-a']],
    ]);
  });
});
