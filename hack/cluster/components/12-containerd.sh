# shellcheck shell=bash
# The node's container runtime: Debian's containerd (CRI) + runc + the CNI
# bridge plugin on this checkout's bridge. containerd and the kubelet share one
# private mount namespace (kept in $STATE/node/mntns), created here, in which
# the /proc/sys files the kubelet would write host-wide already hold the values
# it expects (bind mounts of small files), so the host's sysctls stay as they
# are. Its own root, state, socket and CNI dirs; images pulled over plain http
# from the two local registries.
NODE_DIR_REL=node
node_dir() { printf '%s/%s' "$STATE" "$NODE_DIR_REL"; }
NODE_SYSCTLS=(vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000)
containerd_sock() { printf '%s/containerd/containerd.sock' "$(node_dir)"; }

containerd_config() {
  local d
  d="$(node_dir)"
  for b in containerd runc; do command -v "$b" >/dev/null || die "$b is missing (apt-get install containerd runc)"; done
  [[ -x /usr/lib/cni/bridge ]] || die "the CNI plugins are missing (apt-get install containernetworking-plugins)"
  mkdir -p "$d/containerd/root" "$d/containerd/state" "$d/cni/net.d" "$d/cni/ipam" "$d/sysctl"
  cat >"$d/cni/net.d/10-lbc.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "lbc-pods",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$d/cni/ipam",
        "ranges": [[{"subnet": "$SUBNET_PREFIX.0/24", "rangeStart": "$SUBNET_PREFIX.10", "rangeEnd": "$SUBNET_PREFIX.250", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
JSON
  local reg
  {
    cat <<TOML
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
[grpc]
  address = "$(containerd_sock)"
[ttrpc]
  address = "$(containerd_sock).ttrpc"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(pause_image)"
  stream_server_address = "127.0.0.1"
  stream_server_port = "$PORT_CONTAINERD_STREAM"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
TOML
    for reg in "$NODE_IP:$PORT_EXT_REGISTRY" "$NODE_IP:$PORT_INT_REGISTRY"; do
      printf '  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."%s"]\n    endpoint = ["http://%s"]\n' "$reg" "$reg"
    done
  } >"$d/containerd.toml"
  local s f
  for s in "${NODE_SYSCTLS[@]}"; do
    f="${s%%=*}"
    echo "${s#*=}" >"$d/sysctl/${f//\//_}"
  done
}

# The mount namespace holder: a bind-mounted private dir with the namespace file.
node_mntns() { printf '%s/mntns/ns' "$(node_dir)"; }
node_ns_ready() { [[ -f "$(node_mntns)" ]] && nsenter --mount="$(node_mntns)" true 2>/dev/null; }
node_ns_create() {
  local dir
  dir="$(dirname "$(node_mntns)")"
  mkdir -p "$dir"
  mountpoint -q "$dir" || { mount --bind "$dir" "$dir" && mount --make-private "$dir"; }
  touch "$(node_mntns)"
  # The node's global pull secret, where build pods mount it from (hostPath
  # /var/lib/kubelet/config.json): this node's own file, bind-mounted inside
  # its namespace only (the host keeps whatever /var/lib/kubelet it has).
  mkdir -p "$(node_dir)/var-lib-kubelet"
  [[ -f "$(node_dir)/var-lib-kubelet/config.json" ]] || echo '{"auths":{}}' >"$(node_dir)/var-lib-kubelet/config.json"
  # Pod logs too: the kubelet writes them under /var/log/pods and links them
  # from /var/log/containers (fixed paths), and cleans up what it does not know:
  # another checkout's node must not see or remove them.
  mkdir -p "$(node_dir)/var-log-pods" "$(node_dir)/var-log-containers"
  local hostdir
  for hostdir in /var/lib/kubelet /var/log/pods /var/log/containers; do
    if [[ ! -d $hostdir ]]; then
      mkdir -p "$hostdir"
      echo "$hostdir" >>"$STATE/host-created-dirs"
    fi
  done
  local s f script="set -e; mount --bind $(node_dir)/var-lib-kubelet /var/lib/kubelet"
  script+="; mount --bind $(node_dir)/var-log-pods /var/log/pods; mount --bind $(node_dir)/var-log-containers /var/log/containers"
  for s in "${NODE_SYSCTLS[@]}"; do
    f="${s%%=*}"
    script+="; mount --bind $(node_dir)/sysctl/${f//\//_} /proc/sys/$f"
  done
  unshare --mount="$(node_mntns)" --propagation private sh -c "$script"
}
node_ns_remove() {
  local dir
  dir="$(dirname "$(node_mntns)")"
  umount "$(node_mntns)" 2>/dev/null || true
  umount "$dir" 2>/dev/null || true
}

containerd_healthy() { [[ -S "$(containerd_sock)" ]] && ctr --address "$(containerd_sock)" version >/dev/null 2>&1; }
containerd_ready() { alive containerd && containerd_healthy; }
containerd_start() {
  stop containerd
  node_ns_ready || node_ns_create
  start containerd "$(node_dir)/containerd.toml" nsenter --mount="$(node_mntns)" containerd --config "$(node_dir)/containerd.toml"
}
containerd_wait() { wait_until "containerd socket" 60 containerd containerd_healthy; }
containerd_stop() {
  # Containers first: their runc shims outlive containerd otherwise.
  if containerd_healthy; then
    local t
    for t in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  pkill -f "containerd-shim-runc-v2 -namespace k8s.io -address $(containerd_sock)" 2>/dev/null || true
}
containerd_undo() {
  local d
  d="$(node_dir)"
  # Mounts the node left (pod volumes, snapshots) live in its namespace; they go with it.
  node_ns_remove
  # The empty mount points this node created go too, unless another checkout's
  # node still runs (its namespace mounts over them: removing them would detach those).
  if [[ -f "$STATE/host-created-dirs" ]]; then
    if ! grep -q '/node/mntns/ns ' /proc/self/mountinfo; then
      local dir
      while IFS= read -r dir; do rmdir "$dir" 2>/dev/null || true; done <"$STATE/host-created-dirs"
    fi
    rm -f "$STATE/host-created-dirs"
  fi
  ip netns list 2>/dev/null | awk '/^cni-/{print $1}' | while read -r ns; do
    [[ "$(ip netns exec "$ns" ip -4 addr 2>/dev/null)" == *"inet $SUBNET_PREFIX."* ]] && ip netns del "$ns" 2>/dev/null
  done
  [[ ! -d "$d" ]] || find "$d" -xdev -depth -type d -empty -delete 2>/dev/null || true
}
ctr_node() { ctr --address "$(containerd_sock)" -n k8s.io "$@"; }
containerd_describe() { echo "$(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'), socket $(containerd_sock)"; }
