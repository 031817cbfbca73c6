# shellcheck shell=bash
# machine-config-controller (the real one, from third_party): the template,
# render, node, drain and kubelet-config controllers. It renders every pool's
# MachineConfigs into rendered-<pool>-<hash> and moves nodes' desiredConfig.
# Its templates come from the same source tree. Its Lease (in the MCO
# namespace) outlives a stopped MCC by minutes, so a start first removes a
# Lease whose holder is not running.
MCO_VERSION_PKG=github.com/openshift/machine-config-operator/pkg/version
mcc_build() {
  with_build_lock build_openshift machine-config-operator cmd/machine-config-controller machine-config-controller \
    "containers_image_openpgp exclude_graphdriver_devicemapper exclude_graphdriver_btrfs" 0 \
    "-X $MCO_VERSION_PKG.Raw=$OCP_VERSION -X $MCO_VERSION_PKG.Hash=$OCP_COMMIT_MACHINE_CONFIG_OPERATOR -X $MCO_VERSION_PKG.ReleaseVersion=${OCP_VERSION#v}"
}
mcc_rendered() {
  [[ -n "$(kc get machineconfigpool worker -o 'jsonpath={.spec.configuration.name}' 2>/dev/null)" ]]
}
mcc_ready() { alive machine-config-controller && mcc_rendered; }
mcc_start() {
  stop machine-config-controller
  local src
  src="$(third_party_src machine-config-operator)"
  kc -n "$NAMESPACE" delete lease machine-config-controller --ignore-not-found >/dev/null 2>&1 || true
  mkdir -p "$STATE/mcc-streams"
  start machine-config-controller "$BIN_DIR/machine-config-controller" "$BIN_DIR/machine-config-controller" start \
    --kubeconfig="$KUBECONFIG_FILE" --templates="$src/templates" --resourcelock-namespace="$NAMESPACE" \
    --metrics-listen-address="127.0.0.1:$PORT_MCC" --streams-cache="$STATE/mcc-streams" --v=2
}
mcc_wait() { wait_until "machine-config-controller rendering the worker pool" 180 machine-config-controller mcc_rendered; }
mcc_stop() { stop machine-config-controller; }
mcc_describe() { echo "$OCP_VERSION, worker pool on $(kc get mcp worker -o 'jsonpath={.spec.configuration.name}' 2>/dev/null)"; }
