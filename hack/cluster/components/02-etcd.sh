# shellcheck shell=bash
# etcd, TLS with client certificates (openshift-apiserver accepts nothing else).
etcd_build() { with_build_lock build_etcd; }
etcd_healthy() {
  curl -fsS --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/etcd-client.crt" --key "$PKI/etcd-client.key" \
    "https://127.0.0.1:$PORT_ETCD/health" 2>/dev/null | grep -c '"health":"true"' >/dev/null
}
etcd_ready() { alive etcd && etcd_healthy; }
etcd_start() {
  stop etcd
  require_free_port "$PORT_ETCD" etcd
  require_free_port "$PORT_ETCD_PEER" "etcd peer"
  [[ -d "$STATE/etcd" ]] || rm -rf "$STAMPS" # a fresh store holds none of the applied objects
  start etcd "$BIN_DIR/etcd" "$BIN_DIR/etcd" \
    --name lbc --data-dir "$STATE/etcd" \
    --listen-client-urls "https://127.0.0.1:$PORT_ETCD" --advertise-client-urls "https://127.0.0.1:$PORT_ETCD" \
    --cert-file "$PKI/etcd-server.crt" --key-file "$PKI/etcd-server.key" \
    --trusted-ca-file "$PKI/ca.crt" --client-cert-auth \
    --listen-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" \
    --initial-cluster "lbc=http://127.0.0.1:$PORT_ETCD_PEER" \
    --unsafe-no-fsync --quota-backend-bytes=4294967296 --log-level=warn
}
etcd_wait() { wait_until "etcd health" 60 etcd etcd_healthy; }
etcd_stop() { stop etcd; }
etcd_describe() { echo "https://127.0.0.1:$PORT_ETCD"; }
