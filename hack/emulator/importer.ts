// Image import: keeps every ImageStream's status.tags in line with its spec tags, as
// OpenShift's image import controller and tag tracking do (rules in README.md).
import type { Logger } from 'pino';
import { objectKey, type Informer } from '../../src/kube/informer.ts';
import { ImageStreamSchema, RESOURCES, type ImageStream } from '../../src/kube/types.ts';
import { ANNOTATION_SPEC_TAGS, dockerTagsToResolve, reconcileStream, sourcesOf, type ReconcileResult, type ResolveResult } from './imports.ts';
import type { Kube } from './kube.ts';
import { resolveDigest } from './registry.ts';
import { SyncLoop, splitKey } from './syncloop.ts';

export interface ImporterOptions {
  registry: string;
  /** Every stream is looked at again this often (failed imports are retried then). */
  resyncMs: number;
  /** `importPolicy.scheduled` tags are re-imported this often. */
  scheduledMs: number;
}

export class Importer {
  private readonly kube: Kube;
  private readonly baseLog: Logger;
  private readonly log: Logger;
  private readonly opts: ImporterOptions;
  private readonly queue: SyncLoop;
  private readonly lastScheduled = new Map<string, number>();
  private informer?: Informer<ImageStream>;
  private resync?: ReturnType<typeof setInterval>;

  constructor(kube: Kube, log: Logger, opts: ImporterOptions) {
    this.kube = kube;
    this.baseLog = log;
    this.log = log.child({ component: 'imports' });
    this.opts = opts;
    this.queue = new SyncLoop((key) => this.sync(key), { concurrency: 4, log: this.log, keyField: 'stream', failure: 'image stream sync failed' });
  }

  /** A stream from the informer cache (parsed), for tag sources and build `from` resolution. */
  getStream = (namespace: string, name: string): ImageStream | undefined => this.informer?.get(name, namespace);

  async start(): Promise<void> {
    const inf = this.kube.informer(RESOURCES.imageStream, ImageStreamSchema, this.baseLog);
    this.informer = inf;
    inf.onEvent((o) => {
      const ns = o.metadata.namespace ?? '';
      const name = o.metadata.name;
      this.queue.add(objectKey(o.metadata));
      // Streams that track a tag of this one.
      for (const other of inf.list()) {
        if (sourcesOf(other).some((s) => s.namespace === ns && s.name === name)) this.queue.add(objectKey(other.metadata));
      }
    });
    inf.start();
    await inf.waitForSync();
    this.resync = setInterval(() => {
      for (const o of inf.list()) this.queue.add(objectKey(o.metadata));
    }, this.opts.resyncMs);
  }

  async stop(): Promise<void> {
    if (this.resync) clearInterval(this.resync);
    // Syncs in flight are not waited for (as before): a registry lookup may take up to 15 s.
    void this.queue.stop();
    await this.informer?.stop();
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = splitKey(key);
    // Cheap check on the cached copy first: the periodic resync of an up-to-date stream
    // costs no API call. (A stale cache only delays; the next event syncs again.)
    const cached = this.getStream(namespace, name);
    if (cached) {
      const due = Date.now() - (this.lastScheduled.get(key) ?? 0) >= this.opts.scheduledMs;
      if (dockerTagsToResolve(cached, { scheduledDue: due }).length === 0) {
        const r = reconcileStream(cached, { now: new Date().toISOString(), registry: this.opts.registry, getStream: this.getStream, resolved: new Map() });
        if (!r.statusChanged && !r.annotationChanged) return;
      }
    }
    const raw = await this.kube.get<unknown>(RESOURCES.imageStream, namespace, name);
    if (raw === undefined) {
      this.lastScheduled.delete(key);
      return;
    }
    const parsed = ImageStreamSchema.safeParse(raw);
    if (!parsed.success) {
      this.log.warn({ stream: key, err: parsed.error.message }, 'ignoring an ImageStream that does not parse');
      return;
    }
    const nowMs = Date.now();
    const scheduledDue = nowMs - (this.lastScheduled.get(key) ?? 0) >= this.opts.scheduledMs;
    const toResolve = dockerTagsToResolve(parsed.data, { scheduledDue });
    const resolved = new Map<string, ResolveResult>();
    await Promise.all(
      toResolve.map(async (t) => {
        resolved.set(t.tag, await resolveDigest(t.ref, { localRegistry: this.opts.registry, insecure: t.insecure }));
      }),
    );
    if (scheduledDue && (parsed.data.spec?.tags ?? []).some((t) => t.importPolicy?.scheduled)) this.lastScheduled.set(key, nowMs);

    let result: ReconcileResult | undefined;
    let latest: ImageStream | undefined;
    const w = await this.kube.updateStatus<ImageStream>(RESOURCES.imageStream, namespace, name, (obj) => {
      latest = ImageStreamSchema.parse(obj);
      result = reconcileStream(latest, { now: new Date().toISOString(), registry: this.opts.registry, getStream: this.getStream, resolved });
      return result.statusChanged ? result.status : null;
    });
    if (!w || !result || !latest) return;
    if (w.written) {
      for (const ev of result.events) this.log.info({ stream: key, ...ev }, `import ${ev.result}`);
    }
    if (result.annotationChanged) {
      await this.kube.mergePatch(RESOURCES.imageStream, namespace, name, {
        metadata: { annotations: { [ANNOTATION_SPEC_TAGS]: JSON.stringify(result.managed) } },
      });
    }
  }
}
