// How many server-side applies a second the local control plane takes, with
// no operator in the way: N ImageStreams (through kube-apiserver's aggregation
// to openshift-apiserver) or ConfigMaps applied by C concurrent requests over
// one keep-alive connection pool; the latency of each. The ceiling a cold
// start's writes meet on this machine.
//
//   eval "$(hack/local-cluster.sh env)"
//   node bench/apply-throughput.bench.ts [N=200] [C=8] [imagestreams|configmaps]
import * as k8s from '@kubernetes/client-node';
import { loadKubeConfig } from '../src/kube/client.ts';
const kc = loadKubeConfig(process.env.KUBECONFIG);
const api = kc.makeApiClient(k8s.CustomObjectsApi);
const core = kc.makeApiClient(k8s.CoreV1Api);
const [n, conc, kind] = [Number(process.argv[2] ?? 200), Number(process.argv[3] ?? 8), process.argv[4] ?? 'imagestreams'];
if (!Number.isInteger(n) || n < 1 || !Number.isInteger(conc) || conc < 1 || !['imagestreams', 'configmaps'].includes(kind)) {
  console.error('usage: node bench/apply-throughput.bench.ts [N=200] [C=8] [imagestreams|configmaps]');
  process.exit(2);
}
const ns = `bench-tput-${Date.now().toString(36)}`;
await core.createNamespace({ body: { metadata: { name: ns } } });
let i = 0;
const lat: number[] = [];
const t0 = performance.now();
async function worker() {
  while (i < n) {
    const k = i++;
    const t = performance.now();
    if (kind === 'imagestreams')
      await api.patchNamespacedCustomObject({ group: 'image.openshift.io', version: 'v1', namespace: ns, plural: 'imagestreams', name: `s-${k}`, body: { apiVersion: 'image.openshift.io/v1', kind: 'ImageStream', metadata: { name: `s-${k}` }, spec: { lookupPolicy: { local: false } } }, fieldManager: 'tput', force: true }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply));
    else
      await core.patchNamespacedConfigMap({ namespace: ns, name: `c-${k}`, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c-${k}` }, data: { a: 'b' } }, fieldManager: 'tput', force: true }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply));
    lat.push(performance.now() - t);
  }
}
await Promise.all(Array.from({ length: conc }, worker));
const wall = performance.now() - t0;
lat.sort((a, b) => a - b);
console.log(`${kind} n=${n} conc=${conc}: ${(n / (wall / 1000)).toFixed(0)}/s, p50 ${lat[n >> 1]!.toFixed(1)} ms, p99 ${lat[Math.floor(n * 0.99)]!.toFixed(1)} ms`);
await core.deleteNamespace({ name: ns });
