import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { shareConnections } from '../../src/kube/client.ts';

type Factory = { createDispatcher(cluster: k8s.Cluster | null, agentOptions: Record<string, unknown>): unknown };

function kubeConfig(server: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: false }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('shareConnections', () => {
  it('reuses one connection pool per server and credentials, and makes a new one when they change', () => {
    const kc = shareConnections(kubeConfig('https://127.0.0.1:6443'));
    const f = kc as unknown as Factory;
    const cluster = kc.getCurrentCluster();
    const a = f.createDispatcher(cluster, { ca: 'CA1', cert: 'C1', key: 'K1' });
    expect(a).toBeDefined();
    expect(f.createDispatcher(cluster, { ca: 'CA1', cert: 'C1', key: 'K1' })).toBe(a);
    // A rotated client certificate is a new pool.
    const b = f.createDispatcher(cluster, { ca: 'CA1', cert: 'C2', key: 'K2' });
    expect(b).not.toBe(a);
    expect(f.createDispatcher(cluster, { ca: 'CA1', cert: 'C2', key: 'K2' })).toBe(b);
  });

  it('is idempotent and keeps at most maxPools pools', () => {
    const kc = shareConnections(shareConnections(kubeConfig('https://127.0.0.1:6443'), 2), 2);
    const f = kc as unknown as Factory;
    const cluster = kc.getCurrentCluster();
    const first = f.createDispatcher(cluster, { ca: 'A' });
    f.createDispatcher(cluster, { ca: 'B' });
    f.createDispatcher(cluster, { ca: 'C' });
    // The oldest was evicted (and closed): asking again makes a new one.
    expect(f.createDispatcher(cluster, { ca: 'A' })).not.toBe(first);
  });
});
