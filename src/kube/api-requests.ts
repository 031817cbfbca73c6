// Every request the process sends to the API server, and every connection it
// opens, as undici reports them on its diagnostics channels (client-node sends
// through undici; the registry clients use node:http and are not counted).
// The manager turns them into lbc_api_requests_total{verb,resource} and
// lbc_api_connections_total: writes per resource and TLS handshakes per
// process lifetime, from the operator's side.
import diagnostics from 'node:diagnostics_channel';

/** `imagestreams`, `layeredpools/status`, `builds/log`... from an API path; undefined for a non-resource path. */
export function resourceOfPath(path: string): string | undefined {
  const p = path.split('?')[0]!.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  let rest: string[];
  if (p[0] === 'api') rest = p.slice(2);
  else if (p[0] === 'apis') rest = p.slice(3);
  else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  else if (rest[0] === 'namespaces') return 'namespaces';
  if (!rest[0]) return undefined;
  return rest[2] ? `${rest[0]}/${rest[2]}` : rest[0];
}

export interface ApiRequestHooks {
  /** The API server's origin (scheme://host:port): only requests to it are counted. */
  server: string;
  onRequest(verb: string, resource: string): void;
  onConnect(): void;
}

interface RequestMessage {
  request: { method?: string; path?: string; origin?: string | URL };
}
interface ConnectMessage {
  connectParams?: { host?: string; hostname?: string; port?: string | number; protocol?: string };
}

/** Subscribes the hooks; returns the unsubscribe function. */
export function watchApiRequests(h: ApiRequestHooks): () => void {
  const origin = new URL(h.server).origin;
  const onReq = (m: unknown) => {
    const r = (m as RequestMessage).request;
    if (!r || String(r.origin ?? '').replace(/\/+$/, '') !== origin) return;
    const resource = resourceOfPath(r.path ?? '');
    if (resource) h.onRequest(r.method ?? 'GET', resource);
  };
  const onConn = (m: unknown) => {
    const c = (m as ConnectMessage).connectParams;
    if (!c) return;
    const port = c.port ? String(c.port) : c.protocol === 'https:' ? '443' : '80';
    const target = `${c.protocol ?? 'https:'}//${c.hostname ?? c.host ?? ''}${port ? `:${port}` : ''}`;
    const want = new URL(h.server);
    if (`${want.protocol}//${want.hostname}:${want.port || (want.protocol === 'https:' ? '443' : '80')}` === target) h.onConnect();
  };
  diagnostics.subscribe('undici:request:create', onReq);
  diagnostics.subscribe('undici:client:connected', onConn);
  return () => {
    diagnostics.unsubscribe('undici:request:create', onReq);
    diagnostics.unsubscribe('undici:client:connected', onConn);
  };
}
