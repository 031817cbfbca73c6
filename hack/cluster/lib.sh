# shellcheck shell=bash
# Shared helpers of the local control plane (sourced by hack/local-cluster.sh):
# logging, ports, the network addresses of this checkout's node, processes
# (start detached, alive, stop), readiness waits, state stamps, certificates.
# Each component's file (hack/cluster/components/NN-<name>.sh) uses only these.

log() { printf '[local-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# ---- ports and addresses ------------------------------------------------------
# Every port is PORT_BASE + a fixed offset; PORT_BASE and the node's subnet are
# derived from the state dir (by default inside the checkout), so two checkouts
# on one machine get their own cluster and node.
PORT_NAMES=(etcd etcd_peer apiserver ext_registry kcm scheduler osapi ocm int_registry kubelet kubelet_healthz mcc containerd_stream)
NPORTS=${#PORT_NAMES[@]}

load_ports() {
  if [[ -f "$STATE/ports.env" ]]; then
    # shellcheck disable=SC1091
    . "$STATE/ports.env"
    return
  fi
  local h base
  h="$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)"
  base="${LBC_PORT_BASE:-$((12000 + (h % 1000) * 20))}"
  PORT_BASE=$base
  local i
  for i in "${!PORT_NAMES[@]}"; do
    printf -v "PORT_${PORT_NAMES[$i]^^}" '%s' $((base + i))
  done
  NAMESPACE="${LBC_NAMESPACE:-openshift-machine-config-operator}"
  # The node's own bridge and subnet (10.250.N.0/24): pods, the node IP and the
  # registries pods push to live on addresses this cluster made itself.
  local n=$(((h / 1000) % 250))
  SUBNET_PREFIX="10.250.$n"
  NODE_IP="$SUBNET_PREFIX.1"
  BRIDGE="lbc$(printf '%05d' $((h % 100000)))"
  NODE_NAME="lbc-node-$(printf '%05d' $((h % 100000)))"
}

save_ports() {
  mkdir -p "$STATE"
  {
    echo "PORT_BASE=$PORT_BASE"
    local p v
    for p in "${PORT_NAMES[@]}"; do
      v="PORT_${p^^}"
      echo "$v=${!v}"
    done
    echo "NAMESPACE=$NAMESPACE"
    echo "SUBNET_PREFIX=$SUBNET_PREFIX"
    echo "NODE_IP=$NODE_IP"
    echo "BRIDGE=$BRIDGE"
    echo "NODE_NAME=$NODE_NAME"
  } >"$STATE/ports.env"
}

port_busy() { [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]; }

require_free_port() {
  local port="$1" what="$2"
  if port_busy "$port"; then
    die "port $port (for $what) is already in use by another process (another checkout's cluster? see 'ss -ltnp sport = :$port'). Set LBC_PORT_BASE to the first of $NPORTS free ports, or stop that process."
  fi
}

# ---- processes ----------------------------------------------------------------

pid_of() { if [[ -f "$STATE/$1.pid" ]]; then cat "$STATE/$1.pid"; fi; }

# cmdline_of PID: its command line, arguments joined by spaces ('' when gone or mid-exec).
cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# alive NAME: the recorded pid runs and is still the process we started.
alive() {
  local pid want cmd _
  pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  want="$(cat "$STATE/$1.cmd" 2>/dev/null || true)"
  [[ -n "$want" ]] || return 0
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    cmd="$(cmdline_of "$pid")"
    [[ -z "$cmd" ]] || break
    # An empty command line: a process in the middle of an exec (setsid ->
    # nsenter -> containerd is three; a CI run read one and called containerd
    # "exited", with an empty log), or a zombie not yet reaped (dead).
    [[ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  [[ "$cmd" == *"$want"* ]]
}

# start NAME MATCH CMD...: start CMD detached (own session, no inherited fds),
# logging to $STATE/NAME.log; MATCH is a string of its command line (pid reuse guard).
start() {
  local name="$1" match="$2"
  shift 2
  setsid "$@" </dev/null >>"$STATE/$name.log" 2>&1 7>&- 8>&- 9>&- &
  local pid=$! _
  echo "$pid" >"$STATE/$name.pid"
  printf '%s' "$match" >"$STATE/$name.cmd"
  # Until the forked subshell has exec'd the command, its command line is this
  # script's, and `alive` would call a process that is only starting "exited"
  # (a CI run failed so: "registry exited while waiting", with an empty log).
  # Wait for the exec (or the exit) before anyone asks.
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    [[ "$(cmdline_of "$pid")" == *"$match"* ]] && break
    sleep 0.05
  done
}

# stop NAME: SIGTERM to its process group, SIGKILL after 10 s.
stop() {
  local name="$1" pid target
  pid="$(pid_of "$name")"
  if [[ -n "$pid" ]] && alive "$name"; then
    target="$pid"
    [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]] && target="-$pid"
    kill -TERM -- "$target" 2>/dev/null || true
    local _
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
# early (with the log tail) if process NAME dies ("" = no process to watch).
wait_until() {
  local what="$1" timeout="$2" name="$3" t0=$SECONDS
  shift 3
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$name" ]] && ! alive "$name"; then
      tail -n 30 "$STATE/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $STATE/$name.log)"
    fi
    if ((SECONDS - t0 > timeout)); then
      [[ -z "$name" ]] || tail -n 30 "$STATE/$name.log" >&2 || true
      die "timed out after ${timeout}s waiting for $what${name:+ (log: $STATE/$name.log)}"
    fi
    sleep 0.3
  done
}

kc() { KUBECONFIG="$KUBECONFIG_FILE" "$BIN_DIR/kubectl" "$@"; }
kapply() { kc apply --server-side --force-conflicts --field-manager=lbc-local-cluster "$@"; }

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-64; }
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS" && printf '%s' "$2" >"$STAMPS/$1"; }

# ---- host changes -------------------------------------------------------------
# Every host-wide change goes through remember_sysctl / undo_sysctls so `down`
# restores what was there before.

remember_sysctl() {
  local key="$1" file="/proc/sys/${1//./\/}"
  [[ -f "$file" ]] || return 0
  grep -q "^$key=" "$STATE/host-sysctls" 2>/dev/null || echo "$key=$(cat "$file")" >>"$STATE/host-sysctls"
}

undo_sysctls() {
  [[ -f "$STATE/host-sysctls" ]] || return 0
  local line
  while IFS= read -r line; do
    local key="${line%%=*}" val="${line#*=}"
    echo "$val" >"/proc/sys/${key//./\/}" 2>/dev/null || true
  done <"$STATE/host-sysctls"
  rm -f "$STATE/host-sysctls"
}

# ---- certificates -------------------------------------------------------------

# issue NAME SUBJECT USAGE [SANS] [CA]: a key and certificate signed by CA
# (default the cluster CA) in $PKI; USAGE is serverAuth, clientAuth or both.
issue() {
  local name="$1" subj="$2" usage="$3" sans="${4:-}" ca="${5:-ca}"
  [[ -f "$PKI/$name.crt" ]] && return 0
  (
    cd "$PKI"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
    {
      echo "extendedKeyUsage=$usage"
      echo "keyUsage=critical,digitalSignature,keyEncipherment"
      [[ -z "$sans" ]] || echo "subjectAltName=$sans"
    } >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 3650 \
      -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
    chmod 600 "$name.key"
  )
}

new_ca() {
  local name="$1" cn="$2"
  [[ -f "$PKI/$name.crt" ]] && return 0
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$name.key" \
    -out "$PKI/$name.crt" -days 3650 -subj "/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  chmod 600 "$PKI/$name.key"
}

# kubeconfig FILE CERT [SERVER]: a kubeconfig for client certificate CERT.
write_kubeconfig_for() {
  local file="$1" cert="$2" server="${3:-https://127.0.0.1:$PORT_APISERVER}"
  local b64='base64 -w0'
  (
    umask 077
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: lbc-local
    cluster:
      server: $server
      certificate-authority-data: $($b64 <"$PKI/ca.crt")
users:
  - name: $cert
    user:
      client-certificate-data: $($b64 <"$PKI/$cert.crt")
      client-key-data: $($b64 <"$PKI/$cert.key")
contexts:
  - name: lbc-local
    context:
      cluster: lbc-local
      user: $cert
      namespace: $NAMESPACE
current-context: lbc-local
EOF
  )
}
