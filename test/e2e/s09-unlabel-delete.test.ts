// S9 pool unlabelled: management stops (no build after a MachineConfig
// change, the status object says Unmanaged, the image annotation stays);
// pool deleted: the operator does not crash, and every per-pool object, which
// carries an owner reference to the pool (Builds through their BuildConfig),
// is removed by the garbage collector.
import { describe, expect, it } from 'vitest';
import { getJson, kubectl, listJson, waitFor, type KObj } from '../harness/cluster.ts';
import { builds, createMachineConfig, ignitionOf, poolAnnotations, readPool } from '../harness/operator.ts';
import { ANNOTATION_NEWEST_IMAGE, ANNOTATION_POOL, COREOS_STREAM, poolBuildConfigs, poolStreams } from '../../src/plan/names.ts';
import { cond, layeredPool, scenario, setRenderedConfig, sleep, status, waitStatus } from './support.ts';

const sc = scenario('s9', { machineConfigs: 2 });
const { s, P } = sc;
const [MC1, MC2] = sc.machineConfigs as [string, string];

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
    await sc.firstImage({ '/etc/layered-demo/motd': 'managed\n' });
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
    // The shared coreos stream belongs to no pool.
    expect((await getJson(['-n', s.ns, 'imagestream', COREOS_STREAM]))!.metadata.ownerReferences).toBeUndefined();

    // The admin removes the opt-in label.
    await kubectl(['label', 'machineconfigpool', P, `${s.label}-`]);
    const un = await waitStatus(s.ns, P, (st) => st.phase === 'Unmanaged', 'the status object saying Unmanaged');
    expect(un.message).toBe(`label ${s.label} was removed from pool ${P}: the operator no longer manages it; its last image stays`);
    expect(un.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'False', 'NotOptedIn'],
      ['Building', 'False', 'NotOptedIn'],
      ['Degraded', 'False', 'NotOptedIn'],
    ]);
    expect(cond(un, 'Ready')!.message).toBe(`pool ${P} is not labelled ${s.label}`);
    expect(un.image).toBe(handedOff[ANNOTATION_NEWEST_IMAGE]);

    // A new rendered config: no longer acted on.
    await createMachineConfig(MC2, ignitionOf({ '/etc/layered-demo/motd': 'unmanaged\n' }));
    await setRenderedConfig(P, MC2);
    await sleep(5000); // debounce (1 s) and more: a managed pool would have started a build by now
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);
    expect(await poolAnnotations(P)).toEqual(handedOff);
    const rc = await getJson<{ spec: { tags: { name: string }[] } }>(['-n', s.ns, 'imagestream', S.renderedConfig]);
    expect(rc!.spec.tags.map((t) => t.name).sort()).toEqual(['latest', MC1].sort());
    const still = await status(s.ns, P);
    expect(still.phase).toBe('Unmanaged');
    expect(still.renderedConfig).toBe(MC1);
    // Nothing the operator made was deleted.
    expect((await poolObjects(s.ns, P)).map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(owned.map((o) => `${o.kind}/${o.metadata.name}`).sort());

    // The pool is deleted: the garbage collector removes what it owned
    // (kube-controller-manager runs on the local control plane).
    await kubectl(['delete', 'machineconfigpool', P]);
    await waitFor(async () => (await poolObjects(s.ns, P)).length === 0, { what: `the objects of ${P} garbage-collected`, timeoutMs: 120_000, intervalMs: 1000 });
    expect(await layeredPool(s.ns, P)).toBeUndefined();
    await sleep(3000); // the operator does not recreate anything for a pool that is gone
    expect(await poolObjects(s.ns, P)).toEqual([]);
    expect(await getJson(['-n', s.ns, 'imagestream', COREOS_STREAM])).toBeDefined();
    expect(sc.op.alive()).toBe(true);
    expect(sc.op.errors()).toEqual([]);
  });
});
