// The manager: owns the informers, the work queue and its workers, leader
// election, the metrics and probe servers, and graceful shutdown.
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Config } from '../config/config.ts';
import type { Plan } from '../plan/plan.ts';
import type { KubeObject } from '../plan/snapshot.ts';
import { KubeWriter, describeApiError, serviceAccountToken } from '../kube/client.ts';
import type { Named } from '../kube/informer.ts';
import { CORE_RESOURCES, Informer, SecretSchema } from '../kube/informer.ts';
import type { ResourceCoords } from '../kube/types.ts';
import {
  BuildConfigSchema,
  BuildSchema,
  ControllerConfigSchema,
  ImageStreamSchema,
  LayeredPoolSchema,
  MachineConfigPoolSchema,
  MachineConfigSchema,
  RESOURCES,
} from '../kube/types.ts';
import { LeaderElector } from '../leader/lease.ts';
import { WorkQueue, runWorkers } from '../queue/workqueue.ts';
import type { HttpServers } from '../server/http.ts';
import { readiness, startHttpServers } from '../server/http.ts';
import type { Metrics } from '../server/metrics.ts';
import { createMetrics } from '../server/metrics.ts';
import type { WatchedKind } from './keys.ts';
import { eventPredicate, poolKeysFor } from './keys.ts';
import type { Stores } from './observe.ts';
import { Reconciler, ReportedError } from './reconciler.ts';
import { RegistryClients } from '../registry/clients.ts';

export interface ManagerOptions {
  config: Config;
  kubeConfig: k8s.KubeConfig;
  log: Logger;
  /** Defaults to a new registry with process metrics. */
  metrics?: Metrics;
  /** Leader election identity (default hostname + random suffix). */
  identity?: string;
}

export class Manager {
  readonly metrics: Metrics;
  /** The queue of the current leadership term (undefined while not leading). */
  private queue: WorkQueue | undefined;
  private readonly o: ManagerOptions;
  private readonly informers: Informer<Named>[] = [];
  readonly stores: Stores;
  readonly reconciler: Reconciler;
  readonly writer: KubeWriter;
  readonly registries: RegistryClients;
  private http: HttpServers | undefined;
  private elector: LeaderElector | undefined;
  private stopping = false;

  constructor(o: ManagerOptions) {
    this.o = o;
    const { config, kubeConfig, log } = o;
    this.metrics = o.metrics ?? createMetrics();
    const ns = config.namespace;
    const wakes = eventPredicate();
    const mk = <T extends Named>(kind: WatchedKind, r: ResourceCoords, schema: z.ZodType<T>, namespace?: string, fieldSelector?: string): Informer<T> => {
      const inf = new Informer<T>({
        kubeConfig,
        resource: r,
        schema,
        ...(namespace ? { namespace } : {}),
        ...(fieldSelector ? { fieldSelector } : {}),
        resyncPeriodMs: config.resyncPeriodMs,
        logger: log.child({ informer: r.plural }),
        metrics: this.metrics,
        // Handlers only map the event to pool keys and enqueue them.
        onEvent: (obj, type) => {
          if (!wakes(kind, obj, type)) return;
          for (const key of poolKeysFor(kind, obj as never, () => this.stores.pools.list())) this.queue?.add(key);
        },
      });
      this.informers.push(inf as unknown as Informer<Named>);
      return inf;
    };
    this.stores = {
      pools: mk('MachineConfigPool', RESOURCES.machineConfigPool, MachineConfigPoolSchema),
      machineConfigs: mk('MachineConfig', RESOURCES.machineConfig, MachineConfigSchema),
      controllerConfigs: mk('ControllerConfig', RESOURCES.controllerConfig, ControllerConfigSchema),
      imageStreams: mk('ImageStream', RESOURCES.imageStream, ImageStreamSchema, ns),
      buildConfigs: mk('BuildConfig', RESOURCES.buildConfig, BuildConfigSchema, ns),
      builds: mk('Build', RESOURCES.build, BuildSchema, ns),
      layeredPools: mk('LayeredPool', RESOURCES.layeredPool, LayeredPoolSchema, ns),
      // Only the push secret, by name: the operator may read no other Secret.
      ...(config.pushSecret ? { pushSecrets: mk('Secret', CORE_RESOURCES.secret, SecretSchema, ns, `metadata.name=${config.pushSecret}`) } : {}),
    };
    // The apply cache compares with the resourceVersion the informers hold now.
    const byPlural = new Map<string, Informer<Named>>(this.informers.map((i) => [i.resource.plural, i]));
    this.writer = new KubeWriter(kubeConfig, ns, undefined, {
      currentVersion: (r, name, namespace) => byPlural.get(r.plural)?.get(name, namespace)?.metadata.resourceVersion,
    });
    this.registries = new RegistryClients({ concurrency: config.registryConcurrency });
    this.reconciler = new Reconciler({
      config,
      stores: this.stores,
      writer: this.writer,
      metrics: this.metrics,
      log,
      registryToken: () => serviceAccountToken(kubeConfig),
      registries: this.registries,
    });
  }

  synced(): boolean {
    return this.informers.every((i) => i.hasSynced());
  }

  isLeader(): boolean {
    return this.queue !== undefined;
  }

  /** Syncs the caches once (within `syncTimeoutMs`), plans one pool without writing anything, and stops. */
  async renderOnce(pool: string, syncTimeoutMs = 60_000): Promise<{ plan: Plan; changes: (o: KubeObject) => boolean }> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), syncTimeoutMs);
    try {
      await Promise.all(this.informers.map((i) => i.start()));
      await Promise.all(this.informers.map((i) => i.waitForSync(abort.signal)));
      const unsynced = this.informers.filter((i) => !i.hasSynced());
      if (unsynced.length) {
        const why = unsynced.map((i) => i.lastError()).find((e) => e !== undefined);
        throw new Error(
          `the caches did not sync within ${syncTimeoutMs / 1000} s (${unsynced.map((i) => i.name).join(', ')}) from ${this.o.kubeConfig.getCurrentCluster()?.server ?? 'the API server'}${why ? `: ${why}` : ''}`,
        );
      }
      const plan = await this.reconciler.plan(pool);
      return { plan, changes: (o) => this.reconciler.wouldChange(o) };
    } finally {
      clearTimeout(timer);
      abort.abort();
      await Promise.all(this.informers.map((i) => i.stop()));
    }
  }

  /** Runs until `signal` aborts; then drains work in flight, releases the Lease and stops. */
  async start(signal: AbortSignal): Promise<void> {
    const { config, log } = this.o;
    const ready = () => {
      if (this.stopping) return { ok: false, reason: 'shutting down' };
      return readiness({ cachesSynced: () => this.synced(), ...(this.elector ? { leader: this.elector } : {}) })();
    };
    this.metrics.setReadyProbe(() => {
      const r = ready();
      return typeof r === 'boolean' ? r : 'ok' in r ? r.ok : false;
    });
    this.http = await startHttpServers({
      metricsAddress: config.metricsAddr,
      probeAddress: config.probeAddr,
      metrics: this.metrics,
      ready,
    });
    log.info({ metrics: this.http.metricsUrl, probes: this.http.probeUrl }, 'serving metrics and probes');
    try {
      await Promise.all(this.informers.map((i) => i.start()));
      await Promise.all(this.informers.map((i) => i.waitForSync(signal)));
      if (signal.aborted) return;
      this.metrics.setCacheSynced(true);
      log.info('caches synced');
      if (config.leaderElect) {
        this.elector = new LeaderElector({
          namespace: config.namespace,
          name: config.leaseName,
          kubeConfig: this.o.kubeConfig,
          leaseDurationMs: config.leaseDurationMs,
          renewDeadlineMs: config.renewDeadlineMs,
          retryPeriodMs: config.retryPeriodMs,
          logger: log.child({ component: 'leader-election' }),
          metrics: this.metrics,
          ...(this.o.identity ? { identity: this.o.identity } : {}),
          onStartedLeading: (leaderSignal) => this.lead(leaderSignal),
          onStoppedLeading: () => log.warn('stopped leading: reconciling stopped'),
          onNewLeader: (id) => log.info({ leader: id }, 'leader observed'),
        });
        await this.elector.run(signal);
      } else {
        this.metrics.setLeader(true);
        await this.lead(signal);
      }
    } finally {
      this.stopping = true;
      await Promise.all(this.informers.map((i) => i.stop()));
      this.registries.close();
      await this.http.close();
      log.info('stopped');
    }
  }

  /** One term of leadership: a fresh queue and its workers, until `signal` aborts; drains on the way out. */
  private async lead(signal: AbortSignal): Promise<void> {
    const { config, log } = this.o;
    const queue = new WorkQueue({ metrics: this.metrics.workqueue });
    this.queue = queue;
    log.info('leading: reconciling pools');
    for (const p of this.stores.pools.list()) queue.add(p.metadata.name);
    try {
      await runWorkers(queue, config.concurrency, (key) => this.reconcileOne(key, signal), {
        signal,
        onError: (key, err) => {
          if (signal.aborted) log.info({ pool: key }, 'reconcile stopped: no longer leading');
          else if (err instanceof ReportedError) log.warn({ pool: key, err: err.message }, 'reconcile reported a problem; retrying with backoff');
          else log.error({ pool: key, err: describeApiError(err) }, 'reconcile failed; retrying with backoff');
        },
      });
    } finally {
      if (this.queue === queue) this.queue = undefined;
      log.info('stopped reconciling; work in flight finished');
    }
  }

  private async reconcileOne(key: string, signal: AbortSignal) {
    const start = performance.now();
    try {
      const r = await this.reconciler.reconcile(key, signal);
      this.metrics.reconcile(r.requeueAfter !== undefined ? 'requeue' : 'success', (performance.now() - start) / 1000);
      return r;
    } catch (e) {
      this.metrics.reconcile('error', (performance.now() - start) / 1000);
      throw e;
    }
  }
}
