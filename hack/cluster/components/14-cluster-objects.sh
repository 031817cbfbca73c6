# shellcheck shell=bash
# The cluster-wide objects a real OpenShift has and its components read: the
# namespaces, the config.openshift.io singletons (Image with the insecure local
# registries, FeatureGate Default at MCC's release version, ClusterVersion,
# Infrastructure platform None, ...), the global pull secret, the OS image
# ConfigMap and the ControllerConfig the machine-config operator would write,
# and the built-in master/worker pools. The CoreOS image is the stand-in.
# Not a process: applied, then checked.
objects_inputs() {
  printf '%s\n' "$NAMESPACE" "$(coreos_image)" "$(extensions_image)" "$OCP_VERSION" "$NODE_IP" "$PORT_EXT_REGISTRY" "$PORT_INT_REGISTRY" "v7" | sha256sum | cut -c1-64
}
objects_ready() { stamp_ok objects "$(objects_inputs)"; }
objects_start() {
  local release="${OCP_VERSION#v}" ca ext="$NODE_IP:$PORT_EXT_REGISTRY" int="$NODE_IP:$PORT_INT_REGISTRY" api fg
  ca="$(base64 -w0 <"$PKI/ca.crt")"
  api="$(third_party_src api)"
  local ns
  for ns in "$NAMESPACE" openshift-config openshift-config-managed openshift-infra openshift-controller-manager openshift \
    openshift-image-registry openshift-kube-apiserver; do
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n' "$ns"
  done | kapply -f - >/dev/null
  kapply -f - >/dev/null <<YAML
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec:
  registrySources:
    insecureRegistries: ["$ext", "$int"]
---
apiVersion: config.openshift.io/v1
kind: FeatureGate
metadata: {name: cluster}
spec: {}
---
apiVersion: config.openshift.io/v1
kind: ClusterVersion
metadata: {name: version}
spec:
  clusterID: $(printf '%s' "$STATE" | sha256sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
  channel: stable-4.${release#4.}
---
apiVersion: config.openshift.io/v1
kind: Infrastructure
metadata: {name: cluster}
spec:
  platformSpec: {type: None}
---
apiVersion: config.openshift.io/v1
kind: Network
metadata: {name: cluster}
spec:
  clusterNetwork: [{cidr: "$SUBNET_PREFIX.0/24", hostPrefix: 24}]
  serviceNetwork: [10.0.0.0/24]
  networkType: None
---
apiVersion: config.openshift.io/v1
kind: DNS
metadata: {name: cluster}
spec: {baseDomain: lbc.local}
---
apiVersion: config.openshift.io/v1
kind: APIServer
metadata: {name: cluster}
spec: {audit: {profile: Default}}
---
apiVersion: config.openshift.io/v1
kind: Proxy
metadata: {name: cluster}
spec: {}
---
apiVersion: config.openshift.io/v1
kind: Node
metadata: {name: cluster}
spec: {}
---
apiVersion: config.openshift.io/v1
kind: Scheduler
metadata: {name: cluster}
spec: {mastersSchedulable: false}
---
apiVersion: operator.openshift.io/v1
kind: MachineConfiguration
metadata: {name: cluster}
spec: {managementState: Managed}
---
apiVersion: v1
kind: Secret
metadata: {name: pull-secret, namespace: openshift-config}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths":{}}'
---
# The integrated registry's Service (openshift-controller-manager watches it to
# learn the registry's names; headless here, the registry runs on the node's
# address, which dockerPullSecret.registryURLs adds).
apiVersion: v1
kind: Service
metadata: {name: image-registry, namespace: openshift-image-registry}
spec:
  clusterIP: None
  ports: [{name: "5000-tcp", port: $PORT_INT_REGISTRY}]
---
# The public half of the ServiceAccount token signing key, as the
# kube-apiserver operator publishes it: the registry pull-secret controller
# derives its key ids from it.
apiVersion: v1
kind: Secret
metadata: {name: bound-service-account-signing-key, namespace: openshift-kube-apiserver}
stringData:
  service-account.pub: |
$(sed 's/^/    /' "$PKI/sa.pub")
---
# What the service-ca operator injects for build pods (the CA of the cluster's
# serving certificates; here the local cluster CA signs them all).
apiVersion: v1
kind: ConfigMap
metadata: {name: openshift-service-ca, namespace: openshift-controller-manager}
data:
  service-ca.crt: |
$(sed 's/^/    /' "$PKI/ca.crt")
---
apiVersion: v1
kind: ConfigMap
metadata: {name: machine-config-osimageurl, namespace: $NAMESPACE}
data:
  releaseVersion: "$release"
  baseOSContainerImage: "$(coreos_image)"
  baseOSExtensionsContainerImage: "$(extensions_image)"
  osImageURL: ""
---
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata:
  name: master
  labels: {machineconfiguration.openshift.io/mco-built-in: "", pools.operator.machineconfiguration.openshift.io/master: ""}
spec:
  machineConfigSelector: {matchLabels: {machineconfiguration.openshift.io/role: master}}
  nodeSelector: {matchLabels: {node-role.kubernetes.io/master: ""}}
---
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata:
  name: worker
  labels: {machineconfiguration.openshift.io/mco-built-in: "", pools.operator.machineconfiguration.openshift.io/worker: ""}
spec:
  machineConfigSelector: {matchLabels: {machineconfiguration.openshift.io/role: worker}}
  nodeSelector: {matchLabels: {node-role.kubernetes.io/worker: ""}}
---
apiVersion: machineconfiguration.openshift.io/v1
kind: ControllerConfig
metadata:
  name: machine-config-controller
  annotations: {machineconfiguration.openshift.io/generated-by-version: "$OCP_VERSION"}
spec:
  additionalTrustBundle: null
  baseOSContainerImage: "$(coreos_image)"
  baseOSExtensionsContainerImage: "$(extensions_image)"
  osImageURL: "$(coreos_image)"
  releaseImage: "$ext/openshift/release:$release"
  cloudProviderConfig: ""
  cloudProviderCAData: null
  clusterDNSIP: 10.0.0.10
  ipFamilies: IPv4
  images: {}
  dns:
    apiVersion: config.openshift.io/v1
    kind: DNS
    spec: {baseDomain: lbc.local}
  infra:
    apiVersion: config.openshift.io/v1
    kind: Infrastructure
    metadata: {name: cluster}
    spec: {platformSpec: {type: None}, cloudConfig: {name: ""}}
    status:
      apiServerInternalURI: https://127.0.0.1:$PORT_APISERVER
      apiServerURL: https://127.0.0.1:$PORT_APISERVER
      infrastructureName: lbc-local
      controlPlaneTopology: SingleReplica
      infrastructureTopology: SingleReplica
      platform: None
      platformStatus: {type: None}
  kubeAPIServerServingCAData: $ca
  rootCAData: $ca
  network: {mtuMigration: null}
  proxy: null
  pullSecret: {namespace: openshift-config, name: pull-secret}
  platform: none
YAML
  # MCO's machine-os-puller (its manifests/machine-os-puller/): nodes pull OS images from the
  # integrated registry with this ServiceAccount's pull secrets, which MCO's operator puts into
  # ControllerConfig spec.internalRegistryPullSecret (the node-agent does that step here).
  kapply -f - >/dev/null <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: machine-os-puller, namespace: $NAMESPACE}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: machine-os-puller-binding, namespace: $NAMESPACE}
roleRef: {kind: ClusterRole, apiGroup: rbac.authorization.k8s.io, name: "system:image-puller"}
subjects: [{kind: ServiceAccount, namespace: $NAMESPACE, name: machine-os-puller}]
YAML
  # Status the cluster-version operator and the config operator would write.
  fg="$(node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const g = d.status.featureGates[0]; g.version = process.argv[2]; console.log(JSON.stringify({ status: { featureGates: [g] } }))' \
    "$api/payload-manifests/featuregates/featureGate-4-10-SelfManagedHA-Default.yaml" "$release")"
  kc patch featuregate cluster --subresource=status --type=merge -p "$fg" >/dev/null
  kc patch clusterversion version --subresource=status --type=merge -p "{\"status\":{\"desired\":{\"version\":\"$release\",\"image\":\"$ext/openshift/release:$release\"},\"history\":[{\"state\":\"Completed\",\"version\":\"$release\",\"image\":\"$ext/openshift/release:$release\",\"startedTime\":\"2026-01-01T00:00:00Z\",\"completionTime\":\"2026-01-01T00:00:00Z\",\"verified\":false}],\"observedGeneration\":1,\"versionHash\":\"lbc\",\"availableUpdates\":[],\"capabilities\":{\"enabledCapabilities\":[\"Build\",\"ImageRegistry\",\"MachineAPI\"],\"knownCapabilities\":[\"Build\",\"ImageRegistry\",\"MachineAPI\"]}}}" >/dev/null
  kc patch infrastructure cluster --subresource=status --type=merge -p "{\"status\":{\"apiServerInternalURI\":\"https://127.0.0.1:$PORT_APISERVER\",\"apiServerURL\":\"https://127.0.0.1:$PORT_APISERVER\",\"infrastructureName\":\"lbc-local\",\"controlPlaneTopology\":\"SingleReplica\",\"infrastructureTopology\":\"SingleReplica\",\"cpuPartitioning\":\"None\",\"platform\":\"None\",\"platformStatus\":{\"type\":\"None\"}}}" >/dev/null
  stamp_set objects "$(objects_inputs)"
}
objects_describe() { echo "namespace $NAMESPACE, ControllerConfig (base $(cut -c1-19 "$STATE/coreos-base.digest" 2>/dev/null)), FeatureGate $OCP_VERSION"; }
