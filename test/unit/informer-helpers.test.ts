import { describe, expect, it } from 'vitest';
import { ListWatch, type KubernetesObject, type Watch } from '@kubernetes/client-node';
import { CORE_RESOURCES, SecretSchema, objectKey, resourcePath, slimListWatchEntry, stripCachedObject } from '../../src/kube/informer.ts';
import { OWNED_BUILDS_SELECTOR } from '../../src/controller/manager.ts';
import { buildObject } from '../../src/plan/builds.ts';
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

describe('what the informer caches keep', () => {
  it('drops managedFields and the last-applied annotation, keeps everything else', () => {
    const raw = {
      metadata: {
        name: 'a',
        namespace: 'ns',
        resourceVersion: '7',
        labels: { l: 'v' },
        annotations: { keep: 'me', 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"copy"}' },
        managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
      },
      spec: { tags: [{ name: 'latest' }] },
    };
    const out = stripCachedObject(raw);
    expect(out).toEqual({ metadata: { name: 'a', namespace: 'ns', resourceVersion: '7', labels: { l: 'v' }, annotations: { keep: 'me' } }, spec: { tags: [{ name: 'latest' }] } });
    expect(raw.metadata.managedFields).toHaveLength(1); // the input is not modified
    const plain = { metadata: { name: 'b' } };
    expect(stripCachedObject(plain)).toBe(plain); // nothing to drop: the same object
  });

  it("the Build informer's selector matches every Build the operator creates", () => {
    const [key, value] = OWNED_BUILDS_SELECTOR.split('=');
    const b = buildObject(
      { pool: 'w', kind: 'content', buildConfig: 'w-build-mco-content', fingerprint: 'f'.repeat(64), inputs: {}, namespace: 'ns', outputStream: 'w-mco-content' } as Parameters<typeof buildObject>[0],
      'w-build-mco-content-ffffffffff-1',
      1,
      { rebuildToken: '', buildConfigObj: undefined },
    );
    expect(b.metadata.labels?.[key!]).toBe(value);
  });
});

describe("ListWatch's own copies (slimListWatchEntry)", () => {
  it('keeps only name, namespace and resourceVersion once the handler has the whole object, and still tells adds, updates and deletes apart', async () => {
    const full = (name: string, rv: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{ manager: 'm' }] }, data: { big: 'x'.repeat(1000) } });
    const lists = [[full('a', '1'), full('b', '1')]];
    let handler: ((phase: string, obj: KubernetesObject) => void) | undefined;
    const watch = { watch: async (_p: string, _q: unknown, h: (phase: string, obj: KubernetesObject) => void) => ((handler = h), { abort() {} }) };
    const listFn = async () => ({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '1' }, items: lists.shift() ?? [] });
    const lw = new ListWatch<KubernetesObject>('/api/v1/namespaces/ns/configmaps', watch as unknown as Watch, listFn, false);
    const seen: string[] = [];
    lw.on('add', (o) => (seen.push(`add ${o.metadata!.name} ${Object.keys(o).join(',')}`), slimListWatchEntry(lw, o)));
    lw.on('update', (o) => (seen.push(`update ${o.metadata!.name}`), slimListWatchEntry(lw, o)));
    lw.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    await lw.start();
    expect(seen).toEqual(['add a apiVersion,kind,metadata,data', 'add b apiVersion,kind,metadata,data']);
    // What ListWatch holds now: the stubs (this pins the internals of the client-node version in use).
    expect(lw.list('ns')).toEqual([{ metadata: { name: 'a', namespace: 'ns', resourceVersion: '1' } }, { metadata: { name: 'b', namespace: 'ns', resourceVersion: '1' } }]);
    // The same resourceVersion again is no update; a new one is.
    handler!('MODIFIED', full('a', '1'));
    handler!('MODIFIED', full('a', '2'));
    handler!('DELETED', full('b', '2'));
    expect(seen.slice(2)).toEqual(['update a', 'delete b']);
    expect(lw.list('ns')).toEqual([{ metadata: { name: 'a', namespace: 'ns', resourceVersion: '2' } }]);
  });
});
