// S22 pause: `layering.mco.dev/paused: "true"` holds a build: after a config
// change (the operator observed the pool's new generation) no Build starts,
// the status is Paused and says why and how to resume; resuming builds and
// hands off the new image.
import { describe, expect, it } from 'vitest';
import { oc } from '../harness/cluster.ts';
import { builds, ignitionOf, readPool, runCli } from '../harness/operator.ts';
import { ANNOTATION_PAUSED } from '../../src/plan/gate.ts';
import { cond, handedOffImage, scenario, waitHandedOff, waitStatus } from './support.ts';

const sc = scenario('s22');
const { s, P } = sc;

describe('S22 pause', () => {
  it('holds a build and says why; resuming builds it', async () => {
    const first = await sc.firstImage({ '/etc/layered-demo/motd': 'before the pause\n' });
    await oc(['annotate', `mcp/${P}`, `${ANNOTATION_PAUSED}=true`]);
    await waitStatus(s.ns, P, (st) => st.phase === 'Paused', 'the pool paused');
    const rendered = await sc.setConfig(ignitionOf({ '/etc/layered-demo/motd': 'during the pause\n' }));
    const generation = (await readPool(P))!.metadata.generation;
    // Observed: the status follows the new generation (or a later one: the operator's rollout hold
    // changes spec.paused) and rendering, and names the build it holds (once the debounce passed).
    const heldBuild = new RegExp(`^held: content build ${P}-build-mco-content-[0-9a-f]{10}-1; `);
    const st = await waitStatus(
      s.ns,
      P,
      (x) => (x.observedGeneration ?? 0) >= generation! && x.renderedConfig === rendered && cond(x, 'Building')?.reason === 'Paused' && heldBuild.test(cond(x, 'Building')!.message),
      'the change seen while paused, its build held',
    );
    const resume = `resume with: oc annotate mcp/${P} ${ANNOTATION_PAUSED}-`;
    expect(st.phase).toBe('Paused');
    expect(st.message).toContain(`pool ${P} is paused (annotation ${ANNOTATION_PAUSED}=true): no build starts`);
    expect(cond(st, 'Building')).toMatchObject({ status: 'False', reason: 'Paused' });
    expect(cond(st, 'Building')!.message).toContain(resume);
    expect((await builds(s.ns, P, 'content')).map((b) => b.phase)).toEqual(['Complete']);
    expect(await handedOffImage(P)).toBe(first.image);
    const explain = await runCli(['status', '--explain', P, '-n', s.ns]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout.split('\n')[0]).toBe(`pool ${P}: Paused (phase Paused)`);
    expect(explain.stdout).toContain(`  - resume: oc annotate mcp/${P} ${ANNOTATION_PAUSED}-`);

    await oc(['annotate', `mcp/${P}`, `${ANNOTATION_PAUSED}-`]);
    await waitHandedOff(s.ns, P, (x) => x.image !== first.image, 'the build after resuming');
    expect((await builds(s.ns, P, 'content')).map((b) => b.phase)).toEqual(['Complete', 'Complete']);
    expect(sc.op.errors()).toEqual([]);
  });
});
