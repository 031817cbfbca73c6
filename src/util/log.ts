// JSON logs with pino; anything that looks like a credential is redacted
// before it is written, wherever it appears in a log line's fields.
//
// Two layers: pino's path-based `redact` (REDACT_PATHS, fast, but a path has a
// fixed depth), and a deep walk (redactDeep) over every logged object and
// child-logger binding that censors values under credential-like keys at any
// depth (SECRET_KEY) without touching the caller's object.
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';

export const CENSOR = '[REDACTED]';

export const REDACT_PATHS = [
  'password',
  'token',
  'auth',
  'authorization',
  'secret',
  'data',
  'stringData',
  '["\\.dockerconfigjson"]',
  '["\\.dockercfg"]',
  'dockerConfigJson',
  '*.password',
  '*.token',
  '*.auth',
  '*.authorization',
  '*.Authorization',
  '*.secret',
  '*.data',
  '*.stringData',
  '*.dockerConfigJson',
  '*.headers.authorization',
  '*.headers.Authorization',
  '*["\\.dockerconfigjson"]',
  '*.*.password',
  '*.*.auth',
  '*.*.token',
];

/**
 * Keys whose values are credentials, compared case-insensitively after
 * dropping `-`, `_` and `.`: exact names, and anything ending in token,
 * password, passwd, secret or credential(s).
 */
const SECRET_NAMES = new Set([
  'auth',
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'data',
  'stringdata',
  'dockerconfigjson',
  'dockercfg',
  'identitytoken',
  'clientkeydata',
  'clientkey',
  'privatekey',
  'apikey',
  'xapikey',
  'pass',
  'basicauth',
]);
const SECRET_SUFFIX = /(token|password|passwd|secret|credentials?)$/;

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_.]/g, '');
  return SECRET_NAMES.has(k) || SECRET_SUFFIX.test(k);
}

const MAX_DEPTH = 12;

/**
 * A copy of `value` with every value under a credential-like key replaced by
 * CENSOR, at any depth. Plain objects, arrays and Errors are walked (an Error
 * keeps its prototype, message, stack and cause); anything else (Date,
 * Buffer...) is kept as is. Cycles become '[Circular]'.
 */
export function redactDeep(value: unknown, depth = 0, seen: object[] = []): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (seen.includes(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Object]';
  const next = [...seen, value];
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1, next));
  const isError = value instanceof Error;
  const proto = Object.getPrototypeOf(value) as object | null;
  if (!isError && proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = isError ? (Object.create(proto) as Record<string, unknown>) : {};
  if (isError) {
    const e = value as Error;
    out.message = e.message;
    out.stack = e.stack;
    if (e.name !== (proto as { name?: unknown }).name) out.name = e.name;
    if (e.cause !== undefined) out.cause = redactDeep(e.cause, depth + 1, next);
  }
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) ? CENSOR : redactDeep(v, depth + 1, next);
  return out;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const opts: pino.LoggerOptions = {
    level,
    base: { component: 'layered-build-controller' },
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label: string) => ({ level: label }),
      log: (obj: Record<string, unknown>) => redactDeep(obj) as Record<string, unknown>,
      bindings: (b: pino.Bindings) => redactDeep(b) as pino.Bindings,
    },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
