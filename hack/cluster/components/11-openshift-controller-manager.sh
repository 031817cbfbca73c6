# shellcheck shell=bash
# openshift-controller-manager (the real one): image import, image triggers,
# builds (build pods from the real openshift-builder image), buildconfig
# instantiation, the builder ServiceAccount and its role bindings, and the
# ServiceAccounts' pull/push secrets for the integrated registry.
OCM_CONTROLLERS=(openshift.io/serviceaccount openshift.io/serviceaccount-pull-secrets openshift.io/build
  openshift.io/build-config-change openshift.io/builder-serviceaccount openshift.io/builder-rolebindings
  openshift.io/image-import openshift.io/image-trigger openshift.io/image-puller-rolebindings openshift.io/default-rolebindings)
ocm_build() { with_build_lock build_openshift openshift-controller-manager cmd/openshift-controller-manager openshift-controller-manager containers_image_openpgp 0; }
ocm_config() {
  local c
  {
    cat <<YAML
apiVersion: openshiftcontrolplane.config.openshift.io/v1
kind: OpenShiftControllerManagerConfig
servingInfo:
  bindAddress: 127.0.0.1:$PORT_OCM
  bindNetwork: tcp4
  certFile: $PKI/serving.crt
  keyFile: $PKI/serving.key
leaderElection:
  disable: true
kubeClientConfig:
  kubeConfig: $KUBECONFIG_FILE
build:
  imageTemplateFormat:
    format: $(builder_image)
dockerPullSecret:
  internalRegistryHostname: $NODE_IP:$PORT_INT_REGISTRY
  registryURLs: ["$NODE_IP:$PORT_INT_REGISTRY"]
imageImport:
  scheduledImageImportMinimumIntervalSeconds: 900
controllers:
YAML
    for c in "${OCM_CONTROLLERS[@]}"; do echo "  - $c"; done
  } >"$STATE/openshift-controller-manager.yaml"
}
ocm_healthy() { [[ "$(curl -ksS --max-time 2 "https://127.0.0.1:$PORT_OCM/healthz")" == ok ]]; }
ocm_ready() { alive openshift-controller-manager && ocm_healthy && stamp_ok ocm "$(hash_of "$STATE/openshift-controller-manager.yaml")"; }
ocm_start() {
  stop openshift-controller-manager
  require_free_port "$PORT_OCM" openshift-controller-manager
  POD_NAMESPACE=openshift-controller-manager start openshift-controller-manager "$BIN_DIR/openshift-controller-manager" \
    "$BIN_DIR/openshift-controller-manager" start --config="$STATE/openshift-controller-manager.yaml" \
    --kubeconfig="$KUBECONFIG_FILE" --namespace=openshift-controller-manager --v=0
  stamp_set ocm "$(hash_of "$STATE/openshift-controller-manager.yaml")"
}
ocm_wait() { wait_until "openshift-controller-manager /healthz" 90 openshift-controller-manager ocm_healthy; }
ocm_stop() { stop openshift-controller-manager; }
ocm_describe() { echo "https://127.0.0.1:$PORT_OCM (build, image-import, ... controllers; builder $(cut -c1-19 "$STATE/builder.digest" 2>/dev/null))"; }
