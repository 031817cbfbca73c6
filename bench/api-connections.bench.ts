// TLS connections to the API server per N requests, with client-node's default
// (a new undici Agent per request) and with shareConnections() (one pool per
// server and credentials). Run on the local control plane:
//   eval "$(hack/local-cluster.sh env)"; node bench/api-connections.bench.ts [N]
import diagnostics from 'node:diagnostics_channel';
import * as k8s from '@kubernetes/client-node';
import { loadKubeConfig } from '../src/kube/client.ts';

const n = Number(process.argv[2] ?? 200);
let connections = 0;
diagnostics.channel('undici:client:connected').subscribe(() => connections++);

async function measure(label: string, kc: k8s.KubeConfig): Promise<void> {
  const api = kc.makeApiClient(k8s.CoreV1Api);
  connections = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await api.listNamespace({ limit: 1 });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `${label.padEnd(28)} requests ${n}  TLS connections ${String(connections).padStart(4)}  wall ${ms.toFixed(0).padStart(5)} ms  CPU ${((cpu.user + cpu.system) / 1000).toFixed(0).padStart(5)} ms  (load ${(await import('node:os')).loadavg()[0]!.toFixed(2)})`,
  );
}

const plain = new k8s.KubeConfig();
plain.loadFromDefault();
await measure('client-node default', plain);
await measure('shareConnections()', loadKubeConfig());
