// S11 a transient import failure recovers without an admin: an external base
// is tagged in from a private registry that is down (`oc tag --source=docker
// --insecure`); OpenShift's import fails (ImportSuccess False) and is not
// retried by the import controller at the same generation; the operator is
// Degraded ImportFailed saying when it asks again, and re-requests the import
// (an ImageStreamImport, with backoff) until the registry is back; then the
// pool rebuilds on the external base, with no further admin action.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, oc, registryHost, waitFor } from '../harness/cluster.ts';
import { builds } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { addClusterInsecureRegistry, clusterBaseImage, cond, expectHandOff, privateRegistry, pushDerivedImage, readImageFiles, scenario, skopeoCopy, waitHandedOff, waitStatus, type PrivateRegistry } from './support.ts';

let reg: (PrivateRegistry & { remove(): Promise<void> }) | undefined;
let unlist: (() => Promise<void>) | undefined;
beforeAll(async () => {
  reg = await privateRegistry();
  // The real OCM gives a build pod the cluster's insecure registries only: without this
  // the rebuild fails pulling the base ("server gave HTTP response to HTTPS client").
  unlist = await addClusterInsecureRegistry(reg.host);
});
// --insecure-registries replaces the harness's (the outside registry): give both.
const sc = scenario('s11', { operator: () => ({ args: ['--insecure-registries', [registryHost(), reg!.host].join(',')] }) });
const { s, P } = sc;
afterAll(async () => {
  await unlist?.();
  await reg?.remove();
});

type Stream = { spec?: { tags?: { name: string; generation?: number; from?: { name: string } }[] }; status?: { tags?: { tag: string; items?: { image: string; generation?: number }[]; conditions?: { type: string; status: string; reason?: string; message?: string; generation?: number }[] }[] } };

describe('S11 a transient import failure', () => {
  it('the import fails while the registry is down; the operator re-requests it and the pool rebuilds once it is back', async () => {
    const files = { '/etc/layered-demo/motd': `S11 ${P}\n` };
    const first = await sc.firstImage(files);
    // The external base: built elsewhere, copied into the private registry, which then goes down.
    const marker = { '/etc/external-base-marker': `private registry base for ${P}\n` };
    const derived = await pushDerivedImage(await clusterBaseImage(), `external/${s.id}-s11`, 'v1', marker, { 'e2e.layering.mco.dev/image': 's11-base' });
    await reg!.start();
    const digest = await skopeoCopy(derived, `${reg!.host}/ext/base:1`);
    expect(digest).toBe(derived.split('@')[1]);
    await reg!.stop();
    const ref = `${reg!.host}/ext/base@${digest}`;
    const ext = poolStreams(P).externalBase;
    await oc(['tag', '--source=docker', '--insecure', ref, `${s.ns}/${ext}:latest`]);

    // OpenShift's import fails ...
    const failed = await waitFor(
      async () => {
        const st = await getJson<Stream>(['-n', s.ns, 'imagestream', ext]);
        const c = st?.status?.tags?.find((t) => t.tag === 'latest')?.conditions?.find((x) => x.type === 'ImportSuccess');
        return c?.status === 'False' ? { c, gen: st!.spec!.tags!.find((t) => t.name === 'latest')!.generation } : undefined;
      },
      { what: `ImportSuccess False on ${ext}:latest`, timeoutMs: 60_000 },
    );
    console.log(`S11: import failure ${failed.c.reason}: ${failed.c.message}`);
    // ... the operator is Degraded ImportFailed with the time it asks again, keeps the image ...
    const degraded = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'ImportFailed', 'Degraded ImportFailed');
    expect(cond(degraded, 'Degraded')!.message).toMatch(new RegExp(`ImageStream ${s.ns}/${ext}:latest could not import ${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(.*\\); (re-requested \\d+ times?; )?next attempt at \\d{4}-\\d\\d-\\d\\dT`));
    expect(degraded.image).toBe(first.image);
    // ... and re-requests the import while the registry is still down (it fails again).
    const retried = await waitStatus(s.ns, P, (x) => /re-requested [1-9]\d* times?; next attempt at /.test(cond(x, 'Degraded')?.message ?? ''), 'a re-requested import', 120_000);
    console.log(`S11: ${cond(retried, 'Degraded')!.message}`);
    expect((await builds(s.ns, P)).length).toBe(1);

    // The registry comes back; nothing else is done.
    await reg!.start();
    const second = await waitHandedOff(s.ns, P, (x) => x.baseSource === 'external-base' && x.image !== first.image, 'the rebuild on the external base', 300_000);
    expect(second.base).toMatch(new RegExp(`@${digest}$`));
    const st = await getJson<Stream>(['-n', s.ns, 'imagestream', ext]);
    // The spec tag still names the admin's reference. Its generation did move on: a
    // successful ImageStreamImport (import: true) writes the spec tag again (real
    // openshift-apiserver behaviour), which is how the import came through, not an admin edit.
    const spec = st!.spec!.tags!.find((t) => t.name === 'latest')!;
    expect(spec.from?.name).toBe(ref);
    expect(spec.generation).toBeGreaterThan(failed.gen!);
    expect(st!.status!.tags!.find((t) => t.tag === 'latest')!.items![0]!.image).toBe(digest);
    const bs = await builds(s.ns, P);
    expect(bs.map((b) => [b.kind, b.phase])).toEqual([
      ['content', 'Complete'],
      ['content', 'Complete'],
    ]);
    expect(bs[1]!.dockerfile).toContain(`@${digest}\n`);
    await expectHandOff(P, second.image, 'mco-content');
    expect(Object.fromEntries(await readImageFiles(second.image!, [...Object.keys(marker), ...Object.keys(files)]))).toEqual({ ...marker, ...files });
    expect(cond(second, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });
});
