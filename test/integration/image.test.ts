// The container image: hack/build-image.sh makes a Node 24 base from scratch
// (nothing can be pulled here), builds the Dockerfile with buildah, and runs
// the image's ENTRYPOINT with --help under `buildah run`. The build time is
// measured and printed, never asserted.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnv } from '../harness/cluster.ts';
import { ROOT } from '../harness/operator.ts';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('container image', () => {
  it('builds with buildah from a local base, and its entrypoint runs --help as a non-root user', { timeout: 900_000 }, async () => {
    const started = Date.now();
    const r = await run('bash', [path.join(ROOT, 'hack', 'build-image.sh')], childEnv({ IMAGE: 'localhost/layered-build-controller:dev' }));
    const seconds = (Date.now() - started) / 1000;
    console.log(`[image] hack/build-image.sh took ${seconds.toFixed(1)} s`);
    expect(r.code, r.out.slice(-4000)).toBe(0);
    // The multi-stage build ran: production dependencies only in the final stage.
    expect(r.out).toMatch(/STEP \d+\/\d+: RUN npm ci --omit=dev/);
    expect(r.out).toMatch(/STEP \d+\/\d+: RUN npm run build/);
    // The image's own entrypoint printed the CLI's help.
    expect(r.out).toContain('entrypoint: node --max-semi-space-size=4 /app/bin/layered-build-controller.js');
    expect(r.out).toContain('Usage: layered-build-controller [options] [command]');
    for (const cmd of ['run [options]', 'render [options]', 'status [options]']) expect(r.out).toContain(cmd);
    expect(r.out).toContain('image user: 65532:65532');
  });
});
