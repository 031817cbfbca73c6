// S8 the operator restarts mid-build: it is killed (SIGKILL) while its build
// is Running; a new operator process adopts the running build (no second
// build) and hands its image to the pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Operator, OperatorOptions, Scope } from './support.ts';
import {
  ANN_CONFIG,
  ANN_IMAGE,
  ANN_SOURCE,
  APPLY_COMMAND,
  Operator as Op,
  builds,
  cleanup,
  createMachineConfig,
  createPool,
  ensureNamespace,
  events,
  ignitionOf,
  poolAnnotations,
  readImageFiles,
  registryHost,
  scope,
  settled,
  sleep,
  streams,
  sweepLeftovers,
  waitFor,
  waitStatus,
} from './support.ts';

let s: Scope;
let opts: OperatorOptions;
let first: Operator;
let second: Operator | undefined;
let P: string;
let MC: string;

beforeAll(async () => {
  await sweepLeftovers();
  s = scope('s8');
  P = `e2e-${s.id}`;
  MC = `rendered-e2e-${s.id}-1`;
  await ensureNamespace(s.ns);
  opts = { scope: s, applyCommand: `sleep 12 && ${APPLY_COMMAND}` };
  first = await Op.start('s8-first', opts);
});

afterAll(async () => {
  await first?.stop();
  await second?.stop();
  if (s) await cleanup(s, [P], [MC]);
});

describe('S8 the operator restarts mid-build', () => {
  it('a new process adopts the running build: no second build, the pool gets its image', async () => {
    const files = { '/etc/layered-demo/motd': 'survived a restart\n' };
    await createMachineConfig(MC, ignitionOf(files));
    await createPool(P, s, MC);
    const running = await waitFor(async () => (await builds(s.ns, P)).find((b) => b.phase === 'Running'), { what: 'the build Running', timeoutMs: 180_000 });
    expect(first.logLines().filter((l) => l.msg === 'build created').map((l) => l.build)).toEqual([running.name]);

    await first.kill();
    expect(first.exitStatus()?.signal).toBe('SIGKILL');
    // The build goes on without an operator.
    expect((await builds(s.ns, P)).map((b) => [b.name, b.phase])).toEqual([[running.name, 'Running']]);

    second = await Op.start('s8-second', opts);
    const st = await waitStatus(s.ns, P, settled, 'the pool Ready after the restart');
    const bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.name, b.phase])).toEqual([[running.name, 'Complete']]);
    const image = `${registryHost()}/${s.ns}/${streams(P).content}@${bs[0]!.digest}`;
    expect(st.image).toBe(image);
    expect(await poolAnnotations(P)).toEqual({ [ANN_IMAGE]: image, [ANN_CONFIG]: MC, [ANN_SOURCE]: 'mco-content' });
    expect(Object.fromEntries(await readImageFiles(image, Object.keys(files)))).toEqual(files);
    // The second process created nothing: it waited for the build it found.
    expect(second.logLines().filter((l) => l.msg === 'build created')).toEqual([]);
    await sleep(3000);
    expect((await builds(s.ns, P)).length).toBe(1);

    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted').map((e) => e.message)).toEqual([`pool ${P}: content build ${running.name} started for inputs ${running.fingerprint.slice(0, 10)}`]);
    expect(ev.filter((e) => e.reason === 'BuildSucceeded')).toHaveLength(1);
    expect(ev.filter((e) => e.reason === 'ImageHandedOff')).toHaveLength(1);
    expect(second.alive()).toBe(true);
    expect(second.errors()).toEqual([]);
  });
});
