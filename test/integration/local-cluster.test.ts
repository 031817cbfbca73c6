// Proves the stand-in is real: a real API server with RBAC, the stand-in CRDs
// established, a real registry, and the CoreOS stand-in base pushed to it by
// digest, named by the ControllerConfig.
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PatchStrategy } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { RESOURCES, apiVersionOf, ControllerConfigSchema, ImageStreamSchema } from '../../src/kube/types.ts';
import { CONTROLLER_CONFIG_NAME } from '../../src/plan/names.ts';
import { kubectl, namespace, objectApi, registryHost, registryUrl, waitFor } from '../harness/cluster.ts';

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

interface Crd extends KubernetesObject {
  status?: { conditions?: { type: string; status: string }[] };
}

/** File names in a (gzipped) tar layer. */
function tarEntries(layer: Buffer): string[] {
  const tar = layer[0] === 0x1f && layer[1] === 0x8b ? gunzipSync(layer) : layer;
  const names: string[] = [];
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, len: number) => header.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
    } else if (type !== 'x' && type !== 'g') {
      const prefix = field(345, 155);
      names.push(longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100)));
      longName = undefined;
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names.map((n) => n.replace(/^\.?\//, ''));
}

describe('the local control plane', () => {
  it('has an API server that answers', async () => {
    const { stdout } = await kubectl(['get', '--raw', '/readyz']);
    expect(stdout.trim()).toBe('ok');
    const version = JSON.parse((await kubectl(['get', '--raw', '/version'])).stdout) as { major: string; minor: string };
    expect(Number(version.major)).toBeGreaterThanOrEqual(1);
    expect(Number(version.minor)).toBeGreaterThan(0);
  });

  it('authorizes with RBAC: an unprivileged user is Forbidden until a Role grants it', async () => {
    const ns = `lbc-rbac-${Date.now().toString(36)}`;
    const user = 'lbc-test-nobody';
    await kubectl(['create', 'namespace', ns]);
    try {
      const denied = await kubectl(['get', 'configmaps', '-n', ns, `--as=${user}`], { allowFailure: true });
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/Forbidden/);
      await kubectl(['create', 'role', 'cm-reader', '-n', ns, '--verb=get,list', '--resource=configmaps']);
      await kubectl(['create', 'rolebinding', 'cm-reader', '-n', ns, '--role=cm-reader', `--user=${user}`]);
      const allowed = await waitFor(
        async () => {
          const r = await kubectl(['get', 'configmaps', '-n', ns, `--as=${user}`], { allowFailure: true });
          return r.code === 0 ? r : undefined;
        },
        { timeoutMs: 30_000, what: 'the RoleBinding to take effect' },
      );
      expect(allowed.code).toBe(0);
      // Still nothing beyond what the Role grants.
      const other = await kubectl(['get', 'secrets', '-n', ns, `--as=${user}`], { allowFailure: true });
      expect(other.stderr).toMatch(/Forbidden/);
    } finally {
      await kubectl(['delete', 'namespace', ns, '--wait=false'], { allowFailure: true });
    }
  });

  it('has every stand-in CRD and the product CRD Established', async () => {
    const api = objectApi();
    for (const r of Object.values(RESOURCES)) {
      const crd = await api.read<Crd>({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `${r.plural}.${r.group}` },
      });
      const established = crd.status?.conditions?.find((c) => c.type === 'Established');
      expect(established?.status, `${r.plural}.${r.group} Established`).toBe('True');
    }
  });

  it('merges ImageStream spec tags by name under server-side apply, and keeps status apart', async () => {
    const api = objectApi();
    const ns = namespace();
    const name = `lbc-ssa-${Date.now().toString(36)}`;
    const ref = { apiVersion: apiVersionOf(RESOURCES.imageStream), kind: RESOURCES.imageStream.kind, metadata: { name, namespace: ns } };
    const is = (tags: { name: string; image: string }[]) => ({
      apiVersion: apiVersionOf(RESOURCES.imageStream),
      kind: RESOURCES.imageStream.kind,
      metadata: { name, namespace: ns },
      spec: { tags: tags.map((t) => ({ name: t.name, from: { kind: 'DockerImage', name: t.image } })) },
    });
    try {
      // Names in the local registry (absent), so an emulator importing them stays on loopback.
      const img = (t: string) => `${registryHost()}/lbc-test/absent:${t}`;
      await api.patch(is([{ name: 'a', image: img('a') }]), undefined, undefined, 'lbc-test-one', true, PatchStrategy.ServerSideApply);
      await api.patch(is([{ name: 'b', image: img('b') }]), undefined, undefined, 'lbc-test-two', true, PatchStrategy.ServerSideApply);
      const got = ImageStreamSchema.parse(await api.read(ref));
      expect(got.spec?.tags?.map((t) => t.name).sort()).toEqual(['a', 'b']);
      // status is a subresource: a status written through the main resource is
      // dropped (the emulator may write its own import status meanwhile).
      await api.patch(
        { ...ref, status: { tags: [{ tag: 'a', items: [{ dockerImageReference: 'x@sha256:1', image: 'sha256:1' }] }] } } as KubernetesObject,
        undefined, undefined, 'lbc-test-one', undefined, PatchStrategy.MergePatch,
      );
      const after = ImageStreamSchema.parse(await api.read(ref));
      const items = (after.status?.tags ?? []).flatMap((t) => t.items ?? []);
      expect(items.map((i) => i.image)).not.toContain('sha256:1');
    } finally {
      await api.delete(ref).catch(() => undefined);
    }
  });

  it('collects garbage: an ImageStream owned by a MachineConfigPool goes when the pool is deleted', async () => {
    const api = objectApi();
    const name = `lbc-gc-${Date.now().toString(36)}`;
    const poolRef = { apiVersion: apiVersionOf(RESOURCES.machineConfigPool), kind: RESOURCES.machineConfigPool.kind, metadata: { name } };
    const pool = await api.create({ ...poolRef, spec: { paused: false } } as KubernetesObject);
    const isRef = {
      apiVersion: apiVersionOf(RESOURCES.imageStream),
      kind: RESOURCES.imageStream.kind,
      metadata: { name: `${name}-base`, namespace: namespace() },
    };
    try {
      await api.create({
        ...isRef,
        metadata: {
          ...isRef.metadata,
          ownerReferences: [{ ...poolRef, name, uid: pool.metadata?.uid ?? '', blockOwnerDeletion: true, controller: true }],
        },
      });
      await api.delete(poolRef);
      await waitFor(
        async () => {
          try {
            await api.read(isRef);
            return false;
          } catch (e) {
            return (e as { code?: number }).code === 404;
          }
        },
        { timeoutMs: 90_000, intervalMs: 500, what: 'the garbage collector to delete the owned ImageStream' },
      );
    } finally {
      await api.delete(poolRef).catch(() => undefined);
      await api.delete(isRef).catch(() => undefined);
    }
  });

  it('has a registry that serves /v2/', async () => {
    const res = await fetch(`${registryUrl()}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('names the CoreOS stand-in base by digest in the ControllerConfig, and the registry has it with ignition-apply inside', async () => {
    const cc = ControllerConfigSchema.parse(
      await objectApi().read({
        apiVersion: apiVersionOf(RESOURCES.controllerConfig),
        kind: RESOURCES.controllerConfig.kind,
        metadata: { name: CONTROLLER_CONFIG_NAME },
      }),
    );
    const image = cc.spec?.baseOSContainerImage ?? '';
    const m = /^(?<host>[^/]+)\/(?<repo>.+)@(?<digest>sha256:[0-9a-f]{64})$/.exec(image);
    expect(m, `baseOSContainerImage ${image}`).not.toBeNull();
    const { host, repo, digest } = m!.groups!;
    expect(host).toBe(registryHost());
    expect(repo).toBe('openshift/coreos-standin');

    const res = await fetch(`${registryUrl()}/v2/${repo}/manifests/${digest}`, { headers: { Accept: MANIFEST_ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    const manifest = (await res.json()) as { layers: { digest: string }[]; config: { digest: string } };
    expect(manifest.layers.length).toBeGreaterThan(0);

    const files = new Set<string>();
    for (const layer of manifest.layers) {
      const blob = await fetch(`${registryUrl()}/v2/${repo}/blobs/${layer.digest}`);
      expect(blob.status).toBe(200);
      for (const f of tarEntries(Buffer.from(await blob.arrayBuffer()))) files.add(f);
    }
    expect(files).toContain('usr/bin/ignition-apply');
    expect(files).toContain('bin/busybox');
    expect(files).toContain('usr/lib/os-release');
  });
});
