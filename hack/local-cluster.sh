#!/usr/bin/env bash
# The local control plane, "OpenShift in a box": the real Kubernetes and
# OpenShift components (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, openshift-apiserver, openshift-controller-manager, the
# integrated registry, machine-config-controller), a real node (containerd +
# runc + CNI bridge + kubelet) that runs the build pods of the real
# openshift-builder, and two named stand-ins: the CoreOS base image and the
# node agent's annotations. All for this checkout only (its own ports, bridge,
# subnet and state dir).
#
#   hack/local-cluster.sh up       bring it up (builds binaries the first time); idempotent
#   hack/local-cluster.sh env      print `export ...` lines: eval "$(hack/local-cluster.sh env)"
#   hack/local-cluster.sh status   one line per component
#   hack/local-cluster.sh down     stop everything, undo host changes, remove the state
#   hack/local-cluster.sh build    only build the binaries and images' inputs (cache)
#   hack/local-cluster.sh stop C      stop one component (SIGTERM, SIGKILL after 10 s)
#   hack/local-cluster.sh start C     start one component unless ready, wait until ready
#   hack/local-cluster.sh restart C   stop, then start
#   hack/local-cluster.sh signal C S  send signal S (KILL, STOP, CONT, ...) to its process
#   hack/local-cluster.sh pid C       print its process id
#     (C: a component id such as kube_apiserver, or its process name such as kube-apiserver;
#     fault injection for the chaos suite, test/chaos/)
#
# Each component is one file, hack/cluster/components/NN-<name>.sh, of one shape:
# <id>_build, <id>_config, <id>_start, <id>_wait, <id>_ready, <id>_stop,
# <id>_undo, <id>_describe (each optional). This driver runs them in order.
#
# Environment:
#   LBC_NAMESPACE    operator namespace (default openshift-machine-config-operator)
#   LBC_CACHE        binary cache (default ~/.cache/layered-build-controller)
#   LBC_STATE_DIR    state dir (default <checkout>/.local/cluster)
#   LBC_PORT_BASE    first of 13 ports to use (default: derived from the state dir)
#   LBC_THIRD_PARTY  dir of the OpenShift source tarballs (default ../shared/third_party)
#   LBC_SRC_<REPO>   a git clone of one OpenShift repository at its pinned commit
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HACK="$ROOT/hack"
export LBC_STATE_DIR="${LBC_STATE_DIR:-$ROOT/.local/cluster}"
STATE="$LBC_STATE_DIR"
PKI="$STATE/pki"
STAMPS="$STATE/stamps"
KUBECONFIG_FILE="$STATE/kubeconfig"
# shellcheck source=hack/versions.env
. "$HACK/versions.env"
# shellcheck source=hack/buildah-env.sh
. "$HACK/buildah-env.sh"
# shellcheck source=hack/cluster/lib.sh
. "$HACK/cluster/lib.sh"
# shellcheck source=hack/cluster/build.sh
. "$HACK/cluster/build.sh"
export PATH="/usr/local/go/bin:$ROOT/node_modules/.bin:$PATH"
for f in "$HACK"/cluster/components/[0-9][0-9]-*.sh; do
  # shellcheck disable=SC1090
  . "$f"
done

# Component ids in start order, and the process each runs ("" = none).
COMPONENTS=(pki network etcd kube_apiserver crds kube_controller_manager kube_scheduler registry images objects
  osapi image_registry ocm containerd kubelet mcc node_agent)
declare -A PROC=([etcd]=etcd [kube_apiserver]=kube-apiserver [kube_controller_manager]=kube-controller-manager
  [kube_scheduler]=kube-scheduler [registry]=registry [osapi]=openshift-apiserver [image_registry]=image-registry
  [ocm]=openshift-controller-manager [containerd]=containerd [kubelet]=kubelet [mcc]=machine-config-controller
  [node_agent]=node-agent)

T_START=$SECONDS
has() { declare -F "$1" >/dev/null; }
call() { if has "$1"; then "$@"; fi; }

component_up() {
  local c="$1" t0=$SECONDS
  call "${c}_build"
  call "${c}_config"
  if has "${c}_ready" && "${c}_ready" 2>/dev/null; then
    return 0
  fi
  log "$c: starting..."
  call "${c}_start"
  call "${c}_wait"
  has "${c}_ready" && { "${c}_ready" || die "$c: not ready after start"; }
  log "$c: ready in $((SECONDS - t0))s"
}

report() {
  local c p pid state
  for c in "${COMPONENTS[@]}"; do
    p="${PROC[$c]:-}"
    if has "${c}_ready" && "${c}_ready" 2>/dev/null; then state=ready; else state=DOWN; fi
    [[ -z "$p" ]] && [[ "$state" == ready ]] && state=done
    pid="$([[ -n "$p" ]] && pid_of "$p" || true)"
    printf '  %-24s %-6s %-8s %s\n' "${p:-$c}" "$state" "${pid:+pid $pid}" "$(call "${c}_describe" 2>/dev/null || true)"
  done
}

all_ready() {
  local c
  for c in "${COMPONENTS[@]}"; do
    has "${c}_ready" || continue
    "${c}_ready" 2>/dev/null || return 1
  done
}

cmd_up() {
  cd "$ROOT"
  mkdir -p "$STATE" "$CACHE"
  exec 8>"$CACHE/up-$(printf '%s' "$STATE" | cksum | cut -d' ' -f1).lock"
  flock 8
  load_ports
  if [[ ! -f "$STATE/ports.env" ]]; then
    local i p busy=()
    for ((i = 0; i < NPORTS; i++)); do
      p=$((PORT_BASE + i))
      port_busy "$p" && busy+=("$p")
    done
    ((${#busy[@]} == 0)) || die "port(s) ${busy[*]} are in use by another process (another checkout's cluster? see 'ss -ltnp'). The cluster needs $PORT_BASE..$((PORT_BASE + NPORTS - 1)); set LBC_PORT_BASE to the first of $NPORTS free ports."
  fi
  save_ports
  local c
  for c in "${COMPONENTS[@]}"; do component_up "$c"; done
  log "up in $((SECONDS - T_START))s"
  report >&2
  log "use it: eval \"\$(hack/local-cluster.sh env)\""
}

cmd_build() {
  load_ports
  local c
  for c in "${COMPONENTS[@]}"; do call "${c}_build"; done
}

cmd_env() {
  [[ -f "$STATE/ports.env" && -f "$KUBECONFIG_FILE" ]] || die "no local cluster in $STATE; run hack/local-cluster.sh up"
  load_ports
  printf "export KUBECONFIG='%s'\n" "$KUBECONFIG_FILE"
  printf "export KUBECTL='%s'\n" "$BIN_DIR/kubectl"
  printf "export OC='%s'\n" "$BIN_DIR/oc"
  printf "export LBC_BIN_DIR='%s'\n" "$BIN_DIR"
  printf "export LOCAL_REGISTRY='%s:%s'\n" "$NODE_IP" "$PORT_EXT_REGISTRY"
  printf "export INTERNAL_REGISTRY='%s:%s'\n" "$NODE_IP" "$PORT_INT_REGISTRY"
  printf "export LBC_NODE_NAME='%s'\n" "$NODE_NAME"
  printf "export LBC_NAMESPACE='%s'\n" "$NAMESPACE"
  printf "export LBC_STATE_DIR='%s'\n" "$STATE"
  printf "export LBC_COREOS_IMAGE='%s'\n" "$(coreos_image 2>/dev/null || true)"
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
  echo "local cluster in $STATE ($K8S_VERSION, OpenShift $OCP_VERSION):"
  report
  all_ready
}

cmd_down() {
  [[ -f "$STATE/ports.env" ]] || { rm -rf "$STATE"; return 0; }
  load_ports
  local i c
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    c="${COMPONENTS[$i]}"
    call "${c}_stop" || true
    call "${c}_undo" || true
  done
  rm -rf "$STATE"
  log "removed $STATE"
}

# resolve_component NAME: the component id of NAME (an id, or its process name); exit 2 if none.
resolve_component() {
  local want="${1:-}" c
  [[ -n "$want" ]] || { log "a component is required: one of ${COMPONENTS[*]}"; exit 2; }
  for c in "${COMPONENTS[@]}"; do
    if [[ "$c" == "$want" || "${PROC[$c]:-}" == "$want" || "${c//_/-}" == "$want" ]]; then
      printf '%s' "$c"
      return 0
    fi
  done
  log "unknown component '$want': one of ${COMPONENTS[*]} (or their process names)"
  exit 2
}

need_cluster() { [[ -f "$STATE/ports.env" ]] || die "no local cluster in $STATE; run hack/local-cluster.sh up"; }

# proc_of ID: the process name of component ID; exit 2 for a component without one (pki, crds, ...).
proc_of() {
  local p="${PROC[$1]:-}"
  [[ -n "$p" ]] || { log "component $1 runs no process"; exit 2; }
  printf '%s' "$p"
}

cmd_stop() {
  need_cluster
  load_ports
  local c
  c="$(resolve_component "${1:-}")"
  proc_of "$c" >/dev/null
  call "${c}_stop"
  log "$c: stopped"
}

# Like component_up without the build step (the binaries are there: the cluster was up).
cmd_start() {
  need_cluster
  load_ports
  local c t0=$SECONDS
  c="$(resolve_component "${1:-}")"
  proc_of "$c" >/dev/null
  call "${c}_config"
  if has "${c}_ready" && "${c}_ready" 2>/dev/null; then
    log "$c: already ready"
    return 0
  fi
  call "${c}_start"
  call "${c}_wait"
  has "${c}_ready" && { "${c}_ready" || die "$c: not ready after start"; }
  log "$c: ready in $((SECONDS - t0))s"
}

cmd_signal() {
  need_cluster
  local c p pid sig="${2:-}"
  c="$(resolve_component "${1:-}")"
  p="$(proc_of "$c")"
  [[ "$sig" =~ ^(SIG)?[A-Z0-9]+$ ]] && kill -l "${sig#SIG}" >/dev/null 2>&1 || { log "signal: '$sig' is not a signal name (KILL, STOP, CONT, TERM, ...)"; exit 2; }
  alive "$p" || die "$c is not running (no live process recorded in $STATE/$p.pid)"
  pid="$(pid_of "$p")"
  kill -s "${sig#SIG}" "$pid" || die "kill -s ${sig#SIG} $pid ($c) failed"
  if [[ "${sig#SIG}" == KILL ]]; then
    # kill returns before the process is gone; its ports are free only then (a `start` right after needs them).
    local _
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && die "$c (pid $pid) still runs 10 s after SIGKILL"
  fi
  log "$c: sent SIG${sig#SIG} to pid $pid"
}

cmd_pid() {
  need_cluster
  local c p
  c="$(resolve_component "${1:-}")"
  p="$(proc_of "$c")"
  alive "$p" || die "$c is not running"
  pid_of "$p"
}

[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0 # sourced (for debugging): define only

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  build) cmd_build ;;
  stop) cmd_stop "${2:-}" ;;
  start) cmd_start "${2:-}" ;;
  restart) cmd_stop "${2:-}" && cmd_start "${2:-}" ;;
  signal) cmd_signal "${2:-}" "${3:-}" ;;
  pid) cmd_pid "${2:-}" ;;
  *)
    echo "usage: $0 up|down|status|env|build|stop C|start C|restart C|signal C SIG|pid C" >&2
    exit 2
    ;;
esac
