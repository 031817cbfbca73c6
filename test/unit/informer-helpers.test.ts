import { describe, expect, it } from 'vitest';
import { CORE_RESOURCES, SecretSchema, objectKey, resourcePath } from '../../src/kube/informer.ts';
import { RESOURCES } from '../../src/kube/types.ts';

describe('informer helpers', () => {
  it('builds the watch path for cluster-scoped, namespaced and core resources', () => {
    expect(resourcePath(RESOURCES.machineConfigPool)).toBe('/apis/machineconfiguration.openshift.io/v1/machineconfigpools');
    // a namespace is ignored for a cluster-scoped resource
    expect(resourcePath(RESOURCES.machineConfig, 'ns')).toBe('/apis/machineconfiguration.openshift.io/v1/machineconfigs');
    expect(resourcePath(RESOURCES.build, 'openshift-machine-config-operator')).toBe(
      '/apis/build.openshift.io/v1/namespaces/openshift-machine-config-operator/builds',
    );
    expect(resourcePath(RESOURCES.imageStream)).toBe('/apis/image.openshift.io/v1/imagestreams');
    expect(resourcePath(CORE_RESOURCES.secret, 'ns')).toBe('/api/v1/namespaces/ns/secrets');
  });

  it('keys objects by namespace/name, or name when cluster-scoped', () => {
    expect(objectKey({ name: 'a', namespace: 'ns' })).toBe('ns/a');
    expect(objectKey({ name: 'a' })).toBe('a');
    expect(objectKey({ name: 'a', namespace: '' })).toBe('a');
    expect(objectKey(undefined)).toBe('');
  });

  it('parses a Secret as the API returns it', () => {
    const s = SecretSchema.parse({ metadata: { name: 'push', namespace: 'ns' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': 'e30=' } });
    expect(s.data?.['.dockerconfigjson']).toBe('e30=');
    expect(SecretSchema.safeParse({ metadata: {} }).success).toBe(false);
  });
});
