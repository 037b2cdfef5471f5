// API entry point: `npm run start:api`. Serves the HTTP API and pages; runs no workers.
import { buildApp } from './app.ts';
import { loadConfig, type Config } from './config.ts';
import { createDatabase, type Database } from './db/client.ts';
import { createLogger, type Logger } from './logger.ts';
import { startMetricsServer } from './metrics-server.ts';
import { createProbeConnection } from './queues/connection.ts';
import { checkReadiness } from './modules/health/readiness.ts';
import { exitGracefullyOnSignal, exitOnStartupError, loadConfigOrExit, StartupError } from './runtime.ts';

export interface RunningApi {
  address: string;
  /** Stops accepting connections, waits for in-flight requests, then releases its own connections. */
  close: () => Promise<void>;
}

export async function startApi(config: Config, logger: Logger, db: Database): Promise<RunningApi> {
  const redis = createProbeConnection(config.REDIS_URL);
  const app = await buildApp({ config, db, redis, logger });
  let address: string;
  try {
    address = await app.listen({ host: config.HOST, port: config.PORT });
  } catch (error) {
    redis.disconnect();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new StartupError(`${config.HOST}:${config.PORT} is already in use: stop the other process or set PORT.`);
    }
    throw error;
  }
  // Starting without its services is allowed (they may come up later), but say so at once.
  const { ready, checks } = await checkReadiness({ db, redis });
  if (!ready) logger.warn({ checks }, 'started, but not ready yet: see /readyz');
  const metrics = await startMetricsServer(config, logger);
  return {
    address,
    close: async () => {
      await app.close();
      await metrics?.close();
      redis.disconnect();
    },
  };
}

if (import.meta.main) {
  const config = loadConfigOrExit(loadConfig);
  const logger = createLogger(config, 'paperboy-api');
  const db = createDatabase(config.DATABASE_URL);
  let api: RunningApi | undefined;
  exitGracefullyOnSignal(logger, config.SHUTDOWN_TIMEOUT_MS, async () => {
    await api?.close();
    await db.$disconnect();
  });
  api = await startApi(config, logger, db).catch(exitOnStartupError(logger));
}
