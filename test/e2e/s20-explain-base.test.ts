// S20 "why did it build" after an external base change: an admin tags a base
// built elsewhere (`oc tag`); the rebuild's history entry, its BuildStarted
// Event and `layered-build-controller status --explain` name the base change
// (old -> new digest, external base) and where the base comes from.
import { describe, expect, it } from 'vitest';
import { registryHost } from '../harness/cluster.ts';
import { runCli } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { short } from '../../src/plan/why.ts';
import { clusterBaseImage, events, ocTag, pushDerivedImage, scenario, status, waitHandedOff } from './support.ts';

const sc = scenario('s20');
const { s, P } = sc;

describe('S20 status --explain after an external base change', () => {
  it('names the base change and its source', async () => {
    const first = await sc.firstImage({ '/etc/layered-demo/motd': 'explain me\n' });
    const coreos = await clusterBaseImage();
    const extRef = await pushDerivedImage(coreos, `external/${s.id}-base`, 'v1', { '/etc/external-base-marker': `${P}\n` }, { 'e2e.layering.mco.dev/image': 'external-base' });
    const oldDigest = coreos.split('@')[1]!;
    const newDigest = extRef.split('@')[1]!;
    await ocTag(s.ns, poolStreams(P).externalBase, 'latest', `${registryHost()}/external/${s.id}-base:v1`);
    await waitHandedOff(s.ns, P, (st) => st.baseSource === 'external-base' && st.image !== first.image, 'the rebuild on the external base');

    const change = `base ${short(oldDigest)} -> ${short(newDigest)} (external base)`;
    const st = await status(s.ns, P);
    expect((st.history?.[0] as { changes?: string[] } | undefined)?.changes).toEqual([change]);
    const started = (await events(P)).filter((e) => e.reason === 'BuildStarted');
    expect(started).toHaveLength(2);
    expect(started[1]!.message).toContain(change);

    const r = await runCli(['status', '--explain', P, '-n', s.ns]);
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out.split('\n')[0]).toBe(`pool ${P}: Idle (phase Ready)`);
    expect(out).toMatch(new RegExp(`\\n  base +\\S+@${newDigest}   <- ImageStream ${poolStreams(P).externalBase}:latest\\n`));
    expect(out).toContain(`base: ${st.base} from ${poolStreams(P).externalBase}:latest (an admin's external base)`);
    expect(out).toContain(`  because: ${change}\n`);
    const json = await runCli(['status', '--explain', P, '-n', s.ns, '-o', 'json']);
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as { lastBuild: { changes: string[] } }).lastBuild.changes).toEqual([change]);
    expect(sc.op.errors()).toEqual([]);
  });
});
