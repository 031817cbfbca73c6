// A write the API server refuses is reported, not just logged: the operator
// runs under its ServiceAccount with a Role that lacks `create` on Builds (an
// admin's RBAC mistake). The pool's status says Degraded ApplyFailed naming the
// Build and the API's answer, the operator keeps running, and once the Role is
// fixed the same reconcile loop builds and hands the pool its image.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, kubectl, waitFor } from '../harness/cluster.ts';
import {
  applyManifests,
  builds,
  makePool,
  renderManifests,
  serviceAccountKubeconfig,
  startOperator,
  uniqueName,
  waitForPoolAnnotation,
  type OperatorProcess,
  type TestPool,
} from '../harness/operator.ts';

const SA = 'layered-build-controller';
const ns = uniqueName('lbc-refused');
const optInLabel = `test.layering.mco.dev/${ns}`;

interface Rule {
  resources?: string[];
  verbs?: string[];
}

/** The shipped manifests for `ns`; `withoutBuildCreate` drops `create` on builds from the Role. */
function manifests(withoutBuildCreate: boolean) {
  return renderManifests({
    namespace: ns,
    suffix: ns,
    patch: (doc) => {
      if (!withoutBuildCreate || doc.kind !== 'Role') return;
      for (const r of (doc.rules ?? []) as Rule[]) {
        if (r.resources?.includes('builds')) r.verbs = (r.verbs ?? []).filter((v) => v !== 'create');
      }
    },
  }).filter((d) => d.kind !== 'Deployment');
}

let op: OperatorProcess | undefined;
let pool: TestPool | undefined;

beforeAll(async () => {
  await applyManifests(manifests(true));
  const sa = await serviceAccountKubeconfig(ns, SA);
  op = startOperator({ name: 'operator-refused', kubeconfig: sa.path, namespace: ns, optInLabel });
  await op.waitForLog('leading: reconciling pools', 90_000);
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await pool?.cleanup();
  await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  await kubectl(['delete', 'clusterrolebinding,clusterrole', `${SA}-${ns}`, '--ignore-not-found']);
  await kubectl(['delete', 'rolebinding,role', '-n', 'default', `${SA}-events-${ns}`, '--ignore-not-found']);
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
    await applyManifests(manifests(false));
    const image = await waitForPoolAnnotation(pool.pool);
    expect(image).toMatch(/@sha256:[0-9a-f]{64}$/);
    const done = await builds(ns, pool.pool, 'content');
    expect(done).toHaveLength(1);
    const lp = await getJson<Status>(['layeredpools.layering.mco.dev', pool.pool, '-n', ns]);
    expect(lp?.status?.conditions?.find((x) => x.type === 'Degraded')).toMatchObject({ status: 'False' });
  });
});
