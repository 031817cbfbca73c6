// The writes the operator makes to the API server, each idempotent, with one
// field manager. Nothing here decides anything: the planner did.
//
// Every request names its resource by plural (CustomObjectsApi with
// group/version/plural, CoreV1Api for core): never KubernetesObjectApi's kind
// lookup, which picks the first discovery entry of a kind and on a real
// OpenShift server resolves `Build` to `buildconfigs/webhooks` (405 on create)
// and other kinds to subresources.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { z } from 'zod';
import { statusCode } from './errors.ts';
import { deleteMachineConfig } from './machineconfigs.ts';

export { describeApiError, describeApiFailure, statusCode } from './errors.ts';
import type { ResourceCoords } from './types.ts';
import { apiVersionOf, RESOURCES } from './types.ts';
import { FIELD_MANAGER } from '../plan/names.ts';
import type { KubeObject } from '../plan/snapshot.ts';
import { ApplyCache, requestHash, type ApplyTarget } from './apply-cache.ts';

/** A kubeconfig that cannot be read or used: bad input (the CLI exits 2). */
export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

/**
 * The kubeconfig given, else $KUBECONFIG, ~/.kube/config or in-cluster.
 * Throws KubeconfigError naming the file and the cause (never a stack trace).
 */
export function loadKubeConfig(kubeconfig?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const what = kubeconfig ? `--kubeconfig ${kubeconfig}` : process.env.KUBECONFIG ? `KUBECONFIG=${process.env.KUBECONFIG}` : 'the default kubeconfig';
  try {
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : code === 'EACCES' ? 'the file is not readable' : code === 'EISDIR' ? 'it is a directory' : ((e as Error).message.split('\n')[0] ?? String(e));
    throw new KubeconfigError(`${what}: cannot load it: ${why}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new KubeconfigError(`${what}: its current context ${JSON.stringify(kc.getCurrentContext())} names no cluster with a server address`);
  return shareConnections(kc);
}

type DispatcherFactory = (cluster: k8s.Cluster | null, agentOptions: Record<string, unknown>) => unknown;

/**
 * One keep-alive connection pool per API server and credentials, reused by
 * every request and watch of this KubeConfig: client-node makes a new undici
 * Agent (so a new TLS handshake) for every request otherwise. The credentials
 * are part of the key, so a rotated client certificate or CA gets a new pool
 * (the previous one is closed once replaced; at most a few are kept).
 */
export function shareConnections(kc: k8s.KubeConfig, maxPools = 4): k8s.KubeConfig {
  const target = kc as unknown as { createDispatcher: DispatcherFactory; __sharedConnections?: true };
  if (target.__sharedConnections) return kc;
  const make = target.createDispatcher.bind(kc);
  const pools = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const h = createHash('sha256');
    h.update(cluster?.server ?? '');
    for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'] as const) h.update(`\0${k}=${String(agentOptions[k] ?? '')}`);
    h.update(`\0proxy=${cluster?.proxyUrl ?? ''}`);
    const key = h.digest('hex');
    let d = pools.get(key);
    if (d === undefined) {
      d = make(cluster, agentOptions);
      if (d === undefined) return undefined;
      pools.set(key, d);
      while (pools.size > maxPools) {
        const [oldest, pool] = pools.entries().next().value as [string, { close?: () => Promise<void> }];
        pools.delete(oldest);
        void pool.close?.().catch(() => undefined);
      }
    }
    return d;
  };
  target.__sharedConnections = true;
  return kc;
}

/** The API server address and kubeconfig user, for error messages. */
export function kubeTarget(kc: k8s.KubeConfig): { server?: string; user?: string } {
  const server = kc.getCurrentCluster()?.server;
  const user = kc.getCurrentUser()?.name;
  return { ...(server ? { server } : {}), ...(user ? { user } : {}) };
}

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Namespace of Events about cluster-scoped objects (client-go's rule). */
export const CLUSTER_SCOPED_EVENT_NAMESPACE = 'default';

/** image.openshift.io/v1 imagestreamimports: create-only (what `oc import-image` posts). */
export const IMAGE_STREAM_IMPORTS = { group: 'image.openshift.io', version: 'v1', plural: 'imagestreamimports', kind: 'ImageStreamImport', namespaced: true } as const satisfies ResourceCoords;

const ImageStreamImportResultSchema = z.looseObject({
  status: z
    .looseObject({
      images: z
        .array(z.looseObject({ status: z.looseObject({ status: z.string().optional(), message: z.string().optional(), reason: z.string().optional() }).optional() }))
        .nullish(),
    })
    .optional(),
});

/** The resource an object the planner produced is written to, by apiVersion and kind. */
export function resourceFor(obj: { apiVersion: string; kind: string }): ResourceCoords {
  const r = (Object.values(RESOURCES) as ResourceCoords[]).find((x) => x.kind === obj.kind && apiVersionOf(x) === obj.apiVersion);
  if (!r) throw new Error(`no resource known for ${obj.apiVersion} ${obj.kind}: add it to RESOURCES (by plural)`);
  return r;
}

/** The resourceVersion of an object as the informer caches hold it now (undefined when not cached). */
export type CurrentVersion = (r: ResourceCoords, name: string, namespace: string | undefined) => string | undefined;

export interface KubeWriterOptions {
  /** Where the apply cache reads the object's current resourceVersion; without it every apply is sent. */
  currentVersion?: CurrentVersion;
}

const IMAGE_STREAM_IMAGES = { group: 'image.openshift.io', version: 'v1', plural: 'imagestreamimages' } as const;
/** What a node label value may be (the architecture becomes the build's nodeSelector value). */
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const ImageStreamImageSchema = z.looseObject({
  image: z.looseObject({
    dockerImageMetadata: z.looseObject({ Architecture: z.string().regex(LABEL_VALUE, 'the image records an architecture that is not a node label value').optional() }).optional(),
  }),
});

const AppliedSchema = z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string().optional(), generation: z.number().optional() }).optional() });

export class KubeWriter {
  readonly custom: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  private readonly namespace: string;
  private readonly component: string;
  private readonly kc: k8s.KubeConfig;
  private readonly currentVersion: CurrentVersion | undefined;
  /** Server-side-apply requests answered before, by object (see apply-cache.ts). */
  readonly applyCache = new ApplyCache();
  /** Applies sent and applies the cache answered (the benchmark reads them). */
  readonly applies = { sent: 0, skipped: 0 };

  constructor(kc: k8s.KubeConfig, namespace: string, component = FIELD_MANAGER, opts: KubeWriterOptions = {}) {
    this.kc = kc;
    this.currentVersion = opts.currentVersion;
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.namespace = namespace;
    this.component = component;
  }

  /**
   * Server-side apply with the operator's field manager, to
   * `<group>/<version>/<plural>/<name>`. Not sent when the same request was
   * answered at the object's current resourceVersion (the apply cache);
   * returns whether it was sent.
   */
  async apply(obj: KubeObject): Promise<boolean> {
    return (await this.applyObject(obj)).sent;
  }

  /** apply, with the object's metadata.generation as the API server answered (undefined: not sent). */
  private async applyObject(obj: KubeObject): Promise<{ sent: boolean; generation?: number | undefined }> {
    const r = resourceFor(obj);
    const namespace = r.namespaced ? (obj.metadata.namespace ?? this.namespace) : undefined;
    return this.cachedApplyResult({ group: r.group, plural: r.plural, namespace, name: obj.metadata.name }, r, obj, async () => {
      const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
      const common = { group: r.group, version: r.version, plural: r.plural, name: obj.metadata.name, body: obj, fieldManager: FIELD_MANAGER, force: true };
      return namespace !== undefined ? this.custom.patchNamespacedCustomObject({ ...common, namespace }, opts) : this.custom.patchClusterCustomObject(common, opts);
    });
  }

  /** Whether an apply of `obj` would be answered by the apply cache (nothing sent). */
  applyIsCached(obj: KubeObject): boolean {
    const r = resourceFor(obj);
    const namespace = r.namespaced ? (obj.metadata.namespace ?? this.namespace) : undefined;
    const t: ApplyTarget = { group: r.group, plural: r.plural, namespace, name: obj.metadata.name };
    return this.applyCache.peek(t, requestHash(obj), this.currentVersion?.(r, obj.metadata.name, namespace));
  }

  private async cachedApply(t: ApplyTarget, r: ResourceCoords, body: unknown, send: () => Promise<unknown>): Promise<boolean> {
    return (await this.cachedApplyResult(t, r, body, send)).sent;
  }

  private async cachedApplyResult(t: ApplyTarget, r: ResourceCoords, body: unknown, send: () => Promise<unknown>): Promise<{ sent: boolean; generation?: number | undefined }> {
    const hash = requestHash(body);
    if (this.applyCache.has(t, hash, this.currentVersion?.(r, t.name, t.namespace))) {
      this.applies.skipped++;
      return { sent: false };
    }
    let res: unknown;
    try {
      res = await send();
    } catch (e) {
      this.applyCache.forget(t);
      throw e;
    }
    this.applies.sent++;
    const parsed = AppliedSchema.safeParse(res);
    this.applyCache.add(t, hash, parsed.success ? parsed.data.metadata?.resourceVersion : undefined);
    return { sent: true, generation: parsed.success ? parsed.data.metadata?.generation : undefined };
  }

  /** Creates the object unless it exists; returns whether it was created. */
  async createIfAbsent(obj: KubeObject): Promise<boolean> {
    const r = resourceFor(obj);
    return this.create(r, obj);
  }

  /** Creates a Build through the `builds` resource (never a kind lookup); false when it exists already. */
  async createBuild(build: KubeObject): Promise<boolean> {
    if (build.kind !== RESOURCES.build.kind) throw new Error(`createBuild: not a Build: ${build.kind}`);
    return this.create(RESOURCES.build, build);
  }

  private async create(r: ResourceCoords, obj: KubeObject): Promise<boolean> {
    try {
      if (r.namespaced) {
        await this.custom.createNamespacedCustomObject({ group: r.group, version: r.version, plural: r.plural, namespace: obj.metadata.namespace ?? this.namespace, body: obj, fieldManager: FIELD_MANAGER });
      } else {
        await this.custom.createClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, body: obj, fieldManager: FIELD_MANAGER });
      }
      return true;
    } catch (e) {
      if (statusCode(e) === 409) return false;
      throw e;
    }
  }

  /**
   * Cancels a Build: a merge patch of `status.cancelled: true` on the Build
   * itself (`builds/<name>`). There is no `builds/status` subresource on
   * OpenShift; `oc cancel-build` sets the same field and updates the Build, and
   * the build strategy keeps status changes made through the main resource.
   * A Build that is gone (404) has nothing left to cancel.
   */
  async cancelBuild(name: string): Promise<void> {
    const r = RESOURCES.build;
    try {
      await this.custom.patchNamespacedCustomObject(
        { group: r.group, version: r.version, namespace: this.namespace, plural: r.plural, name, body: { status: { cancelled: true } }, fieldManager: FIELD_MANAGER },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    } catch (e) {
      if (statusCode(e) === 404) return;
      throw e;
    }
  }

  /**
   * The last `tailLines` lines of a Build's log (GET builds/<name>/log, what
   * `oc logs build/<name>` reads), or undefined when there is none (404: the
   * Build or its pod is gone). The real OCM sets status.logSnippet of a failed
   * Build only from the pod's termination message, which is not always there.
   */
  async buildLog(name: string, tailLines = 20): Promise<string | undefined> {
    const r = RESOURCES.build;
    const server = this.kc.getCurrentCluster()?.server ?? '';
    const url = `${server.replace(/\/+$/, '')}/apis/${r.group}/${r.version}/namespaces/${encodeURIComponent(this.namespace)}/${r.plural}/${encodeURIComponent(name)}/log?tailLines=${tailLines}`;
    const ctx = new k8s.RequestContext(url, k8s.HttpMethod.GET);
    await this.kc.applySecurityAuthentication(ctx);
    const res = await new k8s.IsomorphicFetchHttpLibrary().send(ctx).toPromise();
    const body = await res.body.text();
    if (res.httpStatusCode === 404) return undefined;
    if (res.httpStatusCode !== 200) throw Object.assign(new Error(`GET builds/${name}/log: HTTP ${res.httpStatusCode} ${body.slice(0, 200)}`), { code: res.httpStatusCode });
    return body;
  }

  /**
   * The architecture OpenShift recorded for an image of a stream in the operator's namespace when it
   * imported it (GET imagestreamimages/<stream>@<digest>: the Image's
   * dockerImageMetadata.Architecture, what `oc get isimage` shows); '' when it records none. No
   * registry is read: the API server has it from the import, whatever credentials that needed.
   */
  async imageArchitecture(stream: string, digest: string): Promise<string> {
    const r = IMAGE_STREAM_IMAGES;
    const res: unknown = await this.custom.getNamespacedCustomObject({ group: r.group, version: r.version, plural: r.plural, namespace: this.namespace, name: `${stream}@${digest}` });
    const parsed = ImageStreamImageSchema.safeParse(res);
    if (!parsed.success) throw new Error(`imagestreamimages/${stream}@${digest}: unexpected answer: ${parsed.error.issues[0]?.message ?? 'not an ImageStreamImage'}`);
    return parsed.data.image.dockerImageMetadata?.Architecture ?? '';
  }

  /**
   * Re-requests an import: POST of an ImageStreamImport (what `oc import-image`
   * does). Returns the per-image statuses the server reports.
   */
  async importImage(body: KubeObject): Promise<{ status?: string; message?: string; reason?: string }[]> {
    const r = IMAGE_STREAM_IMPORTS;
    const res: unknown = await this.custom.createNamespacedCustomObject({
      group: r.group,
      version: r.version,
      plural: r.plural,
      namespace: body.metadata.namespace ?? this.namespace,
      body,
      fieldManager: FIELD_MANAGER,
    });
    const parsed = ImageStreamImportResultSchema.safeParse(res);
    return parsed.success ? (parsed.data.status?.images ?? []).map((i) => i.status ?? {}) : [];
  }

  /** Deletes a MachineConfig (the operator's own hand-off); one already gone is fine. */
  async deleteMachineConfig(name: string): Promise<void> {
    await deleteMachineConfig(this, name);
  }

  /**
   * Server-side applies every field of the pool the operator owns (the hand-off annotations and,
   * while it holds the pool for one rollout, spec.paused with its annotation): a field left out is
   * removed unless another field manager owns it too (an admin's own spec.paused stays).
   */
  async applyPool(pool: string, a: { annotations: Record<string, string>; paused?: true | undefined }): Promise<{ generation?: number | undefined }> {
    const r = RESOURCES.machineConfigPool;
    const res = await this.applyObject({ apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name: pool, annotations: a.annotations }, ...(a.paused ? { spec: { paused: true } } : {}) });
    return { generation: res.generation };
  }

  /**
   * Server-side applies the status subresource of one of our objects; not sent
   * when the apply cache answers it (the same status at the object's current
   * resourceVersion). Returns whether it was sent.
   */
  async applyStatus(r: ResourceCoords, name: string, status: unknown): Promise<boolean> {
    const body = { apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name, namespace: this.namespace }, status };
    return this.cachedApply({ group: r.group, plural: r.plural, namespace: this.namespace, name, subresource: 'status' }, r, body, () =>
      this.custom.patchNamespacedCustomObjectStatus(
        { group: r.group, version: r.version, namespace: this.namespace, plural: r.plural, name, body, fieldManager: FIELD_MANAGER, force: true },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
      ),
    );
  }

  /**
   * A core/v1 Event about a pool. A pool is cluster-scoped, and the API server
   * accepts an Event whose involvedObject has no namespace only in namespace
   * "default" (elsewhere: 422 "involvedObject.namespace: does not match
   * event.namespace"), which is where client-go's recorder puts them too and
   * where `kubectl describe machineconfigpool` finds them.
   */
  async event(pool: { name: string; uid?: string | undefined }, e: EventSpec): Promise<void> {
    const now = new Date();
    const r = RESOURCES.machineConfigPool;
    await this.core.createNamespacedEvent({
      namespace: CLUSTER_SCOPED_EVENT_NAMESPACE,
      body: {
        metadata: { generateName: `${pool.name}.`, namespace: CLUSTER_SCOPED_EVENT_NAMESPACE },
        involvedObject: { apiVersion: apiVersionOf(r), kind: r.kind, name: pool.name, uid: pool.uid },
        type: e.type,
        reason: e.reason,
        message: e.message.slice(0, 1024),
        source: { component: this.component },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}

/**
 * Whether a desired value is one openshift/api (and Kubernetes) leaves out when
 * it serializes: `false`, `""`, `0`, an empty list or map, or a map holding
 * nothing but such values (`importPolicy: {scheduled: false}`,
 * `dockerStrategy: {noCache: false}`, `triggers: []`). Sent, the server stores
 * its zero value and returns the field absent (or null).
 */
export function isOmittedWhenEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === '' || v === 0) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object' && !(v instanceof Date)) return Object.values(v as Record<string, unknown>).every(isOmittedWhenEmpty);
  return false;
}

/**
 * Whether every field of `want` is already present, equal, in `have`, so that
 * applying `want` would change nothing. Arrays must match element by element.
 * A field the server omits when empty (see isOmittedWhenEmpty) matches an
 * absent or null field, so "nothing changed" sends nothing.
 */
export function isSubset(want: unknown, have: unknown): boolean {
  if (want === null || typeof want !== 'object') {
    if (have instanceof Date && typeof want === 'string') return have.toISOString() === want;
    if ((have === undefined || have === null) && isOmittedWhenEmpty(want)) return true;
    if (want === null && isOmittedWhenEmpty(have)) return true;
    return want === have;
  }
  if ((have === undefined || have === null) && isOmittedWhenEmpty(want)) return true;
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return false;
    return want.every((w, i) => isSubset(w, have[i]));
  }
  if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
  return Object.entries(want as Record<string, unknown>).every(([k, v]) => v === undefined || isSubset(v, (have as Record<string, unknown>)[k]));
}

/**
 * The bearer token the operator talks to the API server with (its
 * ServiceAccount token in a pod), read afresh each time (projected tokens
 * rotate); undefined when the kubeconfig authenticates otherwise. The
 * integrated registry accepts it as the password of Basic `unused:<token>` on
 * its token realm.
 */
export function serviceAccountToken(kc: k8s.KubeConfig): string | undefined {
  const user = kc.getCurrentUser();
  if (!user) return undefined;
  if (user.token) return user.token;
  const file = (user.authProvider as { name?: string; config?: { tokenFile?: string } } | undefined)?.config?.tokenFile;
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
