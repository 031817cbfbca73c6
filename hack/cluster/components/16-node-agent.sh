# shellcheck shell=bash
# STAND-IN for the machine-config daemon, which needs a real CoreOS host (see
# hack/node-agent/main.ts for what is real and what is not): it sets MCD's
# annotations on the node and deploys each osImageURL the node moves to with
# the real importer (ostree-ext container image deploy) into the node's own
# ostree sysroot under $STATE/node/host (its /etc holds the pull secret MCD
# writes). Also fills ControllerConfig spec.internalRegistryPullSecret as MCO's
# operator does.
NODE_HOST_DIR() { printf '%s/node/host' "$STATE"; }
node_agent_importer() { bash "$ROOT/hack/coreos-base/build.sh" tools 2>/dev/null | sed -n 1p; }
node_agent_hash() { hash_of "$ROOT"/hack/node-agent/*.ts "$ROOT/hack/cluster/components/16-node-agent.sh"; }
node_agent_ready() { alive node-agent && stamp_ok node-agent "$(node_agent_hash)"; }
node_agent_build() { bash "$ROOT/hack/coreos-base/build.sh" tools >/dev/null; }
node_agent_start() {
  stop node-agent
  [[ -x "$ROOT/node_modules/.bin/node" ]] || die "Node 24 from npm is missing: run 'npm ci' first"
  local host sysroot importer
  host="$(NODE_HOST_DIR)" sysroot="$(NODE_HOST_DIR)/sysroot"
  importer="$(node_agent_importer)"
  [[ -x "$importer" ]] || die "the ostree-ext CLI is missing (hack/coreos-base/build.sh tools builds it)"
  if [[ ! -d "$sysroot/ostree/deploy/default" ]]; then
    mkdir -p "$sysroot" "$host/etc"
    { ostree admin init-fs "$sysroot" >/dev/null && ostree admin os-init --sysroot="$sysroot" default >/dev/null; } ||
      die "could not create the node's ostree sysroot in $sysroot"
  fi
  KUBECONFIG="$KUBECONFIG_FILE" LBC_NODE_SYSROOT="$sysroot" LBC_NODE_ETC="$host/etc" LBC_OSTREE_EXT="$importer" \
    LBC_PLAIN_HTTP_REGISTRIES="$NODE_IP:$PORT_EXT_REGISTRY,$NODE_IP:$PORT_INT_REGISTRY" \
    start node-agent "hack/node-agent/main.ts" "$ROOT/node_modules/.bin/node" "$ROOT/hack/node-agent/main.ts"
  stamp_set node-agent "$(node_agent_hash)"
}
node_agent_wait() { wait_until "node-agent stand-in" 10 node-agent alive node-agent; }
node_agent_stop() { stop node-agent; }
# ostree marks every deployment root immutable (chattr +i): lift it so that `down` can remove the state.
node_agent_undo() {
  local d
  for d in "$(NODE_HOST_DIR)"/sysroot/ostree/deploy/*/deploy/*; do [[ ! -d "$d" ]] || chattr -i "$d" 2>/dev/null || true; done
}
node_agent_describe() {
  local c
  c="$(ostree admin --sysroot="$(NODE_HOST_DIR)/sysroot" status 2>/dev/null | awk '$2 ~ /^[0-9a-f]+[.][0-9]+$/ { print $2; exit }')"
  echo "stand-in for MCD (hack/node-agent/main.ts); the node's newest deployment: ${c:-none}"
}
