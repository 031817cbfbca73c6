// S7 a build fails: the pool keeps its previous image, the status is Degraded
// with reason BuildFailed and the build's log excerpt, the attempts are bounded
// by --retry-limit (+1 first attempt), a rebuild request gives the inputs a
// new round of attempts, and new inputs clear it.
//
// The failure is a real one: a rendered config whose file source is not a
// data: URL passes the operator's checks, but the CoreOS stand-in's
// ignition-apply refuses it inside the build.
import { describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../harness/cluster.ts';
import { builds, createMachineConfig, handOffAnnotations, ignitionOf, poolAnnotations } from '../harness/operator.ts';
import { ANNOTATION_REBUILD, ANNOTATION_REBUILD_TOKEN } from '../../src/plan/names.ts';
import { cond, events, readImageFiles, scenario, setRenderedConfig, settled, sleep, status, waitStatus } from './support.ts';

const RETRY_LIMIT = 2;
const BACKOFF_MS = 2000;

const sc = scenario('s7', { machineConfigs: 3, operator: { args: ['--retry-limit', String(RETRY_LIMIT), '--retry-backoff-ms', String(BACKOFF_MS)] } });
const { s, P } = sc;
const [MC1, MC2, MC3] = sc.machineConfigs as [string, string, string];

describe('S7 a build fails', () => {
  it('keeps the previous image, Degraded BuildFailed with the log, bounded retries, cleared by new inputs', async () => {
    const good = (await sc.firstImage({ '/etc/layered-demo/motd': 'good\n' })).image!;

    const broken = {
      ignition: { version: '3.4.0' },
      storage: { files: [{ path: '/etc/layered-demo/motd', mode: 420, contents: { source: 'https://example.invalid/motd' } }] },
    };
    await createMachineConfig(MC2, broken);
    await setRenderedConfig(P, MC2);
    const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'BuildFailed' && /gave up after/.test(cond(x, 'Degraded')!.message), 'the pool Degraded after the last attempt');

    const failed = (await builds(s.ns, P)).slice(1);
    expect(failed).toHaveLength(RETRY_LIMIT + 1);
    const fp = failed[0]!.fingerprint;
    expect(failed.map((b) => [b.name, b.phase, b.reason, b.fingerprint])).toEqual(
      failed.map((_, i) => [`${P}-build-mco-content-${fp.slice(0, 10)}-${i + 1}`, 'Failed', 'DockerBuildFailed', fp]),
    );
    for (const b of failed) expect(b.logSnippet).toContain('ignition-apply: /etc/layered-demo/motd: unsupported source "https://example.invalid/motd"');
    // Each retry waited for its backoff (doubling) after the previous failure
    // (creation timestamps have one-second resolution).
    for (let i = 1; i < failed.length; i++) {
      const failedAt = Date.parse((failed[i - 1]!.obj.status as { completionTimestamp: string }).completionTimestamp);
      const next = Date.parse(failed[i]!.obj.metadata.creationTimestamp!);
      expect(next).toBeGreaterThanOrEqual(failedAt + BACKOFF_MS * 2 ** (i - 1) - 1000);
    }

    // The pool keeps its good image; the status says why and what to do.
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(good, MC1, 'mco-content'));
    expect(st.phase).toBe('Degraded');
    expect(st.image).toBe(good);
    const last = failed[failed.length - 1]!;
    const degraded = cond(st, 'Degraded')!;
    expect(degraded.status).toBe('True');
    expect(degraded.message).toContain(`content build ${last.name} failed (DockerBuildFailed`);
    expect(degraded.message).toContain(`gave up after ${RETRY_LIMIT + 1} attempts`);
    expect(degraded.message).toContain(ANNOTATION_REBUILD);
    expect(degraded.message).toContain('last lines of its log:');
    expect(degraded.message).toContain('ignition-apply: /etc/layered-demo/motd: unsupported source "https://example.invalid/motd" (only data: URLs)');
    expect(cond(st, 'Ready')).toMatchObject({ status: 'False', reason: 'BuildFailed' });
    expect(cond(st, 'Ready')!.message).toContain(`the pool keeps ${good}`);
    expect(cond(st, 'Building')).toMatchObject({ status: 'False' });
    // No further attempt after giving up.
    await sleep(BACKOFF_MS * 2 ** RETRY_LIMIT + 2000);
    expect((await builds(s.ns, P)).length).toBe(RETRY_LIMIT + 2);
    expect((await status(s.ns, P)).phase).toBe('Degraded');
    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildFailed').map((e) => [e.type, e.message])).toEqual(
      failed.map((b) => ['Warning', `pool ${P}: content build ${b.name} failed`]),
    );

    // A rebuild request (an annotation on the pool) gives the same inputs a new
    // round of attempts, bounded the same way, recorded on each Build.
    await kubectl(['annotate', 'machineconfigpool', P, `${ANNOTATION_REBUILD}=e2e-try-2`]);
    await waitFor(
      async () => {
        const again = (await builds(s.ns, P)).slice(1 + failed.length);
        return again.length === RETRY_LIMIT + 1 && again.every((b) => b.phase === 'Failed');
      },
      { what: 'a second round of attempts after the rebuild request', timeoutMs: 240_000, intervalMs: 1000 },
    );
    const again = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'BuildFailed' && cond(x, 'Degraded')!.message.includes(`-${2 * (RETRY_LIMIT + 1)} failed`), 'Degraded after the second round');
    const round2 = (await builds(s.ns, P)).slice(1 + failed.length);
    expect(round2.map((b) => [b.name, b.phase, b.obj.metadata.annotations?.[ANNOTATION_REBUILD_TOKEN]])).toEqual(
      round2.map((_, i) => [`${P}-build-mco-content-${fp.slice(0, 10)}-${RETRY_LIMIT + 2 + i}`, 'Failed', 'e2e-try-2']),
    );
    expect(cond(again, 'Degraded')!.message).toContain(`gave up after ${RETRY_LIMIT + 1} attempts`);
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(good, MC1, 'mco-content'));
    await sleep(BACKOFF_MS * 2 ** RETRY_LIMIT + 2000);
    expect((await builds(s.ns, P)).length).toBe(1 + 2 * (RETRY_LIMIT + 1));
    failed.push(...round2);

    // New inputs (the render controller's fixed config) clear it.
    const fixed = { '/etc/layered-demo/motd': 'fixed\n' };
    await createMachineConfig(MC3, ignitionOf(fixed));
    await setRenderedConfig(P, MC3);
    const ok = await waitStatus(s.ns, P, (x) => settled(x) && x.renderedConfig === MC3, 'the pool Ready on the fixed config');
    expect(ok.image).not.toBe(good);
    expect(cond(ok, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    const all = await builds(s.ns, P);
    expect(all.map((b) => b.phase)).toEqual(['Complete', ...failed.map(() => 'Failed'), 'Complete']);
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(ok.image, MC3, 'mco-content'));
    expect(Object.fromEntries(await readImageFiles(ok.image!, Object.keys(fixed)))).toEqual(fixed);
    expect(sc.op.alive()).toBe(true);
  });
});
