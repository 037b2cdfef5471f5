// `npm start`: the API and the workers in one process, for small installs.
import { loadConfig } from './config.ts';
import { createDatabase } from './db/client.ts';
import { createLogger } from './logger.ts';
import { exitGracefullyOnSignal, exitOnStartupError, loadConfigOrExit } from './runtime.ts';
import { startApi, type RunningApi } from './server.ts';
import { startWorkers, type RunningWorkers } from '../workers/index.ts';

const config = loadConfigOrExit(loadConfig);
const logger = createLogger(config);
const db = createDatabase(config.DATABASE_URL);
let workers: RunningWorkers | undefined;
let api: RunningApi | undefined;

// Listen for signals before connecting, so a stop during a slow start-up is not ignored.
exitGracefullyOnSignal(logger, config.SHUTDOWN_TIMEOUT_MS, async () => {
  // Stop taking requests first (they may enqueue jobs), then let the workers finish theirs.
  await api?.close();
  await workers?.close();
  await db.$disconnect();
});
// The API first: it answers /healthz and /readyz even while the workers wait for Redis.
api = await startApi(config, logger, db).catch(exitOnStartupError(logger));
workers = await startWorkers(config, logger, db);
