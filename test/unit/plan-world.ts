// A deterministic model of the cluster for plan-level scenario tests: it holds
// objects as plain data, applies a Plan's outputs to them the way the apply
// layer would, and plays OpenShift's part (tag import, build execution) step by
// step, so a test can drive the planner through S1..S10 and count builds. It
// stands in for nothing in the integration suites, which use the real stack.
import { createHash } from 'node:crypto';
import type { Build, BuildConfig, ImageStream, LayeredPool, MachineConfig, MachineConfigPool, NodeLike, OSImageStream, TagEvent } from '../../src/kube/types.ts';
import { selectorMatches } from '../../src/plan/selector.ts';
import type { ImageCheckOutcome } from '../../src/plan/image-check.ts';
import type { Plan } from '../../src/plan/plan.ts';
import { plan } from '../../src/plan/plan.ts';
import type { KubeObject, PlanConfig, Snapshot } from '../../src/plan/snapshot.ts';
import { ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_CONFIG, ANNOTATION_NEWEST_IMAGE_SOURCE, ANNOTATION_POOL, CONTROLLER_CONFIG_NAME, DEFAULT_OPT_IN_LABEL } from '../../src/plan/names.ts';
import type { PoolApply } from '../../src/plan/rollout-hold.ts';
import { ANNOTATION_ROLLOUT_HELD } from '../../src/plan/rollout-hold.ts';

export const NS = 'openshift-machine-config-operator';
export const REG = '127.0.0.1:5000';

export const CONFIG: PlanConfig = {
  namespace: NS,
  optInLabel: DEFAULT_OPT_IN_LABEL,
  registry: REG,
  applyCommand: 'ignition-apply /etc/machine-config-ignition.json',
  debounceMs: 2000,
  historySize: 10,
  retryLimit: 2,
  retryBackoffMs: 10_000,
};

/**
 * A server-side apply of the operator's fields of a pool, as the API server does it when the
 * operator's field manager is the only owner of those fields: what it no longer sends goes
 * (an admin's spec.paused, set without the operator's hold annotation, is left as it is).
 */
export function applyPoolFields(pl: MachineConfigPool, a: PoolApply): void {
  const annotations = { ...pl.metadata.annotations };
  const heldBefore = annotations[ANNOTATION_ROLLOUT_HELD] !== undefined;
  for (const k of [ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_CONFIG, ANNOTATION_NEWEST_IMAGE_SOURCE, ANNOTATION_ROLLOUT_HELD]) delete annotations[k];
  pl.metadata.annotations = { ...annotations, ...a.annotations };
  const pausedBefore = pl.spec?.paused === true;
  if (a.paused) pl.spec = { ...pl.spec, paused: true };
  else if (heldBefore && pl.spec) delete pl.spec.paused;
  // A spec change moves the generation, as the API server does.
  if ((pl.spec?.paused === true) !== pausedBefore) pl.metadata.generation = (pl.metadata.generation ?? 0) + 1;
}

export function digestOf(s: string): string {
  return 'sha256:' + createHash('sha256').update(s).digest('hex');
}

export function machineConfig(name: string, files: Record<string, string> = { '/etc/motd': 'hello' }): MachineConfig {
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfig',
    metadata: { name, uid: `uid-${name}`, resourceVersion: '1' },
    spec: {
      config: {
        ignition: { version: '3.4.0' },
        storage: { files: Object.entries(files).map(([path, data]) => ({ path, mode: 420, contents: { source: `data:,${encodeURIComponent(data)}` } })) },
      },
    },
  };
}

export function pool(
  name: string,
  opts: { rendered?: string; labelled?: boolean; annotations?: Record<string, string>; selector?: MachineConfigPool['spec'] extends infer S ? S extends { machineConfigSelector?: infer L } ? L : never : never } = {},
): MachineConfigPool {
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfigPool',
    metadata: {
      name,
      uid: `uid-pool-${name}`,
      generation: 1,
      labels: opts.labelled === false ? {} : { [DEFAULT_OPT_IN_LABEL]: '' },
      annotations: opts.annotations ?? {},
    },
    spec: {
      ...(opts.rendered ? { configuration: { name: opts.rendered } } : {}),
      machineConfigSelector: opts.selector ?? { matchLabels: { 'machineconfiguration.openshift.io/role': name } },
      nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${name}`]: '' } },
    },
  };
}

type Obj = { metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string>; uid?: string; creationTimestamp?: string | Date } };

/** What a build does when the world runs it. */
export type BuildOutcome = 'complete' | 'fail' | 'hang';

export class World {
  now = 1_700_000_000_000;
  config: PlanConfig;
  pools = new Map<string, MachineConfigPool>();
  machineConfigs = new Map<string, MachineConfig>();
  baseOSImage: string | undefined = `${REG}/openshift/coreos-standin@${digestOf('coreos-1')}`;
  /** MCO's OSImageStream `cluster`, where the cluster serves it (undefined: it does not). */
  osImageStream: OSImageStream | undefined;
  streams = new Map<string, ImageStream>();
  buildConfigs = new Map<string, BuildConfig>();
  builds = new Map<string, Build>();
  statuses = new Map<string, LayeredPool>();
  /** Images in the registry: repo@digest or repo:tag → digest. */
  registry = new Map<string, string>();
  pushes: string[] = [];
  buildsCreated: string[] = [];
  cancelled: string[] = [];
  events: string[] = [];
  pushSecretFound: boolean | undefined = undefined;
  pushSecretProblem: string | undefined = undefined;
  /** Decides each build's fate when it runs (default: completes). */
  outcome: (b: Build) => BuildOutcome = () => 'complete';
  importsEnabled = true;
  /** stream:tag -> the `from` whose import failed (not retried until requested). */
  failedImports = new Map<string, string>();
  private importRequested = new Set<string>();
  /** Registry checks the I/O layer made, by key; `checker` decides new ones (default: every image passes). */
  imageChecks = new Map<string, ImageCheckOutcome>();
  checker: (image: string) => ImageCheckOutcome = () => ({ result: 'passed', sizeBytes: 1000, addedLayers: 1, files: 1 });
  checksRun: string[] = [];
  /** Base architectures the I/O layer read (OpenShift's Image of `<pool>-base@<digest>`), by digest; `architectureOf` decides new ones. */
  baseArchitectures = new Map<string, string>();
  architectureOf: (stream: string, digest: string) => string = () => 'amd64';
  architecturesRead: string[] = [];
  machineConfigsDeleted: string[] = [];
  /** Nodes, as the operator caches them (name, labels, the machine-config daemon's annotations). */
  nodes: NodeLike[] = [];
  private uid = 0;

  constructor(config: Partial<PlanConfig> = {}) {
    this.config = { ...CONFIG, ...config };
    const [repo, digest] = this.baseOSImage!.split('@') as [string, string];
    this.registry.set(`${repo}@${digest}`, digest);
  }

  snapshot(poolName: string): Snapshot {
    const p = this.pools.get(poolName);
    const mcName = p?.spec?.configuration?.name;
    const builds = [...this.builds.values()].filter((b) => b.metadata.annotations?.[ANNOTATION_POOL] === poolName);
    return {
      now: this.now,
      config: this.config,
      poolName,
      pool: structuredClone(p),
      machineConfig: mcName ? structuredClone(this.machineConfigs.get(mcName)) : undefined,
      controllerConfig: this.baseOSImage
        ? { metadata: { name: CONTROLLER_CONFIG_NAME }, spec: { baseOSContainerImage: this.baseOSImage } }
        : undefined,
      osImageStream: structuredClone(this.osImageStream),
      streams: new Map(structuredClone([...this.streams])),
      buildConfigs: new Map(structuredClone([...this.buildConfigs])),
      builds: structuredClone(builds),
      status: structuredClone(this.statuses.get(poolName)),
      pushSecretFound: this.pushSecretFound,
      pushSecretProblem: this.pushSecretProblem,
      handoffMachineConfig: structuredClone(this.machineConfigs.get(`99-${poolName}-layered-image`)),
      statusMachineConfig: p?.status?.configuration?.name ? structuredClone(this.machineConfigs.get(p.status.configuration.name)) : undefined,
      allMachineConfigs: structuredClone([...this.machineConfigs.values()]),
      allPools: structuredClone([...this.pools.values()]),
      nodes: structuredClone(this.nodes.filter((n) => selectorMatches(p?.spec?.nodeSelector, n.metadata.labels ?? undefined))),
      imageChecks: new Map(this.imageChecks),
      baseArchitectures: new Map(this.baseArchitectures),
    };
  }

  /** Plans as the reconciler does: an image to check is checked (once per key), then planned again. */
  plan(poolName: string): Plan {
    let p = plan(this.snapshot(poolName));
    const arch = p.readBaseArchitecture;
    if (arch && !this.baseArchitectures.has(arch.digest)) {
      this.architecturesRead.push(`${arch.stream}@${arch.digest}`);
      this.baseArchitectures.set(arch.digest, this.architectureOf(arch.stream, arch.digest));
      p = plan(this.snapshot(poolName));
    }
    if (!p.checkImage || this.imageChecks.has(p.checkImage.key)) return p;
    this.checksRun.push(p.checkImage.image);
    this.imageChecks.set(p.checkImage.key, this.checker(p.checkImage.image));
    return plan(this.snapshot(poolName));
  }

  /** Applies a plan's outputs as the controller's apply step would. */
  apply(p: Plan): void {
    if (p.push?.streamFirst && p.push.stream) this.applyObject(p.push.stream);
    if (p.push) this.push(p.push.repository, p.push.image.manifestDigest, p.push.tags, p.push.renderedConfig);
    // The stream that names the pushed image, once the push is done.
    for (const o of [...(p.push?.stream ? [p.push.stream] : []), ...p.apply]) this.applyObject(o);
    for (const r of p.importRequests) {
      const images = (r.spec as { images: { from: { name: string }; to: { name: string } }[] }).images;
      for (const i of images) this.importRequests.push(`${r.metadata.name}:${i.to.name}`);
      this.importRequested.add(r.metadata.name);
    }
    for (const o of p.create) {
      if (o.kind === 'BuildConfig' && !this.buildConfigs.has(o.metadata.name)) this.buildConfigs.set(o.metadata.name, this.stamp(structuredClone(o)) as BuildConfig);
    }
    for (const b of p.createBuilds) {
      if (this.builds.has(b.metadata.name)) continue; // AlreadyExists
      this.builds.set(b.metadata.name, this.stamp(structuredClone(b)) as Build);
      this.buildsCreated.push(b.metadata.name);
    }
    for (const name of p.cancelBuilds) {
      const b = this.builds.get(name);
      if (b) {
        b.status = { ...b.status, cancelled: true };
        this.cancelled.push(name);
      }
    }
    for (const name of p.deleteMachineConfigs) {
      if (this.machineConfigs.delete(name)) this.machineConfigsDeleted.push(name);
    }
    const pl = this.pools.get(p.pool);
    if (p.handoffMachineConfig && pl) {
      const mc = structuredClone(p.handoffMachineConfig) as unknown as MachineConfig;
      const cur = this.machineConfigs.get(mc.metadata.name);
      this.machineConfigs.set(mc.metadata.name, cur ? { ...cur, metadata: { ...cur.metadata, ...mc.metadata }, spec: mc.spec } : this.stamp(mc));
    }
    if (p.poolApply && pl) applyPoolFields(pl, p.poolApply);
    if (p.status) {
      const st = this.statuses.get(p.pool);
      if (st) st.status = structuredClone(p.status);
    }
    for (const e of p.events) this.events.push(`${e.reason}: ${e.message}`);
  }

  /**
   * A push by tag to the integrated registry: HEAD each tag, PUT where it
   * differs; each tagged push is recorded in the stream (created if missing),
   * as the integrated registry does. A push of a tag already at the digest is
   * not counted.
   */
  push(repository: string, digest: string, tags: readonly string[], what: string): void {
    const missing = tags.filter((t) => this.registry.get(`${repository}:${t}`) !== digest);
    if (missing.length === 0) return;
    this.registry.set(`${repository}@${digest}`, digest);
    this.pushes.push(what);
    const name = repository.split('/').pop()!;
    let s = this.streams.get(name);
    if (!s) {
      s = this.stamp({ metadata: { name }, spec: {} }) as ImageStream;
      this.streams.set(name, s);
    }
    s.status = { ...s.status, dockerImageRepository: `${REG}/${NS}/${name}` };
    for (const t of missing) {
      this.registry.set(`${repository}:${t}`, digest);
      this.recordTag(s, t, { dockerImageReference: `${repository}@${digest}`, image: digest, created: new Date(this.now).toISOString() }, false);
    }
  }

  /** The ImageStreamImports posted (stream:tag), in order. */
  importRequests: string[] = [];

  private stamp<T extends Obj>(o: T): T {
    o.metadata.uid = `uid-${++this.uid}`;
    o.metadata.creationTimestamp = new Date(this.now).toISOString();
    return o;
  }

  private applyObject(o: KubeObject): void {
    if (o.kind === 'ImageStream') {
      const cur = this.streams.get(o.metadata.name);
      const spec = o.spec as ImageStream['spec'];
      if (!cur) {
        const s = this.stamp({ metadata: structuredClone(o.metadata), spec: structuredClone(spec) ?? {} }) as ImageStream;
        s.status = { dockerImageRepository: `${REG}/${NS}/${o.metadata.name}` };
        this.streams.set(o.metadata.name, s);
      } else {
        cur.metadata = { ...cur.metadata, ...structuredClone(o.metadata) };
        // Server-side apply of a list keyed by name: our tags replace our tags; others' stay.
        const admin = (cur.spec?.tags ?? []).filter((t) => (t as { admin?: boolean }).admin);
        cur.spec = { ...cur.spec, tags: [...admin.filter((t) => !spec?.tags?.some((x) => x.name === t.name)), ...structuredClone(spec?.tags ?? [])] };
      }
    } else if (o.kind === 'BuildConfig') {
      const cur = this.buildConfigs.get(o.metadata.name);
      if (!cur) this.buildConfigs.set(o.metadata.name, this.stamp(structuredClone(o)) as BuildConfig);
      else cur.spec = structuredClone(o.spec) as BuildConfig['spec'];
    } else if (o.kind === 'LayeredPool') {
      if (!this.statuses.has(o.metadata.name)) this.statuses.set(o.metadata.name, this.stamp(structuredClone(o)) as LayeredPool);
    } else {
      throw new Error(`world cannot apply ${o.kind}`);
    }
  }

  /** oc tag <image> <stream>:<tag> (an admin's tag: not ours). */
  adminTag(streamName: string, tag: string, image: string, opts: { inRegistry?: boolean } = {}): void {
    let s = this.streams.get(streamName);
    if (!s) {
      s = this.stamp({ metadata: { name: streamName }, spec: { tags: [] } }) as ImageStream;
      this.streams.set(streamName, s);
    }
    s.spec = { ...s.spec, tags: [...(s.spec?.tags ?? []).filter((t) => t.name !== tag), { name: tag, from: { kind: 'DockerImage', name: image }, admin: true } as never] };
    const [repo, digest] = image.split('@') as [string, string];
    if (opts.inRegistry !== false) this.registry.set(`${repo}@${digest}`, digest);
  }

  /** oc tag -d <stream>:<tag> */
  adminUntag(streamName: string, tag: string): void {
    const s = this.streams.get(streamName);
    if (!s) return;
    s.spec = { ...s.spec, tags: (s.spec?.tags ?? []).filter((t) => t.name !== tag) };
    if (s.status) s.status.tags = (s.status.tags ?? []).filter((t) => t.tag !== tag);
  }

  /** The image import controller: resolves spec tags to digests in status. */
  importAll(): void {
    if (!this.importsEnabled) return;
    const requested = this.importRequested;
    this.importRequested = new Set();
    for (let pass = 0; pass < 3; pass++) {
      for (const s of this.streams.values()) {
        for (const t of s.spec?.tags ?? []) {
          let item: TagEvent | undefined;
          if (t.from?.kind === 'DockerImage') {
            // OpenShift does not retry a failed import of the same spec tag unless an ImageStreamImport asks.
            const failedBefore = this.failedImports.get(`${s.metadata.name}:${t.name}`);
            if (failedBefore === t.from.name && !requested.has(s.metadata.name)) continue;
            const [repo, digest] = t.from.name.split('@');
            if (digest && this.registry.has(`${repo}@${digest}`)) item = { dockerImageReference: t.from.name, image: digest, created: new Date(this.now).toISOString() };
          } else if (t.from?.kind === 'ImageStreamTag') {
            const [src, srcTag] = t.from.name.split(':') as [string, string];
            const it = this.streams.get(src)?.status?.tags?.find((x) => x.tag === srcTag)?.items?.[0];
            if (it) item = { ...it, created: new Date(this.now).toISOString() };
          }
          this.recordTag(s, t.name, item, t.from?.kind === 'ImageStreamTag');
          if (t.from?.kind === 'DockerImage') {
            const key = `${s.metadata.name}:${t.name}`;
            if (item) this.failedImports.delete(key);
            else this.failedImports.set(key, t.from.name);
            this.recordImport(s, t.name, item ? undefined : `${t.from.name}: manifest unknown`);
          }
        }
      }
    }
  }

  private recordImport(s: ImageStream, tag: string, error: string | undefined): void {
    s.status ??= {};
    const tags = (s.status.tags ??= []);
    let list = tags.find((x) => x.tag === tag);
    if (!list && !error) return;
    if (!list) {
      list = { tag, items: [] };
      tags.push(list);
    }
    list.conditions = error ? [{ type: 'ImportSuccess', status: 'False', reason: 'NotFound', message: error, lastTransitionTime: new Date(this.now).toISOString() }] : [];
  }

  private recordTag(s: ImageStream, tag: string, item: TagEvent | undefined, tracking: boolean): void {
    s.status ??= {};
    const tags = (s.status.tags ??= []);
    let list = tags.find((x) => x.tag === tag);
    if (!item) {
      if (tracking && list) list.items = [];
      return;
    }
    if (!list) {
      list = { tag, items: [] };
      tags.push(list);
    }
    if (list.items?.[0]?.image !== item.image) list.items = [item, ...(list.items ?? [])];
  }

  /** The build controller: runs every New build to its outcome; cancels cancelled ones. */
  runBuilds(): void {
    for (const b of this.builds.values()) {
      const phase = b.status?.phase;
      if (phase && !['New', 'Pending', 'Running'].includes(phase)) continue;
      if (b.status?.cancelled) {
        b.status = { ...b.status, phase: 'Cancelled', completionTimestamp: new Date(this.now).toISOString() };
        continue;
      }
      const fate = this.outcome(b);
      if (fate === 'hang') {
        b.status = { ...b.status, phase: 'Running', startTimestamp: new Date(this.now).toISOString() };
        continue;
      }
      if (fate === 'fail') {
        b.status = {
          ...b.status,
          phase: 'Failed',
          reason: 'DockerBuildFailed',
          message: 'Docker build strategy has failed.',
          logSnippet: 'STEP 5/6: RUN ignition-apply\nerror: no such file\nexit status 1',
          completionTimestamp: new Date(this.now).toISOString(),
        };
        continue;
      }
      const [stream, tag] = (b.spec?.output?.to?.name ?? '').split(':') as [string, string];
      const digest = digestOf(`${b.metadata.name}`);
      const repo = `${REG}/${NS}/${stream}`;
      this.registry.set(`${repo}@${digest}`, digest);
      b.status = {
        ...b.status,
        phase: 'Complete',
        startTimestamp: new Date(this.now).toISOString(),
        completionTimestamp: new Date(this.now).toISOString(),
        outputDockerImageReference: `${repo}:${tag}`,
        output: { to: { imageDigest: digest } },
      };
      const s = this.streams.get(stream);
      if (s) this.recordTag(s, tag, { dockerImageReference: `${repo}@${digest}`, image: digest, created: new Date(this.now).toISOString() }, false);
    }
  }

  /**
   * One round: plan and apply every pool, then let OpenShift act, then let time
   * pass. Returns the plans made.
   */
  step(ms = 1000, opts: { runBuilds?: boolean } = {}): Plan[] {
    const plans: Plan[] = [];
    for (const name of this.pools.keys()) {
      const p = this.plan(name);
      this.apply(p);
      plans.push(p);
    }
    this.importAll();
    if (opts.runBuilds !== false) this.runBuilds();
    this.now += ms;
    return plans;
  }

  /** Steps until nothing changes for a few rounds (or the bound is hit). */
  settle(opts: { maxSteps?: number; ms?: number; runBuilds?: boolean } = {}): void {
    // Quiet long enough for the debounce window to pass.
    const ms = opts.ms ?? 1000;
    const need = Math.max(5, Math.ceil((this.config.debounceMs + 2 * ms) / ms));
    let quiet = 0;
    for (let i = 0; i < (opts.maxSteps ?? 200) && quiet < need; i++) {
      const before = this.fingerprint();
      this.step(ms, opts);
      quiet = this.fingerprint() === before ? quiet + 1 : 0;
    }
  }

  private fingerprint(): string {
    return JSON.stringify([[...this.streams], [...this.builds], [...this.pools], [...this.statuses].map(([k, v]) => [k, v.status?.phase, v.status?.image])]);
  }

  /** The image handed to a pool through its MachineConfig 99-<pool>-layered-image. */
  handoffImage(name: string): string | undefined {
    return this.machineConfigs.get(`99-${name}-layered-image`)?.spec?.osImageURL ?? undefined;
  }

  /**
   * What the real machine-config-controller does after a hand-off, as measured
   * (notes/openshift-in-a-box.md): re-renders the pool; the rendered config
   * changes ONLY in its name, spec.osImageURL and the os-image-url-overridden
   * annotation. Returns the new rendered name.
   */
  mccRerender(poolName: string): string {
    const p = this.pools.get(poolName)!;
    const cur = this.machineConfigs.get(p.spec!.configuration!.name!)!;
    const image = this.handoffImage(poolName);
    const name = `rendered-${poolName}-${digestOf(`${cur.metadata.name}/${image ?? ''}`).slice(7, 15)}`;
    const next = structuredClone(cur);
    next.metadata = { ...next.metadata, name, uid: `uid-${name}`, annotations: { ...next.metadata.annotations, 'machineconfiguration.openshift.io/os-image-url-overridden': 'true' } };
    next.spec = { ...next.spec, osImageURL: image ?? '' };
    this.machineConfigs.set(name, next);
    p.spec = { ...p.spec, configuration: { name } };
    return name;
  }

  poolImage(name: string): string | undefined {
    return this.pools.get(name)?.metadata.annotations?.['machineconfiguration.openshift.io/newestImage'];
  }

  buildsOf(kind?: 'content' | 'custom'): Build[] {
    return [...this.builds.values()].filter((b) => !kind || b.metadata.labels?.['layering.mco.dev/build-kind'] === kind);
  }
}
