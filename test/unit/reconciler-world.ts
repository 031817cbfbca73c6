// The reconciler against the plan-level World (plan-world.ts) instead of an API
// server: informer stores that read the World's objects (copies, as a cache
// hands out), a writer that applies each write to the World the way the API
// server would, and the World's registry for the push and the check. The
// driver wakes the pool the way the manager does: on any change of a watched
// object except the operator's own status writes (eventPredicate), and on the
// requeue delay the reconcile returned. Used by the unit test that counts the
// status writes of a first setup; the integration and e2e suites use the real stack.
import pino from 'pino';
import { DEFAULTS } from '../../src/config/config.ts';
import type { Config } from '../../src/config/config.ts';
import type { Store, Stores } from '../../src/controller/observe.ts';
import type { ClusterWriter, RegistryIO } from '../../src/controller/reconciler.ts';
import { Reconciler, ReportedError } from '../../src/controller/reconciler.ts';
import type { EventSpec } from '../../src/kube/client.ts';
import type { Build, BuildConfig, ControllerConfig, ImageStream, LayeredPool, MachineConfig, MachineConfigPool } from '../../src/kube/types.ts';
import type { Plan } from '../../src/plan/plan.ts';
import { CONTROLLER_CONFIG_NAME } from '../../src/plan/names.ts';
import type { KubeObject } from '../../src/plan/snapshot.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import type { World } from './plan-world.ts';
import { NS, REG } from './plan-world.ts';

type Named = { metadata: { name: string; namespace?: string | undefined } };

function mapStore<T extends Named>(m: () => ReadonlyMap<string, T>, namespaced: boolean): Store<T> {
  return {
    get: (name, namespace) => {
      if (namespaced && namespace !== undefined && namespace !== NS) return undefined;
      const o = m().get(name);
      return o === undefined ? undefined : structuredClone(o);
    },
    list: () => [...m().values()].map((o) => structuredClone(o)),
  };
}

const emptyPlan = (pool: string): Plan => ({ pool, managed: true, apply: [], create: [], createBuilds: [], cancelBuilds: [], importRequests: [], deleteMachineConfigs: [], events: [] });

export interface StatusWrite {
  at: number;
  phase: string | undefined;
  message: string | undefined;
  status: LayeredPool['status'];
}

export class ReconcilerWorld {
  readonly world: World;
  readonly reconciler: Reconciler;
  readonly statusWrites: StatusWrite[] = [];
  readonly events: EventSpec[] = [];
  readonly writes: string[] = [];
  /** GET imagestreamimages the reconciler made (the base's architecture). */
  readonly architectureReads: string[] = [];
  reconciles = 0;
  /** Writes the API server refuses (403), by their description (`create Build/<name>`, `apply ImageStream/<name>`...). */
  refuse: (what: string) => boolean = () => false;
  private seen = '';
  private due = Number.POSITIVE_INFINITY;
  private renderedFor: string | undefined;

  constructor(world: World, config: Partial<Config> = {}) {
    this.world = world;
    const w = world;
    const cc = (): ReadonlyMap<string, ControllerConfig> =>
      new Map(w.baseOSImage ? [[CONTROLLER_CONFIG_NAME, { metadata: { name: CONTROLLER_CONFIG_NAME }, spec: { baseOSContainerImage: w.baseOSImage } }]] : []);
    const stores: Stores = {
      pools: mapStore<MachineConfigPool>(() => w.pools, false),
      machineConfigs: mapStore<MachineConfig>(() => w.machineConfigs, false),
      controllerConfigs: mapStore<ControllerConfig>(cc, false),
      imageStreams: mapStore<ImageStream>(() => w.streams, true),
      buildConfigs: mapStore<BuildConfig>(() => w.buildConfigs, true),
      builds: mapStore<Build>(() => w.builds, true),
      layeredPools: mapStore<LayeredPool>(() => w.statuses, true),
    };
    const apply = (pool: string, part: Partial<Plan>) => w.apply({ ...emptyPlan(pool), ...part });
    const poolOf = (o: KubeObject) => o.metadata.annotations?.['machineconfiguration.openshift.io/pool'] ?? o.metadata.name;
    const refused = (what: string) => {
      if (this.refuse(what)) throw Object.assign(new Error(`${what}: forbidden`), { code: 403 });
    };
    const writer: ClusterWriter = {
      apply: async (obj) => {
        refused(`apply ${obj.kind}/${obj.metadata.name}`);
        // OwnerReferencesPermissionEnforcement: adding an owner to an existing object is an update that
        // needs 'delete' on it, which the operator does not have for ImageStreams (a create may set one).
        const cur = obj.kind === 'ImageStream' ? w.streams.get(obj.metadata.name) : undefined;
        if (cur && obj.metadata.ownerReferences?.length && !cur.metadata.ownerReferences?.length) {
          throw Object.assign(new Error(`imagestreams "${obj.metadata.name}" is forbidden: cannot set an ownerRef on a resource you can't delete`), { code: 403 });
        }
        this.writes.push(`apply ${obj.kind}/${obj.metadata.name}`);
        if (obj.kind === 'MachineConfig') apply(poolOf(obj), { handoffMachineConfig: obj });
        else apply(poolOf(obj), { apply: [obj] });
        // The API server's objects carry their apiVersion and kind (the World's streams do not).
        const stored = (obj.kind === 'ImageStream' ? w.streams : obj.kind === 'BuildConfig' ? w.buildConfigs : obj.kind === 'MachineConfig' ? w.machineConfigs : w.statuses).get(obj.metadata.name);
        if (stored) Object.assign(stored, { apiVersion: obj.apiVersion, kind: obj.kind });
        return true;
      },
      createIfAbsent: async (obj) => {
        if (obj.kind === 'BuildConfig' && w.buildConfigs.has(obj.metadata.name)) return false;
        this.writes.push(`create ${obj.kind}/${obj.metadata.name}`);
        apply(poolOf(obj), { create: [obj] });
        return true;
      },
      createBuild: async (b) => {
        if (w.builds.has(b.metadata.name)) return false;
        refused(`create Build/${b.metadata.name}`);
        this.writes.push(`create Build/${b.metadata.name}`);
        apply(poolOf(b), { createBuilds: [b] });
        return true;
      },
      cancelBuild: async (name) => {
        this.writes.push(`cancel Build/${name}`);
        const b = w.builds.get(name);
        if (b) apply(b.metadata.annotations?.['machineconfiguration.openshift.io/pool'] ?? '', { cancelBuilds: [name] });
      },
      importImage: async (req) => {
        this.writes.push(`import ${req.metadata.name}`);
        apply('', { importRequests: [req] });
        return [];
      },
      applyPool: async (pool, a) => {
        this.writes.push(`apply MachineConfigPool/${pool}${a.paused ? ' (held)' : ''}`);
        apply(pool, { poolApply: a });
        return { generation: w.pools.get(pool)?.metadata.generation };
      },
      applyStatus: async (_r, name, status) => {
        const st = w.statuses.get(name);
        if (!st) throw Object.assign(new Error(`layeredpools "${name}" not found`), { code: 404 });
        const s = structuredClone(status) as LayeredPool['status'];
        st.status = s;
        // The API server moves the object's resourceVersion with each write.
        st.metadata.resourceVersion = String(Number(st.metadata.resourceVersion ?? '0') + 1);
        this.writes.push(`status LayeredPool/${name}`);
        this.statusWrites.push({ at: w.now, phase: s?.phase, message: s?.message, status: structuredClone(s) });
        return true;
      },
      event: async (_pool, e) => {
        this.events.push(e);
      },
      imageArchitecture: async (stream, digest) => {
        // A read, not a write: recorded apart (OpenShift's Image of an imported stream image).
        this.architectureReads.push(`${stream}@${digest}`);
        return w.architectureOf(stream, digest);
      },
      deleteMachineConfig: async (name) => {
        this.writes.push(`delete MachineConfig/${name}`);
        w.machineConfigs.delete(name);
      },
    };
    const registryIO: RegistryIO = {
      push: async (push) => {
        const before = w.pushes.length;
        w.push(push.repository, push.image.manifestDigest, push.tags, push.renderedConfig);
        return { pushed: w.pushes.length > before, digest: push.image.manifestDigest, bytes: 0 };
      },
      check: async (req) => {
        w.checksRun.push(req.image);
        return w.checker(req.image);
      },
    };
    const cfg: Config = {
      ...DEFAULTS,
      namespace: NS,
      registry: REG,
      applyCommand: w.config.applyCommand,
      debounceMs: w.config.debounceMs,
      historySize: w.config.historySize,
      retryLimit: w.config.retryLimit,
      retryBackoffMs: w.config.retryBackoffMs,
      ...config,
    };
    this.reconciler = new Reconciler({
      config: cfg,
      stores,
      writer,
      registryIO,
      metrics: createMetrics({ processMetrics: false }),
      log: pino({ level: 'silent' }),
      now: () => w.now,
    });
  }

  /** What a watch would deliver, minus the status of the status objects (the operator's own writes do not wake the pool). */
  private watched(): string {
    const w = this.world;
    const statuses = [...w.statuses].map(([k, v]) => [k, v.metadata, (v as { spec?: unknown }).spec]);
    return JSON.stringify([[...w.pools], [...w.machineConfigs], w.baseOSImage, [...w.streams], [...w.buildConfigs], [...w.builds], statuses]);
  }

  /** OpenShift's part: image imports, builds, and MCC's re-render after a hand-off. Returns whether anything changed. */
  private openshift(pool: string): boolean {
    const before = this.watched();
    this.world.importAll();
    this.world.runBuilds();
    const image = this.world.handoffImage(pool);
    if (image && image !== this.renderedFor) {
      this.renderedFor = image;
      this.world.mccRerender(pool);
    }
    return this.watched() !== before;
  }

  private async reconcileOnce(pool: string): Promise<void> {
    this.reconciles++;
    let r: { requeueAfter?: number };
    try {
      r = await this.reconciler.reconcile(pool);
    } catch (e) {
      if (!(e instanceof ReportedError)) throw e;
      r = { requeueAfter: 1000 };
    }
    this.due = r.requeueAfter !== undefined ? this.world.now + r.requeueAfter : Number.POSITIVE_INFINITY;
  }

  /**
   * Runs the pool until `until()` holds and the pool is quiet: no watched
   * change left to deliver, OpenShift has nothing to do, and a reconcile woken
   * by its requeue timer changed nothing. Time jumps to the next requeue.
   */
  async settle(pool: string, until: () => boolean = () => true, maxRounds = 500): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      const now = this.watched();
      if (now !== this.seen) {
        this.seen = now;
        await this.reconcileOnce(pool);
        continue;
      }
      if (this.openshift(pool)) continue;
      if (this.due === Number.POSITIVE_INFINITY) {
        if (until()) return;
        throw new Error('the pool is idle but the condition does not hold');
      }
      this.world.now = Math.max(this.world.now, this.due);
      const writes = this.writes.length;
      await this.reconcileOnce(pool);
      if (this.writes.length === writes && this.watched() === this.seen && until()) return;
    }
    throw new Error(`the pool did not settle within ${maxRounds} rounds`);
  }
}
