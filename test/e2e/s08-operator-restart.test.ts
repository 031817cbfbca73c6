// S8 the operator restarts mid-build: it is killed (SIGKILL) while its build
// is Running; a new operator process adopts the running build (no second
// build) and hands its image to the pool.
import { describe, expect, it } from 'vitest';
import { internalRegistryHost, waitFor } from '../harness/cluster.ts';
import { APPLY_COMMAND, builds, ignitionOf } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { events, expectHandOff, handOffSequence, readImageFiles, scenario, waitHandedOff, type E2eOperatorOptions } from './support.ts';

const SLOW: E2eOperatorOptions = { applyCommand: `sleep 12 && ${APPLY_COMMAND}` };
const sc = scenario('s8', { operatorName: 's8-first', operator: SLOW });
const { s, P } = sc;

describe('S8 the operator restarts mid-build', () => {
  it('a new process adopts the running build: no second build, the pool gets its image', async () => {
    const files = { '/etc/layered-demo/motd': 'survived a restart\n' };
    const first = sc.op;
    await sc.createPool(ignitionOf(files));
    const running = await waitFor(async () => (await builds(s.ns, P)).find((b) => b.phase === 'Running'), { what: 'the build Running', timeoutMs: 180_000 });
    expect(first.logs.filter((l) => l.msg === 'build created').map((l) => l.build)).toEqual([running.name]);

    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // The build goes on without an operator.
    expect((await builds(s.ns, P)).map((b) => [b.name, b.phase])).toEqual([[running.name, 'Running']]);

    const second = await sc.startOperator('s8-second', SLOW);
    const st = await waitHandedOff(s.ns, P, () => true, 'the pool Ready after the restart');
    const bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.name, b.phase])).toEqual([[running.name, 'Complete']]);
    const image = `${internalRegistryHost()}/${s.ns}/${poolStreams(P).content}@${bs[0]!.digest}`;
    expect(st.image).toBe(image);
    await expectHandOff(P, image, 'mco-content');
    expect(Object.fromEntries(await readImageFiles(image, Object.keys(files)))).toEqual(files);
    // The second process created nothing: it waited for the build it found.
    expect(second.logs.filter((l) => l.msg === 'build created')).toEqual([]);
    expect((await builds(s.ns, P)).length).toBe(1);

    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted').map((e) => e.message)).toEqual([`pool ${P}: content build ${running.name} started for inputs ${running.fingerprint.slice(0, 10)}: first content build of the pool`]);
    expect(ev.filter((e) => e.reason === 'BuildSucceeded')).toHaveLength(1);
    expect(handOffSequence(ev)).toEqual([['mco-content', image]]);
    expect(second.alive()).toBe(true);
    expect(second.errors()).toEqual([]);
  });
});
