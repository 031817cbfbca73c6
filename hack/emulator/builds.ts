// Pure parts of build execution: output resolution, the Dockerfile rewrite OpenShift's docker
// strategy does for `dockerStrategy.from`, buildah arguments, and the Build status transitions.
import type { Build, ImageStream } from '../../src/kube/types.ts';
import { isImageRef, parseImageReference } from './reference.ts';
import { splitIsiName, splitIstName, statusTag } from './imports.ts';

export type BuildStatus = NonNullable<Build['status']>;

export const TERMINAL_PHASES = new Set(['Complete', 'Failed', 'Error', 'Cancelled']);

/** OpenShift's fixed reasons and messages (openshift/api build/v1). */
export const REASONS = {
  DockerBuildFailed: 'Docker build strategy has failed.',
  PushImageToRegistryFailed: 'Failed to push the image to the registry.',
  InvalidOutputReference: 'Output image could not be resolved.',
  InvalidImageReference: 'Referenced image could not be resolved.',
  FetchSourceFailed: 'Failed to fetch the input source.',
  CancelledBuild: 'The build was cancelled by the user.',
  BuildPodDeleted: 'The pod for this build was deleted before the build completed.',
  GenericBuildFailed: 'Generic Build failure - check logs for details.',
} as const;
export type FailReason = keyof typeof REASONS;

export function phaseOf(b: Build): string {
  return b.status?.phase ?? 'New';
}

export function isTerminal(b: Build): boolean {
  return TERMINAL_PHASES.has(phaseOf(b));
}

export type OutputTarget =
  | { kind: 'ImageStreamTag'; namespace: string; stream: string; tag: string; pushRef: string; reported: string }
  | { kind: 'DockerImage'; pushRef: string; reported: string }
  | { kind: 'None' }
  | { kind: 'Invalid'; message: string };

const DNS_LABELISH = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** Where a Build pushes. ImageStreamTag `<stream>:<tag>` goes to `<registry>/<ns>/<stream>:<tag>`. */
export function resolveOutput(b: Build, registry: string): OutputTarget {
  const to = b.spec?.output?.to;
  if (!to) return { kind: 'None' };
  if (to.kind === 'ImageStreamTag') {
    const namespace = to.namespace || b.metadata.namespace || '';
    if (!to.name.includes(':')) return { kind: 'Invalid', message: `output ImageStreamTag ${JSON.stringify(to.name)} is not <stream>:<tag>` };
    const { stream, tag } = splitIstName(to.name);
    if (!DNS_LABELISH.test(stream) || !TAG.test(tag)) return { kind: 'Invalid', message: `output ImageStreamTag ${JSON.stringify(to.name)} is not a valid <stream>:<tag>` };
    const pushRef = `${registry}/${namespace}/${stream}:${tag}`;
    return { kind: 'ImageStreamTag', namespace, stream, tag, pushRef, reported: pushRef };
  }
  if (to.kind === 'DockerImage') {
    const ref = parseImageReference(to.name);
    if (!isImageRef(ref) || ref.digest) return { kind: 'Invalid', message: `output DockerImage ${JSON.stringify(to.name)} is not a valid tagged image reference` };
    return { kind: 'DockerImage', pushRef: to.name, reported: to.name };
  }
  return { kind: 'Invalid', message: `unsupported output kind ${JSON.stringify(to.kind)}` };
}

/** The image `dockerStrategy.from` names, resolved through the streams for ImageStreamTag/ImageStreamImage. */
export function resolveFrom(
  b: Build,
  getStream: (ns: string, name: string) => ImageStream | undefined,
): { image?: string; error?: string } {
  const from = b.spec?.strategy?.dockerStrategy?.from;
  if (!from) return {};
  const ns = from.namespace || b.metadata.namespace || '';
  if (from.kind === 'DockerImage') {
    const ref = parseImageReference(from.name);
    return isImageRef(ref) ? { image: from.name } : { error: ref.error };
  }
  if (from.kind === 'ImageStreamTag') {
    const { stream, tag } = splitIstName(from.name);
    const cur = (statusTag(getStream(ns, stream)?.status, tag)?.items ?? [])[0];
    return cur ? { image: cur.dockerImageReference } : { error: `imagestreamtag ${ns}/${from.name} has no image` };
  }
  if (from.kind === 'ImageStreamImage') {
    const { stream, digest } = splitIsiName(from.name);
    for (const t of getStream(ns, stream)?.status?.tags ?? []) {
      const it = (t.items ?? []).find((i) => i.image === digest);
      if (it) return { image: it.dockerImageReference };
    }
    return { error: `imagestreamimage ${ns}/${from.name} not found` };
  }
  return { error: `unsupported from kind ${JSON.stringify(from.kind)}` };
}

/**
 * Replaces the image of the last FROM instruction (keeping its flags and `AS name`), which is
 * what OpenShift's docker strategy does with `dockerStrategy.from` (buildah's own `--from`
 * would replace the first one, the wrong stage in a multi-stage Dockerfile).
 */
export function replaceLastFrom(dockerfile: string, image: string): string {
  const lines = dockerfile.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^(\s*FROM\s+)(.*)$/i.exec(lines[i]!);
    if (!m) continue;
    // Skip a FROM that is the continuation of a previous line.
    if (i > 0 && /\\\s*$/.test(lines[i - 1]!)) continue;
    const words = m[2]!.trim().split(/\s+/);
    const imgIdx = words.findIndex((w) => !w.startsWith('--'));
    if (imgIdx < 0) continue;
    words[imgIdx] = image;
    lines[i] = m[1]! + words.join(' ');
    return lines.join('\n');
  }
  return `FROM ${image}\n${dockerfile}`;
}

export interface BudOptions {
  dockerfile: string;
  contextDir: string;
  tag: string;
  buildArgs?: Array<{ name: string; value?: string | undefined }> | undefined;
  labels?: Array<{ name: string; value?: string | undefined }> | undefined;
  noCache?: boolean | undefined;
}

/** Arguments after the global storage flags: `bud ...`. */
export function budArgs(o: BudOptions): string[] {
  const args = ['bud', '--isolation', 'chroot', '--tls-verify=false', '--layers=false', '-f', o.dockerfile, '-t', o.tag];
  for (const a of o.buildArgs ?? []) args.push('--build-arg', `${a.name}=${a.value ?? ''}`);
  for (const l of o.labels ?? []) args.push('--label', `${l.name}=${l.value ?? ''}`);
  if (o.noCache) args.push('--no-cache');
  args.push(o.contextDir);
  return args;
}

export function pushArgs(localTag: string, pushRef: string, digestFile: string): string[] {
  return ['push', '--tls-verify=false', '--digestfile', digestFile, localTag, `docker://${pushRef}`];
}

/** The last `n` non-empty lines of a log. */
export function lastLines(text: string, n = 20): string {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  return lines.slice(-n).join('\n');
}

export function durationNs(start: string | Date | undefined, end: string): number | undefined {
  if (!start) return undefined;
  const s = new Date(start).getTime();
  const e = new Date(end).getTime();
  if (!Number.isFinite(s) || !Number.isFinite(e)) return undefined;
  return Math.max(0, e - s) * 1_000_000;
}

function base(b: Build): BuildStatus {
  return b.status ? (JSON.parse(JSON.stringify(b.status)) as BuildStatus) : {};
}

export function pendingStatus(b: Build): BuildStatus {
  const s = base(b);
  s.phase = 'Pending';
  return s;
}

export function runningStatus(b: Build, now: string): BuildStatus {
  const s = base(b);
  s.phase = 'Running';
  if (!s.startTimestamp) s.startTimestamp = now;
  return s;
}

function finish(s: BuildStatus, now: string): BuildStatus {
  s.completionTimestamp = now;
  const d = durationNs(s.startTimestamp, now);
  if (d !== undefined) s.duration = d;
  return s;
}

export function completeStatus(b: Build, out: { digest?: string | undefined; reference?: string | undefined }, now: string): BuildStatus {
  const s = base(b);
  s.phase = 'Complete';
  delete s.reason;
  delete s.message;
  if (out.reference) s.outputDockerImageReference = out.reference;
  if (out.digest) s.output = { ...(s.output ?? {}), to: { imageDigest: out.digest } };
  return finish(s, now);
}

export function failedStatus(b: Build, reason: FailReason, now: string, logSnippet?: string, phase: 'Failed' | 'Error' = 'Failed'): BuildStatus {
  const s = base(b);
  s.phase = phase;
  s.reason = reason;
  s.message = REASONS[reason];
  if (logSnippet) s.logSnippet = logSnippet;
  return finish(s, now);
}

export function cancelledStatus(b: Build, now: string): BuildStatus {
  const s = base(b);
  s.phase = 'Cancelled';
  s.reason = 'CancelledBuild';
  s.message = REASONS.CancelledBuild;
  return finish(s, now);
}

export type BuildAction =
  /** terminal, or already running here, or nothing to do */
  | 'ignore'
  /** cancelled while this emulator runs it: kill the process; the run records Cancelled */
  | 'kill'
  /** cancelled before it ran: record Cancelled now */
  | 'cancel'
  /** Pending/Running with no process here (the emulator restarted): record Error/BuildPodDeleted */
  | 'orphan'
  /** New: queue it */
  | 'queue';

/** What the emulator does with a Build it sees, given whether one of its processes runs it. */
export function decideBuild(b: Build, runningHere: boolean): BuildAction {
  if (isTerminal(b)) return 'ignore';
  if (b.status?.cancelled) return runningHere ? 'kill' : 'cancel';
  if (runningHere) return 'ignore';
  const phase = phaseOf(b);
  if (phase === 'Pending' || phase === 'Running') return 'orphan';
  return phase === 'New' ? 'queue' : 'ignore';
}
