import { describe, expect, it } from 'vitest';
import type { ImageStream } from '../../src/kube/types.ts';
import {
  ANNOTATION_SPEC_TAGS,
  dockerTagsToResolve,
  reconcileStream,
  sourcesOf,
  withPushedImage,
  type ResolveResult,
} from '../../hack/emulator/imports.ts';

const REG = '127.0.0.1:5000';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const T0 = '2030-01-01T00:00:00.000Z';
const T1 = '2030-01-01T00:01:00.000Z';

function stream(name: string, spec: ImageStream['spec'], status?: ImageStream['status'], managed?: Record<string, string>, ns = 'ns'): ImageStream {
  const s: ImageStream = { metadata: { name, namespace: ns, generation: 1 }, spec };
  if (status) s.status = status;
  if (managed) s.metadata.annotations = { [ANNOTATION_SPEC_TAGS]: JSON.stringify(managed) };
  return s;
}

const ok = (digest: string, repo = `${REG}/ext/img`): ResolveResult => ({ ok: true, digest, dockerImageReference: `${repo}@${digest}` });

function ctx(resolved: Record<string, ResolveResult> = {}, streams: ImageStream[] = [], now = T0) {
  return {
    now,
    registry: REG,
    resolved: new Map(Object.entries(resolved)),
    getStream: (ns: string, name: string) => streams.find((s) => s.metadata.namespace === ns && s.metadata.name === name),
  };
}

describe('emulator image import (pure)', () => {
  const dockerSpec = { tags: [{ name: 'latest', from: { kind: 'DockerImage', name: `${REG}/ext/img:latest` } }] };

  it('a new DockerImage spec tag needs resolving; an imported one does not', () => {
    const s = stream('a', dockerSpec);
    expect(dockerTagsToResolve(s, { scheduledDue: false })).toEqual([{ tag: 'latest', ref: `${REG}/ext/img:latest`, insecure: false }]);
    const r = reconcileStream(s, ctx({ latest: ok(D1) }));
    const imported = stream('a', dockerSpec, r.status, r.managed);
    expect(dockerTagsToResolve(imported, { scheduledDue: false })).toEqual([]);
  });

  it('writes the digest, the repository and the managed-tags annotation', () => {
    const r = reconcileStream(stream('a', dockerSpec), ctx({ latest: ok(D1) }));
    expect(r.statusChanged).toBe(true);
    expect(r.annotationChanged).toBe(true);
    expect(r.managed).toEqual({ latest: `DockerImage:${REG}/ext/img:latest` });
    expect(r.status).toEqual({
      dockerImageRepository: `${REG}/ns/a`,
      tags: [{ tag: 'latest', items: [{ created: T0, dockerImageReference: `${REG}/ext/img@${D1}`, image: D1, generation: 1 }] }],
    });
    expect(r.events).toEqual([{ tag: 'latest', kind: 'DockerImage', result: 'imported', image: D1 }]);
  });

  it('an unchanged digest adds no item; a new digest goes first and keeps history', () => {
    const first = reconcileStream(stream('a', dockerSpec), ctx({ latest: ok(D1) }));
    const s1 = stream('a', dockerSpec, first.status, first.managed);
    const same = reconcileStream(s1, ctx({ latest: ok(D1) }, [], T1));
    expect(same.statusChanged).toBe(false);
    expect(same.annotationChanged).toBe(false);
    const next = reconcileStream(s1, ctx({ latest: ok(D2) }, [], T1));
    expect(next.status.tags![0]!.items!.map((i) => i.image)).toEqual([D2, D1]);
  });

  it('a failed import sets ImportSuccess=False, keeps the old items, and is retried', () => {
    const first = reconcileStream(stream('a', dockerSpec), ctx({ latest: ok(D1) }));
    const s1 = stream('a', dockerSpec, first.status, first.managed);
    const failed = reconcileStream(s1, ctx({ latest: { ok: false, reason: 'NotFound', message: 'manifest unknown' } }, [], T1));
    const tag = failed.status.tags![0]!;
    expect(tag.items!.map((i) => i.image)).toEqual([D1]);
    expect(tag.conditions).toEqual([
      { type: 'ImportSuccess', status: 'False', reason: 'NotFound', message: 'manifest unknown', lastTransitionTime: T1, generation: 1 },
    ]);
    const s2 = stream('a', dockerSpec, failed.status, failed.managed);
    expect(dockerTagsToResolve(s2, { scheduledDue: false }).map((t) => t.tag)).toEqual(['latest']);
    // The same failure again changes nothing (lastTransitionTime kept).
    const again = reconcileStream(s2, ctx({ latest: { ok: false, reason: 'NotFound', message: 'manifest unknown' } }, [], '2030-01-01T00:05:00.000Z'));
    expect(again.statusChanged).toBe(false);
    // Success later clears the condition.
    const healed = reconcileStream(s2, ctx({ latest: ok(D2) }, [], T1));
    expect(healed.status.tags![0]!.conditions).toBeUndefined();
    expect(healed.status.tags![0]!.items!.map((i) => i.image)).toEqual([D2, D1]);
  });

  it('a missing image on a new tag gives a tag with no items and a condition', () => {
    const r = reconcileStream(stream('a', dockerSpec), ctx({ latest: { ok: false, reason: 'InternalError', message: 'connection refused' } }));
    expect(r.status.tags).toEqual([
      {
        tag: 'latest',
        items: [],
        conditions: [{ type: 'ImportSuccess', status: 'False', reason: 'InternalError', message: 'connection refused', lastTransitionTime: T0, generation: 1 }],
      },
    ]);
  });

  it('a changed spec tag source is imported again', () => {
    const first = reconcileStream(stream('a', dockerSpec), ctx({ latest: ok(D1) }));
    const moved = { tags: [{ name: 'latest', from: { kind: 'DockerImage', name: `${REG}/ext/other:v2` } }] };
    expect(dockerTagsToResolve(stream('a', moved, first.status, first.managed), { scheduledDue: false })).toHaveLength(1);
  });

  it('scheduled tags are re-resolved when a scheduled round is due', () => {
    const spec = { tags: [{ name: 'latest', from: { kind: 'DockerImage', name: `${REG}/ext/img:latest` }, importPolicy: { scheduled: true } }] };
    const first = reconcileStream(stream('a', spec), ctx({ latest: ok(D1) }));
    const s1 = stream('a', spec, first.status, first.managed);
    expect(dockerTagsToResolve(s1, { scheduledDue: false })).toHaveLength(0);
    expect(dockerTagsToResolve(s1, { scheduledDue: true })).toHaveLength(1);
  });

  it('ImageStreamTag tracking copies the source current item and follows it', () => {
    const src = stream('src', dockerSpec, { tags: [{ tag: 'latest', items: [{ dockerImageReference: `${REG}/ext/img@${D1}`, image: D1 }] }] });
    const trackerSpec = { tags: [{ name: 'latest', from: { kind: 'ImageStreamTag', name: 'src:latest' } }] };
    const r = reconcileStream(stream('t', trackerSpec), ctx({}, [src]));
    expect(r.status.tags).toEqual([{ tag: 'latest', items: [{ created: T0, dockerImageReference: `${REG}/ext/img@${D1}`, image: D1, generation: 1 }] }]);
    expect(r.managed).toEqual({ latest: 'ImageStreamTag:ns/src:latest' });
    const t1 = stream('t', trackerSpec, r.status, r.managed);
    src.status!.tags![0]!.items!.unshift({ dockerImageReference: `${REG}/ext/img@${D2}`, image: D2 });
    const r2 = reconcileStream(t1, ctx({}, [src], T1));
    expect(r2.status.tags![0]!.items!.map((i) => i.image)).toEqual([D2, D1]);
    expect(sourcesOf(t1)).toEqual([{ namespace: 'ns', name: 'src' }]);
  });

  it('a tracked tag with no image leaves the tracking tag with no items and a condition', () => {
    const src = stream('src', { tags: [] }, { tags: [] });
    const trackerSpec = { tags: [{ name: 'latest', from: { kind: 'ImageStreamTag', name: 'src:latest' } }] };
    const prev = { tags: [{ tag: 'latest', items: [{ dockerImageReference: `${REG}/ext/img@${D1}`, image: D1 }] }] };
    const r = reconcileStream(stream('t', trackerSpec, prev, { latest: 'ImageStreamTag:ns/src:latest' }), ctx({}, [src]));
    expect(r.status.tags![0]!.items).toEqual([]);
    expect(r.status.tags![0]!.conditions![0]).toMatchObject({ type: 'ImportSuccess', status: 'False', reason: 'NotFound' });
  });

  it('tracking across namespaces and within the same stream', () => {
    const other = stream('base', undefined, { tags: [{ tag: 'v1', items: [{ dockerImageReference: `x/y@${D1}`, image: D1 }] }] }, undefined, 'other');
    const spec = {
      tags: [
        { name: 'latest', from: { kind: 'ImageStreamTag', name: 'self:stable' } },
        { name: 'stable', from: { kind: 'ImageStreamTag', name: 'base:v1', namespace: 'other' } },
      ],
    };
    const r = reconcileStream(stream('self', spec), ctx({}, [other]));
    const byTag = Object.fromEntries(r.status.tags!.map((t) => [t.tag, t.items!.map((i) => i.image)]));
    expect(byTag).toEqual({ latest: [D1], stable: [D1] });
  });

  it('ImageStreamImage resolves a digest through the source stream history', () => {
    const src = stream('src', undefined, {
      tags: [{ tag: 'latest', items: [{ dockerImageReference: `r/s@${D2}`, image: D2 }, { dockerImageReference: `r/s@${D1}`, image: D1 }] }],
    });
    const spec = { tags: [{ name: 'pinned', from: { kind: 'ImageStreamImage', name: `src@${D1}` } }] };
    const r = reconcileStream(stream('t', spec), ctx({}, [src]));
    expect(r.status.tags![0]!.items![0]).toMatchObject({ dockerImageReference: `r/s@${D1}`, image: D1 });
    const missing = reconcileStream(stream('t', { tags: [{ name: 'pinned', from: { kind: 'ImageStreamImage', name: `src@sha256:${'9'.repeat(64)}` } }] }), ctx({}, [src]));
    expect(missing.status.tags![0]!.conditions![0]).toMatchObject({ reason: 'NotFound' });
  });

  it('a removed spec tag drops its status tag; pushed tags without a spec tag stay', () => {
    const status = {
      tags: [
        { tag: 'latest', items: [{ dockerImageReference: `r/a@${D1}`, image: D1 }] },
        { tag: 'pushed', items: [{ dockerImageReference: `r/a@${D2}`, image: D2 }] },
      ],
    };
    const s = stream('a', { tags: [] }, status, { latest: `DockerImage:${REG}/ext/img:latest` });
    const r = reconcileStream(s, ctx());
    expect(r.status.tags!.map((t) => t.tag)).toEqual(['pushed']);
    expect(r.managed).toEqual({});
    expect(r.events).toEqual([{ tag: 'latest', kind: 'removed', result: 'removed' }]);
  });

  it('a stream with nothing to do changes nothing but the repository once', () => {
    const s = stream('a', undefined);
    const r = reconcileStream(s, ctx());
    expect(r.status).toEqual({ dockerImageRepository: `${REG}/ns/a`, tags: [] });
    const again = reconcileStream(stream('a', undefined, r.status), ctx());
    expect(again.statusChanged).toBe(false);
    expect(again.annotationChanged).toBe(false);
  });

  it('a pushed image becomes the newest item of its tag, once', () => {
    const s = stream('out', undefined, { tags: [{ tag: 'latest', items: [{ dockerImageReference: `${REG}/ns/out@${D1}`, image: D1 }] }] });
    const st = withPushedImage(s, 'latest', D2, REG, T1)!;
    expect(st.tags![0]!.items!.map((i) => i.image)).toEqual([D2, D1]);
    expect(st.tags![0]!.items![0]).toEqual({ created: T1, dockerImageReference: `${REG}/ns/out@${D2}`, image: D2, generation: 1 });
    expect(withPushedImage({ ...s, status: st }, 'latest', D2, REG, T1)).toBeNull();
    const fresh = withPushedImage(stream('out', undefined), 'fp-abc', D1, REG, T0)!;
    expect(fresh.tags).toEqual([{ tag: 'fp-abc', items: [{ created: T0, dockerImageReference: `${REG}/ns/out@${D1}`, image: D1, generation: 1 }] }]);
  });
});
