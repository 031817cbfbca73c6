# shellcheck shell=bash
# openshift-apiserver (the real one, from third_party): image.openshift.io
# (ImageStreams, ImageStreamTags, ImageStreamImports, ...) and
# build.openshift.io (Builds, BuildConfigs, builds/log, ...), served through
# the aggregation layer. Endpoints refuse loopback addresses, so its APIServices
# point at an ExternalName Service (`localhost`) with the server's port; its
# certificate is valid for api.openshift-apiserver.svc.
# oc, the client admins use against this API (`oc tag`, `oc get istag`, `oc start-build`), is built
# with its server as kubectl is with kube-apiserver: the demo, the tests and the README all call it.
osapi_build() {
  with_build_lock build_openshift openshift-apiserver cmd/openshift-apiserver openshift-apiserver containers_image_openpgp 0 &&
    with_build_lock build_openshift oc cmd/oc oc containers_image_openpgp 0
}
osapi_config() {
  cat >"$STATE/openshift-apiserver.yaml" <<YAML
apiVersion: openshiftcontrolplane.config.openshift.io/v1
kind: OpenShiftAPIServerConfig
servingInfo:
  bindAddress: 127.0.0.1:$PORT_OSAPI
  bindNetwork: tcp4
  certFile: $PKI/openshift-apiserver.crt
  keyFile: $PKI/openshift-apiserver.key
  clientCA: $PKI/ca.crt
storageConfig:
  urls: ["https://127.0.0.1:$PORT_ETCD"]
  ca: $PKI/ca.crt
  certFile: $PKI/etcd-client.crt
  keyFile: $PKI/etcd-client.key
  storagePrefix: openshift.io
kubeClientConfig:
  kubeConfig: $KUBECONFIG_FILE
aggregatorConfig:
  clientCA: $PKI/front-proxy-ca.crt
  allowedNames: [front-proxy-client]
  usernameHeaders: [X-Remote-User]
  groupHeaders: [X-Remote-Group]
  extraHeaderPrefixes: [X-Remote-Extra-]
imagePolicyConfig:
  internalRegistryHostname: $NODE_IP:$PORT_INT_REGISTRY
YAML
}
osapi_healthy() { [[ "$(curl -sS --max-time 2 --cacert "$PKI/ca.crt" "https://127.0.0.1:$PORT_OSAPI/healthz")" == ok ]]; }
osapi_available() {
  local s
  s="$(kc get apiservice v1.image.openshift.io v1.build.openshift.io -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Available")].status}{" "}{end}' 2>/dev/null)"
  [[ "$s" == "True True " ]]
}
osapi_ready() { alive openshift-apiserver && osapi_healthy && osapi_available; }
osapi_start() {
  stop openshift-apiserver
  require_free_port "$PORT_OSAPI" openshift-apiserver
  start openshift-apiserver "$BIN_DIR/openshift-apiserver" "$BIN_DIR/openshift-apiserver" start \
    --config="$STATE/openshift-apiserver.yaml" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" --v=0
  wait_until "openshift-apiserver /healthz" 90 openshift-apiserver osapi_healthy
  local ca g
  ca="$(base64 -w0 <"$PKI/ca.crt")"
  {
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: openshift-apiserver}\n---\n'
    printf 'apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: openshift-apiserver}\n'
    printf 'spec: {type: ExternalName, externalName: localhost, ports: [{name: https, port: %s}]}\n' "$PORT_OSAPI"
    for g in image build; do
      printf -- '---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1.%s.openshift.io}\n' "$g"
      printf 'spec: {group: %s.openshift.io, version: v1, groupPriorityMinimum: 9900, versionPriority: 15, caBundle: %s, service: {namespace: openshift-apiserver, name: api, port: %s}}\n' "$g" "$ca" "$PORT_OSAPI"
    done
  } | kapply -f - >/dev/null
}
osapi_wait() { wait_until "APIServices v1.image.openshift.io and v1.build.openshift.io Available" 90 openshift-apiserver osapi_ready; }
osapi_stop() { stop openshift-apiserver; }
osapi_describe() { echo "https://127.0.0.1:$PORT_OSAPI (image.openshift.io, build.openshift.io; $OCP_VERSION)"; }
