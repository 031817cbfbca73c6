// JSON logs with pino; anything that looks like a credential is redacted
// before it is written, wherever it appears in a log line's fields.
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  'token',
  'auth',
  'authorization',
  'secret',
  'data',
  '.dockerconfigjson',
  'dockerConfigJson',
  '*.password',
  '*.token',
  '*.auth',
  '*.authorization',
  '*.Authorization',
  '*.secret',
  '*.data',
  '*.dockerConfigJson',
  '*.headers.authorization',
  '*.headers.Authorization',
  '*["\\.dockerconfigjson"]',
  '*.*.password',
  '*.*.auth',
  '*.*.token',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const opts = {
    level,
    base: { component: 'layered-build-controller' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
