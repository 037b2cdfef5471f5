// Queue names and the options every Paperboy queue and worker shares.
import { Queue, Worker, type Processor, type QueueOptions, type WorkerOptions } from 'bullmq';
import type { RedisConnection } from './connection.ts';

/** One queue per kind of work, so a large digest run never delays a confirmation email. */
export const QUEUE_NAMES = {
  schedule: 'schedule',
  digest: 'digest',
  mail: 'mail',
  ingest: 'ingest',
} as const;

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export interface QueueContext {
  connection: RedisConnection;
  /** Key prefix in Redis; tests give each file its own so they never see each other's jobs. */
  prefix: string;
}

export function createQueue<Data>(name: QueueName, ctx: QueueContext, options: Partial<QueueOptions> = {}) {
  return new Queue<Data>(name, {
    connection: ctx.connection,
    prefix: ctx.prefix,
    // Postgres keeps the history; Redis keeps only what is needed to run and debug recent jobs.
    defaultJobOptions: { removeOnComplete: 1_000, removeOnFail: 5_000 },
    ...options,
  });
}

export function createWorker<Data>(
  name: QueueName,
  processor: Processor<Data>,
  ctx: QueueContext,
  options: Partial<WorkerOptions> = {},
) {
  return new Worker<Data>(name, processor, { connection: ctx.connection, prefix: ctx.prefix, ...options });
}
