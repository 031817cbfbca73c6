// `layered-build-controller render`: the dry run an admin reads. Against the
// real API server it prints every object the operator would write for a pool,
// the push, and the Dockerfile, and writes nothing.
import { execFile } from 'node:child_process';
import path from 'node:path';
import * as yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, kubectl, listJson } from '../harness/cluster.ts';
import { ROOT, makePool, nodeBinary, uniqueName, type TestPool } from '../harness/operator.ts';
import { poolBuildConfigs, poolStreams } from '../../src/plan/names.ts';

const ns = uniqueName('lbc-render');
const optInLabel = `test.layering.mco.dev/${ns}`;
let pool: TestPool | undefined;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(nodeBinary(), [path.join(ROOT, 'src', 'cli.ts'), ...args], { cwd: ROOT, env: { ...process.env, KUBECONFIG: clusterEnv().KUBECONFIG } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  await kubectl(['create', 'namespace', ns]);
  pool = await makePool({ optInLabel });
}, 60_000);

afterAll(async () => {
  await pool?.cleanup();
  await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
}, 60_000);

describe('render', () => {
  it('prints every object, the push and the Dockerfile for a new pool, and writes nothing', async () => {
    const r = await cli(['render', '--pool', pool!.pool, '--namespace', ns, '--opt-in-label', optInLabel, '--registry', clusterEnv().LOCAL_REGISTRY, '--registry-insecure']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`# pool ${pool!.pool}: managed`);
    // The push is by tag (the integrated registry records a push only by tag).
    expect(r.stdout).toMatch(new RegExp(`^# push rendered-config image ${clusterEnv().LOCAL_REGISTRY}/${ns}/${pool!.pool}-rendered-config@sha256:([0-9a-f]{64}) \\(\\d+ bytes\\) for ${pool!.machineConfig}, by tag: sha256-\\1, latest$`, 'm'));
    // Every document parses as YAML; the objects are the seven streams, the custom BuildConfig and the status object
    // (the content BuildConfig is written once its Dockerfile is known: the base and the rendered config resolved).
    const docs = yaml.loadAll(r.stdout.replace(/\n---\n# Dockerfile of the content build:[\s\S]*$/, '\n')) as { kind?: string; metadata?: { name: string } }[];
    const names = docs.filter((d) => d?.kind).map((d) => `${d.kind}/${d.metadata!.name}`).sort();
    const S = poolStreams(pool!.pool);
    const B = poolBuildConfigs(pool!.pool);
    expect(names).toEqual(
      [
        'ImageStream/coreos',
        ...Object.values(S).map((s) => `ImageStream/${s}`),
        `BuildConfig/${B.custom}`,
        `LayeredPool/${pool!.pool}`,
      ].sort(),
    );
    for (const s of Object.values(S)) expect(r.stdout).toContain(`# ImageStream ${s}: server-side apply: WOULD CHANGE`);
    expect(r.stdout).toContain(`# BuildConfig ${B.custom}: create if absent: WOULD CREATE`);
    // Nothing was written.
    expect(await listJson(['imagestreams', '-n', ns])).toEqual([]);
    expect(await listJson(['buildconfigs', '-n', ns])).toEqual([]);
  });

  it('refuses a bad setting with a message naming it (exit 2)', async () => {
    const r = await cli(['render', '--pool', 'x', '--namespace', 'Not_A_Namespace']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--namespace / LBC_NAMESPACE = "Not_A_Namespace": must be a DNS-1123 label');
    expect(r.stdout).toBe('');
  });
});

describe('commands that name a pool the operator does not manage', () => {
  // The pool exists, opted in with this file's label; under another label the operator does not manage it.
  const other = ['--opt-in-label', 'test.layering.mco.dev/not-this-one'];
  const oneLine = (r: { stderr: string }) => r.stderr.trimEnd().split('\n');

  it('render, prune --pool, status --pool, status --explain and rollback: exit 2, naming the opt-in label and the command that adds it', async () => {
    const want = `MachineConfigPool "${pool!.pool}" is not managed by this operator: it has no label test.layering.mco.dev/not-this-one (to opt it in: oc label mcp/${pool!.pool} test.layering.mco.dev/not-this-one=)`;
    for (const args of [
      ['render', '--pool', pool!.pool, '--namespace', ns, ...other],
      ['prune', '--dry-run', '--pool', pool!.pool, '--namespace', ns, ...other],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneLine(r)).toEqual([`layered-build-controller: ${want}`]);
      expect(r.stdout).toBe('');
    }
    for (const args of [
      ['status', '--pool', pool!.pool, '-n', ns],
      ['status', '--explain', pool!.pool, '-n', ns],
      ['rollback', '--pool', pool!.pool, '-n', ns],
    ]) {
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(nodeBinary(), [path.join(ROOT, 'src', 'cli.ts'), ...args], { cwd: ROOT, env: { ...process.env, KUBECONFIG: clusterEnv().KUBECONFIG, LBC_OPT_IN_LABEL: 'test.layering.mco.dev/not-this-one' } }, (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
        });
      });
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneLine(r)).toEqual([`layered-build-controller: ${want}`]);
    }
  });

  it('a pool that does not exist, and render without --pool: exit 2, one line', async () => {
    for (const args of [
      ['status', '--explain', 'no-such-pool-x', '-n', ns],
      ['render', '--pool', 'no-such-pool-x', '--namespace', ns],
      ['rollback', '--pool', 'no-such-pool-x', '-n', ns],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneLine(r)).toHaveLength(1);
      expect(r.stderr).toMatch(/^layered-build-controller: MachineConfigPool "no-such-pool-x" does not exist/);
    }
    const r = await cli(['render']);
    expect(r.code).toBe(2);
    expect(oneLine(r)).toEqual(["layered-build-controller: required option '--pool <name>' not specified (see --help)"]);
    expect(r.stdout).toBe('');
  });
});
