# shellcheck shell=bash
# The CustomResourceDefinitions: the product's own (crds/) and the real ones of
# openshift/api (from ../shared/third_party/api-<commit>.tar.zst) that
# openshift-apiserver, openshift-controller-manager and machine-config-controller
# read or the operator uses: MachineConfigPool, MachineConfig, ControllerConfig,
# the config.openshift.io singletons, ... For a resource with feature-set
# variants the Default (self-managed) one is taken. Not a process.
CRDS_WANTED=(
  config/v1:images config/v1:builds config/v1:proxies config/v1:imagedigestmirrorsets config/v1:imagetagmirrorsets
  config/v1:ingresses config/v1:infrastructures config/v1:clusterversions config/v1:featuregates config/v1:apiservers
  config/v1:nodes config/v1:schedulers config/v1:networks config/v1:dnses config/v1:clusteroperators
  config/v1:imagecontentpolicies config/v1:clusterimagepolicies config/v1:imagepolicies config/v1:projects
  config/v1:criocredentialproviderconfigs
  operator/v1alpha1:imagecontentsourcepolicies operator/v1:machineconfigurations
  quota/v1:clusterresourcequotas security/v1:securitycontextconstraints
  machineconfiguration/v1:containerruntimeconfigs machineconfiguration/v1:controllerconfigs
  machineconfiguration/v1:kubeletconfigs machineconfiguration/v1:machineconfignodes
  machineconfiguration/v1:machineconfigpools machineconfiguration/v1:machineconfigs
  machineconfiguration/v1:machineosbuilds machineconfiguration/v1:machineosconfigs
  machineconfiguration/v1:osimagestreams machineconfiguration/v1:pinnedimagesets
  machineconfiguration/v1:internalreleaseimages
)

# crd_file DIR RESOURCE: the manifest of RESOURCE in DIR, Default variant first.
crd_file() {
  local dir="$1" res="$2" suffix f
  for suffix in "" -Default -SelfManagedHA-Default -SelfManagedHA; do
    for f in "$dir"/*_"$res$suffix".crd.yaml; do
      [[ -f "$f" ]] && { printf '%s' "$f"; return 0; }
    done
  done
  return 1
}

crds_build() { third_party_src api >/dev/null; }
crds_config() {
  local api w f out="$STATE/crds"
  api="$(third_party_src api)" || die "openshift/api sources unavailable"
  rm -rf "$out" && mkdir -p "$out"
  for w in "${CRDS_WANTED[@]}"; do
    f="$(crd_file "$api/${w%%:*}/zz_generated.crd-manifests" "${w#*:}")" || die "no CRD manifest for ${w#*:} in $api/${w%%:*}"
    cp "$f" "$out/"
  done
  cp "$ROOT"/crds/*.yaml "$out/"
}
crds_hash() { hash_of "$STATE"/crds/*.yaml; }
crds_ready() { stamp_ok crds "$(crds_hash)"; }
crds_start() {
  kapply -f "$STATE/crds/" >/dev/null
  kc wait --for condition=established --timeout=120s -f "$STATE/crds/" >/dev/null
  stamp_set crds "$(crds_hash)"
}
crds_describe() { echo "$(find "$STATE/crds" -name '*.yaml' | wc -l) CRDs (openshift/api @${OCP_COMMIT_API:0:12} and crds/)"; }
