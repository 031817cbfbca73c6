// A restartable, schema-checked informer over @kubernetes/client-node 2.x's
// ListWatch (what makeInformer returns; built directly to pass a field selector too).
//
// - Every object is parsed with a zod schema; one that fails is logged with its
//   key and skipped (a previously good copy stays in the cache), never a crash.
// - The cache here is the source of truth: each list (first sync, a relist
//   after a 410, a restart) is reconciled against it, emitting add / update /
//   delete only for real changes (unchanged resourceVersion = no event), and
//   deletes for objects that disappeared while nobody watched.
// - client-node's ListWatch stops for good on a non-410 error (a failed list,
//   a watch refused with 403/404/5xx). We listen to its 'error' event and start
//   a fresh ListWatch (a full relist, as client-go's reflector does) after an
//   exponential backoff, counting the restarts.
// - ListWatch's own copy of each object is cut to its name and resourceVersion
//   once the cache here has it (slimListWatchEntry): nothing is held twice.
// - Every resync period (once synced) it does two things: a relist (a fresh
//   ListWatch whose list is diffed against the cache, emitting what a lost
//   watch event hid; client-go's resync does not do this) and a resync
//   (every cached object re-emitted as an 'update', from the cache alone, as
//   client-go's resync does).
// Handlers must only enqueue: they run synchronously inside the event stream.

import {
  CoreV1Api,
  CustomObjectsApi,
  ListWatch,
  Watch,
  type Informer as ClientInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { z } from 'zod';
import { realClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { ObjectMetaSchema, type ResourceCoords } from './types.ts';
import { errorFields } from './errors.ts';

export type EventType = 'add' | 'update' | 'delete';
export type EventHandler<T> = (obj: T, type: EventType) => void;

/** The minimum every informed object has. */
export interface Named {
  metadata: { name: string; namespace?: string | undefined; resourceVersion?: string | undefined };
}

/** Core (group '') coordinates the operator informs on, besides RESOURCES' CRDs. */
export const CORE_RESOURCES = {
  secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  node: { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
} as const satisfies Record<string, ResourceCoords>;

export const SecretSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).nullish(),
});
export type Secret = z.infer<typeof SecretSchema>;

export interface InformerMetrics {
  informerRestart(resource: string): void;
}

export interface InformerOptions<T extends Named> {
  kubeConfig: KubeConfig;
  /** What to inform on: an entry of RESOURCES, or CORE_RESOURCES for core types (group ''). */
  resource: ResourceCoords;
  /** For a namespaced resource, the namespace to watch; omitted = all namespaces. Ignored for cluster-scoped ones. */
  namespace?: string;
  /** Every object is parsed with it; failures are logged and skipped. */
  schema: z.ZodType<T>;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Applied to every parsed object before it is cached and emitted: keep only
   * what the planner reads (default: stripCachedObject, which drops
   * managedFields and kubectl's last-applied annotation).
   */
  transform?: (obj: T) => T;
  /** Relist, and re-emit every cached object as 'update', this often; 0 disables both. Default 10 minutes. */
  resyncPeriodMs?: number;
  /** First restart delay after an error; doubles per consecutive error. Default 1 s. */
  restartBaseMs?: number;
  /** Cap of the restart delay. Default 60 s. */
  restartMaxMs?: number;
  /** The restart backoff starts over after this long without an error. Default 2 minutes. */
  restartResetMs?: number;
  /** Name in logs and the restart metric. Default the resource's plural. */
  name?: string;
  /** Handlers registered before start (more with `addHandler`). */
  onEvent?: EventHandler<T>;
  clock?: Clock;
  logger?: Logger;
  metrics?: InformerMetrics;
  /** Called on every restart after an error (besides metrics.informerRestart). */
  onRestart?: () => void;
  /** Replaces the list call (tests, or a resource the default lister does not cover). */
  listFn?: () => Promise<KubernetesListObject<KubernetesObject>>;
  /**
   * A resource the cluster may not serve (a newer API): a list answered 404 counts as an empty,
   * synced cache instead of an error, and the list is tried again every `resyncPeriodMs`.
   */
  optional?: boolean;
}

export const INFORMER_DEFAULTS = {
  resyncPeriodMs: 10 * 60_000,
  restartBaseMs: 1_000,
  restartMaxMs: 60_000,
  restartResetMs: 2 * 60_000,
} as const;

/** The API path ListWatch watches for `r` (optionally in one namespace). */
export function resourcePath(r: ResourceCoords, namespace?: string): string {
  const prefix = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return r.namespaced && namespace ? `${prefix}/namespaces/${namespace}/${r.plural}` : `${prefix}/${r.plural}`;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the cache key. */
export function objectKey(meta: { name?: string | undefined; namespace?: string | undefined } | undefined): string {
  const name = meta?.name ?? '';
  return meta?.namespace ? `${meta.namespace}/${name}` : name;
}


const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The default transform: an object without `metadata.managedFields` (the
 * server's field-ownership record, often larger than the object and never
 * read by the operator) and without kubectl's last-applied annotation (a
 * second copy of the object).
 */
export function stripCachedObject<T extends Named>(obj: T): T {
  const md = obj.metadata as Named['metadata'] & { managedFields?: unknown; annotations?: Record<string, string> };
  if (md.managedFields === undefined && md.annotations?.[LAST_APPLIED] === undefined) return obj;
  const { managedFields: _drop, ...rest } = md;
  if (rest.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _last, ...annotations } = rest.annotations;
    rest.annotations = annotations;
  }
  return { ...obj, metadata: rest };
}

/**
 * client-node's ListWatch keeps every object it saw, as served (managedFields
 * and all), in a map of its own, only to tell an add from an update (by
 * resourceVersion) and to find what a relist no longer has (by name). The
 * Informer's cache holds the parsed copy, so once a handler has it, the
 * ListWatch entry is cut to name, namespace and resourceVersion: the objects
 * are not held twice. Does nothing when
 * the entry is not `obj` itself, or when ListWatch's map is not where this
 * expects it (a test pins the shape of the client-node version in use).
 */
export function slimListWatchEntry(lw: object, obj: KubernetesObject): void {
  const objects = (lw as { objects?: unknown }).objects;
  if (!(objects instanceof Map)) return;
  const ns = obj.metadata?.namespace;
  const byName: unknown = objects.get(ns || '');
  const name = obj.metadata?.name || '';
  if (!(byName instanceof Map) || byName.get(name) !== obj) return;
  byName.set(name, { metadata: { name, ...(ns ? { namespace: ns } : {}), resourceVersion: obj.metadata?.resourceVersion } });
}

export class Informer<T extends Named> {
  readonly name: string;
  readonly resource: ResourceCoords;
  private readonly opts: InformerOptions<T>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly handlers: EventHandler<T>[] = [];
  private readonly cache = new Map<string, T>();
  private readonly listFn: () => Promise<KubernetesListObject<KubernetesObject>>;
  private current: ClientInformer<KubernetesObject> | undefined;
  private generation = 0;
  private started = false;
  private stopped = false;
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private restartTimer: TimerHandle | undefined;
  private resyncTimer: TimerHandle | undefined;
  private restarts = 0;
  private consecutiveErrors = 0;
  private lastErrorAt: number | undefined;
  private lastErrorText: string | undefined;

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.name = opts.name ?? opts.resource.plural;
    this.resource = opts.resource;
    this.clock = opts.clock ?? realClock;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'informer', resource: this.name });
    if (opts.onEvent) this.handlers.push(opts.onEvent);
    this.listFn = opts.listFn ?? defaultLister(opts);
  }

  /** Registers a handler (it must only enqueue); returns a function that removes it. */
  addHandler(handler: EventHandler<T>): () => void {
    this.handlers.push(handler);
    return () => {
      const i = this.handlers.indexOf(handler);
      if (i >= 0) this.handlers.splice(i, 1);
    };
  }

  /** Starts listing and watching (returns at once; see waitForSync). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.launch();
    this.scheduleResync();
  }

  /** Stops watching; no event is emitted afterwards. The cache keeps its last state. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    if (this.restartTimer !== undefined) this.clock.clearTimeout(this.restartTimer);
    if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
    this.restartTimer = this.resyncTimer = undefined;
    const inf = this.current;
    this.current = undefined;
    await inf?.stop();
    this.syncWaiters.splice(0).forEach((w) => w());
  }

  /** True once the first list completed (stays true across restarts). */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced; false if `signal` aborts or the informer stops first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopped || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== waiter);
        resolve(false);
      };
      const waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.synced);
      };
      this.syncWaiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Cached objects (of one namespace, when given). */
  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => (o.metadata.namespace ?? '') === namespace);
  }

  /** A cached object by name (and namespace for namespaced resources). */
  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(objectKey({ name, namespace }));
  }

  /** The last error that stopped the list/watch (one line, with its cause), until the next successful list. */
  lastError(): string | undefined {
    return this.lastErrorText;
  }

  /** Restarts after errors so far. */
  restartCount(): number {
    return this.restarts;
  }

  // ---- internals ------------------------------------------------------------

  private launch(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    const path = resourcePath(this.opts.resource, this.opts.namespace);
    const listFn = async () => {
      const list = await this.listFn();
      // Stopped (or superseded) while listing: fail the list so ListWatch does not go on to open a watch.
      if (gen !== this.generation) throw new Error('informer stopped');
      this.reconcileList(list.items ?? []);
      return list;
    };
    // What makeInformer builds, plus the field selector (makeInformer takes only a label selector).
    const inf = new ListWatch<KubernetesObject>(path, new Watch(this.opts.kubeConfig), listFn, false, this.opts.labelSelector, this.opts.fieldSelector);
    this.current = inf;
    const onUpsert = (o: KubernetesObject) => {
      if (gen === this.generation) this.upsert(o);
      slimListWatchEntry(inf, o);
    };
    inf.on('add', onUpsert);
    inf.on('update', onUpsert);
    inf.on('delete', (o) => gen === this.generation && this.remove(o));
    inf.on('error', (err) => gen === this.generation && this.onError(err));
    inf.start().catch((err: unknown) => {
      if (gen === this.generation) this.onError(err);
    });
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    this.generation++; // ignore anything the failed ListWatch still emits
    const failed = this.current;
    this.current = undefined;
    void failed?.stop().catch(() => undefined);
    if (this.opts.optional && errorFields(err).code === 404) {
      this.notServed();
      return;
    }
    const now = this.clock.now();
    if (this.lastErrorAt !== undefined && now - this.lastErrorAt > (this.opts.restartResetMs ?? INFORMER_DEFAULTS.restartResetMs)) {
      this.consecutiveErrors = 0;
    }
    this.lastErrorAt = now;
    const base = this.opts.restartBaseMs ?? INFORMER_DEFAULTS.restartBaseMs;
    const max = this.opts.restartMaxMs ?? INFORMER_DEFAULTS.restartMaxMs;
    const delay = Math.min(base * 2 ** this.consecutiveErrors, max);
    this.consecutiveErrors++;
    const fields = errorFields(err);
    this.lastErrorText = fields.code !== undefined ? `HTTP ${fields.code}: ${fields.message}` : fields.message;
    this.log.warn({ err: fields, server: this.opts.kubeConfig.getCurrentCluster()?.server, restartInMs: delay }, 'informer stopped on an error; restarting');
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.restarts++;
      this.opts.metrics?.informerRestart(this.name);
      try {
        this.opts.onRestart?.();
      } catch (e) {
        this.log.error({ err: errorFields(e) }, 'onRestart hook threw');
      }
      this.launch();
    }, delay);
  }

  /** An optional resource the cluster does not serve (its failed ListWatch already dropped): an empty, synced cache; listed again after a resync period. */
  private notServed(): void {
    if (!this.synced) this.log.info('the cluster does not serve this resource: treated as empty, listed again every resync period');
    this.reconcileList([]);
    this.lastErrorText = undefined;
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.launch();
    }, this.opts.resyncPeriodMs || INFORMER_DEFAULTS.resyncPeriodMs);
  }

  private parse(raw: KubernetesObject): T | undefined {
    const key = objectKey(raw.metadata);
    const r = this.opts.schema.safeParse(raw);
    if (r.success) return (this.opts.transform ?? stripCachedObject)(r.data);
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    this.log.warn({ key, resourceVersion: raw.metadata?.resourceVersion, issues }, 'object does not match its schema; skipped');
    return undefined;
  }

  private upsert(raw: KubernetesObject): void {
    const obj = this.parse(raw);
    if (!obj) return;
    const key = objectKey(obj.metadata);
    const old = this.cache.get(key);
    if (old && old.metadata.resourceVersion !== undefined && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.cache.set(key, obj);
    this.emit(obj, old ? 'update' : 'add');
  }

  private remove(raw: KubernetesObject): void {
    const key = objectKey(raw.metadata);
    const old = this.cache.get(key);
    if (!old) return;
    this.cache.delete(key);
    this.emit(old, 'delete');
  }

  /** A full list: upsert what is there, delete what is not. */
  private reconcileList(items: KubernetesObject[]): void {
    const seen = new Set<string>();
    for (const raw of items) {
      seen.add(objectKey(raw.metadata));
      this.upsert(raw);
    }
    for (const [key, old] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit(old, 'delete');
      }
    }
    if (this.consecutiveErrors > 0) this.log.info({ objects: this.cache.size }, 'informer relisted after a restart');
    if (!this.synced) {
      this.synced = true;
      this.log.info({ objects: this.cache.size }, 'informer cache synced');
      this.syncWaiters.splice(0).forEach((w) => w());
    }
  }

  private emit(obj: T, type: EventType): void {
    for (const h of [...this.handlers]) {
      try {
        h(obj, type);
      } catch (err) {
        this.log.error({ err: errorFields(err), key: objectKey(obj.metadata), type }, 'event handler threw');
      }
    }
  }

  private scheduleResync(): void {
    const period = this.opts.resyncPeriodMs ?? INFORMER_DEFAULTS.resyncPeriodMs;
    if (!(period > 0) || this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      this.resyncTimer = undefined;
      if (this.stopped) return;
      if (this.synced) {
        this.relist();
        this.resync();
      }
      this.scheduleResync();
    }, period);
  }

  /**
   * The safety net: a fresh ListWatch, whose full list is diffed against the
   * cache (emitting whatever a lost watch event hid), and whose watch then
   * follows from that list. Events of the old watch are ignored from here on.
   */
  relist(): void {
    if (this.stopped || !this.started) return;
    const old = this.current;
    this.current = undefined;
    this.launch();
    void old?.stop().catch(() => undefined);
  }

  /** Re-emits every cached object as an 'update'. */
  resync(): void {
    for (const obj of [...this.cache.values()]) this.emit(obj, 'update');
  }
}

/**
 * The default list call, by plural: CustomObjectsApi (group/version/plural) for
 * API groups, CoreV1Api for the core resources the operator informs on. Never
 * KubernetesObjectApi, whose kind lookup can land on a subresource.
 */
function defaultLister<T extends Named>(opts: InformerOptions<T>): () => Promise<KubernetesListObject<KubernetesObject>> {
  const r = opts.resource;
  const { labelSelector, fieldSelector } = opts;
  const ns = r.namespaced ? opts.namespace : undefined;
  if (r.group === '') {
    if (r.version === 'v1' && r.plural === CORE_RESOURCES.node.plural) {
      const core = opts.kubeConfig.makeApiClient(CoreV1Api);
      return async () => (await core.listNode({ labelSelector, fieldSelector })) as unknown as KubernetesListObject<KubernetesObject>;
    }
    if (r.version !== 'v1' || r.plural !== CORE_RESOURCES.secret.plural) {
      throw new Error(`no lister for core resource ${r.version}/${r.plural}: pass listFn`);
    }
    const core = opts.kubeConfig.makeApiClient(CoreV1Api);
    return async () =>
      (ns
        ? await core.listNamespacedSecret({ namespace: ns, labelSelector, fieldSelector })
        : await core.listSecretForAllNamespaces({ labelSelector, fieldSelector })) as unknown as KubernetesListObject<KubernetesObject>;
  }
  const api = opts.kubeConfig.makeApiClient(CustomObjectsApi);
  const common = { group: r.group, version: r.version, plural: r.plural, labelSelector, fieldSelector };
  return async () =>
    (ns
      ? await api.listNamespacedCustomObject({ ...common, namespace: ns })
      : await api.listClusterCustomObject(common)) as KubernetesListObject<KubernetesObject>;
}
