// JSON logs with pino; anything that looks like a credential is redacted
// before it is written, wherever it appears in a log line's fields.
//
// Two layers: pino's path-based `redact` (REDACT_PATHS, fast, but a path has a
// fixed depth), and a deep walk (redactDeep) over every logged object and
// child-logger binding that censors values under credential-like keys at any
// depth (SECRET_KEY) without touching the caller's object.
import { write as fsWrite } from 'node:fs';
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

/**
 * Where logs go by default: stdout, written asynchronously (fs.write on the
 * thread pool). Never blocks the event loop: pino's synchronous destination
 * sleeps in a loop (Atomics.wait) while a write to stdout fails, so an operator
 * whose reader had gone could not even handle SIGTERM. A full stdout drops lines
 * beyond a bounded buffer; a closed one (EPIPE) turns logging off.
 */
export class AsyncFdSink {
  private pending: string[] = [];
  private bytes = 0;
  private writing = false;
  private off = false;
  private waiters: (() => void)[] = [];
  /** Lines dropped because the buffer was full. */
  dropped = 0;

  private readonly fd: number;
  private readonly maxBytes: number;
  private readonly writeFn: typeof fsWrite;

  constructor(fd: number, maxBytes = 16 * 1024 * 1024, writeFn: typeof fsWrite = fsWrite) {
    this.fd = fd;
    this.maxBytes = maxBytes;
    this.writeFn = writeFn;
  }

  write(line: string): boolean {
    if (this.off) return true;
    if (this.bytes + line.length > this.maxBytes) {
      this.dropped++;
      return true;
    }
    this.pending.push(line);
    this.bytes += line.length;
    this.kick();
    return true;
  }

  /** Whether the sink gave up (its reader is gone). */
  get closed(): boolean {
    return this.off;
  }

  /** Resolves once everything buffered is written, the sink is closed, or `timeoutMs` passed. */
  flush(timeoutMs = 1000): Promise<void> {
    if (this.off || (this.bytes === 0 && !this.writing)) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private settle(): void {
    if (this.off || (this.bytes === 0 && !this.writing)) this.waiters.splice(0).forEach((w) => w());
  }

  private kick(): void {
    if (this.writing || this.off || this.pending.length === 0) return;
    this.writing = true;
    const chunk = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.writeFn(this.fd, chunk, 0, chunk.length, null, (err, n) => {
      this.writing = false;
      if (err) {
        if (err.code === 'EAGAIN' || err.code === 'EBUSY') {
          this.pending.unshift(chunk.toString('utf8'));
          setTimeout(() => this.kick(), 100).unref();
          return;
        }
        // EPIPE, EBADF...: nobody reads; stop logging rather than fail the operator.
        this.off = true;
        this.pending = [];
        this.bytes = 0;
        this.settle();
        return;
      }
      const rest = chunk.subarray(n);
      if (rest.length) this.pending.unshift(rest.toString('utf8'));
      this.bytes = this.pending.reduce((a, p) => a + p.length, 0);
      this.kick();
      this.settle();
    });
  }
}

const stdoutSinks: AsyncFdSink[] = [];

/** Writes out what the default (stdout) loggers still buffer, waiting at most `timeoutMs`. */
export async function flushLogs(timeoutMs = 1000): Promise<void> {
  await Promise.all(stdoutSinks.map((s) => s.flush(timeoutMs)));
}

function stdoutDestination(): DestinationStream {
  const sink = new AsyncFdSink(1);
  stdoutSinks.push(sink);
  return sink;
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
  return pino(opts, destination ?? stdoutDestination());
}
