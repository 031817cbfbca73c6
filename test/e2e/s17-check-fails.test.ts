// S17 a failed check before the hand-off: after a good first image the
// operator is restarted with an apply command that writes nothing (`true`):
// the new inputs build fine, but the image lacks the MachineConfig's file, so
// the pool is Degraded ImageCheckFailed naming the file, nothing is handed off
// and the previous image stays.
import { describe, expect, it } from 'vitest';
import { builds } from '../harness/operator.ts';
import { cond, expectHandOff, scenario, waitStatus } from './support.ts';

const sc = scenario('s17');
const { s, P } = sc;

describe('S17 a failed check', () => {
  it('Degraded ImageCheckFailed naming the file, no hand-off, the previous image kept', async () => {
    const first = await sc.firstImage({ '/etc/layered-demo/motd': 'checked\n' });
    await sc.op.stop();
    await sc.startOperator('s17-writes-nothing', { applyCommand: 'true' });
    const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'ImageCheckFailed', 'Degraded ImageCheckFailed');
    const msg = cond(st, 'Degraded')!.message;
    console.log(`S17: ${msg}`);
    expect(msg).toContain('/etc/layered-demo/motd');
    const bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['content', 'Complete'],
    ]);
    expect(msg).toContain(bs[1]!.digest!);
    expect(st.image).toBe(first.image);
    await expectHandOff(P, first.image, 'mco-content');
  });
});
