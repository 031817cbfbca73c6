// Thin API access for the emulator: get, replace /status with optimistic concurrency
// (re-read and retry on conflict), merge-patch metadata, and informers that restart.
import {
  ApiException,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ResourceCoords } from '../../src/kube/types.ts';

export function errorCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (e && typeof e.code === 'number') return e.code;
  if (e && typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as { message?: string } | string | undefined;
    const msg = typeof body === 'string' ? body : body?.message;
    return `HTTP ${err.code}${msg ? `: ${msg}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export class Kube {
  readonly kc: KubeConfig;
  readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.kc = kc;
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async get<T>(r: ResourceCoords, namespace: string, name: string): Promise<T | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({ group: r.group, version: r.version, plural: r.plural, namespace, name })) as T;
    } catch (err) {
      if (errorCode(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * Read the object, let `mutate` compute its new status (null: nothing to write), replace
   * /status with the read resourceVersion; on a conflict read again and retry.
   * Returns the written object, the unchanged one, or undefined when it does not exist.
   */
  async updateStatus<T extends { metadata: { resourceVersion?: string | undefined }; status?: unknown }>(
    r: ResourceCoords,
    namespace: string,
    name: string,
    mutate: (obj: T) => T['status'] | null,
  ): Promise<{ obj: T; written: boolean } | undefined> {
    for (let attempt = 0; ; attempt++) {
      const obj = await this.get<T>(r, namespace, name);
      if (!obj) return undefined;
      const status = mutate(obj);
      if (status === null) return { obj, written: false };
      const body = { ...obj, status };
      try {
        const out = (await this.api.replaceNamespacedCustomObjectStatus({
          group: r.group,
          version: r.version,
          plural: r.plural,
          namespace,
          name,
          body,
        })) as T;
        return { obj: out, written: true };
      } catch (err) {
        const code = errorCode(err);
        if (code === 404) return undefined;
        if (code === 409 && attempt < 20) continue;
        throw err;
      }
    }
  }

  /** JSON merge patch on the object (not /status); an object that is gone is not an error. */
  async mergePatch(r: ResourceCoords, namespace: string, name: string, body: unknown): Promise<void> {
    try {
      await this.api.patchNamespacedCustomObject(
        { group: r.group, version: r.version, plural: r.plural, namespace, name, body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
    }
  }

  /**
   * A cluster-wide informer on a custom resource. When its watch ends on an error the
   * informer stops; it is restarted with a capped exponential backoff.
   */
  informer<T extends KubernetesObject>(r: ResourceCoords, log: Logger): Informer<T> & ObjectCache<T> {
    const path = `/apis/${r.group}/${r.version}/${r.plural}`;
    const inf = makeInformer<T>(this.kc, path, () =>
      this.api.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural }),
    );
    let delay = 500;
    let stopped = false;
    const healthy = (): void => {
      delay = 500;
    };
    inf.on('add', healthy);
    inf.on('update', healthy);
    inf.on('delete', healthy);
    inf.on('error', (err: unknown) => {
      if (stopped) return;
      log.warn({ resource: r.plural, err: errorMessage(err), retryMs: delay }, 'watch ended, restarting');
      const d = delay;
      delay = Math.min(delay * 2, 30_000);
      setTimeout(() => {
        if (!stopped) inf.start().catch((e: unknown) => log.warn({ resource: r.plural, err: errorMessage(e) }, 'informer restart failed'));
      }, d).unref();
    });
    const origStop = inf.stop.bind(inf);
    inf.stop = async () => {
      stopped = true;
      await origStop();
    };
    return inf;
  }
}
