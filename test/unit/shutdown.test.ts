// The real CLI process (`node src/cli.ts run`) stops on SIGTERM within
// --shutdown-timeout-ms even when its stdout/stderr pipes are closed (EPIPE on
// every log line) and the API server is unreachable: a closed port
// (ECONNREFUSED), or a server that accepts connections and never answers.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'lbc-shutdown-'));
const servers: net.Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

function kubeconfig(port: number): string {
  const file = join(dir, `kc-${port}.yaml`);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return file;
}

async function listen(onConnection: (s: net.Socket) => void): Promise<net.Server> {
  const srv = net.createServer(onConnection);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return srv;
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const SHUTDOWN_MS = 3000;

async function stopsOnSigterm(port: number, leaderElect: boolean): Promise<{ ms: number; code: number | null; signal: string | null; sawOutput: boolean }> {
  const child = spawn(
    process.execPath,
    [CLI, 'run', '--kubeconfig', kubeconfig(port), '--leader-elect', String(leaderElect), '--metrics-addr', '127.0.0.1:0', '--probe-addr', '127.0.0.1:0', '--shutdown-timeout-ms', String(SHUTDOWN_MS), '--log-level', 'debug'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  let sawOutput = false;
  // Running: it logged "serving metrics and probes" (so it is past start-up, trying the API server).
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the operator did not start within 15 s')), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('serving metrics and probes')) {
        sawOutput = true;
        clearTimeout(t);
        resolve();
      }
    });
  });
  // The parent "crashes": both pipes close; every later write of the operator gets EPIPE.
  child.stdout.destroy();
  child.stderr.destroy();
  await new Promise((r) => setTimeout(r, 1500));
  const start = Date.now();
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const r = await exited;
  clearTimeout(killer);
  return { ms: Date.now() - start, ...r, sawOutput };
}

describe('shutdown (the real CLI process)', () => {
  it('ends within the drain timeout with its stdout/stderr closed and the API server refusing connections', async () => {
    const r = await stopsOnSigterm(await closedPort(), true);
    expect(r.sawOutput).toBe(true);
    expect(r.signal).toBeNull(); // it exited by itself, not by the SIGKILL fallback
    expect(r.ms).toBeLessThan(SHUTDOWN_MS + 2000);
  }, 40_000);

  it('ends within the drain timeout with its stdout/stderr closed and an API server that never answers', async () => {
    const hung: net.Socket[] = [];
    const srv = await listen((s) => {
      s.on('error', () => undefined);
      hung.push(s); // accepted, never answered
    });
    const r = await stopsOnSigterm((srv.address() as net.AddressInfo).port, true);
    hung.forEach((s) => s.destroy());
    expect(r.sawOutput).toBe(true);
    expect(r.signal).toBeNull();
    expect(r.ms).toBeLessThan(SHUTDOWN_MS + 2000);
  }, 40_000);
});
