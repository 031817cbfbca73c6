# shellcheck shell=bash
# The node: a real kubelet on containerd, in the node's mount namespace (see
# 12-containerd.sh). cgroup v1 here: failCgroupV1 false, cgroupfs driver
# (containerd 1.6 lacks the RuntimeConfig CRI call), a cgroupRoot of its own.
# No iptables utility chains; the node IP is the bridge address.
kubelet_build() { with_build_lock build_k8s_cmd kubelet; }
kubelet_config() {
  local d
  d="$(node_dir)"
  mkdir -p "$d/kubelet" "$d/kubelet-certs"
  kubelet_cgroups
  cat >"$d/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $PORT_KUBELET
healthzBindAddress: 127.0.0.1
healthzPort: $PORT_KUBELET_HEALTHZ
readOnlyPort: 0
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$(containerd_sock)
cgroupDriver: cgroupfs
cgroupRoot: /lbc-$BRIDGE
cgroupsPerQOS: true
enforceNodeAllocatable: []
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
protectKernelDefaults: false
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
registerNode: true
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
nodeStatusReportFrequency: 10s
maxPods: 30
localStorageCapacityIsolation: false
YAML
}
# The node's own cgroup root in every v1 hierarchy (the kubelet requires it to
# exist); cpuset needs its cpus/mems filled from the parent.
kubelet_cgroups() {
  local c dir
  for c in /sys/fs/cgroup/*/; do
    c="${c%/}"
    [[ "$c" == */unified ]] && continue
    dir="$c/lbc-$BRIDGE"
    [[ -d "$dir" ]] || mkdir "$dir" 2>/dev/null || continue
    if [[ "$c" == */cpuset ]]; then
      [[ -s "$dir/cpuset.cpus" ]] || cat "$c/cpuset.cpus" >"$dir/cpuset.cpus"
      [[ -s "$dir/cpuset.mems" ]] || cat "$c/cpuset.mems" >"$dir/cpuset.mems"
    fi
  done
}
kubelet_healthy() { [[ "$(curl -sS --max-time 2 "http://127.0.0.1:$PORT_KUBELET_HEALTHZ/healthz" 2>/dev/null)" == ok ]]; }
node_is_ready() { [[ "$(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; }
kubelet_ready() { alive kubelet && kubelet_healthy && node_is_ready; }
kubelet_start() {
  stop kubelet
  require_free_port "$PORT_KUBELET" kubelet
  local d
  d="$(node_dir)"
  start kubelet "$d/kubelet.yaml" nsenter --mount="$(node_mntns)" "$BIN_DIR/kubelet" \
    --config="$d/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --root-dir="$d/kubelet" --cert-dir="$d/kubelet-certs" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --node-labels="lbc.local/node=$NODE_NAME" --v=0
}
node_registered() { kc get node "$NODE_NAME" >/dev/null 2>&1; }
# The role label a kubelet may not set on itself (NodeRestriction): what the
# installer does for a worker.
kubelet_wait() {
  wait_until "node $NODE_NAME registered" 60 kubelet node_registered
  kc label node "$NODE_NAME" node-role.kubernetes.io/worker= --overwrite >/dev/null
  wait_until "node $NODE_NAME Ready" 120 kubelet kubelet_ready
}
kubelet_stop() {
  stop kubelet
}
kubelet_undo() {
  kc delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  # cgroups the kubelet made under its own root
  local c
  for c in /sys/fs/cgroup/*/lbc-"$BRIDGE"; do
    [[ -d "$c" ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  return 0
}
kubelet_describe() { echo "node $NODE_NAME ($NODE_IP), kubelet $K8S_VERSION on :$PORT_KUBELET"; }
