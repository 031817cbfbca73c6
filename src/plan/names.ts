// Names, labels and annotations shared by the planner, the controller, the
// emulator and the tests. One place, so nothing drifts.

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

export function poolStreams(pool: string) {
  return {
    base: `${pool}-base`,
    externalBase: `${pool}-external-base`,
    renderedConfig: `${pool}-rendered-config`,
    content: `${pool}-mco-content`,
    custom: `${pool}-mco-content-custom`,
    external: `${pool}-mco-content-external`,
  } as const;
}

export function poolBuildConfigs(pool: string) {
  return {
    content: `${pool}-build-mco-content`,
    custom: `${pool}-build-mco-content-custom`,
  } as const;
}

export function buildConfigFor(pool: string, kind: BuildKind): string {
  return kind === 'content' ? poolBuildConfigs(pool).content : poolBuildConfigs(pool).custom;
}

/** Tag on the output stream that holds the image of one fingerprint. */
export function fingerprintTag(fingerprint: string): string {
  return `fp-${fingerprint.slice(0, 20)}`;
}

/** The deterministic Build name of one attempt at one fingerprint. */
export function buildName(buildConfig: string, fingerprint: string, attempt: number): string {
  return `${buildConfig}-${fingerprint.slice(0, 10)}-${attempt}`;
}

/** Tag of a rendered-config image: its content hash (`sha256-<hex>` of the manifest digest). */
export function renderedConfigTag(manifestDigest: string): string {
  return manifestDigest.replace(':', '-');
}
// The hand-off to MCO (docs/handoff.md).
/** The hand-off MachineConfig of a pool: `99-<pool>-layered-image`. */
export function handoffMachineConfigName(pool: string): string {
  return `99-${pool}-layered-image`;
}
/** MCC marks the MachineConfigs it generates with this; their osImageURL is ignored when merging. */
export const ANNOTATION_GENERATED_BY_CONTROLLER = 'machineconfiguration.openshift.io/generated-by-controller-version';
/** MCC sets this on a rendered config whose osImageURL came from a MachineConfig. */
export const ANNOTATION_OS_IMAGE_URL_OVERRIDDEN = 'machineconfiguration.openshift.io/os-image-url-overridden';
/** The role label MCC sorts by when merging: worker-role MachineConfigs first, then the others. */
export const LABEL_MC_ROLE = 'machineconfiguration.openshift.io/role';
