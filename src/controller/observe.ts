// observe: a snapshot of everything one pool's decision depends on, read from
// the informer caches (never from an event's copy).
import type { Build, BuildConfig, ControllerConfig, ImageStream, LayeredPool, MachineConfig, MachineConfigPool, NodeLike, OSImageStream } from '../kube/types.ts';
import { selectorMatches } from '../plan/selector.ts';
import type { ImageCheckOutcome } from '../plan/image-check.ts';
import { ANNOTATION_POOL, CONTROLLER_CONFIG_NAME, COREOS_STREAM, OS_IMAGE_STREAM_NAME, handoffMachineConfigName, poolBuildConfigs, poolStreams } from '../plan/names.ts';
import type { PlanConfig, Snapshot } from '../plan/snapshot.ts';
import type { Secret } from '../kube/informer.ts';

/** What the observer needs from a cache. */
export interface Store<T> {
  get(name: string, namespace?: string): T | undefined;
  list(): T[];
}

export interface Stores {
  pools: Store<MachineConfigPool>;
  machineConfigs: Store<MachineConfig>;
  controllerConfigs: Store<ControllerConfig>;
  /** MCO's OSImageStream (an empty cache where the cluster does not serve it). */
  osImageStreams?: Store<OSImageStream>;
  imageStreams: Store<ImageStream>;
  buildConfigs: Store<BuildConfig>;
  builds: Store<Build>;
  layeredPools: Store<LayeredPool>;
  /** The push secret (watched by name), when one is configured. */
  pushSecrets?: Store<Secret>;
  /** Nodes: name, labels and the machine-config daemon's annotations. */
  nodes?: Store<NodeLike>;
}

export function observe(
  stores: Stores,
  config: PlanConfig,
  poolName: string,
  now: number,
  pushSecretFound?: boolean,
  imageChecks?: ReadonlyMap<string, ImageCheckOutcome>,
  pushSecretProblem?: string,
): Snapshot {
  const ns = config.namespace;
  const pool = stores.pools.get(poolName);
  const mcName = pool?.spec?.configuration?.name;
  const streams = new Map<string, ImageStream>();
  for (const name of [COREOS_STREAM, ...Object.values(poolStreams(poolName))]) {
    const s = stores.imageStreams.get(name, ns);
    if (s) streams.set(name, s);
  }
  const buildConfigs = new Map<string, BuildConfig>();
  for (const name of Object.values(poolBuildConfigs(poolName))) {
    const bc = stores.buildConfigs.get(name, ns);
    if (bc) buildConfigs.set(name, bc);
  }
  const builds = stores.builds.list().filter((b) => b.metadata.namespace === ns && b.metadata.annotations?.[ANNOTATION_POOL] === poolName);
  return {
    now,
    config,
    poolName,
    pool,
    machineConfig: mcName ? stores.machineConfigs.get(mcName) : undefined,
    controllerConfig: stores.controllerConfigs.get(CONTROLLER_CONFIG_NAME),
    osImageStream: stores.osImageStreams?.get(OS_IMAGE_STREAM_NAME),
    streams,
    buildConfigs,
    builds,
    status: stores.layeredPools.get(poolName, ns),
    pushSecretFound,
    pushSecretProblem,
    handoffMachineConfig: stores.machineConfigs.get(handoffMachineConfigName(poolName)),
    statusMachineConfig: pool?.status?.configuration?.name ? stores.machineConfigs.get(pool.status.configuration.name) : undefined,
    allMachineConfigs: stores.machineConfigs.list(),
    allPools: stores.pools.list(),
    nodes: stores.nodes?.list().filter((n) => selectorMatches(pool?.spec?.nodeSelector, n.metadata.labels ?? undefined)),
    imageChecks,
  };
}
