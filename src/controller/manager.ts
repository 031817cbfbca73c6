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
  NodeSchema,
  nodeForCache,
  OSImageStreamSchema,
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
import { pruneOnce } from '../kube/prune.ts';
import { realClock, sleep } from '../util/clock.ts';
import { RegistryClients } from '../registry/clients.ts';
import { FIELD_MANAGER, LABEL_MANAGED, OS_IMAGE_STREAM_NAME } from '../plan/names.ts';
import { Counter } from 'prom-client';
import { watchApiRequests } from '../kube/api-requests.ts';

/**
 * The label selector of the Build informer: the label every Build the
 * operator creates carries. ImageStreams and BuildConfigs are not selected by
 * label: an admin's `oc tag <image> <pool>-external-base:latest` creates that
 * stream unlabelled when it is not there yet, a user may create the custom
 * BuildConfig, and an unlabelled object with one of the operator's names is
 * the conflict the planner reports; all of them must be seen (docs/design.md,
 * "Caches").
 */
export const OWNED_BUILDS_SELECTOR = `${LABEL_MANAGED}=${FIELD_MANAGER}`;

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
  private unwatchRequests: (() => void) | undefined;

  constructor(o: ManagerOptions) {
    this.o = o;
    const { config, kubeConfig, log } = o;
    this.metrics = o.metrics ?? createMetrics();
    const ns = config.namespace;
    const wakes = eventPredicate();
    const mk = <T extends Named>(
      kind: WatchedKind,
      r: ResourceCoords,
      schema: z.ZodType<T>,
      namespace?: string,
      fieldSelector?: string,
      labelSelector?: string,
      optional = false,
      transform?: (obj: T) => T,
    ): Informer<T> => {
      const inf = new Informer<T>({
        kubeConfig,
        resource: r,
        ...(optional ? { optional } : {}),
        ...(transform ? { transform } : {}),
        schema,
        ...(namespace ? { namespace } : {}),
        ...(fieldSelector ? { fieldSelector } : {}),
        ...(labelSelector ? { labelSelector } : {}),
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
      // Only `cluster`, and only where the cluster serves OSImageStream (newer MCO): an empty cache elsewhere.
      osImageStreams: mk('OSImageStream', RESOURCES.osImageStream, OSImageStreamSchema, undefined, `metadata.name=${OS_IMAGE_STREAM_NAME}`, undefined, true),
      imageStreams: mk('ImageStream', RESOURCES.imageStream, ImageStreamSchema, ns),
      buildConfigs: mk('BuildConfig', RESOURCES.buildConfig, BuildConfigSchema, ns),
      // Only the operator's own Builds (it labels every one it creates; the
      // planner reads no other): not OCM's or MCO's builds in the namespace,
      // nor a user's `oc start-build`. See OWNED_BUILDS_SELECTOR.
      builds: mk('Build', RESOURCES.build, BuildSchema, ns, undefined, OWNED_BUILDS_SELECTOR),
      layeredPools: mk('LayeredPool', RESOURCES.layeredPool, LayeredPoolSchema, ns),
      // Nodes, for the machine-config daemon's state and reason on each node of a pool: cached as
      // name, labels and the daemon's annotations only.
      nodes: mk('Node', CORE_RESOURCES.node, NodeSchema, undefined, undefined, undefined, false, nodeForCache),
      // Only the push secret, by name: the operator may read no other Secret.
      ...(config.pushSecret ? { pushSecrets: mk('Secret', CORE_RESOURCES.secret, SecretSchema, ns, `metadata.name=${config.pushSecret}`) } : {}),
    };
    // The apply cache compares with the resourceVersion the informers hold now.
    const byPlural = new Map<string, Informer<Named>>(this.informers.map((i) => [i.resource.plural, i]));
    this.writer = new KubeWriter(kubeConfig, ns, undefined, {
      currentVersion: (r, name, namespace) => byPlural.get(r.plural)?.get(name, namespace)?.metadata.resourceVersion,
    });
    this.registries = new RegistryClients({ concurrency: config.registryConcurrency });
    this.countApiRequests(kubeConfig);
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

  /**
   * lbc_api_requests_total{verb,resource} and lbc_api_connections_total (new
   * connections to the API server: TLS handshakes), and
   * lbc_apply_requests_total{result} (applies sent, or answered by the apply
   * cache). Registered once per metrics registry.
   */
  private countApiRequests(kubeConfig: k8s.KubeConfig): void {
    const server = kubeConfig.getCurrentCluster()?.server;
    const registers = [this.metrics.registry];
    if (!server || this.metrics.registry.getSingleMetric('lbc_api_requests_total')) return;
    const requests = new Counter({ name: 'lbc_api_requests_total', help: 'Requests sent to the API server, by HTTP verb and resource (plural, with a subresource).', labelNames: ['verb', 'resource'] as const, registers });
    const connections = new Counter({ name: 'lbc_api_connections_total', help: 'Connections (TLS handshakes) opened to the API server.', registers });
    const writer = this.writer;
    new Counter({
      name: 'lbc_apply_requests_total',
      help: 'Server-side applies by result: sent, or skipped (the same request was answered at the object\'s current resourceVersion).',
      labelNames: ['result'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'sent' }, writer.applies.sent);
        this.inc({ result: 'skipped' }, writer.applies.skipped);
      },
    });
    this.unwatchRequests = watchApiRequests({ server, onRequest: (verb, resource) => requests.inc({ verb, resource }), onConnect: () => connections.inc() });
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
      this.unwatchRequests?.();
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
    const pruning = config.pruneIntervalMs > 0 ? this.pruneEvery(config.pruneIntervalMs, signal) : Promise.resolve();
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
      await pruning;
      if (this.queue === queue) this.queue = undefined;
      log.info('stopped reconciling; work in flight finished');
    }
  }

  /**
   * Retention while leading: every `intervalMs` (the first one interval after
   * leadership starts) the same prune as `layered-build-controller prune`,
   * beside the reconciles (never blocking them). A failed run is logged and
   * tried again at the next interval; it never ends the operator.
   */
  private async pruneEvery(intervalMs: number, signal: AbortSignal): Promise<void> {
    const { config, log } = this.o;
    const plog = log.child({ component: 'prune' });
    plog.info({ intervalMs, keepImages: config.keepImages, keepForMs: config.keepForMs }, 'pruning periodically');
    for (;;) {
      try {
        await sleep(realClock, intervalMs, signal);
      } catch {
        return; // no longer leading, or stopping
      }
      try {
        const run = await pruneOnce(
          this.o.kubeConfig,
          { namespace: config.namespace, registry: config.registry, keepImages: config.keepImages, keepForMs: config.keepForMs },
          { dryRun: false, writer: this.writer, log: plog, metrics: this.metrics, registryClient: () => this.reconciler.registryClient(), signal },
        );
        const n = (o: string) => run.results.filter((r) => r.outcome === o).length;
        plog.info({ pools: run.plans.length, removed: n('removed'), failed: n('failed'), left: n('left'), gone: n('gone') }, 'prune finished');
      } catch (e) {
        if (signal.aborted) return;
        plog.warn({ err: describeApiError(e) }, 'prune failed; trying again at the next interval');
      }
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
