// Names, labels and annotations shared by the planner, the controller, the
// CLI and the tests. One place, so nothing drifts.
//
// A pool's name may be anything Kubernetes allows (253 characters); the names
// derived from it are shortened deterministically where they would exceed a
// limit: a readable prefix, then "-" and 10 hex of the sha256 of the full name.
import { sha256Hex } from '../util/canonical-json.ts';

/** Longest object name (DNS-1123 subdomain). */
export const MAX_NAME = 253;
/** Longest label value; OpenShift puts BuildConfig and Build names into labels. */
export const MAX_LABEL_VALUE = 63;
/**
 * Longest ImageStream name: a registry repository `<namespace>/<stream>` has at
 * most 255 characters and a namespace up to 63.
 */
export const MAX_IMAGE_STREAM = 255 - 1 - 63;
const HASH_LENGTH = 10;

/** `name` when it fits in `max`, else a prefix of it plus `-<10 hex of sha256(name)>`: stable, readable, distinct. */
export function shortenName(name: string, max: number): string {
  if (name.length <= max) return name;
  const prefix = name.slice(0, max - HASH_LENGTH - 1).replace(/[-.]+$/, '');
  return `${prefix}-${sha256Hex(name).slice(0, HASH_LENGTH)}`;
}

export const DEFAULT_NAMESPACE = 'openshift-machine-config-operator';
/** The operator's own opt-in label (never MCO's, below). */
export const DEFAULT_OPT_IN_LABEL = 'layering.mco.dev/enabled';
/**
 * MCO's own opt-in for its on-cluster layering: a pool carrying it without a
 * MachineOSConfig makes the machine-config operator Degraded, so the operator
 * refuses to use it as its opt-in label.
 */
export const MCO_LAYERING_LABEL = 'machineconfiguration.openshift.io/layering-enabled';
export const CONTROLLER_CONFIG_NAME = 'machine-config-controller';
/** The OSImageStream singleton MCO publishes its OS image streams in (where the cluster serves the API). */
export const OS_IMAGE_STREAM_NAME = 'cluster';
export const FIELD_MANAGER = 'layered-build-controller';

export const ANNOTATION_POOL = 'machineconfiguration.openshift.io/pool';
export const ANNOTATION_NEWEST_IMAGE = 'machineconfiguration.openshift.io/newestImage';
export const ANNOTATION_NEWEST_IMAGE_CONFIG = 'machineconfiguration.openshift.io/newestImageEquivalentConfig';
export const ANNOTATION_NEWEST_IMAGE_SOURCE = 'machineconfiguration.openshift.io/newestImageSource';

// The operator's own labels and annotations.
export const GROUP = 'layering.mco.dev';
export const LABEL_FINGERPRINT = `${GROUP}/fingerprint`; // first 40 hex of the fingerprint (label values max 63)
export const ANNOTATION_FINGERPRINT = `${GROUP}/fingerprint`; // the full fingerprint
export const LABEL_BUILD_KIND = `${GROUP}/build-kind`; // content | custom
export const ANNOTATION_INPUTS = `${GROUP}/inputs`; // canonical JSON of the inputs
export const ANNOTATION_REBUILD = `${GROUP}/rebuild`; // set on the pool or status object to request a rebuild
export const ANNOTATION_ROLLBACK_TO = `${GROUP}/rollback-to`; // set on the pool: hand off this earlier image (by digest) instead of the newest
export const ANNOTATION_REBUILD_TOKEN = `${GROUP}/rebuild-token`; // recorded on a Build: the token it was started under
export const LABEL_MANAGED = `${GROUP}/managed-by`;

// What OpenShift's own build controller puts on a Build it starts from a BuildConfig.
export const BUILD_CONFIG_LABEL = 'openshift.io/build-config.name';
export const BUILD_CONFIG_LABEL_SHORT = 'buildconfig';
export const BUILD_START_POLICY_LABEL = 'openshift.io/build.start-policy';
export const BUILD_NUMBER_ANNOTATION = 'openshift.io/build.number';
export const BUILD_CONFIG_ANNOTATION = 'openshift.io/build-config.name';

export const COREOS_STREAM = 'coreos';
export const LATEST = 'latest';

export type BuildKind = 'content' | 'custom';

const stream = (name: string) => shortenName(name, MAX_IMAGE_STREAM);
/** A BuildConfig's name is a label value of its Builds (and their pods). */
const buildConfig = (name: string) => shortenName(name, MAX_LABEL_VALUE);

export function poolStreams(pool: string) {
  return {
    base: stream(`${pool}-base`),
    externalBase: stream(`${pool}-external-base`),
    renderedConfig: stream(`${pool}-rendered-config`),
    content: stream(`${pool}-mco-content`),
    custom: stream(`${pool}-mco-content-custom`),
    external: stream(`${pool}-mco-content-external`),
  } as const;
}

export function poolBuildConfigs(pool: string) {
  return {
    content: buildConfig(`${pool}-build-mco-content`),
    custom: buildConfig(`${pool}-build-mco-content-custom`),
  } as const;
}

/** Every name derived from the pool that had to be shortened: full name -> the name used (empty when none was). */
export function shortenedNames(pool: string): Record<string, string> {
  const out: Record<string, string> = {};
  const full: [string, string][] = [
    [`${pool}-base`, poolStreams(pool).base],
    [`${pool}-external-base`, poolStreams(pool).externalBase],
    [`${pool}-rendered-config`, poolStreams(pool).renderedConfig],
    [`${pool}-mco-content`, poolStreams(pool).content],
    [`${pool}-mco-content-custom`, poolStreams(pool).custom],
    [`${pool}-mco-content-external`, poolStreams(pool).external],
    [`${pool}-build-mco-content`, poolBuildConfigs(pool).content],
    [`${pool}-build-mco-content-custom`, poolBuildConfigs(pool).custom],
    [`99-${pool}-layered-image`, handoffMachineConfigName(pool)],
  ];
  for (const [want, used] of full) if (want !== used) out[want] = used;
  return out;
}

/** Tag on the output stream that holds the image of one fingerprint. */
export function fingerprintTag(fingerprint: string): string {
  return `fp-${fingerprint.slice(0, 20)}`;
}

/** Longest attempt number a Build name leaves room for (`-<n>`): retries are bounded far below. */
const ATTEMPT_ROOM = 5;

/**
 * `<buildConfig>-<fp10>-` of the Build names of one fingerprint, fitting a
 * label value with the attempt number (the BuildConfig part shortened if needed).
 */
export function buildNamePrefix(buildConfig: string, fingerprint: string): string {
  const tail = `-${fingerprint.slice(0, 10)}-`;
  return `${shortenName(buildConfig, MAX_LABEL_VALUE - tail.length - ATTEMPT_ROOM)}${tail}`;
}

/** The deterministic Build name of one attempt at one fingerprint. */
export function buildName(buildConfig: string, fingerprint: string, attempt: number): string {
  return `${buildNamePrefix(buildConfig, fingerprint)}${attempt}`;
}

/** Tag of a rendered-config image: its content hash (`sha256-<hex>` of the manifest digest). */
export function renderedConfigTag(manifestDigest: string): string {
  return manifestDigest.replace(':', '-');
}
// The hand-off to MCO (docs/handoff.md).
/** The hand-off MachineConfig of a pool: `99-<pool>-layered-image`. */
export function handoffMachineConfigName(pool: string): string {
  return shortenName(`99-${pool}-layered-image`, MAX_NAME);
}
/** MCC marks the MachineConfigs it generates with this; their osImageURL is ignored when merging. */
export const ANNOTATION_GENERATED_BY_CONTROLLER = 'machineconfiguration.openshift.io/generated-by-controller-version';
/** The role label MCC sorts by when merging: worker-role MachineConfigs first, then the others. */
export const LABEL_MC_ROLE = 'machineconfiguration.openshift.io/role';
