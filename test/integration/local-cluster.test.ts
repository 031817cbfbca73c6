// Proves the local control plane is the real OpenShift stack: kube-apiserver
// with RBAC, openshift-apiserver behind the image.openshift.io and
// build.openshift.io APIServices, the openshift/api CRDs, the image-import and
// build controllers of openshift-controller-manager (an `oc tag` imports, a
// Build runs in a real build pod on the real node), the machine-config-controller
// rendering pools, the integrated registry with OpenShift auth, and the CoreOS
// stand-in in the outside registry, named by digest by the ControllerConfig.
import { accessSync, constants } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, inject, it } from 'vitest';
import { PatchStrategy } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { RESOURCES, apiVersionOf, ControllerConfigSchema, ImageStreamSchema } from '../../src/kube/types.ts';
import { CONTROLLER_CONFIG_NAME } from '../../src/plan/names.ts';
import { clusterEnv, getJson, internalRegistryHost, kubectl, namespace, objectApi, oc, registryHost, registryUrl, waitFor, type KObj } from '../harness/cluster.ts';
import { makePool, uniqueName } from '../harness/operator.ts';

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
  // The global set-up ran `hack/local-cluster.sh up` and nothing else: every
  // tool `env` names (kubectl, oc; the demo and the README call them) is there.
  it.runIf(Object.keys(inject('localClusterEnv')).length > 0)('provides every binary its env names after `up` alone', () => {
    const local = inject('localClusterEnv');
    const binaries = ['KUBECTL', 'OC'].map((k) => local[k]);
    expect(binaries.every((b) => typeof b === 'string' && b.length > 0)).toBe(true);
    for (const b of binaries) expect(() => accessSync(b!, constants.X_OK), b).not.toThrow();
  });

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

  it('reports Kubernetes v1.36.3 (kubectl version) and OpenShift v4.21.0 (oc version)', async () => {
    const k = JSON.parse((await kubectl(['version', '-o', 'json'])).stdout) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
    expect(k.clientVersion.gitVersion).toBe('v1.36.3');
    expect(k.serverVersion.gitVersion).toBe('v1.36.3');
    const o = JSON.parse((await oc(['version', '-o', 'json'])).stdout) as { clientVersion: { gitVersion: string }; openshiftVersion?: string };
    expect(o.clientVersion.gitVersion).toBe('v4.21.0');
    // The server side: openshift-apiserver's version, as `oc version` finds it.
    expect(o.openshiftVersion).toBe('4.21.0');
  });

  it('serves image.openshift.io and build.openshift.io through Available APIServices (openshift-apiserver)', async () => {
    for (const name of ['v1.image.openshift.io', 'v1.build.openshift.io']) {
      const svc = await getJson<KObj>(['apiservice', name]);
      expect(svc, name).toBeDefined();
      expect((svc!.spec as { service?: { name?: string } }).service?.name, `${name} is served by a Service (aggregated), not local CRDs`).toBeDefined();
      const available = ((svc!.status?.conditions ?? []) as { type: string; status: string }[]).find((c) => c.type === 'Available');
      expect(available?.status, `${name} Available`).toBe('True');
    }
    // The virtual resources a CRD cannot serve are there.
    const resources = (await kubectl(['api-resources', '--api-group=image.openshift.io', '-o', 'name'])).stdout.split('\n');
    expect(resources).toEqual(expect.arrayContaining(['imagestreams.image.openshift.io', 'imagestreamtags.image.openshift.io', 'imagestreamimports.image.openshift.io']));
    const buildRes = (await kubectl(['get', '--raw', '/apis/build.openshift.io/v1'])).stdout;
    const names = (JSON.parse(buildRes) as { resources: { name: string }[] }).resources.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['builds', 'buildconfigs', 'builds/log', 'builds/details', 'builds/clone']));
    // No CRD stands in for them.
    for (const crd of ['imagestreams.image.openshift.io', 'builds.build.openshift.io', 'buildconfigs.build.openshift.io']) {
      expect(await getJson(['crd', crd]), crd).toBeUndefined();
    }
  });

  it('has the openshift/api CRDs (MachineConfig, MachineConfigPool, ControllerConfig, config.openshift.io) and the product CRD Established', async () => {
    const api = objectApi();
    const crds = [
      ...[RESOURCES.machineConfigPool, RESOURCES.machineConfig, RESOURCES.controllerConfig, RESOURCES.layeredPool].map((r) => `${r.plural}.${r.group}`),
      'images.config.openshift.io',
      'featuregates.config.openshift.io',
      'clusterversions.config.openshift.io',
      'machineconfignodes.machineconfiguration.openshift.io',
    ];
    for (const name of crds) {
      const crd = await api.read<Crd>({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name } });
      const established = crd.status?.conditions?.find((c) => c.type === 'Established');
      expect(established?.status, `${name} Established`).toBe('True');
      // openshift/api's CRDs say where they come from.
      if (name.endsWith('.openshift.io')) expect(crd.metadata?.annotations?.['api-approved.openshift.io'], `${name} is openshift/api's`).toMatch(/^https:\/\/github\.com\/openshift\/api\/pull\/\d+$/);
    }
  });

  it('has a Ready node (a real kubelet)', async () => {
    const node = await getJson<KObj>(['node', clusterEnv().LBC_NODE_NAME]);
    expect(node, `node ${clusterEnv().LBC_NODE_NAME}`).toBeDefined();
    const ready = ((node!.status?.conditions ?? []) as { type: string; status: string }[]).find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('True');
    expect((node!.status?.nodeInfo as { kubeletVersion?: string }).kubeletVersion).toBe('v1.36.3');
  });

  it('imports through the real API: `oc tag` writes an ImageStreamTag that imports the CoreOS stand-in from LOCAL_REGISTRY', async () => {
    const ns = uniqueName('lbc-tag');
    await kubectl(['create', 'namespace', ns]);
    try {
      const source = clusterEnv().LBC_COREOS_IMAGE;
      expect(source.startsWith(`${registryHost()}/`)).toBe(true);
      const tagged = await oc(['tag', '--source=docker', source, `${ns}/coreos:latest`]);
      expect(tagged.stdout).toContain(`Tag ${ns}/coreos:latest set to ${source}`);
      const istag = await waitFor(
        async () => {
          const t = await getJson<KObj & { image?: { metadata?: { name?: string }; dockerImageReference?: string } }>(['imagestreamtag', 'coreos:latest', '-n', ns]);
          return t?.image?.metadata?.name ? t : undefined;
        },
        { timeoutMs: 60_000, what: 'the image-import controller to import coreos:latest' },
      );
      expect(istag.image!.metadata!.name).toBe(source.slice(source.indexOf('@') + 1));
      const stream = await getJson<KObj>(['imagestream', 'coreos', '-n', ns]);
      // The stream advertises the integrated registry.
      expect((stream!.status as { dockerImageRepository?: string }).dockerImageRepository).toBe(`${internalRegistryHost()}/${ns}/coreos`);
    } finally {
      await kubectl(['delete', 'namespace', ns, '--wait=false'], { allowFailure: true });
    }
  });

  it('runs a Build in a real build pod (openshift-builder) to Complete; `oc logs build/<name>` shows its log', { timeout: 300_000 }, async () => {
    const ns = uniqueName('lbc-build');
    await kubectl(['create', 'namespace', ns]);
    try {
      // The builder ServiceAccount (and its registry secrets) come from openshift-controller-manager.
      await waitFor(async () => (await getJson(['serviceaccount', 'builder', '-n', ns])) !== undefined, { timeoutMs: 60_000, what: 'ServiceAccount builder' });
      // The output stream must exist: the build controller leaves a Build New (InvalidOutputReference) otherwise.
      await oc(['create', 'imagestream', 'hello', '-n', ns]);
      const marker = `lbc-marker-${Date.now().toString(36)}`;
      const name = 'hello-1';
      await kubectl(['create', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'build.openshift.io/v1',
          kind: 'Build',
          metadata: { name, namespace: ns },
          spec: {
            source: { type: 'Dockerfile', dockerfile: `FROM scratch\nRUN echo ${marker}\n` },
            strategy: { type: 'Docker', dockerStrategy: { from: { kind: 'DockerImage', name: clusterEnv().LBC_COREOS_IMAGE } } },
            output: { to: { kind: 'ImageStreamTag', name: 'hello:latest' } },
          },
        }),
      });
      const done = await waitFor(
        async () => {
          const b = await getJson<KObj>(['build', name, '-n', ns]);
          const phase = (b?.status as { phase?: string } | undefined)?.phase;
          if (phase === 'Failed' || phase === 'Error' || phase === 'Cancelled') throw new Error(`build ${phase}: ${JSON.stringify(b?.status)}`);
          return phase === 'Complete' ? b : undefined;
        },
        { timeoutMs: 240_000, intervalMs: 1000, what: `Build ${name} Complete` },
      );
      // It ran in a pod on the node, and pushed to the integrated registry.
      const podName = (done.metadata.annotations ?? {})['openshift.io/build.pod-name'];
      expect(podName).toBe(`${name}-build`);
      const pod = await getJson<KObj>(['pod', podName!, '-n', ns]);
      expect((pod?.spec as { nodeName?: string } | undefined)?.nodeName).toBe(clusterEnv().LBC_NODE_NAME);
      const st = done.status as { outputDockerImageReference?: string; output?: { to?: { imageDigest?: string } } };
      expect(st.outputDockerImageReference).toBe(`${internalRegistryHost()}/${ns}/hello:latest`);
      expect(st.output?.to?.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
      const log = await oc(['logs', `build/${name}`, '-n', ns]);
      expect(log.stdout).toContain(marker);
      expect(log.stdout).toContain('Push successful');
      // The push by tag was recorded in the stream.
      const istag = await getJson<KObj & { image?: { metadata?: { name?: string } } }>(['imagestreamtag', 'hello:latest', '-n', ns]);
      expect(istag?.image?.metadata?.name).toBe(st.output?.to?.imageDigest);
    } finally {
      await kubectl(['delete', 'namespace', ns, '--wait=false'], { allowFailure: true });
    }
  });

  it('renders a pool (machine-config-controller): rendered-<pool>-<hash>, owned by the pool, holding the source config', async () => {
    const p = await makePool();
    try {
      expect(p.machineConfig).toMatch(new RegExp(`^rendered-${p.pool}-[0-9a-f]{32}$`));
      const rendered = await getJson<KObj>(['machineconfig', p.machineConfig]);
      expect(rendered?.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`)).toEqual([`MachineConfigPool/${p.pool}`]);
      expect(rendered?.metadata.annotations?.['machineconfiguration.openshift.io/generated-by-controller-version']).toBeDefined();
      expect(JSON.stringify(rendered?.spec)).toContain(encodeURIComponent(p.file.contents));
    } finally {
      await p.cleanup();
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
      // Names in the outside registry (absent): the image-import controller tries them there and fails.
      const img = (t: string) => `${registryHost()}/lbc-test/absent:${t}`;
      await api.patch(is([{ name: 'a', image: img('a') }]), undefined, undefined, 'lbc-test-one', true, PatchStrategy.ServerSideApply);
      await api.patch(is([{ name: 'b', image: img('b') }]), undefined, undefined, 'lbc-test-two', true, PatchStrategy.ServerSideApply);
      const got = ImageStreamSchema.parse(await api.read(ref));
      expect(got.spec?.tags?.map((t) => t.name).sort()).toEqual(['a', 'b']);
      // status is a subresource: a status written through the main resource is
      // dropped (the image-import controller writes its own import status meanwhile).
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

  it('has an outside registry that serves /v2/ anonymously', async () => {
    const res = await fetch(`${registryUrl()}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('has the integrated registry with OpenShift auth: anonymous refused, a ServiceAccount token accepted', async () => {
    const base = registryUrl(internalRegistryHost());
    const anon = await fetch(`${base}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]*\/openshift\/token"/);
    const token = (await kubectl(['create', 'token', 'default', '-n', namespace(), '--duration=10m'])).stdout.trim();
    const res = await fetch(`${base}/openshift/token`, { headers: { Authorization: `Basic ${Buffer.from(`unused:${token}`).toString('base64')}` } });
    expect(res.status).toBe(200);
    const registryToken = ((await res.json()) as { token?: string }).token;
    expect(registryToken).toBeTruthy();
    const ok = await fetch(`${base}/v2/`, { headers: { Authorization: `Bearer ${registryToken}` } });
    expect(ok.status).toBe(200);
  });

  it('names the CoreOS stand-in base by digest in the ControllerConfig, and the outside registry has the real ostree-native base: Ignition only in the dracut module, ostree-ext as ostree-container, the labels the node importer checks', async () => {
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
    // Ignition where RHCOS has it, and no ignition or ignition-apply on PATH (MCO's apply step runs it by path).
    expect(files).toContain('usr/lib/dracut/modules.d/30ignition/ignition');
    expect([...files].filter((f) => /^(usr\/)?(s?bin|local\/bin)\/ignition(-apply)?$/.test(f))).toEqual([]);
    expect(files).toContain('usr/libexec/libostree/ext/ostree-container');
    expect(files).toContain('usr/lib/os-release');
    expect(files).toContain('usr/bin/bash');
    expect(files).toContain('etc/passwd');
    expect(files).toContain('sysroot/ostree/repo/config');
    // The labels the machine-config-controller inspects (OSStreams) and those a node's importer checks.
    const config = (await (await fetch(`${registryUrl()}/v2/${repo}/blobs/${manifest.config.digest}`)).json()) as {
      architecture?: string;
      config?: { Labels?: Record<string, string> };
      rootfs?: { diff_ids?: string[] };
    };
    expect(config.config?.Labels).toMatchObject({ 'containers.bootc': '1', 'ostree.bootable': 'true', 'io.openshift.os.streamclass': 'rhel-9' });
    expect(config.config?.Labels?.['ostree.commit']).toMatch(/^[0-9a-f]{64}$/);
    expect(config.rootfs?.diff_ids).toContain(config.config?.Labels?.['ostree.final-diffid']);
    expect(config.architecture).toBe('amd64');
  });
});
