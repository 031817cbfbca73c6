import { describe, expect, it } from 'vitest';
import type { Build, ImageStream } from '../../src/kube/types.ts';
import {
  budArgs,
  cancelledStatus,
  completeStatus,
  decideBuild,
  durationNs,
  failedStatus,
  lastLines,
  replaceLastFrom,
  resolveFrom,
  resolveOutput,
  runningStatus,
} from '../../hack/emulator/builds.ts';
import { parseImageReference } from '../../hack/emulator/reference.ts';

const REG = '127.0.0.1:5000';
const D1 = `sha256:${'a'.repeat(64)}`;

function build(spec: Build['spec'], status?: Build['status']): Build {
  const b: Build = { metadata: { name: 'b', namespace: 'ns', uid: 'u1' }, spec };
  if (status) b.status = status;
  return b;
}

describe('emulator builds (pure)', () => {
  it('resolves an ImageStreamTag output to the local registry', () => {
    expect(resolveOutput(build({ output: { to: { kind: 'ImageStreamTag', name: 'out:v1' } } }), REG)).toEqual({
      kind: 'ImageStreamTag',
      namespace: 'ns',
      stream: 'out',
      tag: 'v1',
      pushRef: `${REG}/ns/out:v1`,
      reported: `${REG}/ns/out:v1`,
    });
    expect(resolveOutput(build({ output: { to: { kind: 'ImageStreamTag', name: 'out:v1', namespace: 'x' } } }), REG)).toMatchObject({ pushRef: `${REG}/x/out:v1` });
    expect(resolveOutput(build({}), REG)).toEqual({ kind: 'None' });
  });

  it('refuses a malformed output', () => {
    expect(resolveOutput(build({ output: { to: { kind: 'ImageStreamTag', name: 'no-tag' } } }), REG).kind).toBe('Invalid');
    expect(resolveOutput(build({ output: { to: { kind: 'ImageStreamTag', name: 'Bad Name:x' } } }), REG).kind).toBe('Invalid');
    expect(resolveOutput(build({ output: { to: { kind: 'Pod', name: 'x' } } }), REG).kind).toBe('Invalid');
    expect(resolveOutput(build({ output: { to: { kind: 'DockerImage', name: `${REG}/a/b@${D1}` } } }), REG).kind).toBe('Invalid');
  });

  it('resolves dockerStrategy.from of each kind', () => {
    const streams: ImageStream[] = [
      { metadata: { name: 'base', namespace: 'ns' }, status: { tags: [{ tag: 'latest', items: [{ dockerImageReference: `${REG}/x/base@${D1}`, image: D1 }] }] } },
    ];
    const get = (ns: string, name: string) => streams.find((s) => s.metadata.namespace === ns && s.metadata.name === name);
    const withFrom = (kind: string, name: string) => build({ strategy: { dockerStrategy: { from: { kind, name } } } });
    expect(resolveFrom(build({}), get)).toEqual({});
    expect(resolveFrom(withFrom('DockerImage', `${REG}/a/b@${D1}`), get)).toEqual({ image: `${REG}/a/b@${D1}` });
    expect(resolveFrom(withFrom('ImageStreamTag', 'base:latest'), get)).toEqual({ image: `${REG}/x/base@${D1}` });
    expect(resolveFrom(withFrom('ImageStreamImage', `base@${D1}`), get)).toEqual({ image: `${REG}/x/base@${D1}` });
    expect(resolveFrom(withFrom('ImageStreamTag', 'base:nope'), get).error).toMatch(/no image/);
    expect(resolveFrom(withFrom('DockerImage', 'bad ref'), get).error).toBeDefined();
  });

  it('replaces the last FROM, keeping flags and the stage name', () => {
    const df = ['FROM a.io/x@' + D1 + ' AS machineconfig', 'RUN true', 'FROM --platform=linux/amd64 a.io/base:1 AS final', 'COPY --from=machineconfig /a /a'].join('\n');
    expect(replaceLastFrom(df, 'r/new@' + D1).split('\n')).toEqual([
      'FROM a.io/x@' + D1 + ' AS machineconfig',
      'RUN true',
      'FROM --platform=linux/amd64 r/new@' + D1 + ' AS final',
      'COPY --from=machineconfig /a /a',
    ]);
    expect(replaceLastFrom('from busybox\nRUN x', 'r/y:1')).toBe('from r/y:1\nRUN x');
    expect(replaceLastFrom('RUN x', 'r/y:1')).toBe('FROM r/y:1\nRUN x');
  });

  it('builds the buildah arguments', () => {
    expect(
      budArgs({
        dockerfile: '/w/Dockerfile',
        contextDir: '/w',
        tag: 'localhost/t:latest',
        buildArgs: [{ name: 'A', value: '1' }, { name: 'B' }],
        labels: [{ name: 'machineconfig', value: 'rendered-x' }],
        noCache: true,
      }),
    ).toEqual([
      'bud', '--isolation', 'chroot', '--tls-verify=false', '--layers=false', '-f', '/w/Dockerfile', '-t', 'localhost/t:latest',
      '--build-arg', 'A=1', '--build-arg', 'B=', '--label', 'machineconfig=rendered-x', '--no-cache', '/w',
    ]);
  });

  it('status transitions carry timestamps, duration in nanoseconds and keep operator fields', () => {
    const start = '2030-01-01T00:00:00.000Z';
    const end = '2030-01-01T00:00:02.500Z';
    const b = build({}, { phase: 'Pending', cancelled: false, config: { kind: 'BuildConfig', name: 'bc' } });
    const running = runningStatus(b, start);
    expect(running).toMatchObject({ phase: 'Running', startTimestamp: start, config: { kind: 'BuildConfig', name: 'bc' } });
    const done = completeStatus(build({}, running), { digest: D1, reference: `${REG}/ns/out:v1` }, end);
    expect(done).toMatchObject({
      phase: 'Complete',
      completionTimestamp: end,
      duration: 2_500_000_000,
      output: { to: { imageDigest: D1 } },
      outputDockerImageReference: `${REG}/ns/out:v1`,
    });
    expect(failedStatus(build({}, running), 'DockerBuildFailed', end, 'boom')).toMatchObject({
      phase: 'Failed',
      reason: 'DockerBuildFailed',
      message: 'Docker build strategy has failed.',
      logSnippet: 'boom',
      duration: 2_500_000_000,
    });
    expect(failedStatus(build({}, running), 'BuildPodDeleted', end, undefined, 'Error')).toMatchObject({ phase: 'Error', reason: 'BuildPodDeleted' });
    const cancelledNew = cancelledStatus(build({}, { cancelled: true }), end);
    expect(cancelledNew).toEqual({ cancelled: true, phase: 'Cancelled', reason: 'CancelledBuild', message: 'The build was cancelled by the user.', completionTimestamp: end });
    expect(durationNs(undefined, end)).toBeUndefined();
  });

  it('decides what to do with a Build it sees', () => {
    const at = (status?: Build['status']) => build({}, status);
    expect(decideBuild(at(), false)).toBe('queue');
    expect(decideBuild(at({ phase: 'New' }), false)).toBe('queue');
    expect(decideBuild(at({ phase: 'New' }), true)).toBe('ignore');
    expect(decideBuild(at({ phase: 'New', cancelled: true }), false)).toBe('cancel');
    expect(decideBuild(at({ phase: 'Running', cancelled: true }), true)).toBe('kill');
    expect(decideBuild(at({ phase: 'Running', cancelled: true }), false)).toBe('cancel');
    expect(decideBuild(at({ phase: 'Running' }), true)).toBe('ignore');
    // The emulator restarted: an active Build with no process here is an orphan.
    expect(decideBuild(at({ phase: 'Pending' }), false)).toBe('orphan');
    expect(decideBuild(at({ phase: 'Running' }), false)).toBe('orphan');
    // Terminal Builds are left alone, cancelled or not.
    for (const phase of ['Complete', 'Failed', 'Error', 'Cancelled'] as const) {
      expect(decideBuild(at({ phase, cancelled: true }), false)).toBe('ignore');
      expect(decideBuild(at({ phase }), true)).toBe('ignore');
    }
  });

  it('keeps the last lines of a log', () => {
    const log = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n\n';
    const snip = lastLines(log, 20).split('\n');
    expect(snip).toHaveLength(20);
    expect(snip[0]).toBe('line 10');
    expect(snip[19]).toBe('line 29');
  });
});

describe('emulator image references (pure)', () => {
  it('parses references', () => {
    expect(parseImageReference('127.0.0.1:5000/a/b:v1')).toEqual({ registry: '127.0.0.1:5000', repository: 'a/b', tag: 'v1' });
    expect(parseImageReference(`localhost/a@${D1}`)).toEqual({ registry: 'localhost', repository: 'a', digest: D1 });
    expect(parseImageReference('busybox')).toEqual({ registry: 'docker.io', repository: 'library/busybox', tag: 'latest' });
    expect(parseImageReference('quay.io/org/img:1.2@' + D1)).toEqual({ registry: 'quay.io', repository: 'org/img', tag: '1.2', digest: D1 });
  });
  it('refuses malformed references', () => {
    for (const bad of ['', 'a b', 'a\nRUN x', 'UPPER/x', 'r.io/x@sha256:zz', 'r.io/x:bad tag', ' r.io/x']) {
      expect(parseImageReference(bad)).toHaveProperty('error');
    }
  });
});
