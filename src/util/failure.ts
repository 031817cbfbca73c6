// How the CLI ends on an error: one line on stderr and an exit code, 2 for bad
// input (a setting, a flag, a kubeconfig, a pool that does not exist) and 1 for
// a failure (the API server unreachable or refusing, anything unexpected).
// Never a stack trace.
import { ConfigError } from '../config/config.ts';
import { describeApiFailure, networkCode, statusCode } from '../kube/errors.ts';
import { KubeconfigError } from '../kube/client.ts';

/** Bad input found by the CLI itself (a flag's value, a pool that does not exist). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Failure {
  exitCode: 1 | 2;
  /** One line, without the program's name. */
  line: string;
}

export function describeFailure(e: unknown, target: { server?: string | undefined; user?: string | undefined } = {}): Failure {
  const oneLine = (s: string) => s.replace(/\s*\n\s*/g, '; ');
  if (e instanceof ConfigError || e instanceof UsageError || e instanceof KubeconfigError) return { exitCode: 2, line: oneLine(e.message) };
  if (statusCode(e) !== undefined || networkCode(e) !== undefined || (e instanceof TypeError && e.message === 'fetch failed')) {
    return { exitCode: 1, line: oneLine(describeApiFailure(e, target)) };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { exitCode: 1, line: oneLine(msg) };
}

/** Writes to a stream that may be closed (EPIPE): never throws, never emits an unhandled 'error'. */
export function safeWrite(stream: NodeJS.WriteStream, text: string): void {
  try {
    if (!stream.destroyed && stream.writable) stream.write(text);
  } catch {
    /* the reader went away */
  }
}

/** Swallows EPIPE and friends on stdout/stderr: a closed pipe must not crash or wedge the process. */
export function ignoreClosedStdio(): void {
  for (const s of [process.stdout, process.stderr]) {
    if (s.listenerCount('error') === 0) s.on('error', () => undefined);
  }
}
