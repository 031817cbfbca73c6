// Image import: keeps every ImageStream's status.tags in line with its spec tags, as
// OpenShift's image import controller and tag tracking do (rules in README.md).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ImageStreamSchema, RESOURCES, type ImageStream } from '../../src/kube/types.ts';
import { ANNOTATION_SPEC_TAGS, dockerTagsToResolve, reconcileStream, sourcesOf, type ReconcileResult, type ResolveResult } from './imports.ts';
import { KeyQueue, splitKey } from './keyqueue.ts';
import { errorMessage, type Kube } from './kube.ts';
import { resolveDigest } from './registry.ts';

export interface ImporterOptions {
  registry: string;
  /** Every stream is looked at again this often (failed imports are retried then). */
  resyncMs: number;
  /** `importPolicy.scheduled` tags are re-imported this often. */
  scheduledMs: number;
}

export class Importer {
  private readonly kube: Kube;
  private readonly log: Logger;
  private readonly opts: ImporterOptions;
  private readonly queue: KeyQueue;
  private readonly lastScheduled = new Map<string, number>();
  private informer?: ReturnType<Kube['informer']>;
  private resync?: ReturnType<typeof setInterval>;

  constructor(kube: Kube, log: Logger, opts: ImporterOptions) {
    this.kube = kube;
    this.log = log.child({ component: 'imports' });
    this.opts = opts;
    this.queue = new KeyQueue((key) => this.sync(key), {
      concurrency: 4,
      onError: (key, err, retryMs) => this.log.warn({ stream: key, err: errorMessage(err), retryMs }, 'image stream sync failed'),
    });
  }

  /** A stream from the informer cache (parsed), for tag sources and build `from` resolution. */
  getStream = (namespace: string, name: string): ImageStream | undefined => {
    const o = this.informer?.get(name, namespace);
    if (!o) return undefined;
    const p = ImageStreamSchema.safeParse(o);
    return p.success ? p.data : undefined;
  };

  async start(): Promise<void> {
    const inf = this.kube.informer<KubernetesObject>(RESOURCES.imageStream, this.log);
    this.informer = inf;
    const onChange = (o: KubernetesObject): void => {
      const ns = o.metadata?.namespace ?? '';
      const name = o.metadata?.name;
      if (!name) return;
      this.queue.add(`${ns}/${name}`);
      // Streams that track a tag of this one.
      for (const other of inf.list()) {
        const p = ImageStreamSchema.safeParse(other);
        if (!p.success) continue;
        if (sourcesOf(p.data).some((s) => s.namespace === ns && s.name === name)) {
          this.queue.add(`${p.data.metadata.namespace ?? ''}/${p.data.metadata.name}`);
        }
      }
    };
    inf.on('add', onChange);
    inf.on('update', onChange);
    inf.on('delete', onChange);
    await inf.start();
    this.resync = setInterval(() => {
      for (const o of inf.list()) if (o.metadata?.name) this.queue.add(`${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    }, this.opts.resyncMs);
  }

  async stop(): Promise<void> {
    if (this.resync) clearInterval(this.resync);
    this.queue.stop();
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
