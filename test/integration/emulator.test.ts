// The OpenShift emulator (hack/emulator) against the real API server and registry:
// ImageStream import and tag tracking checked against the registry's digests, and Builds
// run by buildah to Complete (image in the registry), Failed (log snippet) and Cancelled.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildSchema, ControllerConfigSchema, ImageStreamSchema, type Build, type ImageStream } from '../../src/kube/types.ts';
import { CONTROLLER_CONFIG_NAME } from '../../src/plan/names.ts';
import { kubectl, registryHost, registryUrl, waitFor } from '../harness/cluster.ts';

const NS = 'lbc-emulator-test';
const RUN = Date.now().toString(36);
const created: Array<[string, string]> = [];

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

async function apply(obj: object): Promise<void> {
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) });
}

async function create(kind: 'imagestream' | 'build', obj: { metadata: { name: string }; [k: string]: unknown }): Promise<void> {
  await kubectl(['create', '-f', '-'], { input: JSON.stringify({ ...obj, metadata: { ...obj.metadata, namespace: NS } }) });
  created.push([kind, obj.metadata.name]);
}

async function getStream(name: string): Promise<ImageStream> {
  return ImageStreamSchema.parse(JSON.parse((await kubectl(['get', 'imagestream', name, '-n', NS, '-o', 'json'])).stdout));
}

async function getBuild(name: string): Promise<Build> {
  return BuildSchema.parse(JSON.parse((await kubectl(['get', 'build', name, '-n', NS, '-o', 'json'])).stdout));
}

function tag(s: ImageStream, name: string) {
  return (s.status?.tags ?? []).find((t) => t.tag === name);
}

async function waitBuild(name: string, phases: string[], timeoutMs = 150_000): Promise<Build> {
  return waitFor(
    async () => {
      const b = await getBuild(name);
      return phases.includes(b.status?.phase ?? 'New') ? b : undefined;
    },
    { timeoutMs, intervalMs: 300, what: `build ${name} to reach ${phases.join('/')}` },
  );
}

/** The registry's manifest digest for repo:ref (the Docker-Content-Digest, checked against the body). */
async function registryDigest(repo: string, ref: string): Promise<string | undefined> {
  const res = await fetch(`${registryUrl()}/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT } });
  if (res.status === 404) return undefined;
  expect(res.ok).toBe(true);
  const body = Buffer.from(await res.arrayBuffer());
  const computed = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  expect(res.headers.get('docker-content-digest') ?? computed).toBe(computed);
  return computed;
}

async function fetchJson(path: string): Promise<unknown> {
  const res = await fetch(`${registryUrl()}${path}`, { headers: { Accept: ACCEPT } });
  expect(res.ok).toBe(true);
  return res.json();
}

async function fetchBlob(repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${registryUrl()}/v2/${repo}/blobs/${digest}`);
  expect(res.ok).toBe(true);
  return Buffer.from(await res.arrayBuffer());
}

/** name -> contents of the regular files in a (gzipped) tar layer. */
function tarFiles(layer: Buffer): Map<string, string> {
  const tar = layer[0] === 0x1f && layer[1] === 0x8b ? gunzipSync(layer) : layer;
  const out = new Map<string, string>();
  let off = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const field = (s: number, l: number) => h.subarray(s, s + l).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const prefix = field(345, 155);
    const name = (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100)).replace(/^\.?\//, '');
    if (type === '0' || type === '') out.set(name, tar.subarray(off + 512, off + 512 + size).toString('utf8'));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Copies an image between repositories of the local registry (an "external push"). */
function skopeoCopy(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'skopeo',
      ['--insecure-policy', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${from}`, `docker://${to}`],
      { timeout: 120_000 },
      (err, _stdout, stderr) => (err ? reject(new Error(`skopeo copy failed: ${stderr}`)) : resolve()),
    );
  });
}

let reg: string;
let base: string; // <registry>/<repo>@sha256:... of the CoreOS stand-in
let baseRepo: string;
let baseDigest: string;

beforeAll(async () => {
  reg = registryHost();
  await kubectl(['create', 'namespace', NS], { allowFailure: true });
  const cc = ControllerConfigSchema.parse(JSON.parse((await kubectl(['get', 'controllerconfig', CONTROLLER_CONFIG_NAME, '-o', 'json'])).stdout));
  base = cc.spec?.baseOSContainerImage ?? '';
  const m = /^([^/]+)\/(.+)@(sha256:[0-9a-f]{64})$/.exec(base);
  if (!m) throw new Error(`the ControllerConfig's baseOSContainerImage is not <registry>/<repo>@sha256:...: ${base}`);
  baseRepo = m[2]!;
  baseDigest = m[3]!;
});

afterAll(async () => {
  for (const [kind, name] of created.reverse()) {
    await kubectl(['delete', kind, name, '-n', NS, '--ignore-not-found', '--wait=false'], { allowFailure: true });
  }
});

describe('emulator: image import', () => {
  it('resolves DockerImage spec tags to the registry digest and sets the repository', async () => {
    const name = `import-${RUN}`;
    await create('imagestream', {
      apiVersion: 'image.openshift.io/v1',
      kind: 'ImageStream',
      metadata: { name },
      spec: {
        tags: [
          { name: 'by-digest', from: { kind: 'DockerImage', name: base } },
          { name: 'missing', from: { kind: 'DockerImage', name: `${reg}/${NS}/nothing-${RUN}:latest` } },
        ],
      },
    });
    const s = await waitFor(
      async () => {
        const s = await getStream(name);
        return tag(s, 'by-digest')?.items?.length && tag(s, 'missing')?.conditions?.length ? s : undefined;
      },
      { what: 'both tags imported or failed' },
    );
    expect(s.status?.dockerImageRepository).toBe(`${reg}/${NS}/${name}`);
    const item = tag(s, 'by-digest')!.items![0]!;
    expect(item.image).toBe(baseDigest);
    expect(item.image).toBe(await registryDigest(baseRepo, baseDigest));
    expect(item.dockerImageReference).toBe(`${reg}/${baseRepo}@${baseDigest}`);
    expect(item.created).toBeTruthy();
    const missing = tag(s, 'missing')!;
    expect(missing.items ?? []).toEqual([]);
    expect(missing.conditions![0]).toMatchObject({ type: 'ImportSuccess', status: 'False', reason: 'NotFound' });
    expect(missing.conditions![0]!.message).toBeTruthy();
  });

  it('imports an image pushed after the tag was created (failed imports are retried)', async () => {
    const name = `late-${RUN}`;
    const repo = `${NS}/late-source-${RUN}`;
    await create('imagestream', {
      apiVersion: 'image.openshift.io/v1',
      kind: 'ImageStream',
      metadata: { name },
      spec: { tags: [{ name: 'latest', from: { kind: 'DockerImage', name: `${reg}/${repo}:v1` } }] },
    });
    await waitFor(async () => tag(await getStream(name), 'latest')?.conditions?.[0]?.reason === 'NotFound', { what: 'the NotFound condition' });
    await skopeoCopy(`${reg}/${baseRepo}@${baseDigest}`, `${reg}/${repo}:v1`);
    const pushed = await registryDigest(repo, 'v1');
    const s = await waitFor(async () => {
      const s = await getStream(name);
      return tag(s, 'latest')?.items?.length ? s : undefined;
    }, { what: 'the late image to be imported' });
    const t = tag(s, 'latest')!;
    expect(t.conditions ?? []).toEqual([]);
    expect(t.items!.map((i) => i.image)).toEqual([pushed]);
    expect(t.items![0]!.dockerImageReference).toBe(`${reg}/${repo}@${pushed}`);
  });

  it('tracks ImageStreamTag sources, follows them, and drops a removed spec tag but keeps pushed tags', async () => {
    const src = `src-${RUN}`;
    const trk = `track-${RUN}`;
    const built = await (async () => {
      // Make a second, different image in the registry to move the source to.
      const repo = `${NS}/other-${RUN}`;
      await skopeoCopy(`${reg}/${baseRepo}@${baseDigest}`, `${reg}/${repo}:v1`);
      return { repo, digest: (await registryDigest(repo, 'v1'))! };
    })();
    await create('imagestream', {
      apiVersion: 'image.openshift.io/v1',
      kind: 'ImageStream',
      metadata: { name: src },
      spec: { tags: [{ name: 'latest', from: { kind: 'DockerImage', name: base } }] },
    });
    await create('imagestream', {
      apiVersion: 'image.openshift.io/v1',
      kind: 'ImageStream',
      metadata: { name: trk },
      spec: {
        tags: [
          { name: 'latest', from: { kind: 'ImageStreamTag', name: `${src}:latest` } },
          { name: 'pinned', from: { kind: 'ImageStreamImage', name: `${src}@${baseDigest}` } },
        ],
      },
    });
    const t1 = await waitFor(async () => {
      const s = await getStream(trk);
      return tag(s, 'latest')?.items?.[0]?.image === baseDigest && tag(s, 'pinned')?.items?.length ? s : undefined;
    }, { what: 'the tracking tags' });
    expect(tag(t1, 'latest')!.items![0]!.dockerImageReference).toBe(`${reg}/${baseRepo}@${baseDigest}`);
    expect(tag(t1, 'pinned')!.items![0]!.image).toBe(baseDigest);

    // Move the source: the tracker follows, newest first, history kept.
    await apply({
      apiVersion: 'image.openshift.io/v1',
      kind: 'ImageStream',
      metadata: { name: src, namespace: NS },
      spec: { tags: [{ name: 'latest', from: { kind: 'DockerImage', name: `${reg}/${built.repo}:v1` } }] },
    });
    const srcMoved = await waitFor(async () => {
      const s = await getStream(src);
      return tag(s, 'latest')?.items?.[0]?.dockerImageReference === `${reg}/${built.repo}@${built.digest}` ? s : undefined;
    }, { what: 'the source to re-import' });
    expect(tag(srcMoved, 'latest')!.items!.map((i) => i.dockerImageReference)).toEqual([
      `${reg}/${built.repo}@${built.digest}`,
      `${reg}/${baseRepo}@${baseDigest}`,
    ]);
    const t2 = await waitFor(async () => {
      const s = await getStream(trk);
      return tag(s, 'latest')?.items?.[0]?.dockerImageReference === `${reg}/${built.repo}@${built.digest}` ? s : undefined;
    }, { what: 'the tracker to follow' });
    expect(tag(t2, 'latest')!.items!).toHaveLength(2);

    // A build-pushed tag on the tracker stream (no spec tag), then `oc tag -d` of a spec tag.
    await kubectl([
      'patch', 'imagestream', trk, '-n', NS, '--subresource=status', '--type=json', '-p',
      JSON.stringify([{ op: 'add', path: '/status/tags/-', value: { tag: 'pushed', items: [{ dockerImageReference: `${reg}/${NS}/${trk}@${baseDigest}`, image: baseDigest, created: new Date().toISOString() }] } }]),
    ]);
    await kubectl(['patch', 'imagestream', trk, '-n', NS, '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/tags/1' }])]);
    const t3 = await waitFor(async () => {
      const s = await getStream(trk);
      return tag(s, 'pinned') ? undefined : s;
    }, { what: 'the removed spec tag to leave status' });
    expect(tag(t3, 'pushed')?.items?.[0]?.image).toBe(baseDigest);
    expect(tag(t3, 'latest')?.items?.length).toBe(2);
  });
});

describe('emulator: builds', () => {
  const out = `out-${RUN}`;

  beforeAll(async () => {
    await create('imagestream', { apiVersion: 'image.openshift.io/v1', kind: 'ImageStream', metadata: { name: out } });
  });

  function buildObj(name: string, dockerfile: string, extra: { from?: string; tag?: string; buildArgs?: Array<{ name: string; value: string }>; labels?: Array<{ name: string; value: string }> } = {}) {
    return {
      apiVersion: 'build.openshift.io/v1',
      kind: 'Build',
      metadata: { name },
      spec: {
        source: { type: 'Dockerfile', dockerfile },
        strategy: {
          type: 'Docker',
          dockerStrategy: {
            ...(extra.from ? { from: { kind: 'DockerImage', name: extra.from } } : {}),
            ...(extra.buildArgs ? { buildArgs: extra.buildArgs } : {}),
          },
        },
        output: { to: { kind: 'ImageStreamTag', name: `${out}:${extra.tag ?? 'latest'}` }, ...(extra.labels ? { imageLabels: extra.labels } : {}) },
      },
    };
  }

  it('runs a Build to Complete and records a digest that is in the registry', async () => {
    const name = `ok-${RUN}`;
    await create(
      'build',
      buildObj(name, `FROM ${base}\nARG GREETING\nRUN echo $GREETING > /hi\n`, {
        tag: 'v1',
        buildArgs: [{ name: 'GREETING', value: 'hi' }],
        labels: [{ name: 'machineconfig', value: 'rendered-test' }],
      }),
    );
    const b = await waitBuild(name, ['Complete', 'Failed', 'Error', 'Cancelled']);
    expect(b.status?.phase, b.status?.logSnippet).toBe('Complete');
    const digest = b.status?.output?.to?.imageDigest ?? '';
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.status?.outputDockerImageReference).toBe(`${reg}/${NS}/${out}:v1`);
    expect(b.status?.startTimestamp).toBeTruthy();
    expect(b.status?.completionTimestamp).toBeTruthy();
    expect(b.status?.duration).toBeGreaterThan(0);
    // In the registry, by digest and as the tag.
    expect(await registryDigest(`${NS}/${out}`, digest)).toBe(digest);
    expect(await registryDigest(`${NS}/${out}`, 'v1')).toBe(digest);
    // Recorded on the output stream as the newest item of the tag.
    const s = await getStream(out);
    expect(tag(s, 'v1')?.items?.[0]).toMatchObject({ image: digest, dockerImageReference: `${reg}/${NS}/${out}@${digest}` });
    // The image has the label and the file the RUN wrote (with the build arg).
    const manifest = (await fetchJson(`/v2/${NS}/${out}/manifests/${digest}`)) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const config = JSON.parse((await fetchBlob(`${NS}/${out}`, manifest.config.digest)).toString('utf8')) as { config?: { Labels?: Record<string, string> } };
    expect(config.config?.Labels?.machineconfig).toBe('rendered-test');
    const top = tarFiles(await fetchBlob(`${NS}/${out}`, manifest.layers.at(-1)!.digest));
    expect(top.get('hi')).toBe('hi\n');
  });

  it('dockerStrategy.from replaces the last FROM', async () => {
    const name = `from-${RUN}`;
    await create(
      'build',
      buildObj(name, `FROM ${base} AS first\nRUN echo one > /one\nFROM ${reg}/${NS}/does-not-exist:never\nCOPY --from=first /one /copied\n`, {
        tag: 'from',
        from: base,
      }),
    );
    const b = await waitBuild(name, ['Complete', 'Failed', 'Error', 'Cancelled']);
    expect(b.status?.phase, b.status?.logSnippet).toBe('Complete');
    const digest = b.status!.output!.to!.imageDigest!;
    const manifest = (await fetchJson(`/v2/${NS}/${out}/manifests/${digest}`)) as { layers: Array<{ digest: string }> };
    expect(tarFiles(await fetchBlob(`${NS}/${out}`, manifest.layers.at(-1)!.digest)).get('copied')).toBe('one\n');
  });

  it('a broken Dockerfile ends Failed with a log snippet', async () => {
    const name = `broken-${RUN}`;
    await create('build', buildObj(name, `FROM ${base}\nRUN echo about-to-fail && exit 3\n`, { tag: 'broken' }));
    const b = await waitBuild(name, ['Complete', 'Failed', 'Error', 'Cancelled']);
    expect(b.status?.phase).toBe('Failed');
    expect(b.status?.reason).toBe('DockerBuildFailed');
    expect(b.status?.message).toBeTruthy();
    expect(b.status?.logSnippet).toContain('about-to-fail');
    expect(b.status?.logSnippet?.split('\n').length).toBeLessThanOrEqual(20);
    expect(b.status?.completionTimestamp).toBeTruthy();
    expect(tag(await getStream(out), 'broken')).toBeUndefined();
  });

  it('an output stream that does not exist fails the Build with InvalidOutputReference', async () => {
    const name = `noout-${RUN}`;
    const obj = buildObj(name, `FROM ${base}\n`);
    obj.spec.output.to.name = `no-such-stream-${RUN}:latest`;
    await create('build', obj);
    const b = await waitBuild(name, ['Complete', 'Failed', 'Error', 'Cancelled']);
    expect(b.status).toMatchObject({ phase: 'Failed', reason: 'InvalidOutputReference' });
  });

  it('cancelling a running Build kills it and ends Cancelled; a cancelled New Build never runs', async () => {
    const slow = `slow-${RUN}`;
    const queued = `queued-${RUN}`;
    // The sleep outlives the test's timeout: Cancelled can only come from killing buildah.
    await create('build', buildObj(slow, `FROM ${base}\nRUN sleep 3600\n`, { tag: 'slow' }));
    await waitBuild(slow, ['Running']);
    await create('build', buildObj(queued, `FROM ${base}\nRUN echo never > /never\n`, { tag: 'queued' }));
    for (const n of [queued, slow]) {
      await kubectl(['patch', 'build', n, '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { cancelled: true } })]);
    }
    const b = await waitBuild(slow, ['Complete', 'Failed', 'Error', 'Cancelled'], 60_000);
    expect(b.status).toMatchObject({ phase: 'Cancelled', reason: 'CancelledBuild', cancelled: true });
    expect(b.status?.completionTimestamp).toBeTruthy();
    const q = await waitBuild(queued, ['Complete', 'Failed', 'Error', 'Cancelled'], 60_000);
    expect(q.status).toMatchObject({ phase: 'Cancelled', reason: 'CancelledBuild' });
    const s = await getStream(out);
    expect(tag(s, 'slow')).toBeUndefined();
    expect(tag(s, 'queued')).toBeUndefined();
    // A terminal Build is left alone.
    await kubectl(['patch', 'build', slow, '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { cancelled: true, message: 'touched' } })]);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await getBuild(slow)).status?.phase).toBe('Cancelled');
  });
});
