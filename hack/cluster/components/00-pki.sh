# shellcheck shell=bash
# Certificates and kubeconfigs for every component (one cluster CA, one
# front-proxy CA for the aggregation layer, the ServiceAccount key pair).
# Not a process: config only.
pki_config() {
  command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
  mkdir -p "$PKI"
  new_ca ca lbc-local-ca
  new_ca front-proxy-ca lbc-front-proxy-ca
  local local_sans="IP:127.0.0.1,DNS:localhost"
  issue etcd-server "/CN=etcd" serverAuth,clientAuth "$local_sans"
  issue etcd-client "/CN=etcd-client" clientAuth
  issue apiserver "/CN=kube-apiserver" serverAuth \
    "$local_sans,IP:10.0.0.1,IP:$NODE_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue admin "/O=system:masters/CN=lbc-admin" clientAuth
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  issue front-proxy-client "/CN=front-proxy-client" clientAuth "" front-proxy-ca
  issue kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
  issue kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" serverAuth "IP:$NODE_IP,$local_sans,DNS:$NODE_NAME"
  issue openshift-apiserver "/CN=openshift-apiserver" serverAuth \
    "$local_sans,DNS:api.openshift-apiserver.svc,DNS:api.openshift-apiserver.svc.cluster.local"
  issue serving "/CN=lbc-local-serving" serverAuth "$local_sans,IP:$NODE_IP"
  if [[ ! -f "$PKI/sa.key" ]]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    chmod 600 "$PKI/sa.key"
  fi
  [[ -f "$KUBECONFIG_FILE" ]] && grep -q "127.0.0.1:$PORT_APISERVER" "$KUBECONFIG_FILE" || write_kubeconfig_for "$KUBECONFIG_FILE" admin
  [[ -f "$STATE/kubelet.kubeconfig" ]] || write_kubeconfig_for "$STATE/kubelet.kubeconfig" kubelet
}
pki_undo() { :; }
pki_ready() { [[ -f "$PKI/sa.pub" && -f "$KUBECONFIG_FILE" && -f "$STATE/kubelet.kubeconfig" ]]; }
