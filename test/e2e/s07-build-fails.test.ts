// S7 a build fails: the pool keeps its previous image (the hand-off
// MachineConfig is not touched), the pool is Building with "attempt k of N
// failed ..., retrying at ..." while attempts are left and Degraded BuildFailed
// with the build's log excerpt after the last of --retry-limit attempts (N in
// all); a rebuild request gives the inputs a new round of attempts, and new
// inputs clear it.
//
// The failure is a real one: a MachineConfig with a file owned by a user the
// image does not have is valid Ignition (MCC renders it, the operator's checks
// pass it), but the real Ignition, run as ignition-apply in the build, fails
// on it ("no such user"). (An https source that cannot be fetched is no good
// failure: the real Ignition retries it for ever, the build never ends.)
import { describe, expect, it } from 'vitest';
import { oc, waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf } from '../harness/operator.ts';
import { ANNOTATION_REBUILD, ANNOTATION_REBUILD_TOKEN } from '../../src/plan/names.ts';
import { cond, events, expectHandOff, handOff, handedOffImage, readImageFiles, scenario, status, waitHandedOff, waitStatus, type LayeredPoolStatus } from './support.ts';

const RETRY_LIMIT = 2;
const BACKOFF_MS = 15_000; // long enough to observe Building between the attempts under load (5 s was missed in a CI-style run)

const sc = scenario('s7', { operator: { args: ['--retry-limit', String(RETRY_LIMIT), '--retry-backoff-ms', String(BACKOFF_MS)] } });
const { s, P } = sc;

const gaveUp = (x: LayeredPoolStatus) => cond(x, 'Degraded')?.reason === 'BuildFailed' && /gave up after/.test(cond(x, 'Degraded')!.message);

describe('S7 a build fails', () => {
  it('keeps the previous image, Degraded BuildFailed with the log after the last attempt, bounded retries, cleared by new inputs', async () => {
    const first = await sc.firstImage({ '/etc/layered-demo/motd': 'good\n' });
    const good = first.image!;
    // The hand-off MachineConfig and the annotations keep the good image (tolerating a
    // deletion by an older operator elsewhere on the shared cluster, see README).
    const keepsGood = async () => {
      await waitFor(async () => (await handedOffImage(P)) === good, { what: `the hand-off still ${good}`, timeoutMs: 30_000 });
      expect((await handOff(P)).annotations['machineconfiguration.openshift.io/newestImage']).toBe(good);
    };

    const broken = {
      ignition: { version: '3.4.0' },
      storage: { files: [{ path: '/etc/layered-demo/motd', mode: 420, user: { name: 's7-nobody' }, contents: { source: 'data:,broken%0A' } }] },
    };
    // The real Ignition's last line ends so; the quoted log may shorten the middle of a long line.
    const refused = 'user "s7-nobody" not found';
    await sc.setConfig(broken);
    // Between attempts: Building, not Degraded, saying which attempt failed and when the next starts.
    const between = await waitStatus(s.ns, P, (x) => /build attempt 1 of 2 failed: .*retrying at /s.test(cond(x, 'Building')?.message ?? ''), 'Building after the first failed attempt');
    expect(cond(between, 'Building')!.status).toBe('True');
    expect(cond(between, 'Degraded')!.status).toBe('False');
    const st = await waitStatus(s.ns, P, gaveUp, 'the pool Degraded after the last attempt');

    const failed = (await builds(s.ns, P)).slice(1);
    expect(failed).toHaveLength(RETRY_LIMIT);
    const fp = failed[0]!.fingerprint;
    expect(failed.map((b) => [b.name, b.phase, b.fingerprint])).toEqual(failed.map((_, i) => [`${P}-build-mco-content-${fp.slice(0, 10)}-${i + 1}`, 'Failed', fp]));
    // What the admin reads: `oc logs build/<name>` (the build pod's log, through builds/log).
    for (const b of failed) {
      const log = await oc(['logs', `build/${b.name}`, '-n', s.ns]);
      expect(log.stdout, b.name).toContain(refused);
    }
    // Each retry waited for its backoff after the previous failure (timestamps have one-second resolution).
    for (let i = 1; i < failed.length; i++) {
      const failedAt = Date.parse((failed[i - 1]!.obj.status as { completionTimestamp: string }).completionTimestamp);
      const next = Date.parse(failed[i]!.obj.metadata.creationTimestamp!);
      expect(next).toBeGreaterThanOrEqual(failedAt + BACKOFF_MS * 2 ** (i - 1) - 1000);
    }

    // The pool keeps its good image; the status says why and what to do.
    await keepsGood();
    expect(st.phase).toBe('Degraded');
    expect(st.image).toBe(good);
    const last = failed[failed.length - 1]!;
    const degraded = cond(st, 'Degraded')!;
    expect(degraded.status).toBe('True');
    expect(degraded.message).toContain(`content build ${last.name} failed (${last.reason}`);
    expect(degraded.message).toContain(`gave up after ${RETRY_LIMIT} of ${RETRY_LIMIT} attempts`);
    expect(degraded.message).toContain(ANNOTATION_REBUILD);
    // The log excerpt comes from the Build's status.logSnippet, which the real OCM copies from the
    // build pod's termination message, but not always (seen missing on some failed Builds here):
    // when the Build has one, the message quotes it.
    const lastNow = (await builds(s.ns, P)).find((b) => b.name === last.name)!;
    if (lastNow.logSnippet) {
      const quoted = await waitStatus(s.ns, P, (x) => gaveUp(x) && cond(x, 'Degraded')!.message.includes('last lines of its log:'), 'the Degraded message quoting the log');
      expect(cond(quoted, 'Degraded')!.message).toContain(refused);
    }
    expect(cond(st, 'Ready')).toMatchObject({ status: 'False', reason: 'BuildFailed' });
    expect(cond(st, 'Building')).toMatchObject({ status: 'False' });
    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildFailed').map((e) => [e.type, e.message])).toEqual(failed.map((b) => ['Warning', `pool ${P}: content build ${b.name} failed`]));

    // A rebuild request (an annotation on the pool) gives the same inputs a new
    // round of attempts, bounded the same way, recorded on each Build.
    await oc(['annotate', 'machineconfigpool', P, `${ANNOTATION_REBUILD}=e2e-try-2`]);
    await waitFor(
      async () => {
        const again = (await builds(s.ns, P)).slice(1 + failed.length);
        return again.length === RETRY_LIMIT && again.every((b) => b.phase === 'Failed');
      },
      { what: 'a second round of attempts after the rebuild request', timeoutMs: 240_000, intervalMs: 1000 },
    );
    const again = await waitStatus(s.ns, P, (x) => gaveUp(x) && cond(x, 'Degraded')!.message.includes(`-${2 * RETRY_LIMIT} failed`), 'Degraded after the second round');
    const round2 = (await builds(s.ns, P)).slice(1 + failed.length);
    expect(round2.map((b) => [b.name, b.phase, b.obj.metadata.annotations?.[ANNOTATION_REBUILD_TOKEN]])).toEqual(
      round2.map((_, i) => [`${P}-build-mco-content-${fp.slice(0, 10)}-${RETRY_LIMIT + 1 + i}`, 'Failed', 'e2e-try-2']),
    );
    expect(cond(again, 'Degraded')!.message).toContain(`gave up after ${RETRY_LIMIT} of ${RETRY_LIMIT} attempts`);
    await keepsGood();
    // No further attempt after giving up: the second round's names follow the first's
    // directly, and (below) the fixed config's build follows the second round directly.
    expect((await builds(s.ns, P)).length).toBe(1 + 2 * RETRY_LIMIT);
    failed.push(...round2);

    // New inputs (the admin fixes the MachineConfig) clear it.
    const fixed = { '/etc/layered-demo/motd': 'fixed\n' };
    await sc.setConfig(ignitionOf(fixed));
    const ok = await waitHandedOff(s.ns, P, (x) => x.image !== good, 'the pool Ready on the fixed config');
    expect(cond(ok, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    const all = await builds(s.ns, P);
    expect(all.map((b) => b.phase)).toEqual(['Complete', ...failed.map(() => 'Failed'), 'Complete']);
    await expectHandOff(P, ok.image, 'mco-content');
    expect(Object.fromEntries(await readImageFiles(ok.image!, Object.keys(fixed)))).toEqual(fixed);
    expect((await status(s.ns, P)).phase).toBe('Ready');
    expect(sc.op.alive()).toBe(true);
  });
});
