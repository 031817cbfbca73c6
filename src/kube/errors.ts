// Reading errors from the API server (and the client library): the HTTP status
// code, and a short, secret-free description for logs and conditions.
import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of an API error, if it has one. */
export function statusCode(e: unknown): number | undefined {
  if (e instanceof ApiException) return e.code;
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, statusCode: sc } = e as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  return typeof sc === 'number' ? sc : undefined;
}

/** The errors an error was caused by, outermost first (the error itself included). */
function causes(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let c: unknown = e; c !== undefined && c !== null && out.length < 6; c = (c as { cause?: unknown }).cause) {
    out.push(c);
    if (typeof c !== 'object') break;
  }
  return out;
}

/** The system or TLS error code somewhere in an error's cause chain (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT...). */
export function networkCode(e: unknown): string | undefined {
  for (const c of causes(e)) {
    const code = (c as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
  }
  return undefined;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|ERR_TLS|ERR_SSL|EPROTO/;
const NETWORK_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  UND_ERR_SOCKET: 'connection closed',
};

/** The innermost message of an error's cause chain ("fetch failed" says nothing; its cause does). */
function innermostMessage(e: unknown): string {
  const chain = causes(e).filter((c) => c instanceof Error && c.message);
  const last = chain[chain.length - 1] as Error | undefined;
  return (last?.message ?? String(e)).split('\n')[0] ?? '';
}

/**
 * One line for a failed request to the API server at `server`, naming the
 * address and the cause: connection refused, an untrusted certificate, 401
 * with the kubeconfig user, 403 with the API's message (which names the user).
 */
export function describeApiFailure(e: unknown, target: { server?: string | undefined; user?: string | undefined } = {}): string {
  const server = target.server ?? 'the API server';
  const code = statusCode(e);
  if (code === 401) return `the API server ${server} refused the credentials of kubeconfig user ${JSON.stringify(target.user ?? '')} (401 Unauthorized): log in again or fix the kubeconfig`;
  if (code === 403) return `the API server ${server} refused the request (403 Forbidden): ${describeApiError(e).replace(/^HTTP 403: ?/, '')}`;
  if (code !== undefined) return `the API server ${server} answered ${describeApiError(e)}`;
  const net = networkCode(e);
  if (net && TLS_CODES.test(net)) return `the API server ${server} presented a certificate that is not trusted (${net}: ${innermostMessage(e)}): fix certificate-authority-data in the kubeconfig`;
  if (net) return `cannot reach the API server ${server}: ${NETWORK_TEXT[net] ?? innermostMessage(e)} (${net})`;
  return `cannot reach the API server ${server}: ${innermostMessage(e)}`;
}

/** `HTTP <code>: <the API's message>` for an API error, else the error's first line. */
export function describeApiError(e: unknown): string {
  if (e instanceof ApiException) {
    let msg = '';
    try {
      const body: unknown = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      msg = (body as { message?: string } | undefined)?.message ?? '';
    } catch {
      msg = String(e.body).slice(0, 300);
    }
    return `HTTP ${e.code}${msg ? `: ${msg}` : ''}`;
  }
  let first = e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e);
  const inner = innermostMessage(e);
  if (inner && inner !== first) first = `${first} (${inner})`;
  const code = statusCode(e);
  return code !== undefined && !first.includes(String(code)) ? `HTTP ${code}: ${first}` : first;
}

/** For structured logs: `{code?, message}`. */
export function errorFields(e: unknown): { code?: number; message: string } {
  const code = statusCode(e);
  let message = e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e);
  const inner = innermostMessage(e);
  if (inner && inner !== message) message = `${message} (${inner})`;
  return code !== undefined ? { code, message } : { message };
}
