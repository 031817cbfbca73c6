// S21 manual hand-off: with `layering.mco.dev/hand-off: manual` a new image is
// built and checked as usual but the pool keeps its image (AwaitingApproval,
// whose message is the exact approve command); an approve annotation with a
// digest that is not the newest checked image is refused with a message
// naming the right one; the right digest hands the image off.
import { describe, expect, it } from 'vitest';
import { oc } from '../harness/cluster.ts';
import { builds, ignitionOf } from '../harness/operator.ts';
import { ANNOTATION_APPROVE, ANNOTATION_HANDOFF_MODE } from '../../src/plan/gate.ts';
import { cond, events, expectHandOff, handOffSequence, handedOffImage, scenario, waitHandedOff, waitStatus } from './support.ts';

const sc = scenario('s21');
const { s, P } = sc;

describe('S21 manual hand-off', () => {
  it('holds until approved with the right digest; a wrong digest is refused with a message', async () => {
    const first = await sc.firstImage({ '/etc/layered-demo/motd': 'one\n' });
    await oc(['annotate', `mcp/${P}`, `${ANNOTATION_HANDOFF_MODE}=manual`]);
    await sc.setConfig(ignitionOf({ '/etc/layered-demo/motd': 'two\n' }));

    // Built and checked, held: the operator says so and names the command.
    const held = await waitStatus(s.ns, P, (st) => st.phase === 'AwaitingApproval' && cond(st, 'Ready')?.reason === 'AwaitingApproval', 'the new image awaiting approval');
    const bs = await builds(s.ns, P, 'content');
    expect(bs.map((b) => b.phase)).toEqual(['Complete', 'Complete']);
    const digest = bs[1]!.digest!;
    const approve = `oc annotate mcp/${P} ${ANNOTATION_APPROVE}=${digest} --overwrite`;
    expect(cond(held, 'Ready')!.message).toContain(`passed its checks and waits for approval: ${approve}`);
    expect(cond(held, 'Ready')!.message).toContain(`the pool keeps ${first.image}`);
    expect(await handedOffImage(P)).toBe(first.image);

    // A wrong digest (the image the pool has) is refused; the operator shows it saw it, and nothing changes.
    const wrong = first.image!.split('@')[1]!;
    await oc(['annotate', `mcp/${P}`, `${ANNOTATION_APPROVE}=${wrong}`]);
    const refused = await waitStatus(s.ns, P, (st) => cond(st, 'Ready')?.reason === 'ApprovalRefused', 'the wrong approval refused');
    expect(cond(refused, 'Ready')!.message).toContain(`${ANNOTATION_APPROVE}=${wrong} is refused: it is not the pool's newest checked image ${digest}`);
    expect(cond(refused, 'Ready')!.message).toContain(approve);
    expect(refused.image).not.toBe(`${first.image!.split('@')[0]}@${digest}`);
    expect(await handedOffImage(P)).toBe(first.image);

    // The right digest: handed off, no further build.
    await oc(['annotate', `mcp/${P}`, `${ANNOTATION_APPROVE}=${digest}`, '--overwrite']);
    const second = await waitHandedOff(s.ns, P, (st) => st.image?.endsWith(`@${digest}`) === true, 'the approved image handed off');
    await expectHandOff(P, second.image, 'mco-content');
    expect(await builds(s.ns, P, 'content')).toHaveLength(2);
    expect(handOffSequence(await events(P)).map(([, img]) => img)).toEqual([first.image, second.image]);
    expect(sc.op.errors()).toEqual([]);
  });
});
