# shellcheck shell=bash
# kube-scheduler: places build pods and the operator's pods on the node.
kube_scheduler_build() { with_build_lock build_k8s_cmd kube-scheduler; }
kube_scheduler_healthy() { [[ "$(curl -ksS --max-time 2 "https://127.0.0.1:$PORT_SCHEDULER/healthz")" == ok ]]; }
kube_scheduler_ready() { alive kube-scheduler && kube_scheduler_healthy; }
kube_scheduler_start() {
  stop kube-scheduler
  require_free_port "$PORT_SCHEDULER" kube-scheduler
  start kube-scheduler "$BIN_DIR/kube-scheduler" "$BIN_DIR/kube-scheduler" \
    --kubeconfig="$KUBECONFIG_FILE" --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$PORT_SCHEDULER" --v=0
}
kube_scheduler_wait() { wait_until "kube-scheduler /healthz" 60 kube-scheduler kube_scheduler_healthy; }
kube_scheduler_stop() { stop kube-scheduler; }
kube_scheduler_describe() { echo "https://127.0.0.1:$PORT_SCHEDULER"; }
