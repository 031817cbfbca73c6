// Shapes of the Kubernetes / OpenShift objects the operator reads and writes.
// Every object read from the API server is parsed with these zod schemas
// before the planner sees it; unknown fields pass through untouched.
import { z } from 'zod';

export const ObjectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  ownerReferences: z
    .array(
      z.looseObject({
        apiVersion: z.string(),
        kind: z.string(),
        name: z.string(),
        uid: z.string(),
        controller: z.boolean().optional(),
        blockOwnerDeletion: z.boolean().optional(),
      }),
    )
    .optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

export const ObjectReferenceSchema = z.looseObject({
  kind: z.string(),
  name: z.string(),
  namespace: z.string().optional(),
});
export type ObjectReference = z.infer<typeof ObjectReferenceSchema>;

// ---- machineconfiguration.openshift.io/v1 ----------------------------------

export const LabelSelectorSchema = z.looseObject({
  matchLabels: z.record(z.string(), z.string()).nullish(),
  matchExpressions: z
    .array(z.looseObject({ key: z.string(), operator: z.string(), values: z.array(z.string()).nullish() }))
    .nullish(),
});
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

const machineCount = z.number().int().min(0).max(1_000_000).optional().catch(undefined);

export const MachineConfigPoolSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: z
    .looseObject({
      configuration: z.looseObject({ name: z.string().optional() }).optional(),
      paused: z.boolean().optional(),
      // MCO's OS image streams (rhel-9, rhel-10): MCC then refuses a MachineConfig osImageURL for the pool.
      osImageStream: z.looseObject({ name: z.string().optional() }).nullish().catch(undefined),
      // Which MachineConfigs MCC merges into the pool's rendered config (the hand-off MachineConfig must match it).
      machineConfigSelector: LabelSelectorSchema.nullish().catch(undefined),
      // Which Nodes are the pool's.
      nodeSelector: LabelSelectorSchema.nullish().catch(undefined),
    })
    .optional(),
  status: z
    .looseObject({
      configuration: z.looseObject({ name: z.string().optional() }).optional(),
      // MCC's own conditions (RenderDegraded, NodeDegraded, ...); malformed ones are dropped.
      conditions: z
        .array(
          z.looseObject({
            type: z.string(),
            status: z.string(),
            reason: z.string().nullish(),
            message: z.string().nullish(),
            lastTransitionTime: z.union([z.string(), z.date()]).nullish().catch(undefined),
          }),
        )
        .nullish()
        .catch(undefined),
      // The rollout as MCO reports it; a malformed count is dropped, never trusted.
      machineCount: machineCount,
      updatedMachineCount: machineCount,
      readyMachineCount: machineCount,
      degradedMachineCount: machineCount,
      unavailableMachineCount: machineCount,
    })
    .optional(),
});
export type MachineConfigPool = z.infer<typeof MachineConfigPoolSchema>;

export const MachineConfigSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: z
    .looseObject({
      // The Ignition config, kept as an object (validated by the planner).
      config: z.unknown().optional(),
      // The real machine-config-controller writes null for the ones it leaves empty.
      osImageURL: z.string().nullish(),
      kernelArguments: z.array(z.string()).nullish(),
      extensions: z.array(z.string()).nullish(),
      fips: z.boolean().nullish(),
      kernelType: z.string().nullish(),
    })
    .optional(),
});
export type MachineConfig = z.infer<typeof MachineConfigSchema>;

export const ControllerConfigSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: z
    .looseObject({
      baseOSContainerImage: z.string().optional(),
    })
    .optional(),
});
export type ControllerConfig = z.infer<typeof ControllerConfigSchema>;

/** MCO's OS image streams (machineconfiguration.openshift.io/v1 OSImageStream `cluster`): which OS image each stream is. */
export const OSImageStreamSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  status: z
    .looseObject({
      defaultStream: z.string().nullish(),
      availableStreams: z
        .array(z.looseObject({ name: z.string(), osImage: z.string().nullish(), osExtensionsImage: z.string().nullish() }))
        .nullish()
        .catch(undefined),
    })
    .optional(),
});
export type OSImageStream = z.infer<typeof OSImageStreamSchema>;

// ---- image.openshift.io/v1 ---------------------------------------------------

export const TagReferenceSchema = z.looseObject({
  name: z.string(),
  from: ObjectReferenceSchema.optional(), // kind: DockerImage | ImageStreamTag | ImageStreamImage
  annotations: z.record(z.string(), z.string()).nullish(),
  importPolicy: z.looseObject({ scheduled: z.boolean().optional(), insecure: z.boolean().optional() }).optional(),
  referencePolicy: z.looseObject({ type: z.string().optional() }).optional(),
  generation: z.number().nullish(),
});
export type TagReference = z.infer<typeof TagReferenceSchema>;

export const TagEventSchema = z.looseObject({
  created: z.union([z.string(), z.date()]).optional(),
  dockerImageReference: z.string(), // <registry>/<ns>/<stream>@sha256:...
  image: z.string(), // sha256:...
  generation: z.number().optional(),
});
export type TagEvent = z.infer<typeof TagEventSchema>;

export const TagEventConditionSchema = z.looseObject({
  type: z.string(), // ImportSuccess
  status: z.string(), // "False" when the import failed
  lastTransitionTime: z.union([z.string(), z.date()]).optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  generation: z.number().optional(),
});

export const NamedTagEventListSchema = z.looseObject({
  tag: z.string(),
  items: z.array(TagEventSchema).nullish(), // newest first
  conditions: z.array(TagEventConditionSchema).nullish(),
});
export type NamedTagEventList = z.infer<typeof NamedTagEventListSchema>;

export const ImageStreamSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: z
    .looseObject({
      lookupPolicy: z.looseObject({ local: z.boolean().optional() }).optional(),
      tags: z.array(TagReferenceSchema).nullish(),
    })
    .optional(),
  status: z
    .looseObject({
      dockerImageRepository: z.string().optional(),
      publicDockerImageRepository: z.string().optional(),
      tags: z.array(NamedTagEventListSchema).nullish(),
    })
    .optional(),
});
export type ImageStream = z.infer<typeof ImageStreamSchema>;

// ---- build.openshift.io/v1 ---------------------------------------------------

export const BuildSpecSchema = z.looseObject({
  serviceAccount: z.string().optional(),
  source: z
    .looseObject({
      type: z.string().optional(), // Dockerfile
      dockerfile: z.string().optional(),
    })
    .optional(),
  strategy: z
    .looseObject({
      type: z.string().optional(), // Docker
      dockerStrategy: z
        .looseObject({
          from: ObjectReferenceSchema.optional(),
          buildArgs: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).optional(),
          noCache: z.boolean().optional(),
          imageOptimizationPolicy: z.string().optional(),
        })
        .optional(),
    })
    .optional(),
  output: z
    .looseObject({
      to: ObjectReferenceSchema.optional(), // kind ImageStreamTag, name <stream>:<tag>
      pushSecret: z.looseObject({ name: z.string() }).optional(),
      imageLabels: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).optional(),
    })
    .optional(),
});
export type BuildSpec = z.infer<typeof BuildSpecSchema>;

export const BuildConfigSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: BuildSpecSchema.extend({
    runPolicy: z.string().optional(),
    triggers: z.array(z.looseObject({ type: z.string() })).nullish(),
  }).optional(),
  status: z.looseObject({ lastVersion: z.number().optional() }).optional(),
});
export type BuildConfig = z.infer<typeof BuildConfigSchema>;

export const BuildPhaseSchema = z.enum(['New', 'Pending', 'Running', 'Complete', 'Failed', 'Error', 'Cancelled']);
export type BuildPhase = z.infer<typeof BuildPhaseSchema>;

export const BuildSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: BuildSpecSchema.optional(),
  status: z
    .looseObject({
      phase: BuildPhaseSchema.optional(),
      cancelled: z.boolean().optional(),
      reason: z.string().optional(),
      message: z.string().optional(),
      logSnippet: z.string().optional(),
      startTimestamp: z.union([z.string(), z.date()]).optional(),
      completionTimestamp: z.union([z.string(), z.date()]).optional(),
      duration: z.number().optional(),
      outputDockerImageReference: z.string().optional(),
      output: z
        .looseObject({
          to: z.looseObject({ imageDigest: z.string().optional() }).optional(),
        })
        .optional(),
      config: ObjectReferenceSchema.optional(),
    })
    .optional(),
});
export type Build = z.infer<typeof BuildSchema>;

// ---- layering.mco.dev/v1alpha1 (the team's own status CRD) ------------------

export const ConditionSchema = z.looseObject({
  type: z.enum(['Ready', 'Building', 'Degraded']),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  observedGeneration: z.number().optional(),
  lastTransitionTime: z.string(),
});
export type Condition = z.infer<typeof ConditionSchema>;

export const BuildHistoryEntrySchema = z.looseObject({
  build: z.string(),
  kind: z.enum(['content', 'custom']),
  fingerprint: z.string(),
  inputs: z.record(z.string(), z.string()),
  outputDigest: z.string().optional(),
  start: z.string().optional(),
  end: z.string().optional(),
  result: z.string(),
  /** What changed since the previous build of the same kind ("base sha256:a -> sha256:b (external base)", ...). */
  changes: z.array(z.string()).optional(),
  /** Why a Build ended without failing itself (its pod evicted or deleted): started again, not counted as an attempt. */
  interrupted: z.string().optional(),
});
export type BuildHistoryEntry = z.infer<typeof BuildHistoryEntrySchema>;

/**
 * Re-requested imports of one stream tag (OpenShift does not retry a failed
 * import at the same generation): kept in the status so the backoff survives
 * restarts. Dropped once the tag imports.
 */
export const ImportRetrySchema = z.looseObject({
  stream: z.string(),
  tag: z.string(),
  /** The spec tag's `from.name` the retries are for; a new one starts over. */
  from: z.string(),
  attempts: z.number(),
  lastAttempt: z.string().optional(),
});
export type ImportRetry = z.infer<typeof ImportRetrySchema>;

/**
 * Attempts at one build fingerprint, kept in the status because OpenShift
 * prunes Builds per BuildConfig (5 successful, 5 failed by default): counts
 * must not depend on the Builds that still exist.
 */
export const BuildAttemptsSchema = z.looseObject({
  kind: z.enum(['content', 'custom']),
  fingerprint: z.string(),
  /** Highest attempt number used in a Build name (names stay unique). */
  lastAttempt: z.number(),
  /** The rebuild token the failures below count under. */
  rebuildToken: z.string(),
  /** Names of the failed attempts under that token. */
  failedBuilds: z.array(z.string()),
  lastFailure: z
    .looseObject({
      build: z.string(),
      reason: z.string().optional(),
      message: z.string().optional(),
      logSnippet: z.string().optional(),
      at: z.string().optional(),
    })
    .optional(),
});
export type BuildAttempts = z.infer<typeof BuildAttemptsSchema>;
/** The rollout of the handed-off image, as MCO reports it on the pool. */
export const RolloutStatusSchema = z.looseObject({
  /** How the image is handed to MCO: machineconfig | annotation. */
  handoff: z.string().optional(),
  /** The hand-off MachineConfig (99-<pool>-layered-image), when there is one. */
  machineConfig: z.string().optional(),
  /** The pool's status.configuration.name when that rendered config carries our image; else absent. */
  renderedConfig: z.string().optional(),
  machineCount: z.number().optional(),
  updatedMachineCount: z.number().optional(),
  readyMachineCount: z.number().optional(),
  degradedMachineCount: z.number().optional(),
  /** Set while the operator holds the pool (spec.paused) so that its nodes update once per change: since when, why, until what. */
  held: z.string().optional(),
});
export type RolloutStatus = z.infer<typeof RolloutStatusSchema>;

/** The decision chain of the last reconcile, for `status --explain`. */
export const ExplainSchema = z.looseObject({
  state: z.string(),
  inputs: z.array(z.looseObject({ name: z.string(), value: z.string(), source: z.string().optional() })),
  steps: z.array(z.string()),
  why: z.array(z.string()),
  actions: z.array(z.string()),
});

export const LayeredPoolStatusSchema = z.looseObject({
  observedGeneration: z.number().optional(),
  phase: z.string().optional(), // Pending | Building | Ready | Degraded
  imageSource: z.string().optional(), // external | custom | mco-content
  image: z.string().optional(), // <repo>@sha256:...
  /** The image the pool had before `image` (what `layered-build-controller rollback` hands off). */
  previousImage: z.string().optional(),
  base: z.string().optional(),
  baseSource: z.string().optional(), // external-base | coreos
  renderedConfig: z.string().optional(),
  renderedConfigImage: z.string().optional(),
  lastBuild: z.string().optional(),
  lastBuildTime: z.string().optional(),
  message: z.string().optional(),
  conditions: z.array(ConditionSchema).optional(),
  history: z.array(BuildHistoryEntrySchema).optional(),
  buildAttempts: z.array(BuildAttemptsSchema).optional(),
  importRetries: z.array(ImportRetrySchema).optional(),
  rollout: RolloutStatusSchema.optional(),
  explain: ExplainSchema.optional(),
  /** Derived names that were shortened for a long pool name: full name -> name used. */
  shortenedNames: z.record(z.string(), z.string()).optional(),
});
export type LayeredPoolStatus = z.infer<typeof LayeredPoolStatusSchema>;

export const LayeredPoolSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: z.looseObject({ poolName: z.string() }).optional(),
  status: LayeredPoolStatusSchema.optional(),
});
export type LayeredPool = z.infer<typeof LayeredPoolSchema>;

// ---- API coordinates ----------------------------------------------------------

export interface ResourceCoords {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

/** What retention reads of a Node: the MCD's currentConfig / desiredConfig annotations. */
export const NodeSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    labels: z.record(z.string(), z.string()).nullish(),
    annotations: z.record(z.string(), z.string()).nullish(),
    resourceVersion: z.string().optional(),
  }),
});
export type NodeLike = z.infer<typeof NodeSchema>;

/** The machine-config daemon's annotations on a Node (MCO pkg/daemon/constants). */
export const MCD_ANNOTATION = 'machineconfiguration.openshift.io/';
const MCD_KEYS = ['currentConfig', 'desiredConfig', 'state', 'reason', 'currentImage', 'desiredImage'].map((k) => `${MCD_ANNOTATION}${k}`);

/** A Node as the operator caches it: its name, labels and the daemon's annotations, nothing else (a Node's status is large). */
export function nodeForCache(n: NodeLike): NodeLike {
  const a = n.metadata.annotations ?? {};
  const annotations: Record<string, string> = {};
  for (const k of MCD_KEYS) if (a[k] !== undefined) annotations[k] = a[k];
  const md = { name: n.metadata.name, labels: n.metadata.labels ?? {}, annotations, ...(n.metadata.resourceVersion ? { resourceVersion: n.metadata.resourceVersion } : {}) };
  return { metadata: md };
}

export const RESOURCES = {
  machineConfigPool: { group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'machineconfigpools', kind: 'MachineConfigPool', namespaced: false },
  machineConfig: { group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'machineconfigs', kind: 'MachineConfig', namespaced: false },
  controllerConfig: { group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'controllerconfigs', kind: 'ControllerConfig', namespaced: false },
  osImageStream: { group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'osimagestreams', kind: 'OSImageStream', namespaced: false },
  imageStream: { group: 'image.openshift.io', version: 'v1', plural: 'imagestreams', kind: 'ImageStream', namespaced: true },
  buildConfig: { group: 'build.openshift.io', version: 'v1', plural: 'buildconfigs', kind: 'BuildConfig', namespaced: true },
  build: { group: 'build.openshift.io', version: 'v1', plural: 'builds', kind: 'Build', namespaced: true },
  layeredPool: { group: 'layering.mco.dev', version: 'v1alpha1', plural: 'layeredpools', kind: 'LayeredPool', namespaced: true },
} as const satisfies Record<string, ResourceCoords>;

export function apiVersionOf(r: ResourceCoords): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}
