// The Builds the reconciler created and its cache does not show yet are
// planned with (so a lagging builds informer cannot make it start the next
// attempt of the same inputs), until the cache has them or they expire.
import { describe, expect, it } from 'vitest';
import { PENDING_BUILD_TTL_MS, withPendingBuilds } from '../../src/controller/reconciler.ts';
import type { Build } from '../../src/kube/types.ts';
import { ANNOTATION_POOL } from '../../src/plan/names.ts';

function build(name: string, pool: string, ns = 'lbc'): Build {
  return { apiVersion: 'build.openshift.io/v1', kind: 'Build', metadata: { name, namespace: ns, annotations: { [ANNOTATION_POOL]: pool } } } as Build;
}

describe('withPendingBuilds', () => {
  it('adds a created Build of the pool the cache lacks, and keeps it pending', () => {
    const pending = new Map([['lbc/w-1', { build: build('w-1', 'worker'), at: 1000 }]]);
    expect(withPendingBuilds(pending, 'worker', [], 2000).map((b) => b.metadata.name)).toEqual(['w-1']);
    expect([...pending.keys()]).toEqual(['lbc/w-1']);
  });

  it("leaves other pools' pending Builds out", () => {
    const pending = new Map([['lbc/i-1', { build: build('i-1', 'infra'), at: 1000 }]]);
    expect(withPendingBuilds(pending, 'worker', [build('w-0', 'worker')], 2000).map((b) => b.metadata.name)).toEqual(['w-0']);
    expect(pending.size).toBe(1);
  });

  it('drops the entry once the cache shows the Build (the cached object wins)', () => {
    const cached = { ...build('w-1', 'worker'), status: { phase: 'Running' } } as Build;
    const pending = new Map([['lbc/w-1', { build: build('w-1', 'worker'), at: 1000 }]]);
    const out = withPendingBuilds(pending, 'worker', [cached], 2000);
    expect(out).toEqual([cached]);
    expect(pending.size).toBe(0);
  });

  it('drops an entry older than the TTL (the Build is believed deleted)', () => {
    const pending = new Map([['lbc/w-1', { build: build('w-1', 'worker'), at: 1000 }]]);
    expect(withPendingBuilds(pending, 'worker', [], 1000 + PENDING_BUILD_TTL_MS + 1)).toEqual([]);
    expect(pending.size).toBe(0);
  });

  it('tells namespaces apart', () => {
    const pending = new Map([['b/w-1', { build: build('w-1', 'worker', 'b'), at: 1000 }]]);
    expect(withPendingBuilds(pending, 'worker', [build('w-1', 'worker', 'a')], 2000).map((b) => b.metadata.namespace)).toEqual(['a', 'b']);
  });
});
