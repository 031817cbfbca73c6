// Retention's I/O, one code path for `layered-build-controller prune` and the
// operator's periodic prune: read a snapshot of the cluster from the API
// server, decide with the pure plan (src/plan/prune.ts), and delete exactly
// what it says goes. Every delete that succeeded is an Event on its pool and a
// count of lbc_pruned_total{kind}; a failure is logged and counted
// (lbc_prune_failures_total{kind}) and the rest goes on.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeWriter } from './client.ts';
import { describeApiError, statusCode } from './client.ts';
import { BuildSchema, ImageStreamSchema, LayeredPoolSchema, MachineConfigPoolSchema, MachineConfigSchema, NodeSchema, RESOURCES } from './types.ts';
import type { ResourceCoords } from './types.ts';
import type { PoolPrunePlan, PruneSnapshot } from '../plan/prune.ts';
import { prunePlan } from '../plan/prune.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { Metrics } from '../server/metrics.ts';
import type { PruneResult } from '../status/prune.ts';
import { quote } from '../util/escape.ts';

/** image.openshift.io/v1 imagestreamtags: `<stream>:<tag>`; DELETE drops the tag and its history (what `oc tag -d` does). */
export const IMAGE_STREAM_TAGS = { group: 'image.openshift.io', version: 'v1', plural: 'imagestreamtags', kind: 'ImageStreamTag', namespaced: true } as const satisfies ResourceCoords;

export const PRUNE_EVENT_REASON = 'Pruned';

export interface PruneSettings {
  namespace: string;
  registry: string;
  keepImages: number;
  keepForMs: number;
}

/** Lists everything the decision reads, from the API server (not from caches: the CLI has none). */
export async function readPruneSnapshot(kc: k8s.KubeConfig, o: PruneSettings, now = Date.now()): Promise<PruneSnapshot> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const items = async (r: ResourceCoords): Promise<unknown[]> =>
    ((r.namespaced
      ? await api.listNamespacedCustomObject({ group: r.group, version: r.version, namespace: o.namespace, plural: r.plural })
      : await api.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural })) as { items?: unknown[] }).items ?? [];
  const parsed = <T,>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, list: unknown[]): T[] =>
    list.flatMap((i) => {
      const p = schema.safeParse(i);
      return p.success ? [p.data] : [];
    });
  // Builds before streams: a Build that completes in between has its tag in the streams read after it.
  const builds = parsed(BuildSchema, await items(RESOURCES.build));
  const nodes = parsed(NodeSchema, (await core.listNode()).items);
  const pools = parsed(MachineConfigPoolSchema, await items(RESOURCES.machineConfigPool));
  const machineConfigs = parsed(MachineConfigSchema, await items(RESOURCES.machineConfig));
  const layeredPools = parsed(LayeredPoolSchema, await items(RESOURCES.layeredPool));
  const streams = parsed(ImageStreamSchema, await items(RESOURCES.imageStream));
  return { now, keepImages: o.keepImages, keepForMs: o.keepForMs, namespace: o.namespace, registry: o.registry, pools, machineConfigs, nodes, streams, layeredPools, builds };
}

export interface PruneDeps {
  writer: KubeWriter;
  namespace: string;
  log: Logger;
  metrics?: Metrics | undefined;
  /** A client for the registry the rendered-config images are pushed to (closed after use). */
  registryClient?: (() => RegistryClient) | undefined;
  /** Uids of the pools, for their Events. */
  poolUids: ReadonlyMap<string, string | undefined>;
  signal?: AbortSignal | undefined;
}

/** Deletes what the plans say goes; returns one result per object. Never throws for one object's failure. */
export async function executePrune(plans: readonly PoolPrunePlan[], d: PruneDeps): Promise<PruneResult[]> {
  const results: PruneResult[] = [];
  let registry: RegistryClient | undefined;
  try {
    for (const p of plans) {
      const record = async (r: PruneResult) => {
        results.push(r);
        const log = d.log.child({ pool: p.pool, kind: r.kind, object: r.name });
        if (r.outcome === 'removed') {
          d.metrics?.pruned(r.kind, 'removed');
          log.info({ why: r.message }, 'pruned');
          try {
            await d.writer.event({ name: p.pool, uid: d.poolUids.get(p.pool) }, { type: 'Normal', reason: PRUNE_EVENT_REASON, message: `pool ${p.pool}: removed ${r.kind} ${quote(r.name, 300)}: ${r.message}` });
          } catch (e) {
            log.warn({ err: describeApiError(e) }, 'could not record the prune event');
          }
        } else if (r.outcome === 'failed') {
          d.metrics?.pruned(r.kind, 'failed');
          log.warn({ err: r.message }, 'prune of an object failed; it is tried again next time');
        } else {
          log.info({ why: r.message }, r.outcome === 'gone' ? 'already gone' : 'left in place');
        }
      };
      /** DELETE of one namespaced object, recorded as removed, gone (404) or failed. */
      const remove = async (kind: 'ImageStreamTag' | 'Build', r: ResourceCoords, object: string, why: string) => {
        d.signal?.throwIfAborted();
        const name = `${d.namespace}/${object}`;
        try {
          const gone = await deleteNamespaced(d.writer, r, d.namespace, object);
          await record({ pool: p.pool, kind, name, outcome: gone ? 'gone' : 'removed', message: `retention: ${why}` });
        } catch (e) {
          await record({ pool: p.pool, kind, name, outcome: 'failed', message: describeApiError(e) });
        }
      };
      for (const t of p.tags) await remove('ImageStreamTag', IMAGE_STREAM_TAGS, `${t.stream}:${t.tag}`, t.why);
      for (const m of p.manifests) {
        d.signal?.throwIfAborted();
        const name = `${m.repository}@${m.digest}`;
        if (!d.registryClient) {
          await record({ pool: p.pool, kind: 'Manifest', name, outcome: 'left', message: 'no registry client configured' });
          continue;
        }
        try {
          registry ??= d.registryClient();
          const r = await registry.deleteManifest(m.path, m.digest);
          if (r === 'unsupported') await record({ pool: p.pool, kind: 'Manifest', name, outcome: 'left', message: `left: registry ${m.registry} does not allow deletes` });
          else await record({ pool: p.pool, kind: 'Manifest', name, outcome: r === 'gone' ? 'gone' : 'removed', message: 'retention: the rendered-config image no kept image was built from' });
        } catch (e) {
          await record({ pool: p.pool, kind: 'Manifest', name, outcome: 'failed', message: (e as Error).message });
        }
      }
      for (const b of p.builds) await remove('Build', RESOURCES.build, b.name, b.why);
    }
  } finally {
    registry?.close();
  }
  return results;
}

/** DELETE of a namespaced object by plural; true when it was gone already (404). */
async function deleteNamespaced(w: KubeWriter, r: ResourceCoords, namespace: string, name: string): Promise<boolean> {
  try {
    await w.custom.deleteNamespacedCustomObject({ group: r.group, version: r.version, namespace, plural: r.plural, name });
    return false;
  } catch (e) {
    if (statusCode(e) === 404) return true;
    throw e;
  }
}

export interface PruneRun {
  plans: PoolPrunePlan[];
  results: PruneResult[];
}

/** One prune: snapshot, decision, and (unless `dryRun`) the deletes. The CLI and the operator both call this. */
export async function pruneOnce(kc: k8s.KubeConfig, settings: PruneSettings, o: Omit<PruneDeps, 'poolUids' | 'namespace'> & { dryRun: boolean; pool?: string | undefined }): Promise<PruneRun> {
  const snap = await readPruneSnapshot(kc, settings);
  const plans = prunePlan(snap, o.pool);
  if (o.dryRun) return { plans, results: [] };
  const poolUids = new Map(snap.pools.map((p) => [p.metadata.name, p.metadata.uid]));
  const results = await executePrune(plans, { ...o, namespace: settings.namespace, poolUids });
  return { plans, results };
}
