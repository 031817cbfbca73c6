# shellcheck shell=bash
# kube-apiserver: RBAC + Node authorization, the aggregation layer (front-proxy
# client certificate for openshift-apiserver), kubelet client certificates.
# PodNodeSelector (besides the default admission plugins): a namespace's
# scheduler.alpha.kubernetes.io/node-selector applies to its pods; the scale
# bench uses it to hold its build pods off the node (bench/scale.bench.ts).
kube_apiserver_build() { with_build_lock build_k8s_cmd kube-apiserver && with_build_lock build_k8s_cmd kubectl; }
kube_apiserver_healthy() { [[ "$(kc get --raw /readyz --request-timeout=3s 2>/dev/null)" == ok ]]; }
kube_apiserver_ready() { alive kube-apiserver && kube_apiserver_healthy; }
kube_apiserver_start() {
  stop kube-apiserver
  require_free_port "$PORT_APISERVER" kube-apiserver
  start kube-apiserver "$BIN_DIR/kube-apiserver" "$BIN_DIR/kube-apiserver" \
    --etcd-servers="https://127.0.0.1:$PORT_ETCD" --etcd-cafile="$PKI/ca.crt" \
    --etcd-certfile="$PKI/etcd-client.crt" --etcd-keyfile="$PKI/etcd-client.key" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$PORT_APISERVER" \
    --cert-dir="$PKI" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=false \
    --authorization-mode=Node,RBAC --enable-admission-plugins=PodNodeSelector \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    --endpoint-reconciler-type=none --profiling=false --v=0
}
kube_apiserver_wait() { wait_until "kube-apiserver /readyz" 180 kube-apiserver kube_apiserver_healthy; }
kube_apiserver_stop() { stop kube-apiserver; }
kube_apiserver_describe() { echo "https://127.0.0.1:$PORT_APISERVER (kubeconfig $KUBECONFIG_FILE)"; }
