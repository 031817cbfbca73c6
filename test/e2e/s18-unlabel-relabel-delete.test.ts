// S18 unlabel, re-label, delete: removing the opt-in label deletes the hand-off
// MachineConfig and MCC renders the pool back to exactly the pre-hand-off
// rendered config; the label back hands the same image off again (no build;
// MCC gives the same rendered name as before); deleting the pool deletes the
// hand-off MachineConfig through its owner reference.
import { describe, expect, it } from 'vitest';
import { oc, waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf, readPool } from '../harness/operator.ts';
import { handOffMachineConfig, scenario, status, waitHandedOff, waitStatus } from './support.ts';

const sc = scenario('s18');
const { s, P } = sc;
const current = async () => ((await readPool(P))?.spec?.configuration as { name?: string } | undefined)?.name;

describe('S18 unlabel, re-label, delete', () => {
  it('the hand-off goes and comes back, the rendered name returns to the pre-hand-off one; deleting the pool removes it', async () => {
    const pre = await sc.createPool(ignitionOf({ '/etc/layered-demo/motd': 'S18\n' }));
    const first = await waitHandedOff(s.ns, P, () => true, 'the first image');
    expect(first.rendered).not.toBe(pre);

    await oc(['label', 'machineconfigpool', P, `${s.label}-`]);
    await waitFor(async () => (await handOffMachineConfig(P)) === undefined, { what: 'the hand-off MachineConfig deleted' });
    await waitFor(async () => (await current()) === pre, { what: `pool rendered back to ${pre}`, timeoutMs: 60_000 });
    expect((await waitStatus(s.ns, P, (x) => x.phase === 'Unmanaged', 'Unmanaged')).phase).toBe('Unmanaged');

    await oc(['label', 'machineconfigpool', P, `${s.label}=`]);
    const again = await waitHandedOff(s.ns, P, (x) => x.image === first.image, 'the same image handed off again');
    expect(again.rendered).toBe(first.rendered);
    expect((await builds(s.ns, P)).length).toBe(1);
    expect((await status(s.ns, P)).phase).toBe('Ready');

    await oc(['delete', 'machineconfigpool', P, '--wait=true']);
    await waitFor(async () => (await handOffMachineConfig(P)) === undefined, { what: 'the hand-off MachineConfig garbage-collected with the pool', timeoutMs: 60_000 });
  });
});
