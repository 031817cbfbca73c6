// Issue 11 in the planner: retries that read right, escaped user values,
// wrong-shape push secrets and a removed base OS image reported by name.
import { describe, expect, it } from 'vitest';
import { pushSecretProblem } from '../../src/registry/auth.ts';
import { rows, formatTable } from '../../src/status/table.ts';
import { escapeText, quote } from '../../src/util/escape.ts';
import { World, machineConfig, pool } from './plan-world.ts';

const P = 'worker';
function setup(w: World): void {
  w.machineConfigs.set('rendered-worker-1', machineConfig('rendered-worker-1'));
  w.pools.set(P, pool(P, { rendered: 'rendered-worker-1' }));
}
const cond = (w: World, type: string) => w.statuses.get(P)!.status!.conditions!.find((c) => c.type === type)!;

describe('--retry-limit N: N attempts in all, Degraded only after the last', () => {
  it('is Building "attempt k of N failed: <reason>, retrying at <time>" between attempts, Degraded after the Nth', () => {
    const w = new World({ debounceMs: 0, retryLimit: 2, retryBackoffMs: 60_000 });
    setup(w);
    w.outcome = () => 'fail';
    // Until the first failure is seen and the backoff starts.
    for (let i = 0; i < 60 && !w.buildsOf('content').some((b) => b.status?.phase === 'Failed'); i++) w.step(1000);
    w.step(1000);
    const st = w.statuses.get(P)!.status!;
    expect(st.phase).toBe('Building');
    expect(cond(w, 'Degraded').status).toBe('False');
    const building = cond(w, 'Building');
    expect(building.status).toBe('True');
    expect(building.message).toMatch(/^content build attempt 1 of 2 failed: DockerBuildFailed.*, retrying at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // The second (last) attempt fails: Degraded, and no third Build.
    for (let i = 0; i < 60; i++) w.step(5000);
    expect(w.buildsOf('content')).toHaveLength(2);
    expect(w.statuses.get(P)!.status!.phase).toBe('Degraded');
    expect(cond(w, 'Degraded').message).toMatch(/gave up after 2 of 2 attempts/);
    expect(cond(w, 'Building').status).toBe('False');
    expect(w.statuses.get(P)!.status!.buildAttempts?.[0]).toMatchObject({ lastAttempt: 2 });
  });

  it('--retry-limit 1 makes one attempt', () => {
    const w = new World({ debounceMs: 0, retryLimit: 1, retryBackoffMs: 1000 });
    setup(w);
    w.outcome = () => 'fail';
    w.settle({ maxSteps: 200, ms: 5000 });
    expect(w.buildsOf('content')).toHaveLength(1);
    expect(w.statuses.get(P)!.status!.phase).toBe('Degraded');
  });
});

describe('user-controlled values are quoted and escaped', () => {
  it('quote and escapeText never let a newline or control character through', () => {
    expect(quote('a\nb')).toBe('"a\\nb"');
    expect(escapeText('x\r\ny\u0007')).toBe('x\\r\\ny\\u0007');
    expect(quote('x'.repeat(300), 10)).toBe(`"${'x'.repeat(10)}..."`);
  });

  it('an invalid image reference with a newline is named quoted, never raw, and status.base stays empty', () => {
    const w = new World({ debounceMs: 0 });
    w.baseOSImage = 'quay.io/os:1\nworker  Ready  evil';
    setup(w);
    w.settle();
    const st = w.statuses.get(P)!.status!;
    expect(st.base).toBeUndefined();
    expect(st.message).toContain('"quay.io/os:1\\nworker  Ready  evil"');
    expect(st.message).not.toContain('\n');
    for (const c of st.conditions!) expect(c.message).not.toContain('1\nworker');
    // The status table: one header line, one row.
    const table = formatTable(rows([w.statuses.get(P)!], w.now));
    expect(table.trimEnd().split('\n')).toHaveLength(2);
  });

  it('a build failure reason with control characters is escaped in the conditions', () => {
    const w = new World({ debounceMs: 0, retryLimit: 2, retryBackoffMs: 60_000 });
    setup(w);
    w.outcome = () => 'fail';
    for (let i = 0; i < 60 && !w.buildsOf('content').some((b) => b.status?.phase === 'Failed'); i++) w.step(1000);
    const failed = w.buildsOf('content').find((b) => b.status?.phase === 'Failed')!;
    failed.status = { ...failed.status, reason: 'Bad\nReason', message: 'line1\r\nline2' };
    w.step(1000);
    expect(cond(w, 'Building').message).toContain('Bad\\nReason: line1\\r\\nline2');
  });
});

describe('wrong-shape push secrets are named', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const REG = 'registry.example:5000';
  const cases: [string, Record<string, string>, RegExp][] = [
    ['no dockerconfigjson key', { token: 'x' }, /^has no \.dockerconfigjson \(or \.dockercfg\) key \(keys: "token"\)/],
    ['not JSON', { '.dockerconfigjson': 'not json' }, /^\.dockerconfigjson: it is not valid JSON/],
    ['auth without user:', { '.dockerconfigjson': JSON.stringify({ auths: { [REG]: { auth: b64('justapassword') } } }) }, /^\.dockerconfigjson: the entry for registry\.example:5000 has an "auth" field whose base64 decodes to no "user:" part/],
    ['auth not base64', { '.dockerconfigjson': JSON.stringify({ auths: { [REG]: { auth: 'not base64!' } } }) }, /"auth" field that is not base64/],
    ['no entry for the registry', { '.dockerconfigjson': JSON.stringify({ auths: { 'quay.io': { auth: b64('a:b') } } }) }, /^\.dockerconfigjson has no entry for registry registry\.example:5000 \(entries: quay\.io\)$/],
  ];
  for (const [name, data, re] of cases) {
    it(name, () => {
      const p = pushSecretProblem(data, REG);
      expect(p).toMatch(re);
      expect(p).not.toContain('justapassword');
    });
  }
  it('a good one is fine', () => {
    expect(pushSecretProblem({ '.dockerconfigjson': JSON.stringify({ auths: { [REG]: { auth: b64('u:p') } } }) }, REG)).toBeUndefined();
  });

  it('the planner reports it as PushSecretInvalid and pushes nothing with it', () => {
    const w = new World({ debounceMs: 0, pushSecret: 'push' });
    w.pushSecretFound = true;
    w.pushSecretProblem = '.dockerconfigjson: it is not valid JSON';
    setup(w);
    const p = w.plan(P);
    expect(p.push).toBeUndefined();
    w.settle();
    const degraded = cond(w, 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'PushSecretInvalid' });
    expect(degraded.message).toContain('push secret openshift-machine-config-operator/push: .dockerconfigjson: it is not valid JSON');
  });
});

describe('a removed base OS image', () => {
  it('is reported as BaseOSImageMissing for a pool already built, which keeps its image', () => {
    const w = new World({ debounceMs: 0 });
    setup(w);
    w.settle();
    const image = w.poolImage(P);
    expect(image).toBeDefined();
    expect(w.statuses.get(P)!.status!.phase).toBe('Ready');
    w.baseOSImage = undefined;
    w.settle();
    expect(w.poolImage(P)).toBe(image);
    const degraded = cond(w, 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'BaseOSImageMissing' });
    expect(degraded.message).toMatch(/ControllerConfig machine-config-controller no longer has spec.baseOSContainerImage/);
  });

  it('is only "waiting" on a fresh cluster that never had one', () => {
    const w = new World({ debounceMs: 0 });
    w.baseOSImage = undefined;
    setup(w);
    w.settle();
    expect(cond(w, 'Degraded').status).toBe('False');
    expect(w.statuses.get(P)!.status!.message).toMatch(/base OS image is unknown/);
  });
});
