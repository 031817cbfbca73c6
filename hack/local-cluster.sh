#!/usr/bin/env bash
# The local control plane: a real etcd + kube-apiserver (RBAC) +
# kube-controller-manager (garbage collector, namespaces only), a real OCI
# registry, the OpenShift stand-in CRDs, the emulator and the CoreOS stand-in
# base image, all on loopback, no container engine needed.
#
#   hack/local-cluster.sh up       bring it up (builds binaries the first time); idempotent
#   hack/local-cluster.sh env      print `export ...` lines: eval "$(hack/local-cluster.sh env)"
#   hack/local-cluster.sh status   what runs
#   hack/local-cluster.sh down     stop everything it started and remove the state
#
# Environment:
#   LBC_NAMESPACE    operator namespace (default openshift-machine-config-operator)
#   LBC_CACHE        binary cache (default ~/.cache/layered-build-controller)
#   LBC_STATE_DIR    state dir (default <checkout>/.local/cluster)
#   LBC_PORT_BASE    first of 10 ports to use (default: derived from the checkout path)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HACK="$ROOT/hack"
export LBC_STATE_DIR="${LBC_STATE_DIR:-$ROOT/.local/cluster}"
STATE="$LBC_STATE_DIR"
PKI="$STATE/pki"
STAMPS="$STATE/stamps"
# shellcheck source=hack/versions.env
. "$HACK/versions.env"
# shellcheck source=hack/buildah-env.sh
. "$HACK/buildah-env.sh"
export PATH="/usr/local/go/bin:$ROOT/node_modules/.bin:$PATH"
CACHE="${LBC_CACHE:-$HOME/.cache/layered-build-controller}"
BIN_DIR="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
KUBECTL="$BIN_DIR/kubectl"
KUBECONFIG_FILE="$STATE/kubeconfig"
BASE_REPO="openshift/coreos-standin"

T_START=$SECONDS
log() { printf '[local-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# step NAME FUNCTION...: run a step, print how long it took.
step() {
  local name="$1" t0=$SECONDS
  shift
  log "$name..."
  "$@"
  log "$name: done in $((SECONDS - t0))s"
}

# ---- ports ------------------------------------------------------------------

load_ports() {
  if [[ -f "$STATE/ports.env" ]]; then
    # shellcheck disable=SC1091
    . "$STATE/ports.env"
    KCM_PORT="${KCM_PORT:-$((PORT_BASE + 4))}" # state written before it existed
    return
  fi
  local base="${LBC_PORT_BASE:-}"
  if [[ -z "$base" ]]; then
    # Derived from the state dir (by default inside the checkout), so two
    # checkouts do not collide; below Linux's ephemeral range (32768+).
    local h
    h="$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)"
    base=$((12000 + (h % 2000) * 10))
  fi
  PORT_BASE=$base
  ETCD_PORT=$base
  ETCD_PEER_PORT=$((base + 1))
  APISERVER_PORT=$((base + 2))
  REGISTRY_PORT=$((base + 3))
  KCM_PORT=$((base + 4))
  NAMESPACE="${LBC_NAMESPACE:-openshift-machine-config-operator}"
}

save_ports() {
  mkdir -p "$STATE"
  cat >"$STATE/ports.env" <<EOF
PORT_BASE=$PORT_BASE
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
REGISTRY_PORT=$REGISTRY_PORT
KCM_PORT=$KCM_PORT
NAMESPACE=$NAMESPACE
EOF
}

port_busy() { [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]; }

require_free_port() {
  local port="$1" what="$2"
  if port_busy "$port"; then
    die "port $port (for $what) on 127.0.0.1 is already in use by another process (another checkout's cluster? see 'ss -ltnp sport = :$port'). Set LBC_PORT_BASE to a free range of 10 ports, or stop that process."
  fi
}

# With nothing of ours running, every port must be free before anything starts
# (and a new LBC_PORT_BASE replaces the recorded ports).
preflight_ports() {
  local c
  for c in etcd kube-apiserver kube-controller-manager registry emulator; do
    alive "$c" && return 0
  done
  if [[ -n "${LBC_PORT_BASE:-}" && "${PORT_BASE}" != "$LBC_PORT_BASE" ]]; then
    rm -f "$STATE/ports.env"
    load_ports
  fi
  local p busy=()
  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$REGISTRY_PORT" "$KCM_PORT"; do
    port_busy "$p" && busy+=("$p")
  done
  if ((${#busy[@]})); then
    rm -f "$STATE/ports.env"
    die "port(s) ${busy[*]} on 127.0.0.1 are in use by another process (another checkout's cluster? see 'ss -ltnp'). The cluster needs $PORT_BASE..$((PORT_BASE + 4)); set LBC_PORT_BASE to the first of 10 free ports."
  fi
}

# ---- processes ----------------------------------------------------------------

pid_of() { if [[ -f "$STATE/$1.pid" ]]; then cat "$STATE/$1.pid"; fi; }

# alive NAME: the recorded pid runs and is still the process we started.
alive() {
  local pid
  pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  local want
  want="$(cat "$STATE/$1.cmd" 2>/dev/null || true)"
  [[ -z "$want" ]] || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want"
}

# start NAME MATCH CMD...: start CMD detached (own session, no inherited fds),
# logging to $STATE/NAME.log; MATCH is a string of its command line (pid reuse guard).
start() {
  local name="$1" match="$2"
  shift 2
  setsid "$@" </dev/null >>"$STATE/$name.log" 2>&1 8>&- 9>&- &
  echo $! >"$STATE/$name.pid"
  printf '%s' "$match" >"$STATE/$name.cmd"
}

stop() {
  local name="$1" pid
  pid="$(pid_of "$name")"
  if [[ -n "$pid" ]] && alive "$name"; then
    # It leads its own process group (setsid): signal the group, so children
    # (the emulator's buildah processes) go too.
    local target="$pid"
    [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]] && target="-$pid"
    kill -TERM -- "$target" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) did not stop on SIGTERM; sending SIGKILL"
      kill -KILL -- "$target" 2>/dev/null || true
    fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$STATE/$name.pid" "$STATE/$name.cmd"
}

# wait_until DESCRIPTION TIMEOUT_S NAME CMD...: poll CMD until it succeeds; fail
# early (with the log tail) if process NAME dies.
wait_until() {
  local what="$1" timeout="$2" name="$3" t0=$SECONDS
  shift 3
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      tail -n 30 "$STATE/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $STATE/$name.log)"
    fi
    if ((SECONDS - t0 > timeout)); then
      tail -n 30 "$STATE/$name.log" >&2 || true
      die "timed out after ${timeout}s waiting for $what (log: $STATE/$name.log)"
    fi
    sleep 0.3
  done
}

kc() { KUBECONFIG="$KUBECONFIG_FILE" "$KUBECTL" "$@"; }

etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
apiserver_healthy() { [[ "$(kc get --raw /readyz --request-timeout=3s 2>/dev/null)" == ok ]]; }
kcm_healthy() { [[ "$(curl -ksS --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz")" == ok ]]; }
registry_healthy() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$REGISTRY_PORT/v2/"; }

healthy() {
  case "$1" in
    etcd) alive etcd && etcd_healthy ;;
    kube-apiserver) alive kube-apiserver && apiserver_healthy ;;
    kube-controller-manager) alive kube-controller-manager && kcm_healthy ;;
    registry) alive registry && registry_healthy ;;
    emulator) alive emulator ;;
  esac
}

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-64; }
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS" && printf '%s' "$2" >"$STAMPS/$1"; }

# ---- steps --------------------------------------------------------------------

build_binaries() {
  if [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/kube-controller-manager" && -x "$BIN_DIR/kubectl" && -x "$BIN_DIR/etcd" ]]; then
    return 0
  fi
  command -v go >/dev/null || die "Go is needed to build the control plane (expected /usr/local/go/bin/go)"
  log "building Kubernetes $K8S_VERSION and etcd $ETCD_VERSION into $BIN_DIR (first time only; ~15-25 min on 2 cores)"
  "$HACK/build-binaries.sh" >/dev/null
}

gen_certs() {
  [[ -f "$PKI/admin.crt" ]] && return 0
  command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
  mkdir -p "$PKI"
  (
    cd "$PKI"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 3650 -subj "/CN=lbc-local-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new "${ec[@]}" -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      "extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl req -new "${ec[@]}" -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=lbc-admin" 2>/dev/null
    printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile admin.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext
    chmod 600 ./*.key
  )
  rm -f "$KUBECONFIG_FILE"
}

write_kubeconfig() {
  [[ -f "$KUBECONFIG_FILE" ]] && grep -q "127.0.0.1:$APISERVER_PORT" "$KUBECONFIG_FILE" && return 0
  local b64='base64 -w0'
  umask 077
  cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: lbc-local
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority-data: $($b64 <"$PKI/ca.crt")
users:
  - name: lbc-admin
    user:
      client-certificate-data: $($b64 <"$PKI/admin.crt")
      client-key-data: $($b64 <"$PKI/admin.key")
contexts:
  - name: lbc-local
    context:
      cluster: lbc-local
      user: lbc-admin
      namespace: $NAMESPACE
current-context: lbc-local
EOF
  umask 022
}

start_etcd() {
  healthy etcd && return 0
  stop etcd
  require_free_port "$ETCD_PORT" etcd
  require_free_port "$ETCD_PEER_PORT" "etcd peer"
  if [[ ! -d "$STATE/etcd" ]]; then
    rm -f "$STAMPS/crds" "$STAMPS/objects" # a fresh store holds none of these
  fi
  start etcd "$BIN_DIR/etcd" "$BIN_DIR/etcd" \
    --name lbc --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "lbc=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes=4294967296 --log-level=warn
  wait_until "etcd health" 60 etcd etcd_healthy
}

start_apiserver() {
  healthy kube-apiserver && return 0
  stop kube-apiserver
  require_free_port "$APISERVER_PORT" kube-apiserver
  start kube-apiserver "$BIN_DIR/kube-apiserver" "$BIN_DIR/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --cert-dir="$PKI" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    --endpoint-reconciler-type=none --profiling=false --v=0
  wait_until "kube-apiserver /readyz" 180 kube-apiserver apiserver_healthy
}

# Only the controllers that make the API behave as a cluster's does for this
# project: garbage collection (owner references: a deleted pool takes its
# objects with it), namespace deletion, service accounts and their tokens.
KCM_CONTROLLERS="garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller"

start_controller_manager() {
  healthy kube-controller-manager && return 0
  stop kube-controller-manager
  require_free_port "$KCM_PORT" kube-controller-manager
  start kube-controller-manager "$BIN_DIR/kube-controller-manager" "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG_FILE" --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --controllers="$KCM_CONTROLLERS" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$STATE/kcm-certs" \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=false --authentication-skip-lookup=true --v=0
  wait_until "kube-controller-manager /healthz" 60 kube-controller-manager kcm_healthy
}

start_registry() {
  healthy registry && return 0
  stop registry
  require_free_port "$REGISTRY_PORT" registry
  command -v docker-registry >/dev/null || die "docker-registry is missing (apt-get install docker-registry)"
  mkdir -p "$STATE/registry-data"
  cat >"$STATE/registry.yml" <<EOF
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
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
EOF
  cat >"$CONTAINERS_REGISTRIES_CONF" <<EOF
# The local registry speaks plain http on loopback.
unqualified-search-registries = []
[[registry]]
location = "127.0.0.1:$REGISTRY_PORT"
insecure = true
EOF
  start registry "$STATE/registry.yml" docker-registry serve "$STATE/registry.yml"
  wait_until "registry /v2/" 30 registry registry_healthy
}

install_crds() {
  local files h
  files=("$ROOT"/crds/*.yaml "$HACK"/crds/openshift/*.yaml)
  h="$(hash_of "${files[@]}")"
  stamp_ok crds "$h" && return 0
  kc apply --server-side --force-conflicts --field-manager=lbc-local-cluster \
    -f "$ROOT/crds/" -f "$HACK/crds/openshift/" >/dev/null
  kc wait --for condition=established --timeout=60s \
    -f "$ROOT/crds/" -f "$HACK/crds/openshift/" >/dev/null
  stamp_set crds "$h"
}

build_base_image() {
  local ctx="$STATE/coreos-base-ctx" h digest
  local inputs=("$HACK"/coreos-base/Containerfile "$HACK"/coreos-base/os-release "$HACK"/coreos-base/ostree
    "$HACK"/coreos-base/ignition-apply/main.go "$HACK"/coreos-base/ignition-apply/go.mod /usr/bin/busybox)
  # recipe v2: the flags below; the Go version shapes ignition-apply's bytes.
  h="$(hash_of "${inputs[@]}")-$REGISTRY_PORT-v2-$(go env GOVERSION)"
  if stamp_ok base-image "$h" && [[ -s "$STATE/coreos-base.digest" ]]; then
    digest="$(cat "$STATE/coreos-base.digest")"
    if curl -fsS -o /dev/null -I -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
      "http://127.0.0.1:$REGISTRY_PORT/v2/$BASE_REPO/manifests/$digest"; then
      return 0
    fi
  fi
  command -v buildah >/dev/null || die "buildah is missing (apt-get install buildah)"
  [[ -x /usr/bin/busybox ]] || die "a static /usr/bin/busybox is needed (apt-get install busybox-static)"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$HACK/coreos-base/Containerfile" "$HACK/coreos-base/os-release" "$HACK/coreos-base/ostree" "$ctx/"
  cp /usr/bin/busybox "$ctx/busybox"
  (cd "$HACK/coreos-base/ignition-apply" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$ctx/ignition-apply" .)
  lbc_buildah_init
  local ref="127.0.0.1:$REGISTRY_PORT/$BASE_REPO:latest"
  # shellcheck disable=SC2086
  buildah $BUILDAH_ARGS bud $BUILDAH_BUD_ARGS --timestamp 0 --layers=false -q \
    -f "$ctx/Containerfile" -t "localhost/coreos-standin:latest" "$ctx" >"$STATE/coreos-base-build.log" 2>&1 ||
    { tail -n 30 "$STATE/coreos-base-build.log" >&2; die "building the CoreOS stand-in failed"; }
  # shellcheck disable=SC2086
  buildah $BUILDAH_ARGS push $BUILDAH_PUSH_ARGS --digestfile "$STATE/coreos-base.digest.tmp" -q \
    "localhost/coreos-standin:latest" "docker://$ref" >>"$STATE/coreos-base-build.log" 2>&1 ||
    { tail -n 30 "$STATE/coreos-base-build.log" >&2; die "pushing the CoreOS stand-in to $ref failed"; }
  mv "$STATE/coreos-base.digest.tmp" "$STATE/coreos-base.digest"
  log "pushed $ref ($(cat "$STATE/coreos-base.digest"))"
  stamp_set base-image "$h"
}

apply_cluster_objects() {
  local image h
  image="127.0.0.1:$REGISTRY_PORT/$BASE_REPO@$(cat "$STATE/coreos-base.digest")"
  h="$NAMESPACE $image"
  stamp_ok objects "$h" && return 0
  kc apply --server-side --force-conflicts --field-manager=lbc-local-cluster -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NAMESPACE
---
apiVersion: machineconfiguration.openshift.io/v1
kind: ControllerConfig
metadata:
  name: machine-config-controller
spec:
  baseOSContainerImage: $image
EOF
  log "ControllerConfig machine-config-controller: baseOSContainerImage=$image"
  stamp_set objects "$h"
}

emulator_hash() { find "$HACK/emulator" -type f \( -name '*.ts' -o -name '*.json' \) -print0 2>/dev/null | sort -z | xargs -0 cat 2>/dev/null | sha256sum | cut -c1-64; }

start_emulator() {
  if [[ ! -f "$HACK/emulator/main.ts" ]]; then
    log "WARNING: hack/emulator/main.ts does not exist yet; not starting the emulator"
    return 0
  fi
  [[ -x "$ROOT/node_modules/.bin/node" ]] || die "Node 24 from npm is missing: run 'npm ci' first (the emulator runs on it)"
  local h
  h="$(emulator_hash)"
  if healthy emulator && stamp_ok emulator "$h"; then
    return 0
  fi
  alive emulator && log "emulator code changed; restarting it"
  stop emulator
  lbc_buildah_init
  KUBECONFIG="$KUBECONFIG_FILE" LOCAL_REGISTRY="127.0.0.1:$REGISTRY_PORT" LBC_NAMESPACE="$NAMESPACE" \
    KUBECTL="$KUBECTL" start emulator "hack/emulator/main.ts" node "$HACK/emulator/main.ts"
  sleep 1.5
  if ! alive emulator; then
    tail -n 30 "$STATE/emulator.log" >&2 || true
    die "the emulator exited at start (log: $STATE/emulator.log)"
  fi
  stamp_set emulator "$h"
}

report() {
  local comp pid
  for comp in etcd kube-apiserver kube-controller-manager registry emulator; do
    pid="$(pid_of "$comp")"
    if healthy "$comp"; then
      printf '  %-24s running   pid %-8s log %s\n' "$comp" "$pid" "$STATE/$comp.log"
    elif alive "$comp"; then
      printf '  %-24s UNHEALTHY pid %-8s log %s\n' "$comp" "$pid" "$STATE/$comp.log"
    else
      printf '  %-24s stopped\n' "$comp"
    fi
  done
  printf '  %-24s https://127.0.0.1:%s  (kubeconfig %s)\n' "api server" "$APISERVER_PORT" "$KUBECONFIG_FILE"
  printf '  %-24s 127.0.0.1:%s\n' "registry" "$REGISTRY_PORT"
  [[ -s "$STATE/coreos-base.digest" ]] &&
    printf '  %-24s 127.0.0.1:%s/%s@%s\n' "base image" "$REGISTRY_PORT" "$BASE_REPO" "$(cat "$STATE/coreos-base.digest")"
  printf '  %-24s %s\n' "namespace" "$NAMESPACE" "versions" "kubernetes $K8S_VERSION, etcd $ETCD_VERSION"
}

all_healthy() {
  local c
  for c in etcd kube-apiserver kube-controller-manager registry; do healthy "$c" || return 1; done
  [[ ! -f "$HACK/emulator/main.ts" ]] || healthy emulator
}

# ---- commands -----------------------------------------------------------------

cmd_up() {
  cd "$ROOT"
  mkdir -p "$STATE" "$CACHE"
  exec 8>"$CACHE/up-$(printf '%s' "$STATE" | cksum | cut -d' ' -f1).lock"
  flock 8
  load_ports
  if [[ -f "$STATE/ports.env" && -n "${LBC_NAMESPACE:-}" && "$LBC_NAMESPACE" != "$NAMESPACE" ]]; then
    log "note: this cluster was brought up for namespace $NAMESPACE; now also creating $LBC_NAMESPACE"
    NAMESPACE="$LBC_NAMESPACE"
  fi
  preflight_ports
  save_ports
  local was_healthy=0
  all_healthy && was_healthy=1
  if ((was_healthy)); then
    log "already running"
  fi
  step "binaries (kubernetes $K8S_VERSION, etcd $ETCD_VERSION)" build_binaries
  step "certificates" gen_certs
  write_kubeconfig
  step "etcd on 127.0.0.1:$ETCD_PORT" start_etcd
  step "kube-apiserver on https://127.0.0.1:$APISERVER_PORT" start_apiserver
  step "CRDs" install_crds
  # After the CRDs, so its garbage collector watches them from the start.
  step "kube-controller-manager (garbage collector, namespaces)" start_controller_manager
  step "registry on 127.0.0.1:$REGISTRY_PORT" start_registry
  step "CoreOS stand-in base image" build_base_image
  step "namespace $NAMESPACE and ControllerConfig" apply_cluster_objects
  step "emulator" start_emulator
  log "up in $((SECONDS - T_START))s"
  report >&2
  log "use it: eval \"\$(hack/local-cluster.sh env)\""
}

cmd_env() {
  [[ -f "$STATE/ports.env" && -f "$KUBECONFIG_FILE" ]] || die "no local cluster in $STATE; run hack/local-cluster.sh up"
  load_ports
  printf "export KUBECONFIG='%s'\n" "$KUBECONFIG_FILE"
  printf "export KUBECTL='%s'\n" "$KUBECTL"
  printf "export LOCAL_REGISTRY='127.0.0.1:%s'\n" "$REGISTRY_PORT"
  printf "export LBC_NAMESPACE='%s'\n" "$NAMESPACE"
  printf "export LBC_STATE_DIR='%s'\n" "$STATE"
  local v
  for v in CONTAINERS_STORAGE_CONF CONTAINERS_REGISTRIES_CONF STORAGE_DRIVER BUILDAH_ISOLATION BUILDAH_ARGS BUILDAH_BUD_ARGS BUILDAH_PUSH_ARGS; do
    printf "export %s='%s'\n" "$v" "${!v}"
  done
}

cmd_status() {
  if [[ ! -f "$STATE/ports.env" ]]; then
    echo "no local cluster (state dir $STATE does not exist)"
    return 3
  fi
  load_ports
  echo "local cluster in $STATE:"
  report
  all_healthy
}

cmd_down() {
  if [[ -f "$STATE/ports.env" ]]; then load_ports; fi
  local c
  for c in emulator registry kube-controller-manager kube-apiserver etcd; do stop "$c"; done
  if [[ -d "$STATE" ]]; then
    rm -rf "$STATE"
    log "removed $STATE"
  fi
}

[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0 # sourced (for debugging): define only

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
