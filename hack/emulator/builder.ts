// Build execution: what OpenShift's build controller and a docker-strategy build pod do.
// A New Build is run with `buildah bud` (chroot isolation, vfs storage in a per-build
// directory that is deleted afterwards), pushed, and its phase and output digest recorded.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { describeApiError } from '../../src/kube/errors.ts';
import { objectKey, type Informer } from '../../src/kube/informer.ts';
import { BuildSchema, ImageStreamSchema, RESOURCES, type Build, type ImageStream } from '../../src/kube/types.ts';
import {
  budArgs,
  cancelledStatus,
  completeStatus,
  decideBuild,
  failedStatus,
  isTerminal,
  lastLines,
  pendingStatus,
  phaseOf,
  pushArgs,
  replaceLastFrom,
  resolveFrom,
  resolveOutput,
  runningStatus,
  type BuildStatus,
  type FailReason,
} from './builds.ts';
import { withPushedImage } from './imports.ts';
import type { Kube } from './kube.ts';
import { SyncLoop, splitKey } from './syncloop.ts';

export interface BuilderOptions {
  registry: string;
  maxBuilds: number;
  /** Per-build buildah storage (and context) goes in <storageRoot>/<ns>_<build>_<uid>, removed afterwards. */
  storageRoot: string;
  /** Full build logs: <logDir>/<namespace>/<build>.log */
  logDir: string;
  buildah?: string;
  getStream(namespace: string, name: string): ImageStream | undefined;
}

type StopReason = 'cancel' | 'shutdown' | 'deleted';

interface Running {
  key: string;
  uid: string;
  namespace: string;
  name: string;
  stop?: StopReason;
  child?: ChildProcess | undefined;
  done?: Promise<void>;
}

interface Waiting {
  key: string;
  uid: string;
  created: string;
}

const now = (): string => new Date().toISOString();

export class Builder {
  private readonly kube: Kube;
  private readonly baseLog: Logger;
  private readonly log: Logger;
  private readonly opts: BuilderOptions;
  private readonly running = new Map<string, Running>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly queue: SyncLoop;
  private informer?: Informer<Build>;
  private resync?: ReturnType<typeof setInterval>;
  private stopping = false;

  constructor(kube: Kube, log: Logger, opts: BuilderOptions) {
    this.kube = kube;
    this.baseLog = log;
    this.log = log.child({ component: 'builds' });
    this.opts = opts;
    // Syncs only decide and write status; the builds themselves run outside the queue, at most
    // `maxBuilds` at once (see pump).
    this.queue = new SyncLoop((key) => this.sync(key), { concurrency: 4, log: this.log, keyField: 'build', failure: 'build sync failed' });
  }

  async start(resyncMs = 10_000): Promise<void> {
    await this.reapStale();
    const inf = this.kube.informer(RESOURCES.build, BuildSchema, this.baseLog);
    this.informer = inf;
    inf.onEvent((b) => this.queue.add(objectKey(b.metadata)));
    inf.start();
    await inf.waitForSync();
    this.resync = setInterval(() => {
      for (const b of inf.list()) if (!isTerminal(b)) this.queue.add(objectKey(b.metadata));
    }, resyncMs);
  }

  /** Stop watching, kill running builds (recorded as Error/BuildPodDeleted), wait for them. */
  async stop(timeoutMs = 8_000): Promise<void> {
    this.stopping = true;
    if (this.resync) clearInterval(this.resync);
    const syncs = this.queue.stop();
    await this.informer?.stop();
    const dones: Promise<void>[] = [syncs];
    for (const rec of this.running.values()) {
      this.kill(rec, 'shutdown');
      if (rec.done) dones.push(rec.done);
    }
    await Promise.race([Promise.allSettled(dones), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /**
   * Leftovers of an emulator that died without cleaning up (SIGKILL): every per-build directory
   * still present; a buildah process group recorded in it (and still running buildah on that
   * directory) is killed, then the directory is removed. Their Builds are marked Error /
   * BuildPodDeleted by the first sync, as they are Pending/Running with no process of ours.
   */
  private async reapStale(): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(this.opts.storageRoot);
    } catch {
      return;
    }
    for (const e of entries) {
      const dir = join(this.opts.storageRoot, e);
      try {
        const pgid = Number((await readFile(join(dir, 'buildah.pgid'), 'utf8')).trim());
        const cmd = (await readFile(`/proc/${pgid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
        if (pgid > 1 && cmd.includes('buildah') && cmd.includes(dir)) {
          process.kill(-pgid, 'SIGKILL');
          this.log.warn({ dir, pgid }, 'killed a buildah process group left by an earlier emulator');
          await new Promise((r) => setTimeout(r, 200));
        }
      } catch {
        // no pid recorded, or the process is gone
      }
      await removeTree(dir, this.log);
    }
  }

  get activeBuilds(): number {
    return this.running.size;
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = splitKey(key);
    const raw = await this.kube.get<unknown>(RESOURCES.build, namespace, name);
    const rec = this.running.get(key);
    if (raw === undefined) {
      this.waiting.delete(key);
      if (rec) this.kill(rec, 'deleted');
      return;
    }
    const parsed = BuildSchema.safeParse(raw);
    if (!parsed.success) {
      this.log.warn({ build: key, err: parsed.error.message }, 'ignoring a Build that does not parse');
      return;
    }
    const b = parsed.data;
    const uid = b.metadata.uid ?? '';
    if (rec && rec.uid !== uid) this.kill(rec, 'deleted');
    const action = decideBuild(b, rec !== undefined && rec.uid === uid);
    if (action !== 'queue') this.waiting.delete(key);
    switch (action) {
      case 'ignore':
        return;
      case 'kill':
        this.kill(rec!, 'cancel');
        return;
      case 'cancel': {
        const w = await this.kube.updateStatus<Build>(RESOURCES.build, namespace, name, (obj) =>
          obj.metadata.uid !== uid || isTerminal(obj) || this.running.has(key) ? null : cancelledStatus(obj, now()),
        );
        if (w?.written) this.log.info({ build: key, phase: 'Cancelled', reason: 'CancelledBuild' }, 'build cancelled before it ran');
        return;
      }
      case 'orphan': {
        // No process of ours runs it: its "pod" is gone (the emulator restarted).
        const w = await this.kube.updateStatus<Build>(RESOURCES.build, namespace, name, (obj) =>
          obj.metadata.uid !== uid || this.running.has(key) || decideBuild(BuildSchema.parse(obj), false) !== 'orphan'
            ? null
            : failedStatus(obj, 'BuildPodDeleted', now(), undefined, 'Error'),
        );
        if (w?.written) this.log.info({ build: key, phase: 'Error', reason: 'BuildPodDeleted' }, 'build found active with no process: marked Error');
        return;
      }
      case 'queue':
        if (this.stopping) return;
        if (!this.waiting.has(key)) {
          this.waiting.set(key, { key, uid, created: String(b.metadata.creationTimestamp ?? now()) });
          this.log.info({ build: key, waiting: this.waiting.size, running: this.running.size }, 'build queued');
        }
        this.pump();
        return;
    }
  }

  private pump(): void {
    while (!this.stopping && this.running.size < this.opts.maxBuilds && this.waiting.size > 0) {
      const next = [...this.waiting.values()].sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.key < b.key ? -1 : 1))[0]!;
      this.waiting.delete(next.key);
      const [namespace, name] = splitKey(next.key);
      const rec: Running = { key: next.key, uid: next.uid, namespace, name };
      this.running.set(next.key, rec);
      rec.done = this.execute(rec)
        .catch((err: unknown) => this.log.error({ build: rec.key, err: describeApiError(err) }, 'build execution failed unexpectedly'))
        .finally(() => {
          this.running.delete(rec.key);
          this.pump();
          // A Build whose final status write failed is looked at again.
          this.queue.add(rec.key);
        });
    }
  }

  private kill(rec: Running, reason: StopReason): void {
    if (!rec.stop) rec.stop = reason;
    const child = rec.child;
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Write a transition when the Build is still ours and in one of `from`; returns the written Build or undefined. */
  private async transition(rec: Running, from: string[], next: (b: Build) => BuildStatus): Promise<Build | undefined> {
    const res = await this.kube.updateStatus<Build>(RESOURCES.build, rec.namespace, rec.name, (obj) => {
      if (obj.metadata.uid !== rec.uid || !from.includes(phaseOf(obj))) return null;
      return next(obj);
    });
    return res?.written ? res.obj : undefined;
  }

  private async execute(rec: Running): Promise<void> {
    const blog = this.log.child({ build: rec.key });
    const pending = await this.transition(rec, ['New'], (b) => (b.status?.cancelled ? cancelledStatus(b, now()) : pendingStatus(b)));
    if (!pending) return;
    if (phaseOf(pending) === 'Cancelled') {
      blog.info({ phase: 'Cancelled', reason: 'CancelledBuild' }, 'build cancelled before it ran');
      return;
    }
    blog.info({ phase: 'Pending' }, 'build transition');
    if (rec.stop) return this.finishStopped(rec, blog);
    const running = await this.transition(rec, ['Pending'], (b) => runningStatus(b, now()));
    if (!running) return;
    const build = BuildSchema.parse(running);
    blog.info({ phase: 'Running', startTimestamp: build.status?.startTimestamp }, 'build transition');

    const work = join(this.opts.storageRoot, `${rec.namespace}_${rec.name}_${rec.uid.slice(0, 8)}`);
    const logPath = join(this.opts.logDir, rec.namespace, `${rec.name}.log`);
    await mkdir(join(this.opts.logDir, rec.namespace), { recursive: true });
    await rm(work, { recursive: true, force: true });
    await mkdir(join(work, 'context'), { recursive: true });
    const logFile = createWriteStream(logPath, { flags: 'w' });
    const tail = new Tail();
    const note = (line: string): void => {
      logFile.write(`${line}\n`);
      tail.push(`${line}\n`);
    };
    try {
      note(`emulator: build ${rec.key} (uid ${rec.uid}) started ${now()}`);
      const output = resolveOutput(build, this.opts.registry);
      if (output.kind === 'Invalid') {
        note(`error: ${output.message}`);
        return await this.fail(rec, blog, 'InvalidOutputReference', tail.text());
      }
      if (output.kind === 'ImageStreamTag') {
        const stream = await this.kube.get<unknown>(RESOURCES.imageStream, output.namespace, output.stream);
        if (!stream) {
          note(`error: output imagestream ${output.namespace}/${output.stream} does not exist`);
          return await this.fail(rec, blog, 'InvalidOutputReference', tail.text());
        }
      }
      const from = resolveFrom(build, this.opts.getStream);
      if (from.error) {
        note(`error: dockerStrategy.from: ${from.error}`);
        return await this.fail(rec, blog, 'InvalidImageReference', tail.text());
      }
      let dockerfile = build.spec?.source?.dockerfile;
      if (!dockerfile) {
        note('error: spec.source.dockerfile is empty (the emulator only runs inline Dockerfile sources)');
        return await this.fail(rec, blog, 'FetchSourceFailed', tail.text());
      }
      if (from.image) {
        dockerfile = replaceLastFrom(dockerfile, from.image);
        note(`emulator: dockerStrategy.from replaces the last FROM with ${from.image}`);
      }
      const dockerfilePath = join(work, 'context', 'Dockerfile');
      await writeFile(dockerfilePath, dockerfile);
      const localTag = `localhost/emulator/${rec.namespace}-${rec.name}:latest`;
      const global = ['--storage-driver', 'vfs', '--root', join(work, 'root'), '--runroot', join(work, 'runroot')];
      const strategy = build.spec?.strategy?.dockerStrategy;
      const bud = budArgs({
        dockerfile: dockerfilePath,
        contextDir: join(work, 'context'),
        tag: localTag,
        buildArgs: strategy?.buildArgs,
        labels: build.spec?.output?.imageLabels,
        noCache: strategy?.noCache,
      });
      const rc = await this.buildah(rec, work, [...global, ...bud], logFile, tail);
      if (rec.stop) return await this.finishStopped(rec, blog);
      if (rc !== 0) return await this.fail(rec, blog, 'DockerBuildFailed', tail.text());
      let digest: string | undefined;
      if (output.kind !== 'None') {
        const digestFile = join(work, 'digest');
        const prc = await this.buildah(rec, work, [...global, ...pushArgs(localTag, output.pushRef, digestFile)], logFile, tail);
        if (rec.stop) return await this.finishStopped(rec, blog);
        if (prc !== 0) return await this.fail(rec, blog, 'PushImageToRegistryFailed', tail.text());
        digest = (await readFile(digestFile, 'utf8')).trim();
        note(`emulator: pushed ${output.pushRef}@${digest}`);
        if (rec.stop) return await this.finishStopped(rec, blog);
        if (output.kind === 'ImageStreamTag') {
          const w = await this.kube.updateStatus<ImageStream>(RESOURCES.imageStream, output.namespace, output.stream, (obj) =>
            withPushedImage(ImageStreamSchema.parse(obj), output.tag, digest!, this.opts.registry, now()),
          );
          if (!w) note(`warning: output imagestream ${output.namespace}/${output.stream} disappeared; tag not recorded`);
          else blog.info({ stream: `${output.namespace}/${output.stream}`, tag: output.tag, image: digest }, 'pushed image recorded on the stream');
        }
      }
      const done = await this.transition(rec, ['Running'], (b) =>
        completeStatus(b, { digest, reference: output.kind === 'None' ? undefined : output.reported }, now()),
      );
      if (done) blog.info({ phase: 'Complete', image: digest, duration: done.status?.duration }, 'build transition');
    } finally {
      await new Promise<void>((r) => logFile.end(() => r()));
      await removeTree(work, blog);
    }
  }

  private async fail(rec: Running, blog: Logger, reason: FailReason, snippet: string): Promise<void> {
    const b = await this.transition(rec, ['Running', 'Pending'], (obj) => failedStatus(obj, reason, now(), lastLines(snippet, 20)));
    if (b) blog.info({ phase: 'Failed', reason }, 'build transition');
  }

  private async finishStopped(rec: Running, blog: Logger): Promise<void> {
    if (rec.stop === 'cancel') {
      const b = await this.transition(rec, ['New', 'Pending', 'Running'], (obj) => cancelledStatus(obj, now()));
      if (b) blog.info({ phase: 'Cancelled', reason: 'CancelledBuild' }, 'build transition');
    } else if (rec.stop === 'shutdown') {
      const b = await this.transition(rec, ['Pending', 'Running'], (obj) => failedStatus(obj, 'BuildPodDeleted', now(), undefined, 'Error'));
      if (b) blog.info({ phase: 'Error', reason: 'BuildPodDeleted' }, 'build stopped by emulator shutdown');
    }
  }

  private buildah(rec: Running, workDir: string, args: string[], logFile: WriteStream, tail: Tail): Promise<number> {
    return new Promise((resolve) => {
      if (rec.stop) return resolve(-1);
      logFile.write(`$ buildah ${args.join(' ')}\n`);
      let child: ChildProcess;
      try {
        child = spawn(this.opts.buildah ?? 'buildah', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        const msg = `error: cannot run buildah: ${describeApiError(err)}\n`;
        logFile.write(msg);
        tail.push(msg);
        return resolve(127);
      }
      rec.child = child;
      if (child.pid) void writeFile(join(workDir, 'buildah.pgid'), String(child.pid)).catch(() => undefined);
      const sink = (chunk: Buffer): void => {
        logFile.write(chunk);
        tail.push(chunk.toString('utf8'));
      };
      child.stdout?.on('data', sink);
      child.stderr?.on('data', sink);
      child.on('error', (err) => {
        const msg = `error: cannot run buildah: ${err.message}\n`;
        logFile.write(msg);
        tail.push(msg);
      });
      child.on('close', (code, signal) => {
        rec.child = undefined;
        if (signal) {
          logFile.write(`buildah ended by ${signal}\n`);
          tail.push(`buildah ended by ${signal}\n`);
        }
        resolve(code ?? 128);
      });
    });
  }
}

/** The last ~64 KiB of a build's output, for the log snippet. */
class Tail {
  private buf = '';
  push(s: string): void {
    this.buf += s;
    if (this.buf.length > 65_536) this.buf = this.buf.slice(-65_536);
  }
  text(): string {
    return this.buf;
  }
}

/**
 * Removes a per-build storage directory. Mounts left under it (there should be none: chroot
 * isolation mounts in its own mount namespace) are unmounted first; if one stays, the
 * directory is kept rather than recursing into a mounted filesystem.
 */
export async function removeTree(dir: string, log: Logger): Promise<void> {
  const mountsUnder = async (): Promise<string[]> => {
    try {
      const info = await readFile('/proc/self/mountinfo', 'utf8');
      return info
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((m) => m === dir || m.startsWith(`${dir}/`))
        .sort((a, b) => b.length - a.length);
    } catch {
      return [];
    }
  };
  for (const m of await mountsUnder()) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // checked below
    }
  }
  const left = await mountsUnder();
  if (left.length > 0) {
    log.error({ dir, mounts: left }, 'build storage still has mounts; not removing it');
    return;
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
