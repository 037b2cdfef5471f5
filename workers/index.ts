// Worker entry point: `npm run start:worker`. Runs the BullMQ workers of every queue; no HTTP.
import type { Job, Worker } from 'bullmq';
import { loadConfig, type Config } from '../src/config.ts';
import { createDatabase, type Database } from '../src/db/client.ts';
import { createLogger, type Logger } from '../src/logger.ts';
import { jobDuration } from '../src/metrics.ts';
import { createQueueConnection } from '../src/queues/connection.ts';
import type { WorkerDeps, WorkerFactory } from '../src/queues/worker.ts';
import { startMetricsServer, type MetricsServer } from '../src/metrics-server.ts';
import { exitGracefullyOnSignal, exitOnStartupError, loadConfigOrExit } from '../src/runtime.ts';
import { ingestWorker } from './ingest.worker.ts';
import { digestWorker } from './digest.worker.ts';
import { mailWorker } from './mail.worker.ts';
import { scheduleWorker } from './schedule.worker.ts';

/** The workers a Paperboy worker process runs; each feature adds its queue's factory here. */
export const WORKERS: WorkerFactory[] = [ingestWorker, mailWorker, scheduleWorker, digestWorker];

export interface RunningWorkers {
  workers: Worker[];
  /** Stops taking jobs, waits for the active ones to finish, then closes its Redis connection. */
  close: () => Promise<void>;
}

export async function startWorkers(
  config: Config,
  logger: Logger,
  db: Database,
  factories: WorkerFactory[] = WORKERS,
): Promise<RunningWorkers> {
  const connection = createQueueConnection(config.REDIS_URL);
  connection.on('error', (error) => logger.warn({ err: error }, 'redis connection error (will retry)'));
  const deps: WorkerDeps = { config, logger, db, queues: { connection, prefix: config.QUEUE_PREFIX } };
  const workers: Worker[] = [];
  for (const factory of factories) workers.push(await factory(deps));
  for (const worker of workers) {
    const timeJob = (job: Job | undefined, outcome: 'completed' | 'failed') => {
      if (job?.processedOn && job.finishedOn) {
        jobDuration.observe({ queue: worker.name, outcome }, (job.finishedOn - job.processedOn) / 1000);
      }
    };
    worker.on('completed', (job, result) => {
      timeJob(job, 'completed');
      logger.debug({ queue: worker.name, jobId: job.id, result }, 'job completed');
    });
    worker.on('failed', (job) => timeJob(job, 'failed'));
    worker.on('failed', (job, error) =>
      logger.warn(
        { queue: worker.name, jobId: job?.id, err: error },
        'job failed (BullMQ retries it if attempts remain)',
      ),
    );
    worker.on('error', (error) => logger.error({ queue: worker.name, err: error }, 'worker error'));
  }
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  logger.info({ queues: workers.map((worker) => worker.name) }, 'workers started');
  return {
    workers,
    close: async () => {
      // close() without force waits for every active job to finish.
      await Promise.all(workers.map((worker) => worker.close()));
      await connection.quit();
    },
  };
}

if (import.meta.main) {
  const config = loadConfigOrExit(loadConfig);
  const logger = createLogger(config, 'paperboy-worker');
  const db = createDatabase(config.DATABASE_URL);
  let running: RunningWorkers | undefined;
  let metrics: MetricsServer | undefined;
  exitGracefullyOnSignal(logger, config.SHUTDOWN_TIMEOUT_MS, async () => {
    await running?.close();
    await metrics?.close();
    await db.$disconnect();
  });
  running = await startWorkers(config, logger, db);
  metrics = await startMetricsServer(config, logger).catch(exitOnStartupError(logger));
}
