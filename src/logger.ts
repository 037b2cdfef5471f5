// pino logger shared by the API, the workers and the CLI; secrets and addresses never reach the logs.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
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

// Signed links are credentials: a log line must not carry one.
const LINK_TOKEN = /\/(confirm|manage|unsubscribe|digest)\/[^/?#]+/g;
export const redactUrl = (url: string) => url.replace(LINK_TOKEN, '/$1/[token]');

export function createLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'NODE_ENV'>,
  name = 'paperboy',
  destination?: DestinationStream,
): Logger {
  const pretty = config.NODE_ENV === 'development' && process.stdout.isTTY && !destination;
  const options: LoggerOptions = {
    name,
    level: config.LOG_LEVEL,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (request: { method?: string; url?: string; headers?: Record<string, unknown> }) => ({
        method: request.method,
        url: redactUrl(request.url ?? ''),
        userAgent: request.headers?.['user-agent'],
      }),
    },
    // pino-pretty is a dev dependency: only asked for on a developer's terminal.
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss' } } } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
