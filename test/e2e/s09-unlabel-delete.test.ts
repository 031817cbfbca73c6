// S9 pool unlabelled: management stops (the hand-off MachineConfig is deleted
// and MCC renders the pool back to its config without it, with the cluster's
// base OS image; no build after a MachineConfig change; the status object says
// Unmanaged); pool deleted: the operator does not crash, and every per-pool
// object, which carries an owner reference to the pool (Builds through their
// BuildConfig), is removed by the garbage collector.
import { describe, expect, it } from 'vitest';
import { getJson, listJson, oc, waitFor, type KObj } from '../harness/cluster.ts';
import { builds, ignitionOf, poolAnnotations, readPool, renderedConfigOf } from '../harness/operator.ts';
import { ANNOTATION_POOL, COREOS_STREAM, handoffMachineConfigName, poolBuildConfigs, poolStreams } from '../../src/plan/names.ts';
import { caughtUp, clusterBaseImage, cond, events, handOffMachineConfig, handedOffImage, layeredPool, osImageOf, scenario, status, waitStatus } from './support.ts';

const sc = scenario('s9');
const { s, P } = sc;

/** Every object in the namespace that says it belongs to the pool. */
async function poolObjects(ns: string, p: string): Promise<KObj[]> {
  const out: KObj[] = [];
  for (const r of ['imagestreams.image.openshift.io', 'buildconfigs.build.openshift.io', 'builds.build.openshift.io', 'layeredpools.layering.mco.dev']) {
    out.push(...(await listJson(['-n', ns, r])).filter((o) => o.metadata.annotations?.[ANNOTATION_POOL] === p || o.metadata.name === p));
  }
  return out;
}

describe('S9 pool unlabelled, then deleted', () => {
  it('unlabelled: management stops and nothing is deleted; deleted: the owned objects go, the operator stays up', async () => {
    const first = await sc.firstImage({ '/etc/layered-demo/motd': 'managed\n' });
    const handedOff = await poolAnnotations(P);
    const uid = (await readPool(P))!.metadata.uid!;

    // Owner references: every per-pool object is owned by the pool, Builds by their BuildConfig.
    const owned = await poolObjects(s.ns, P);
    const byKind = (k: string) => owned.filter((o) => o.kind === k).map((o) => o.metadata.name).sort();
    const S = poolStreams(P);
    const B = poolBuildConfigs(P);
    expect(byKind('ImageStream')).toEqual([S.base, S.externalBase, S.renderedConfig, S.content, S.custom, S.external].sort());
    expect(byKind('BuildConfig')).toEqual([B.content, B.custom].sort());
    expect(byKind('LayeredPool')).toEqual([P]);
    expect(byKind('Build')).toHaveLength(1);
    const poolRef = { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', name: P, uid, controller: true, blockOwnerDeletion: false };
    for (const o of owned.filter((x) => x.kind !== 'Build')) expect(o.metadata.ownerReferences, `${o.kind} ${o.metadata.name}`).toEqual([poolRef]);
    const contentBC = owned.find((o) => o.kind === 'BuildConfig' && o.metadata.name === B.content)!;
    for (const b of owned.filter((x) => x.kind === 'Build')) {
      expect(b.metadata.ownerReferences).toEqual([{ apiVersion: 'build.openshift.io/v1', kind: 'BuildConfig', name: B.content, uid: contentBC.metadata.uid, controller: true }]);
    }
    // The hand-off MachineConfig is owned by the pool too.
    // (Waited for: an older operator elsewhere on the shared cluster may have deleted it, see README.)
    const ho = await waitFor(() => handOffMachineConfig(P), { what: 'the hand-off MachineConfig', timeoutMs: 30_000 });
    expect(ho.metadata.ownerReferences).toEqual([poolRef]);
    // The shared coreos stream belongs to no pool.
    expect((await getJson(['-n', s.ns, 'imagestream', COREOS_STREAM]))!.metadata.ownerReferences).toBeUndefined();

    // The admin removes the opt-in label: the operator deletes its hand-off MachineConfig,
    // and MCC renders the pool without it (osImageURL back to the cluster's base OS image).
    await oc(['label', 'machineconfigpool', P, `${s.label}-`]);
    const un = await waitStatus(s.ns, P, (st) => st.phase === 'Unmanaged', 'the status object saying Unmanaged');
    expect(un.message).toContain(`label ${s.label} was removed from pool ${P}`);
    expect(un.message).toContain(`deleted its hand-off MachineConfig ${handoffMachineConfigName(P)}`);
    await waitFor(async () => (await handOffMachineConfig(P)) === undefined, { what: 'the hand-off MachineConfig deleted' });
    const back = await renderedConfigOf(P, { not: first.rendered });
    expect(await osImageOf(back)).toBe(await clusterBaseImage());
    expect((await events(P)).filter((e) => e.reason === 'HandOffRemoved').map((e) => e.message)).toContain(
      `pool ${P}: label ${s.label} was removed; deleted MachineConfig ${handoffMachineConfigName(P)} (image ${first.image}), MCC restores the rendered config without it`,
    );
    expect(un.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'False', 'NotOptedIn'],
      ['Building', 'False', 'NotOptedIn'],
      ['Degraded', 'False', 'NotOptedIn'],
    ]);
    expect(cond(un, 'Ready')!.message).toBe(`pool ${P} is not labelled ${s.label}`);
    expect(un.image).toBeUndefined();

    // A MachineConfig change, rendered by MCC: no longer acted on (observed once the
    // operator has reconciled since and is idle).
    const rcTags = async () => ((await getJson<{ status?: { tags?: { tag: string }[] } }>(['-n', s.ns, 'imagestream', S.renderedConfig]))?.status?.tags ?? []).map((t) => t.tag).sort();
    const tagsBefore = await rcTags();
    const seen = await caughtUp(sc.op);
    await sc.setConfig(ignitionOf({ '/etc/layered-demo/motd': 'unmanaged\n' }));
    await seen('the MachineConfig change');
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);
    expect(await poolAnnotations(P)).toEqual(handedOff);
    expect(await handedOffImage(P)).toBeUndefined();
    expect(await rcTags()).toEqual(tagsBefore);
    const still = await status(s.ns, P);
    expect(still.phase).toBe('Unmanaged');
    expect(still.renderedConfig).toBe(first.rendered);
    // Nothing the operator made was deleted.
    expect((await poolObjects(s.ns, P)).map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(owned.map((o) => `${o.kind}/${o.metadata.name}`).sort());

    // The pool is deleted: the garbage collector removes what it owned
    // (the per-pool objects, and MCC's rendered configs).
    const renderedOfPool = async () => (await listJson(['machineconfigs'])).filter((m) => m.metadata.name.startsWith(`rendered-${P}-`)).map((m) => m.metadata.name);
    expect((await renderedOfPool()).length).toBeGreaterThan(0);
    const gone = await caughtUp(sc.op);
    await oc(['delete', 'machineconfigpool', P]);
    await waitFor(async () => (await poolObjects(s.ns, P)).length === 0, { what: `the objects of ${P} garbage-collected`, timeoutMs: 120_000, intervalMs: 1000 });
    await waitFor(async () => (await renderedOfPool()).length === 0, { what: `the rendered configs of ${P} garbage-collected`, timeoutMs: 120_000, intervalMs: 1000 });
    expect(await layeredPool(s.ns, P)).toBeUndefined();
    await gone('the pool deletion'); // the operator does not recreate anything for a pool that is gone
    expect(await poolObjects(s.ns, P)).toEqual([]);
    expect(await getJson(['-n', s.ns, 'imagestream', COREOS_STREAM])).toBeDefined();
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
