# shellcheck shell=bash
# The integrated image registry (openshift/image-registry's dockerregistry, the
# real one): ImageStreams' images, build outputs, the rendered-config images.
# OpenShift auth (`auth.openshift`: bearer tokens from /openshift/token for a
# ServiceAccount or user token), filesystem storage, plain http on the node's
# bridge address, which is what openshift-apiserver advertises as
# internalRegistryHostname.
image_registry_build() { with_build_lock build_openshift image-registry cmd/dockerregistry dockerregistry containers_image_openpgp 0; }
image_registry_config() {
  mkdir -p "$STATE/image-registry-data"
  cat >"$STATE/image-registry.yml" <<YAML
version: 0.1
log:
  level: warn
http:
  addr: $NODE_IP:$PORT_INT_REGISTRY
  secret: $(cat "$STATE/image-registry.secret" 2>/dev/null || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' | tee "$STATE/image-registry.secret")
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $STATE/image-registry-data
  delete:
    enabled: true
auth:
  openshift: {}
openshift:
  version: 1.0
  server:
    addr: $NODE_IP:$PORT_INT_REGISTRY
  auth:
    realm: openshift
  audit:
    enabled: false
  metrics:
    enabled: false
  quota:
    enabled: false
  cache:
    blobrepositoryttl: 10m
  pullthrough:
    enabled: true
    mirror: false
  compatibility:
    acceptschema2: true
YAML
}
image_registry_healthy() { curl -fsS --max-time 2 -o /dev/null "http://$NODE_IP:$PORT_INT_REGISTRY/healthz"; }
image_registry_ready() { alive image-registry && image_registry_healthy; }
image_registry_start() {
  stop image-registry
  require_free_port "$PORT_INT_REGISTRY" image-registry
  KUBECONFIG="$KUBECONFIG_FILE" start image-registry "$BIN_DIR/dockerregistry" "$BIN_DIR/dockerregistry" "$STATE/image-registry.yml"
}
image_registry_wait() { wait_until "integrated registry /healthz" 60 image-registry image_registry_healthy; }
image_registry_stop() { stop image-registry; }
image_registry_describe() { echo "http://$NODE_IP:$PORT_INT_REGISTRY (integrated registry, OpenShift auth)"; }
