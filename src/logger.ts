// pino logger shared by the API, the workers and the CLI; secrets and addresses never reach the logs.
import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

/** Paths that may carry an email address or a token, wherever they appear in a log line. */
export const REDACTED_PATHS = [
  'email',
  '*.email',
  'token',
  '*.token',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'password',
  '*.password',
];

export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'NODE_ENV'>, name = 'paperboy'): Logger {
  const pretty = config.NODE_ENV === 'development' && process.stdout.isTTY;
  return pino({
    name,
    level: config.LOG_LEVEL,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // pino-pretty is a dev dependency: only asked for on a developer's terminal.
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss' } } } : {}),
  });
}
