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
  const first = e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e);
  const code = statusCode(e);
  return code !== undefined && !first.includes(String(code)) ? `HTTP ${code}: ${first}` : first;
}

/** For structured logs: `{code?, message}`. */
export function errorFields(e: unknown): { code?: number; message: string } {
  const code = statusCode(e);
  const message = e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e);
  return code !== undefined ? { code, message } : { message };
}
