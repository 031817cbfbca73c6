// S26 a build whose pod is evicted (what a node drain does to it: the eviction
// API, as `oc adm drain` calls it) while it runs: the real OCM ends the Build
// (Error BuildPodDeleted); the operator starts it again at once without
// counting it toward --retry-limit (1 here: one counted failure would be
// Degraded), says so in the history and a BuildInterrupted Event, and the pool
// ends on its image.
import { describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../harness/cluster.ts';
import { APPLY_COMMAND, builds, ignitionOf } from '../harness/operator.ts';
import { cond, events, scenario, status, waitHandedOff } from './support.ts';

const sc = scenario('s26', { operator: { applyCommand: `sleep 15 && ${APPLY_COMMAND}`, args: ['--retry-limit', '1'] } });
const { s, P } = sc;

describe('S26 build pod evicted', () => {
  it('the interrupted Build is started again, not counted (--retry-limit 1), and the pool gets its image', async () => {
    await sc.createPool(ignitionOf({ '/etc/layered-demo/motd': 'S26\n' }));
    // The first attempt's pod, running.
    const first = await waitFor(
      async () => {
        const b = (await builds(s.ns, P)).find((x) => x.phase === 'Running');
        const pod = b?.obj.metadata.annotations?.['openshift.io/build.pod-name'];
        return b && pod ? { name: b.name, pod } : undefined;
      },
      { what: 'the first Build running', timeoutMs: 120_000 },
    );
    const eviction = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: first.pod, namespace: s.ns } };
    await kubectl(['create', '--raw', `/api/v1/namespaces/${s.ns}/pods/${first.pod}/eviction`, '-f', '-'], { input: JSON.stringify(eviction) });

    const st = await waitHandedOff(s.ns, P, () => true, 'the image after the eviction', 300_000);
    const bs = await builds(s.ns, P);
    const ended = bs.find((b) => b.name === first.name)!;
    expect([ended.phase, ended.reason]).toEqual(['Error', 'BuildPodDeleted']);
    expect(bs.map((b) => b.phase)).toEqual(['Error', 'Complete']);
    expect(bs[1]!.name).toBe(first.name.replace(/-1$/, '-2'));
    // Not a failed attempt: nothing counted, never Degraded; the history says why.
    expect(cond(st, 'Degraded')?.status).toBe('False');
    const attempts = ([] as { kind: string; failedBuilds: string[] }[]).concat((st.buildAttempts as never) ?? []).find((a) => a.kind === 'content');
    expect(attempts?.failedBuilds).toEqual([]);
    const entry = (await status(s.ns, P)).history!.find((h) => h.build === first.name)! as { interrupted?: string };
    expect(entry.interrupted).toMatch(/^BuildPodDeleted: its build pod was deleted .*; started again, not counted toward --retry-limit$/);
    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildInterrupted').map((e) => e.type)).toEqual(['Normal']);
    expect(ev.filter((e) => e.reason === 'BuildFailed')).toEqual([]);
    expect(sc.op.alive()).toBe(true);
  });
});
