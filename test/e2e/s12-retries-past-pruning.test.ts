// S12 one fingerprint retried past OpenShift's build history limit: the apply
// command fails in every build, --retry-limit 3, then one rebuild request:
// 6 attempts in all, one more than failedBuildsHistoryLimit (5) failed Builds,
// so the real OCM prunes the oldest (the fewest that show the rule). Retries stay bounded (exactly 3 per
// round), attempt names stay unique (never reused after pruning), no
// AlreadyExists/409 loop, and the status keeps counting (buildAttempts).
import { describe, expect, it } from 'vitest';
import { oc, waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf } from '../harness/operator.ts';
import { ANNOTATION_REBUILD, ANNOTATION_REBUILD_TOKEN } from '../../src/plan/names.ts';
import { cond, scenario, status, waitStatus, type LayeredPoolStatus } from './support.ts';

const LIMIT = 3;
const sc = scenario('s12', { operator: { applyCommand: 'false', args: ['--retry-limit', String(LIMIT), '--retry-backoff-ms', '1000'] } });
const { s, P } = sc;

type Attempts = { kind: string; fingerprint: string; lastAttempt: number; rebuildToken: string; failedBuilds: string[] };
const attemptsOf = (x: LayeredPoolStatus) => ([] as Attempts[]).concat((x.buildAttempts as Attempts[] | Attempts | undefined) ?? []).find((a) => a.kind === 'content');

describe('S12 retries past the build history limit', () => {
  it('6 attempts in 2 bounded rounds, unique names after pruning, the status keeps counting', async () => {
    // Every Build seen, by name: its rebuild token and last phase (pruned ones stay here).
    const seen = new Map<string, { token: string | undefined; phase: string }>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const b of await builds(s.ns, P)) seen.set(b.name, { token: b.obj.metadata.annotations?.[ANNOTATION_REBUILD_TOKEN], phase: b.phase });
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const gaveUpAt = (n: number) => (x: LayeredPoolStatus) => cond(x, 'Degraded')?.reason === 'BuildFailed' && /gave up after 3 of 3 attempts/.test(cond(x, 'Degraded')!.message) && cond(x, 'Degraded')!.message.includes(`-${n} failed`);
    try {
      await sc.createPool(ignitionOf({ '/etc/layered-demo/motd': 'S12\n' }));
      const r1 = await waitStatus(s.ns, P, gaveUpAt(3), 'round 1 given up', 300_000);
      expect(attemptsOf(r1)).toMatchObject({ lastAttempt: 3 });
      for (const [i, token] of [[6, 'r2']] as const) {
        await oc(['annotate', 'machineconfigpool', P, `${ANNOTATION_REBUILD}=${token}`, '--overwrite']);
        const st = await waitStatus(s.ns, P, gaveUpAt(i), `round ${token} given up`, 300_000);
        expect(attemptsOf(st)).toMatchObject({ lastAttempt: i, rebuildToken: token });
        expect(attemptsOf(st)!.failedBuilds).toHaveLength(LIMIT);
      }
      // OCM prunes to failedBuildsHistoryLimit: wait until it has.
      await waitFor(async () => (await builds(s.ns, P)).length <= 5, { what: 'OCM pruning the failed Builds to 5', timeoutMs: 60_000 });
    } finally {
      watching = false;
      await watch;
    }
    // The last phases as they are now (the poll above may have ended on a read from before the last Build failed).
    for (const b of await builds(s.ns, P)) seen.set(b.name, { token: b.obj.metadata.annotations?.[ANNOTATION_REBUILD_TOKEN], phase: b.phase });
    const fp = (await builds(s.ns, P))[0]!.fingerprint;
    const names = [...seen.keys()].sort((a, b) => Number(a.split('-').at(-1)) - Number(b.split('-').at(-1)));
    expect(names).toEqual(Array.from({ length: 6 }, (_, i) => `${P}-build-mco-content-${fp.slice(0, 10)}-${i + 1}`));
    expect(names.map((n) => seen.get(n)!.phase)).toEqual(names.map(() => 'Failed'));
    // Exactly 3 per round, by the rebuild token each Build carries.
    const perToken = new Map<string, number>();
    for (const n of names) perToken.set(seen.get(n)!.token ?? '', (perToken.get(seen.get(n)!.token ?? '') ?? 0) + 1);
    expect([...perToken.values()]).toEqual([3, 3]);
    expect([...perToken.keys()].slice(1)).toEqual(['r2']);
    // Pruned: only the newest 5 remain.
    const left = (await builds(s.ns, P)).map((b) => b.name);
    expect(left).toEqual(names.slice(1));
    // No create loop: no AlreadyExists/409 in the operator's log, and no seventh attempt.
    // \b409\b: not a random port such as 40927 in a URL the operator logs.
    const conflicts = sc.op.logs.filter((l) => /AlreadyExists|\b409\b|already exists/i.test(JSON.stringify(l)));
    expect(conflicts).toEqual([]);
    const final = await status(s.ns, P);
    expect(attemptsOf(final)).toMatchObject({ lastAttempt: 6, rebuildToken: 'r2' });
    // history is newest first; it keeps the pruned attempts too.
    expect(final.history!.filter((h) => h.result === 'Failed').map((h) => h.build).slice(0, 3)).toEqual(names.slice(3).reverse());
    console.log(`S12: seen ${names.length} attempts, ${left.length} left after pruning; history ${final.history!.length} entries`);
    expect(sc.op.alive()).toBe(true);
  });
});
