// The informer on the real API server: events and cache for a namespaced CRD,
// a cluster-scoped one from RESOURCES and a core type (Secret); objects that
// fail the schema are logged and skipped; a watch that fails mid-stream (its
// CRD deleted) and a list refused by RBAC both lead to restarts with backoff
// and a recovered cache; the periodic resync re-emits cached objects.

import { randomBytes } from 'node:crypto';
import type {
  KubeConfig} from '@kubernetes/client-node';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FakeClock } from '../../src/util/clock.ts';
import { CORE_RESOURCES, Informer, SecretSchema, type EventType } from '../../src/kube/informer.ts';
import { MachineConfigPoolSchema, ObjectMetaSchema, RESOURCES, type ResourceCoords } from '../../src/kube/types.ts';
import { impersonating, kubeConfig } from '../harness/cluster.ts';

const NS = 'default';
const GROUP = 'informer-test.lbc.dev';
const rand = () => randomBytes(4).toString('hex');

const WidgetSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: z.looseObject({ size: z.number() }),
});
type Widget = z.infer<typeof WidgetSchema>;

let kc: KubeConfig;
let ext: ApiextensionsV1Api;
let custom: CustomObjectsApi;
const crdsToDelete: string[] = [];

async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function coords(plural: string): ResourceCoords {
  return { group: GROUP, version: 'v1', plural, kind: plural.slice(0, 1).toUpperCase() + plural.slice(1, -1), namespaced: true };
}

/** A namespaced test CRD whose spec takes anything (so an object can fail our schema but not the server's). */
async function createCrd(plural: string): Promise<void> {
  const r = coords(plural);
  const name = `${plural}.${GROUP}`;
  await ext.createCustomResourceDefinition({
    body: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name },
      spec: {
        group: GROUP,
        scope: 'Namespaced',
        names: { plural, singular: plural.slice(0, -1), kind: r.kind, listKind: `${r.kind}List` },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            // The client's model names it x_kubernetes_preserve_unknown_fields (a dashed key would be dropped).
            schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
          },
        ],
      },
    },
  });
  // Established and served.
  await waitFor(`CRD ${name} to be served`, async () => {
    try {
      await custom.listNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: NS, plural });
      return true;
    } catch {
      return false;
    }
  });
}

async function deleteCrd(plural: string): Promise<void> {
  const name = `${plural}.${GROUP}`;
  await ext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  await waitFor(`CRD ${name} to be gone`, async () => {
    try {
      await ext.readCustomResourceDefinition({ name });
      return false;
    } catch (err) {
      return (err as { code?: number }).code === 404;
    }
  });
}

/** A new CRD of its own (removed after the suite) holding one object `name`. */
async function crdWithOne(prefix: string, name: string): Promise<string> {
  const plural = `${prefix}${rand()}`;
  crdsToDelete.push(plural);
  await createCrd(plural);
  await putWidget(plural, name, 1);
  return plural;
}

function putWidget(plural: string, name: string, size: unknown) {
  return custom.createNamespacedCustomObject({
    group: GROUP,
    version: 'v1',
    namespace: NS,
    plural,
    body: { apiVersion: `${GROUP}/v1`, kind: coords(plural).kind, metadata: { name }, spec: { size } },
  });
}

function patchWidget(plural: string, name: string, size: unknown) {
  return custom.patchNamespacedCustomObject({
    group: GROUP,
    version: 'v1',
    namespace: NS,
    plural,
    name,
    body: [{ op: 'replace', path: '/spec/size', value: size }],
  });
}

function deleteWidget(plural: string, name: string) {
  return custom.deleteNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: NS, plural, name });
}

/** A pino logger whose records land in `lines`. */
function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { lines, logger };
}

interface Recorded<T> {
  type: EventType;
  name: string;
  obj: T;
}

beforeAll(() => {
  kc = kubeConfig();
  ext = kc.makeApiClient(ApiextensionsV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  for (const plural of crdsToDelete) await deleteCrd(plural);
});

describe('Informer on the API server', () => {
  it('syncs, emits add/update/delete, serves the cache, and skips objects failing the schema', async () => {
    const plural = await crdWithOne('widgets', 'before');

    const events: Recorded<Widget>[] = [];
    const { lines, logger } = captureLogger();
    const inf = new Informer<Widget>({
      kubeConfig: kc,
      resource: coords(plural),
      namespace: NS,
      schema: WidgetSchema,
      resyncPeriodMs: 0,
      logger,
      onEvent: (obj, type) => events.push({ type, name: obj.metadata.name, obj }),
    });
    expect(inf.hasSynced()).toBe(false);
    inf.start();
    expect(await inf.waitForSync()).toBe(true);
    expect(inf.hasSynced()).toBe(true);
    expect(events.map((e) => `${e.type}:${e.name}`)).toEqual(['add:before']);
    expect(inf.get('before', NS)?.spec.size).toBe(1);
    expect(inf.get('before')).toBeUndefined(); // namespaced: the namespace is part of the key

    await putWidget(plural, 'second', 2);
    await waitFor('add second', () => inf.get('second', NS));
    await patchWidget(plural, 'before', 10);
    await waitFor('update before', () => inf.get('before', NS)?.spec.size === 10);

    // Valid for the API server, invalid for the schema: logged with its key, skipped.
    await putWidget(plural, 'bad', 'big');
    await waitFor('the schema warning', () =>
      lines.find((l) => l.msg === 'object does not match its schema; skipped' && l.key === `${NS}/bad`),
    );
    expect(inf.get('bad', NS)).toBeUndefined();
    // Fixed: now it arrives, as an add.
    await patchWidget(plural, 'bad', 3);
    await waitFor('bad fixed', () => inf.get('bad', NS)?.spec.size === 3);
    // A good object turning bad keeps its last good copy.
    await patchWidget(plural, 'second', 'huge');
    await waitFor('second skipped', () => lines.filter((l) => l.key === `${NS}/second`).length > 0);
    expect(inf.get('second', NS)?.spec.size).toBe(2);

    await deleteWidget(plural, 'before');
    await waitFor('delete before', () => !inf.get('before', NS));

    expect(events.map((e) => `${e.type}:${e.name}`)).toEqual(['add:before', 'add:second', 'update:before', 'add:bad', 'delete:before']);
    expect(events.find((e) => e.type === 'delete')?.obj.spec.size).toBe(10);
    expect(inf.list(NS).map((w) => w.metadata.name).sort()).toEqual(['bad', 'second']);
    expect(inf.list().length).toBe(2);
    expect(inf.list('elsewhere')).toEqual([]);
    expect(inf.restartCount()).toBe(0);

    await inf.stop();
    // A second informer, still running, sees the next write: by then a stopped one would have too.
    const watcher = new Informer<Widget>({ kubeConfig: kc, resource: coords(plural), namespace: NS, schema: WidgetSchema, resyncPeriodMs: 0, logger });
    watcher.start();
    expect(await watcher.waitForSync()).toBe(true);
    try {
      await putWidget(plural, 'after-stop', 4);
      await waitFor('after-stop seen by a running informer', () => watcher.get('after-stop', NS));
    } finally {
      await watcher.stop();
    }
    expect(events.some((e) => e.name === 'after-stop')).toBe(false);
  });

  it('restarts with backoff after its watch fails (CRD deleted) and recovers when the resource is back', async () => {
    const plural = await crdWithOne('gadgets', 'g1');

    const restarts: string[] = [];
    const events: string[] = [];
    const { lines, logger } = captureLogger();
    const inf = new Informer<Widget>({
      kubeConfig: kc,
      resource: coords(plural),
      namespace: NS,
      schema: WidgetSchema,
      resyncPeriodMs: 0,
      restartBaseMs: 200,
      restartMaxMs: 1_000,
      logger,
      metrics: { informerRestart: (r) => restarts.push(r) },
      onEvent: (obj, type) => events.push(`${type}:${obj.metadata.name}`),
    });
    inf.start();
    await inf.waitForSync();
    expect(inf.get('g1', NS)).toBeDefined();

    await deleteCrd(plural); // its objects go with it; then the watch and every list fail (404)
    await waitFor('two restarts', () => restarts.length >= 2);
    expect(restarts.every((r) => r === plural)).toBe(true);
    await waitFor('g1 deleted from the cache', () => !inf.get('g1', NS));
    const errors = lines.filter((l) => l.msg === 'informer stopped on an error; restarting');
    expect(errors.length).toBeGreaterThanOrEqual(2);
    // The backoff grows (200, 400, 800, then capped at 1000 ms).
    const delays = errors.map((l) => l.restartInMs as number);
    expect(delays.slice(0, 3)).toEqual([200, 400, 800].slice(0, Math.min(3, delays.length)));
    expect(Math.max(...delays)).toBeLessThanOrEqual(1_000);
    expect(inf.hasSynced()).toBe(true); // stays synced through restarts

    await createCrd(plural);
    await putWidget(plural, 'g2', 2);
    await waitFor('g2 after recovery', () => inf.get('g2', NS), 30_000);
    expect(inf.list(NS).map((w) => w.metadata.name)).toEqual(['g2']);
    expect(events).toEqual(['add:g1', 'delete:g1', 'add:g2']);
    console.log(`[informer] restarts while the CRD was gone: ${restarts.length} (delays ${delays.join(', ')} ms)`);
    await inf.stop();
  });

  it('restarts while RBAC refuses the list, then syncs once allowed', async () => {
    const plural = await crdWithOne('gizmos', 'z1');
    const user = `lbc-informer-tester-${rand()}`;
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const limited = impersonating(user);
    const restarts: string[] = [];
    const inf = new Informer<Widget>({
      kubeConfig: limited,
      resource: coords(plural),
      namespace: NS,
      schema: WidgetSchema,
      resyncPeriodMs: 0,
      restartBaseMs: 100,
      restartMaxMs: 500,
      metrics: { informerRestart: (r) => restarts.push(r) },
    });
    try {
      inf.start();
      await waitFor('restarts while forbidden', () => restarts.length >= 2);
      expect(inf.hasSynced()).toBe(false);
      await rbac.createNamespacedRole({
        namespace: NS,
        body: { metadata: { name: user }, rules: [{ apiGroups: [GROUP], resources: [plural], verbs: ['list', 'watch'] }] },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: NS,
        body: {
          metadata: { name: user },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: user },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
        },
      });
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 60_000);
      expect(await inf.waitForSync(ac.signal)).toBe(true);
      clearTimeout(timer);
      expect(inf.get('z1', NS)?.spec.size).toBe(1);
    } finally {
      await inf.stop();
      await rbac.deleteNamespacedRoleBinding({ name: user, namespace: NS }).catch(() => undefined);
      await rbac.deleteNamespacedRole({ name: user, namespace: NS }).catch(() => undefined);
    }
  });

  it('waitForSync returns false when aborted or stopped before syncing', async () => {
    const inf = new Informer<Widget>({ kubeConfig: kc, resource: coords(`nothing${rand()}`), namespace: NS, schema: WidgetSchema, restartBaseMs: 100 });
    inf.start(); // the resource does not exist: it never syncs
    const ac = new AbortController();
    const p = inf.waitForSync(ac.signal);
    ac.abort();
    expect(await p).toBe(false);
    const q = inf.waitForSync();
    await inf.stop();
    expect(await q).toBe(false);
  });

  it('optional: a resource the cluster does not serve is an empty synced cache, no restart loop', async () => {
    let restarts = 0;
    const clock = new FakeClock();
    const inf = new Informer<Widget>({ kubeConfig: kc, resource: coords(`nothing${rand()}`), namespace: NS, schema: WidgetSchema, restartBaseMs: 100, resyncPeriodMs: 60_000, optional: true, onRestart: () => restarts++, clock });
    inf.start();
    try {
      expect(await inf.waitForSync()).toBe(true);
      expect(inf.list()).toEqual([]);
      expect(inf.lastError()).toBeUndefined();
      // Past the error backoff (100 ms) nothing restarts it: it lists again only each resync period.
      clock.advance(30_000);
      expect(restarts).toBe(0);
    } finally {
      await inf.stop();
    }
  });

  it('resyncs: re-emits unchanged cached objects as updates', async () => {
    const plural = await crdWithOne('doodads', 'd1');
    const events: Array<{ type: EventType; rv: string | undefined }> = [];
    const inf = new Informer<Widget>({
      kubeConfig: kc,
      resource: coords(plural),
      namespace: NS,
      schema: WidgetSchema,
      resyncPeriodMs: 300,
      onEvent: (obj, type) => events.push({ type, rv: obj.metadata.resourceVersion }),
    });
    inf.start();
    await inf.waitForSync();
    await waitFor('two resyncs', () => events.filter((e) => e.type === 'update').length >= 2);
    expect(events[0]?.type).toBe('add');
    expect(new Set(events.map((e) => e.rv)).size).toBe(1); // the same, unchanged object
    await inf.stop();
  });

  it('resyncs from the server: each period lists again, and the watch follows the new list', async () => {
    const plural = await crdWithOne('gizmos', 'g1');
    const custom2 = kc.makeApiClient(CustomObjectsApi);
    let lists = 0;
    const inf = new Informer<Widget>({
      kubeConfig: kc,
      resource: coords(plural),
      namespace: NS,
      schema: WidgetSchema,
      resyncPeriodMs: 400,
      listFn: async () => {
        lists++;
        return (await custom2.listNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: NS, plural })) as never;
      },
    });
    inf.start();
    await inf.waitForSync();
    await waitFor('two relists', () => lists >= 3);
    // After relists the watch still delivers changes.
    await putWidget(plural, 'g2', 2);
    await waitFor('g2 in the cache', () => inf.get('g2', NS)?.spec.size === 2);
    expect(inf.list(NS).map((w) => w.metadata.name).sort()).toEqual(['g1', 'g2']);
    await inf.stop();
  });

  it('informs on a cluster-scoped RESOURCES entry (MachineConfigPool) with a label selector', async () => {
    const label = `lbc-informer-test-${rand()}`;
    const name = `pool-${rand()}`;
    const events: string[] = [];
    const inf = new Informer({
      kubeConfig: kc,
      resource: RESOURCES.machineConfigPool,
      schema: MachineConfigPoolSchema,
      labelSelector: `${label}=yes`,
      onEvent: (obj, type) => events.push(`${type}:${obj.metadata.name}`),
    });
    inf.start();
    await inf.waitForSync();
    expect(inf.list()).toEqual([]);
    const r = RESOURCES.machineConfigPool;
    try {
      await custom.createClusterCustomObject({
        group: r.group,
        version: r.version,
        plural: r.plural,
        body: { apiVersion: `${r.group}/${r.version}`, kind: r.kind, metadata: { name, labels: { [label]: 'yes' } }, spec: {} },
      });
      await custom.createClusterCustomObject({
        group: r.group,
        version: r.version,
        plural: r.plural,
        body: { apiVersion: `${r.group}/${r.version}`, kind: r.kind, metadata: { name: `${name}-unlabelled` }, spec: {} },
      });
      await waitFor('the pool', () => inf.get(name));
      expect(inf.get(name)?.metadata.namespace).toBeUndefined();
      await new Promise((res) => setTimeout(res, 300));
      expect(events).toEqual([`add:${name}`]); // the unlabelled one is not selected
    } finally {
      await inf.stop();
      for (const n of [name, `${name}-unlabelled`]) {
        await custom.deleteClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, name: n }).catch(() => undefined);
      }
    }
  });

  it('informs on a core type (Secret) in one namespace', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const label = `lbc-informer-test-${rand()}`;
    const name = `push-${rand()}`;
    const inf = new Informer({
      kubeConfig: kc,
      resource: CORE_RESOURCES.secret,
      namespace: NS,
      schema: SecretSchema,
      labelSelector: `${label}=yes`,
      fieldSelector: `metadata.name=${name}`,
    });
    inf.start();
    await inf.waitForSync();
    try {
      for (const n of [`${name}-other`, name]) {
        await core.createNamespacedSecret({
          namespace: NS,
          body: { metadata: { name: n, labels: { [label]: 'yes' } }, type: 'Opaque', stringData: { token: 'not-a-real-secret' } },
        });
      }
      const s = await waitFor('the secret', () => inf.get(name, NS));
      expect(inf.list().map((x) => x.metadata.name)).toEqual([name]); // the field selector holds on the watch too
      expect(Buffer.from(s.data?.token ?? '', 'base64').toString()).toBe('not-a-real-secret');
      await core.deleteNamespacedSecret({ name, namespace: NS });
      await waitFor('the secret deleted', () => !inf.get(name, NS));
    } finally {
      await inf.stop();
      for (const n of [name, `${name}-other`]) await core.deleteNamespacedSecret({ name: n, namespace: NS }).catch(() => undefined);
    }
  });
});
