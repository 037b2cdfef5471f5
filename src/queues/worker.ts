// What every queue's worker is built from: its dependencies and its factory type. Here, not in
// workers/index.ts, so a worker file never imports the entry point that imports it.
import type { Worker } from 'bullmq';
import type { Config } from '../config.ts';
import type { Database } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { QueueContext } from './index.ts';

export interface WorkerDeps {
  config: Config;
  logger: Logger;
  db: Database;
  queues: QueueContext;
}

/** Builds one queue's worker. Each queue's worker lives in its own file under workers/. */
export type WorkerFactory = (deps: WorkerDeps) => Worker | Promise<Worker>;
