// A write the API server refuses is reported, not just logged: the operator
// runs under its ServiceAccount with a Role that lacks `create` on Builds (an
// admin's RBAC mistake). The pool's status says Degraded ApplyFailed naming the
// Build and the API's answer, the operator keeps running, and once the Role is
// fixed the same reconcile loop builds and hands the pool its image.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, waitFor } from '../harness/cluster.ts';
import {
  builds,
  installPrivately,
  makePool,
  startOperator,
  uniqueName,
  waitForPoolAnnotation,
  type OperatorProcess,
  type PrivateInstall,
  type TestPool,
} from '../harness/operator.ts';

const ns = uniqueName('lbc-refused');
const optInLabel = `test.layering.mco.dev/${ns}`;

/** The admin's mistake: the Role lacks `create` on builds. */
function withoutBuildCreate(doc: Record<string, unknown>): void {
  if (doc.kind !== 'Role') return;
  for (const r of (doc.rules ?? []) as { resources?: string[]; verbs?: string[] }[]) {
    if (r.resources?.includes('builds')) r.verbs = (r.verbs ?? []).filter((v) => v !== 'create');
  }
}

let install: PrivateInstall | undefined;
let op: OperatorProcess | undefined;
let pool: TestPool | undefined;

beforeAll(async () => {
  install = await installPrivately(ns, withoutBuildCreate);
  op = startOperator({ name: 'operator-refused', kubeconfig: install.kubeconfig, namespace: ns, optInLabel });
  await op.waitForLog('leading: reconciling pools', 90_000);
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await pool?.cleanup();
  await install?.cleanup();
}, 120_000);

describe('a write the API server refuses', () => {
  it('is reported as Degraded ApplyFailed naming the object; fixing RBAC recovers without a restart', async () => {
    pool = await makePool({ optInLabel });
    type Status = { status?: { phase?: string; message?: string; conditions?: { type: string; status: string; reason: string; message: string }[] } };
    const degraded = await waitFor(
      async () => {
        const lp = await getJson<Status>(['layeredpools.layering.mco.dev', pool!.pool, '-n', ns]);
        const c = lp?.status?.conditions?.find((x) => x.type === 'Degraded');
        return c?.status === 'True' && c.reason === 'ApplyFailed' ? c : undefined;
      },
      { timeoutMs: 120_000, what: 'Degraded ApplyFailed' },
    );
    expect(degraded.message).toMatch(new RegExp(`creating Build ${pool.pool}-build-mco-content-[0-9a-f]{10}-1 was refused by the API server \\(HTTP 403: .*forbidden`));
    expect(await builds(ns, pool.pool)).toEqual([]);
    expect(op!.alive()).toBe(true);

    // The admin fixes the Role; the queue's backoff retries and the pool gets its image.
    await install!.reapply();
    const image = await waitForPoolAnnotation(pool.pool);
    expect(image).toMatch(/@sha256:[0-9a-f]{64}$/);
    const done = await builds(ns, pool.pool, 'content');
    expect(done).toHaveLength(1);
    const lp = await getJson<Status>(['layeredpools.layering.mco.dev', pool.pool, '-n', ns]);
    expect(lp?.status?.conditions?.find((x) => x.type === 'Degraded')).toMatchObject({ status: 'False' });
  });
});
