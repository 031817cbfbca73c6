# shellcheck shell=bash
# kube-controller-manager with the controllers this stack needs: garbage
# collection (owner references), namespaces, ServiceAccounts and their tokens,
# the cluster-role aggregation (OpenShift's edit/admin rules), and what makes
# pods run on the node (deployments, replicasets, jobs, node lifecycle, pod GC,
# endpoints).
KCM_CONTROLLERS="garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller,deployment-controller,replicaset-controller,job-controller,node-lifecycle-controller,pod-garbage-collector-controller,endpoints-controller,endpointslice-controller,legacy-serviceaccount-token-cleaner-controller,disruption-controller"
kube_controller_manager_build() { with_build_lock build_k8s_cmd kube-controller-manager; }
kube_controller_manager_healthy() { [[ "$(curl -ksS --max-time 2 "https://127.0.0.1:$PORT_KCM/healthz")" == ok ]]; }
kube_controller_manager_ready() { alive kube-controller-manager && kube_controller_manager_healthy; }
kube_controller_manager_start() {
  stop kube-controller-manager
  require_free_port "$PORT_KCM" kube-controller-manager
  start kube-controller-manager "$BIN_DIR/kube-controller-manager" "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG_FILE" --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --controllers="$KCM_CONTROLLERS" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="$PORT_KCM" --cert-dir="$STATE/kcm-certs" \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=false --authentication-skip-lookup=true \
    --node-monitor-grace-period=40s --v=0
}
kube_controller_manager_wait() { wait_until "kube-controller-manager /healthz" 60 kube-controller-manager kube_controller_manager_healthy; }
kube_controller_manager_stop() { stop kube-controller-manager; }
kube_controller_manager_describe() { echo "https://127.0.0.1:$PORT_KCM"; }
