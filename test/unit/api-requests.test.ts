// The resource of an API request path, as lbc_api_requests_total labels it; and
// the counting of requests and connections from undici's diagnostics channels,
// against a real HTTP server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { resourceOfPath, watchApiRequests } from '../../src/kube/api-requests.ts';
import { shareConnections } from '../../src/kube/client.ts';

describe('resourceOfPath', () => {
  it('names the plural, with a subresource', () => {
    expect(resourceOfPath('/apis/layering.mco.dev/v1alpha1/namespaces/ns/layeredpools/w/status')).toBe('layeredpools/status');
    expect(resourceOfPath('/apis/image.openshift.io/v1/namespaces/ns/imagestreams/w-base?fieldManager=x&force=true')).toBe('imagestreams');
    expect(resourceOfPath('/apis/build.openshift.io/v1/namespaces/ns/builds')).toBe('builds');
    expect(resourceOfPath('/apis/build.openshift.io/v1/namespaces/ns/builds/b-1/log')).toBe('builds/log');
    expect(resourceOfPath('/apis/machineconfiguration.openshift.io/v1/machineconfigpools/worker')).toBe('machineconfigpools');
    expect(resourceOfPath('/api/v1/namespaces/default/events')).toBe('events');
    expect(resourceOfPath('/api/v1/namespaces')).toBe('namespaces');
    expect(resourceOfPath('/api/v1/namespaces/ns')).toBe('namespaces');
    expect(resourceOfPath('/healthz')).toBeUndefined();
  });
});

describe('watchApiRequests', () => {
  it('counts the requests to the API server by verb and resource, and its connections', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"kind":"NamespaceList","items":[]}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser({ name: 'c', server: url, skipTLSVerify: true }, { name: 'u', token: 't' });
    shareConnections(kc);
    const seen: string[] = [];
    let connections = 0;
    const stop = watchApiRequests({ server: url, onRequest: (v, r) => seen.push(`${v} ${r}`), onConnect: () => connections++ });
    try {
      const api = kc.makeApiClient(CoreV1Api);
      for (let i = 0; i < 30; i++) await api.listNamespace();
      await api.listNamespacedEvent({ namespace: 'default' });
    } finally {
      stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(seen).toEqual([...Array(30).fill('GET namespaces'), 'GET events']);
    // a handful for the pool (undici may open a second one), never one per request
    expect(connections).toBeGreaterThan(0);
    expect(connections).toBeLessThanOrEqual(2);
  });
});
