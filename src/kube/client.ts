// The writes the operator makes to the API server, each idempotent, with one
// field manager. Nothing here decides anything: the planner did.
import * as k8s from '@kubernetes/client-node';
import { statusCode } from './errors.ts';

export { describeApiError, statusCode } from './errors.ts';
import type { ResourceCoords } from './types.ts';
import { apiVersionOf, RESOURCES } from './types.ts';
import { FIELD_MANAGER } from '../plan/names.ts';
import type { KubeObject } from '../plan/snapshot.ts';

export function loadKubeConfig(kubeconfig?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Namespace of Events about cluster-scoped objects (client-go's rule). */
export const CLUSTER_SCOPED_EVENT_NAMESPACE = 'default';

export class KubeWriter {
  readonly objects: k8s.KubernetesObjectApi;
  readonly custom: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  private readonly namespace: string;
  private readonly component: string;

  constructor(kc: k8s.KubeConfig, namespace: string, component = FIELD_MANAGER) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.namespace = namespace;
    this.component = component;
  }

  /** Server-side apply with the operator's field manager. */
  async apply(obj: KubeObject): Promise<void> {
    await this.objects.patch(obj as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }

  /** Creates the object unless it exists; returns whether it was created. */
  async createIfAbsent(obj: KubeObject): Promise<boolean> {
    try {
      await this.objects.create(obj as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER);
      return true;
    } catch (e) {
      if (statusCode(e) === 409) return false;
      throw e;
    }
  }

  /** Sets status.cancelled on a Build (what `oc cancel-build` does). */
  async cancelBuild(name: string): Promise<void> {
    const r = RESOURCES.build;
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        { group: r.group, version: r.version, namespace: this.namespace, plural: r.plural, name, body: { status: { cancelled: true } }, fieldManager: FIELD_MANAGER },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    } catch (e) {
      if (statusCode(e) === 404) return;
      throw e;
    }
  }

  /** Applies only the given annotations on a cluster-scoped pool (our fields, nothing else). */
  async annotatePool(pool: string, annotations: Record<string, string>): Promise<void> {
    const r = RESOURCES.machineConfigPool;
    await this.apply({ apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name: pool, annotations } });
  }

  /** Server-side applies the status subresource of one of our objects. */
  async applyStatus(r: ResourceCoords, name: string, status: unknown): Promise<void> {
    const body = { apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name, namespace: this.namespace }, status };
    await this.custom.patchNamespacedCustomObjectStatus(
      { group: r.group, version: r.version, namespace: this.namespace, plural: r.plural, name, body, fieldManager: FIELD_MANAGER, force: true },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
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
 * Whether every field of `want` is already present, equal, in `have`, so that
 * applying `want` would change nothing. Arrays must match element by element.
 */
export function isSubset(want: unknown, have: unknown): boolean {
  if (want === null || typeof want !== 'object') {
    if (have instanceof Date && typeof want === 'string') return have.toISOString() === want;
    return want === have;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return false;
    return want.every((w, i) => isSubset(w, have[i]));
  }
  if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
  return Object.entries(want as Record<string, unknown>).every(([k, v]) => v === undefined || isSubset(v, (have as Record<string, unknown>)[k]));
}
