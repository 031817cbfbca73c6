// C1 the operator SIGKILLed at 20 random points across first setup, a
// MachineConfig change, a custom build and the hand-offs, restarted each time.
// Kill points: per stage, a number of kills each at a random time (seeded)
// after the new process logged that it leads, then one kill a random time
// after the stage's Build was observed Complete (the window before the
// hand-off). Checked from outside: one Build per fingerprint, every hand-off
// MachineConfig value (watched for the whole test) names the output of a
// Complete Build, the pool converges after each stage.
import { afterAll, describe, expect, it } from 'vitest';
import { internalRegistryHost, oc, waitFor } from '../harness/cluster.ts';
import { APPLY_COMMAND, builds, ignitionOf, type OperatorProcess } from '../harness/operator.ts';
import { poolBuildConfigs, poolStreams } from '../../src/plan/names.ts';
import { readImageFiles, scenario, waitHandedOff, type E2eOperatorOptions, type LayeredPoolStatus } from '../e2e/support.ts';
import { chaosSeed, duplicateBuilds, printFigures, restoreCluster, seconds, seededRandom, watchHandOffs } from './support.ts';

// Builds take 6 s longer than the stand-in's apply alone, so that several kills (each a restart of a
// few seconds) fall while a Build is New, Pending or Running rather than after its hand-off.
const SLOW: E2eOperatorOptions = { applyCommand: `sleep 6 && ${APPLY_COMMAND}` };
const sc = scenario('c1', { operatorName: 'c1-op-0', operator: SLOW });
const { s, P } = sc;
const SEED = chaosSeed();

afterAll(async () => {
  expect((await restoreCluster()).ready).toBe(true);
});

interface Kill {
  stage: string;
  trigger: string;
  afterMs: number;
  phase: string;
}

describe('C1 operator killed at 20 random points', () => {
  it('0 duplicate Builds per fingerprint, 0 hand-offs of a Build not Complete, the pool converges after every stage', async () => {
    const t0 = Date.now();
    const rng = seededRandom(SEED);
    const kills: Kill[] = [];
    const stageTimes: [string, number][] = [];
    const handoffs = watchHandOffs(s.ns, P);
    let op: OperatorProcess = sc.op;
    let n = 0;

    /** What the operator left when it died: the newest Build of the stage and whether its image is handed off. */
    const phaseNow = async (since: number): Promise<string> => {
      const bs = (await builds(s.ns, P)).filter((b) => Date.parse(b.obj.metadata.creationTimestamp ?? '') >= since - 1000);
      const b = bs.at(-1);
      if (!b) return 'no Build yet';
      if (b.phase !== 'Complete') return `${b.kind} Build ${b.phase}`;
      return handoffs.records.some((r) => r.build === b.name) ? `${b.kind} image handed off` : `${b.kind} Build Complete, not handed off`;
    };
    const killAndRestart = async (stage: string, trigger: string, afterMs: number, since: number) => {
      op.kill('SIGKILL');
      expect((await op.exited).signal).toBe('SIGKILL');
      kills.push({ stage, trigger, afterMs, phase: await phaseNow(since) });
      op = await sc.startOperator(`c1-op-${++n}`, SLOW);
    };
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms)); // the random kill point itself, not a wait for a condition

    /** The newest Build of the stage Complete (kubectl latency aside, seen within 100 ms). */
    const stageComplete = async (since: number) => (await builds(s.ns, P)).some((b) => b.phase === 'Complete' && Date.parse(b.obj.metadata.creationTimestamp ?? '') >= since - 1000);

    // Kills not used in a stage (its Build was Complete before they came) carry over to the next one.
    let budget = 0;
    const stage = async (name: string, timedKills: number, act: () => Promise<unknown>, pred: (st: LayeredPoolStatus) => boolean, last = false) => {
      const since = Date.now();
      budget += timedKills;
      await act();
      // Random times after the new process leads, while the stage's Build is not Complete.
      while (budget > 0 && !(await stageComplete(since))) {
        const afterMs = 100 + Math.floor(rng() * 1400);
        await pause(afterMs);
        await killAndRestart(name, 'random time after leading', afterMs, since);
        budget--;
      }
      // The hand-off window: a random time after this stage's Build was seen Complete.
      await waitFor(() => stageComplete(since), { what: `a Build of stage ${name} Complete`, timeoutMs: 240_000, intervalMs: 100 });
      const afterMs = Math.floor(rng() * 400);
      await pause(afterMs);
      await killAndRestart(name, 'random time after Build Complete', afterMs, since);
      // The last stage takes what is left: random times after the hand-off, before the pool settled.
      while (last && budget > 0) {
        const ms = 100 + Math.floor(rng() * 1400);
        await pause(ms);
        await killAndRestart(name, 'random time after leading', ms, since);
        budget--;
      }
      const st = await waitHandedOff(s.ns, P, pred, `the pool settled after stage ${name}`);
      stageTimes.push([name, Date.now() - since]);
      return st;
    };

    const files1 = { '/etc/chaos/motd': 'kills one\n' };
    const files2 = { '/etc/chaos/motd': 'kills two\n' };
    const first = await stage('first setup', 6, () => sc.createPool(ignitionOf(files1)), (st) => st.imageSource === 'mco-content');
    const second = await stage('config change', 6, () => sc.setConfig(ignitionOf(files2)), (st) => st.imageSource === 'mco-content' && st.image !== first.image);
    const bcName = poolBuildConfigs(P).custom;
    const dockerfile = `FROM ${P}-mco-content:latest\nRUN sleep 6 && echo chaos > /etc/chaos-custom\n`;
    const third = await stage(
      'custom build',
      5,
      () => oc(['patch', '-n', s.ns, `bc/${bcName}`, '--type', 'merge', '-p', JSON.stringify({ spec: { source: { dockerfile } } })]),
      (st) => st.imageSource === 'custom',
      true,
    );
    await handoffs.stop();

    const bs = await builds(s.ns, P);
    const dups = duplicateBuilds(bs);
    const bad = handoffs.notComplete();
    printFigures('C1 operator SIGKILLed at random points', [
      ['seed (LBC_CHAOS_SEED)', SEED],
      ['kills', kills.length],
      ...[...Map.groupBy(kills, (k) => k.phase)].map(([phase, ks]) => [`kills at: ${phase}`, ks.length] as const),
      ...kills.map((k, i) => [`kill ${String(i + 1).padStart(2)} ${k.stage}`, `${k.trigger} +${k.afterMs} ms: ${k.phase}`] as const),
      ['Builds', bs.map((b) => `${b.kind}:${b.phase}`).join(' ')],
      ['duplicate Builds per fingerprint', dups.length],
      ['hand-offs seen', handoffs.records.length],
      ['hand-offs of a Build not Complete', bad.length],
      ...stageTimes.map(([k, ms]) => [`time ${k}`, seconds(ms)] as const),
      ['time in all', seconds(Date.now() - t0)],
    ]);

    expect(kills).toHaveLength(20);
    expect(dups).toEqual([]);
    expect(bad).toEqual([]);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['content', 'Complete'],
      ['custom', 'Complete'],
    ]);
    // Every hand-off seen is one of the three images, in order (a kill may make the operator write the same one again, never another).
    const images = bs.map((b) => `${internalRegistryHost()}/${s.ns}/${b.kind === 'custom' ? poolStreams(P).custom : poolStreams(P).content}@${b.digest}`);
    expect([first.image, second.image, third.image]).toEqual(images);
    expect([...new Set(handoffs.records.map((r) => r.image))]).toEqual(images);
    expect(Object.fromEntries(await readImageFiles(third.image!, ['/etc/chaos/motd', '/etc/chaos-custom']))).toEqual({ '/etc/chaos/motd': 'kills two\n', '/etc/chaos-custom': 'chaos\n' });
    expect(op.alive()).toBe(true);
  });
});
