// The optional metrics-only listener on METRICS_HOST:METRICS_PORT: no token, so only the scraper may reach it.
import { createServer, type Server } from 'node:http';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { registry } from './metrics.ts';
import { StartupError } from './runtime.ts';

export interface MetricsServer {
  close: () => Promise<void>;
}

/** Serves GET /metrics on METRICS_PORT when it is set; otherwise does nothing. */
export async function startMetricsServer(
  config: Pick<Config, 'METRICS_HOST' | 'METRICS_PORT'>,
  logger: Logger,
): Promise<MetricsServer | undefined> {
  if (config.METRICS_PORT === undefined) return undefined;
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics is served here.\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => {
        logger.error({ err: error }, 'could not collect metrics');
        response.writeHead(500, { 'content-type': 'text/plain' }).end('Could not collect metrics.\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new StartupError(`METRICS_PORT ${config.METRICS_PORT} is already in use: pick another port.`)
          : error,
      ),
    );
    server.listen(config.METRICS_PORT, config.METRICS_HOST, resolve);
  });
  logger.info({ port: config.METRICS_PORT }, 'metrics served without a token on their own port');
  return { close: () => new Promise((resolve) => server.close(() => resolve())) };
}
