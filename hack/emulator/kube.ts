// Thin API access for the emulator: get, replace /status with optimistic concurrency
// (re-read and retry on conflict), merge-patch metadata. Informers are the product's
// (src/kube/informer.ts), built on `kc`.
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { statusCode } from '../../src/kube/errors.ts';
import { Informer, type Named } from '../../src/kube/informer.ts';
import type { ResourceCoords } from '../../src/kube/types.ts';

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
      if (statusCode(err) === 404) return undefined;
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
        const code = statusCode(err);
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
      if (statusCode(err) !== 404) throw err;
    }
  }

  /**
   * A cluster-wide informer (the product's, objects parsed with `schema`), restarted 500 ms
   * doubling to 30 s after its watch ends on an error. No periodic relist: the emulator's own
   * resync looks at its cache every few seconds.
   */
  informer<T extends Named>(resource: ResourceCoords, schema: z.ZodType<T>, logger: Logger): Informer<T> {
    return new Informer<T>({ kubeConfig: this.kc, resource, schema, logger, resyncPeriodMs: 0, restartBaseMs: 500, restartMaxMs: 30_000 });
  }
}
