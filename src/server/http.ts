// The operator's HTTP endpoints: /metrics (Prometheus text format) on the
// metrics address, /healthz and /readyz on the probe address. When both
// addresses are the same, one server answers all three.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.ts';
import { DEFAULT_VALUES } from '../config/defaults.ts';

/** What a probe callback returns: true/false, or an object with the reason it is not ok. */
export type ProbeResult = boolean | { ok: boolean; reason?: string };
export type ProbeFn = () => ProbeResult | Promise<ProbeResult>;

export interface HttpServerOptions {
  metrics: Metrics;
  /** `host:port` for /metrics. Default `0.0.0.0:8080`; port 0 picks a free port. */
  metricsAddress?: string;
  /** `host:port` for /healthz and /readyz. Default `0.0.0.0:8081`. */
  probeAddress?: string;
  /** /readyz is 200 only when this says ok (e.g. caches synced and leader or healthy standby). Default: ready. */
  ready?: ProbeFn;
  /** /healthz is 200 while this says ok. Default: alive while the process serves. */
  healthy?: ProbeFn;
}

export const HTTP_DEFAULTS = {
  metricsAddress: DEFAULT_VALUES.metricsAddr,
  probeAddress: DEFAULT_VALUES.probeAddr,
} as const;

export interface HttpServers {
  /** `http://host:port` actually bound for /metrics. */
  readonly metricsUrl: string;
  /** `http://host:port` actually bound for /healthz and /readyz. */
  readonly probeUrl: string;
  /** Stops accepting connections, closes idle ones, and resolves once both servers are closed. */
  close(): Promise<void>;
}

/** Parses `host:port`, `[v6]:port` or `:port` (host then 0.0.0.0). Throws with the value on error. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid listen address "${address}": expected host:port (port 0-65535), e.g. 0.0.0.0:8080 or [::1]:8080`);
  }
  const host = m[1] ?? (m[2] ? m[2] : '0.0.0.0');
  return { host, port };
}

async function evaluate(fn: ProbeFn | undefined): Promise<{ ok: boolean; reason: string }> {
  if (!fn) return { ok: true, reason: '' };
  try {
    const r = await fn();
    if (typeof r === 'boolean') return { ok: r, reason: r ? '' : 'not ready' };
    return { ok: r.ok, reason: r.reason ?? (r.ok ? '' : 'not ready') };
  } catch (err) {
    return { ok: false, reason: `probe failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

function probeRoute(fn: ProbeFn | undefined): Route {
  return async (_req, res) => {
    const { ok, reason } = await evaluate(fn);
    send(res, ok ? 200 : 503, ok ? 'ok\n' : `${reason}\n`);
  };
}

function handler(routes: Record<string, Route>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = routes[path];
    if (!route) {
      send(res, 404, 'not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'method not allowed\n');
      return;
    }
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, `internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    });
  };
}

function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve(`http://${h}:${a.port}`);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeIdleConnections();
    // Scrapes and probes are short; do not let a stuck client hold shutdown.
    setTimeout(() => server.closeAllConnections(), 2000).unref();
  });
}

export async function startHttpServers(opts: HttpServerOptions): Promise<HttpServers> {
  const metricsAddr = parseAddress(opts.metricsAddress ?? HTTP_DEFAULTS.metricsAddress);
  const probeAddr = parseAddress(opts.probeAddress ?? HTTP_DEFAULTS.probeAddress);
  const metricsRoute: Route = async (_req, res) => {
    const body = await opts.metrics.text();
    send(res, 200, body, opts.metrics.contentType);
  };
  const probeRoutes = { '/healthz': probeRoute(opts.healthy), '/readyz': probeRoute(opts.ready) };

  const same = metricsAddr.host === probeAddr.host && metricsAddr.port === probeAddr.port && metricsAddr.port !== 0;
  const servers: Server[] = [];
  try {
    if (same) {
      const server = createServer(handler({ '/metrics': metricsRoute, ...probeRoutes }));
      servers.push(server);
      const url = await listen(server, metricsAddr.host, metricsAddr.port);
      return { metricsUrl: url, probeUrl: url, close: async () => void (await Promise.all(servers.map(closeServer))) };
    }
    const metricsServer = createServer(handler({ '/metrics': metricsRoute }));
    servers.push(metricsServer);
    const probeServer = createServer(handler(probeRoutes));
    servers.push(probeServer);
    const metricsUrl = await listen(metricsServer, metricsAddr.host, metricsAddr.port);
    const probeUrl = await listen(probeServer, probeAddr.host, probeAddr.port);
    return { metricsUrl, probeUrl, close: async () => void (await Promise.all(servers.map(closeServer))) };
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    throw err;
  }
}

export interface ReadinessSources {
  /** True once every informer cache has completed its first list. */
  cachesSynced: () => boolean;
  /** Leader election, when enabled: ready as the leader or as a healthy standby. */
  leader?: {
    isLeader(): boolean;
    /** A standby is healthy while it can read the Lease (it could take over). */
    isHealthy(): boolean;
  };
}

/** The operator's /readyz rule: caches synced, and (when elected) leader or a healthy standby. */
export function readiness(src: ReadinessSources): ProbeFn {
  return () => {
    if (!src.cachesSynced()) return { ok: false, reason: 'informer caches have not synced yet' };
    if (src.leader && !src.leader.isLeader() && !src.leader.isHealthy()) {
      return { ok: false, reason: 'not the leader, and the leader Lease could not be read recently' };
    }
    return { ok: true };
  };
}
