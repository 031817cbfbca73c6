// The observed state one pool's decision depends on. Built by the controller
// from informer caches; consumed by the pure planner.
import type { HandoffMode } from './handoff.ts';
import type { ImageCheckOutcome } from './image-check.ts';
import type { Build, BuildConfig, ControllerConfig, ImageStream, LayeredPool, MachineConfig, MachineConfigPool, NodeLike, OSImageStream } from '../kube/types.ts';

export interface PlanConfig {
  namespace: string;
  optInLabel: string;
  registry: string;
  applyCommand: string;
  debounceMs: number;
  historySize: number;
  retryLimit: number;
  retryBackoffMs: number;
  baseOSImage?: string | undefined;
  /** Registries reached over plain http (their tags get importPolicy.insecure). */
  insecureRegistries?: readonly string[] | undefined;
  pushSecret?: string | undefined;
  /** First delay before a failed import is re-requested (doubles per retry). Default 10 s. */
  importRetryBackoffMs?: number | undefined;
  /** Cap of that delay. Default 10 minutes. */
  importRetryMaxBackoffMs?: number | undefined;
  /** How the image reaches MCO (default machineconfig). */
  handoff?: HandoffMode | undefined;
  /** Largest image handed off, bytes (default 20 GiB). */
  maxImageSize?: number | undefined;
}

export interface Snapshot {
  /** Milliseconds since the epoch at observation time. */
  now: number;
  config: PlanConfig;
  poolName: string;
  /** Undefined when the pool no longer exists. */
  pool?: MachineConfigPool | undefined;
  /** The rendered MachineConfig the pool's spec.configuration.name names, when it exists. */
  machineConfig?: MachineConfig | undefined;
  controllerConfig?: ControllerConfig | undefined;
  /** MCO's OSImageStream `cluster`, where the cluster serves it: the default stream's OS image is the base. */
  osImageStream?: OSImageStream | undefined;
  /** `coreos` and the pool's streams, by name. */
  streams: ReadonlyMap<string, ImageStream>;
  /** The pool's BuildConfigs, by name. */
  buildConfigs: ReadonlyMap<string, BuildConfig>;
  /** The pool's Builds (annotated with the pool). */
  builds: readonly Build[];
  /** The pool's status object. */
  status?: LayeredPool | undefined;
  /** Whether the configured push secret exists; undefined when none is configured. */
  pushSecretFound?: boolean | undefined;
  /** What is wrong with the push secret's content (its shape, never its values); undefined when usable or absent. */
  pushSecretProblem?: string | undefined;
  /** The pool's hand-off MachineConfig `99-<pool>-layered-image`, when it exists. */
  handoffMachineConfig?: MachineConfig | undefined;
  /** The rendered config the pool's status.configuration names (to see whether it carries our image). */
  statusMachineConfig?: MachineConfig | undefined;
  /** Every MachineConfig and every pool: what MCC merges, for the hand-off precedence checks. */
  allMachineConfigs?: readonly MachineConfig[] | undefined;
  allPools?: readonly MachineConfigPool[] | undefined;
  /** The pool's Nodes (its nodeSelector): name, labels, the machine-config daemon's annotations. */
  nodes?: readonly NodeLike[] | undefined;
  /** Outcomes of the registry checks of images, by check key (from the I/O layer). */
  imageChecks?: ReadonlyMap<string, ImageCheckOutcome> | undefined;
  /**
   * The architecture of base images by digest, as OpenShift recorded it when it imported them (the
   * Image's dockerImageMetadata.Architecture; '' when it records none), from the I/O layer. The
   * pool's builds run on nodes of that architecture.
   */
  baseArchitectures?: ReadonlyMap<string, string> | undefined;
}

/** A Kubernetes object as the planner wants it (what apply sends). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
      blockOwnerDeletion?: boolean;
    }[];
  };
  [key: string]: unknown;
}
