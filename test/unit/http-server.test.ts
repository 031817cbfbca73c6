import { afterEach, describe, expect, it } from 'vitest';
import { parseAddress, readiness, startHttpServers, type HttpServers } from '../../src/server/http.ts';
import { createMetrics } from '../../src/server/metrics.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A small parser of the Prometheus text exposition format (enough to check names, labels, values). */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const lm of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
    }
    const raw = m[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    // Prometheus parses floats like Go's ParseFloat: NaN in any case (prom-client writes "Nan").
    if (Number.isNaN(value) && raw.toLowerCase() !== 'nan') throw new Error(`bad value in: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

let servers: HttpServers | undefined;
afterEach(async () => {
  await servers?.close();
  servers = undefined;
});

describe('parseAddress', () => {
  it('parses host:port forms', () => {
    expect(parseAddress('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseAddress(':9090')).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(parseAddress('[::1]:8081')).toEqual({ host: '::1', port: 8081 });
    expect(parseAddress('localhost:1')).toEqual({ host: 'localhost', port: 1 });
  });
  it('refuses bad addresses with the value in the message', () => {
    for (const bad of ['8080', 'host:', 'host:70000', 'a:b', '::1:80', '']) {
      expect(() => parseAddress(bad)).toThrow(/invalid listen address/);
    }
  });
});

describe('HTTP server: /metrics', () => {
  it('serves the operator metrics in the Prometheus text format', async () => {
    const metrics = createMetrics();
    servers = await startHttpServers({ metrics, metricsAddress: '127.0.0.1:0', probeAddress: '127.0.0.1:0' });

    metrics.reconcile('success', 0.2);
    metrics.reconcile('success', 0.3);
    metrics.reconcile('error', 1.5);
    metrics.workqueue.add();
    metrics.workqueue.add();
    metrics.workqueue.depth(3);
    metrics.workqueue.wait(0.05);
    metrics.workqueue.workDuration(2);
    metrics.workqueue.retry?.();
    metrics.build('worker', 'content', 'started');
    metrics.build('worker', 'content', 'succeeded');
    metrics.build('infra', 'custom', 'failed');
    metrics.build('infra', 'custom', 'cancelled');
    metrics.buildDuration('worker', 'content', 95);
    metrics.renderedConfigPush('worker', 'pushed', 2048);
    metrics.renderedConfigPush('worker', 'skipped');
    metrics.renderedConfigPush('infra', 'failed');
    metrics.informerRestart('builds');
    metrics.informerRestart('builds');
    metrics.pruned('ImageStreamTag', 'removed');
    metrics.pruned('ImageStreamTag', 'removed');
    metrics.pruned('Build', 'failed');
    metrics.setLeader(true);
    metrics.setCacheSynced(true);

    const res = await fetch(`${servers.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples, types } = parseExposition(await res.text());

    expect(types.get('lbc_reconcile_total')).toBe('counter');
    expect(find(samples, 'lbc_reconcile_total', { result: 'success' })?.value).toBe(2);
    expect(find(samples, 'lbc_reconcile_total', { result: 'error' })?.value).toBe(1);
    expect(types.get('lbc_reconcile_duration_seconds')).toBe('histogram');
    expect(find(samples, 'lbc_reconcile_duration_seconds_count')?.value).toBe(3);
    expect(find(samples, 'lbc_reconcile_duration_seconds_sum')?.value).toBeCloseTo(2.0);
    expect(find(samples, 'lbc_reconcile_duration_seconds_bucket', { le: '0.25' })?.value).toBe(1);
    expect(find(samples, 'lbc_reconcile_duration_seconds_bucket', { le: '+Inf' })?.value).toBe(3);

    expect(find(samples, 'lbc_workqueue_depth')?.value).toBe(3);
    expect(find(samples, 'lbc_workqueue_adds_total')?.value).toBe(2);
    expect(find(samples, 'lbc_workqueue_retries_total')?.value).toBe(1);
    expect(find(samples, 'lbc_workqueue_wait_seconds_count')?.value).toBe(1);
    expect(find(samples, 'lbc_workqueue_wait_seconds_sum')?.value).toBeCloseTo(0.05);
    expect(find(samples, 'lbc_workqueue_work_duration_seconds_sum')?.value).toBe(2);

    expect(find(samples, 'lbc_builds_total', { pool: 'worker', kind: 'content', event: 'started' })?.value).toBe(1);
    expect(find(samples, 'lbc_builds_total', { pool: 'worker', kind: 'content', event: 'succeeded' })?.value).toBe(1);
    expect(find(samples, 'lbc_builds_total', { pool: 'infra', kind: 'custom', event: 'failed' })?.value).toBe(1);
    expect(find(samples, 'lbc_builds_total', { pool: 'infra', kind: 'custom', event: 'cancelled' })?.value).toBe(1);
    expect(find(samples, 'lbc_build_duration_seconds_count', { pool: 'worker', kind: 'content' })?.value).toBe(1);
    expect(find(samples, 'lbc_build_duration_seconds_sum', { pool: 'worker', kind: 'content' })?.value).toBe(95);

    expect(find(samples, 'lbc_rendered_config_pushes_total', { pool: 'worker', result: 'pushed' })?.value).toBe(1);
    expect(find(samples, 'lbc_rendered_config_pushes_total', { pool: 'worker', result: 'skipped' })?.value).toBe(1);
    expect(find(samples, 'lbc_rendered_config_pushes_total', { pool: 'infra', result: 'failed' })?.value).toBe(1);
    expect(find(samples, 'lbc_rendered_config_push_bytes_total', { pool: 'worker' })?.value).toBe(2048);

    expect(find(samples, 'lbc_informer_restarts_total', { resource: 'builds' })?.value).toBe(2);
    // Retention: every kind's series exists from the start (at 0), so increase() sees the first removal or failure.
    expect(find(samples, 'lbc_pruned_total', { kind: 'ImageStreamTag' })?.value).toBe(2);
    expect(find(samples, 'lbc_pruned_total', { kind: 'Build' })?.value).toBe(0);
    expect(find(samples, 'lbc_pruned_total', { kind: 'Manifest' })?.value).toBe(0);
    expect(find(samples, 'lbc_prune_failures_total', { kind: 'Build' })?.value).toBe(1);
    expect(find(samples, 'lbc_prune_failures_total', { kind: 'ImageStreamTag' })?.value).toBe(0);
    expect(find(samples, 'lbc_leader')?.value).toBe(1);
    expect(find(samples, 'lbc_cache_synced')?.value).toBe(1);

    // Node's process metrics are there too.
    expect(find(samples, 'process_cpu_user_seconds_total')).toBeDefined();
    expect(find(samples, 'nodejs_heap_size_total_bytes')).toBeDefined();

    metrics.setLeader(false);
    const again = parseExposition(await (await fetch(`${servers.metricsUrl}/metrics`)).text());
    expect(find(again.samples, 'lbc_leader')?.value).toBe(0);
  });

  it('starts leader and synced gauges at 0, and uses its own registry', async () => {
    const a = createMetrics({ processMetrics: false });
    const b = createMetrics({ processMetrics: false });
    a.setLeader(true);
    const { samples } = parseExposition(await b.text());
    expect(find(samples, 'lbc_leader')?.value).toBe(0);
    expect(find(samples, 'lbc_cache_synced')?.value).toBe(0);
    expect(find(samples, 'process_cpu_user_seconds_total')).toBeUndefined();
  });

  it('does not serve probes on the metrics port (two addresses) and 404s unknown paths', async () => {
    servers = await startHttpServers({ metrics: createMetrics({ processMetrics: false }), metricsAddress: '127.0.0.1:0', probeAddress: '127.0.0.1:0' });
    expect(servers.metricsUrl).not.toBe(servers.probeUrl);
    expect((await fetch(`${servers.metricsUrl}/healthz`)).status).toBe(404);
    expect((await fetch(`${servers.probeUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`${servers.probeUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${servers.probeUrl}/healthz`, { method: 'POST' })).status).toBe(405);
  });
});

describe('HTTP server: probes', () => {
  it('/healthz is 200 while alive; /readyz follows the ready() callback with the reason on 503', async () => {
    let state: { ok: boolean; reason?: string } = { ok: false, reason: 'informer caches have not synced yet' };
    servers = await startHttpServers({
      metrics: createMetrics({ processMetrics: false }),
      metricsAddress: '127.0.0.1:0',
      probeAddress: '127.0.0.1:0',
      ready: () => state,
    });
    const health = await fetch(`${servers.probeUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');

    const notReady = await fetch(`${servers.probeUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toContain('informer caches have not synced yet');

    state = { ok: true };
    const ready = await fetch(`${servers.probeUrl}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('a throwing or async probe is handled; a healthy() callback drives /healthz', async () => {
    let alive = true;
    servers = await startHttpServers({
      metrics: createMetrics({ processMetrics: false }),
      metricsAddress: '127.0.0.1:0',
      probeAddress: '127.0.0.1:0',
      ready: () => {
        throw new Error('cache exploded');
      },
      healthy: async () => alive,
    });
    const r = await fetch(`${servers.probeUrl}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.text()).toContain('cache exploded');
    expect((await fetch(`${servers.probeUrl}/healthz`)).status).toBe(200);
    alive = false;
    expect((await fetch(`${servers.probeUrl}/healthz`)).status).toBe(503);
  });

  it('serves everything on one server when both addresses are the same', async () => {
    const probe = await startHttpServers({ metrics: createMetrics({ processMetrics: false }), metricsAddress: '127.0.0.1:0', probeAddress: '127.0.0.1:0' });
    const port = Number(new URL(probe.metricsUrl).port);
    await probe.close(); // free a known port, then reuse it for a single server
    servers = await startHttpServers({
      metrics: createMetrics({ processMetrics: false }),
      metricsAddress: `127.0.0.1:${port}`,
      probeAddress: `127.0.0.1:${port}`,
    });
    expect(servers.metricsUrl).toBe(servers.probeUrl);
    expect((await fetch(`${servers.metricsUrl}/metrics`)).status).toBe(200);
    expect((await fetch(`${servers.metricsUrl}/readyz`)).status).toBe(200);
  });

  it('close() stops listening', async () => {
    const s = await startHttpServers({ metrics: createMetrics({ processMetrics: false }), metricsAddress: '127.0.0.1:0', probeAddress: '127.0.0.1:0' });
    await s.close();
    await expect(fetch(`${s.probeUrl}/healthz`)).rejects.toThrow();
  });

  it('fails clearly when the address is taken', async () => {
    servers = await startHttpServers({ metrics: createMetrics({ processMetrics: false }), metricsAddress: '127.0.0.1:0', probeAddress: '127.0.0.1:0' });
    const taken = new URL(servers.probeUrl).host;
    await expect(
      startHttpServers({ metrics: createMetrics({ processMetrics: false }), metricsAddress: '127.0.0.1:0', probeAddress: taken }),
    ).rejects.toThrow(/cannot listen on 127\.0\.0\.1/);
  });
});

describe('readiness()', () => {
  it('requires synced caches, then the leader or a healthy standby', async () => {
    let synced = false;
    let leader = false;
    let healthy = false;
    const probe = readiness({ cachesSynced: () => synced, leader: { isLeader: () => leader, isHealthy: () => healthy } });
    expect(await probe()).toEqual({ ok: false, reason: 'informer caches have not synced yet' });
    synced = true;
    expect(await probe()).toMatchObject({ ok: false, reason: expect.stringMatching(/Lease/) });
    healthy = true;
    expect(await probe()).toEqual({ ok: true });
    healthy = false;
    leader = true;
    expect(await probe()).toEqual({ ok: true });
    expect(await readiness({ cachesSynced: () => true })()).toEqual({ ok: true });
  });
});
