# shellcheck shell=bash
# The "outside" registry (Debian's docker-registry, plain http, on the node's
# bridge address so build pods reach it): what quay.io is to a real cluster. It
# holds the images the cluster pulls but does not build (the sandbox image,
# the builder image, the CoreOS stand-in) and admins' external bases. Cluster
# images (streams, builds) live in the integrated registry.
registry_healthy() { curl -fsS --max-time 2 -o /dev/null "http://$NODE_IP:$PORT_EXT_REGISTRY/v2/"; }
registry_ready() { alive registry && registry_healthy; }
registry_config() {
  command -v docker-registry >/dev/null || die "docker-registry is missing (apt-get install docker-registry)"
  mkdir -p "$STATE/registry-data"
  [[ -f "$STATE/registry.yml" ]] && grep -q "$NODE_IP:$PORT_EXT_REGISTRY" "$STATE/registry.yml" && return 0
  cat >"$STATE/registry.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $STATE/registry-data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $NODE_IP:$PORT_EXT_REGISTRY
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
YAML
}
registry_start() {
  stop registry
  require_free_port "$PORT_EXT_REGISTRY" registry
  start registry "$STATE/registry.yml" docker-registry serve "$STATE/registry.yml"
}
registry_wait() { wait_until "registry /v2/" 30 registry registry_healthy; }
registry_stop() { stop registry; }
registry_describe() { echo "http://$NODE_IP:$PORT_EXT_REGISTRY (outside registry: sandbox, builder, CoreOS stand-in)"; }
