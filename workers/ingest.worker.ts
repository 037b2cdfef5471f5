// Ingest queue: polls PAPER_FEEDS on a schedule, one retried job per feed URL.
import { UnrecoverableError, type Job } from 'bullmq';
import { InvalidInputError } from '../src/errors.ts';
import { FEED_TIMEOUT_MS, fetchFeed, ingestFeed } from '../src/modules/papers/ingest.ts';
import { createQueue, createWorker, QUEUE_NAMES } from '../src/queues/index.ts';
import type { WorkerFactory } from './index.ts';

export type IngestJob = { kind: 'poll' } | { kind: 'feed'; url: string };

const SCHEDULER_ID = 'poll-paper-feeds';

export interface IngestWorkerOptions {
  /** First retry delay for a feed that could not be fetched; it doubles on each of the 5 retries. */
  retryDelayMs?: number;
  fetchTimeoutMs?: number;
}

export const createIngestWorker =
  ({ retryDelayMs = 30_000, fetchTimeoutMs = FEED_TIMEOUT_MS }: IngestWorkerOptions = {}): WorkerFactory =>
  async ({ config, logger, db, queues }) => {
    const queue = createQueue<IngestJob>(QUEUE_NAMES.ingest, queues);
    // Every worker process upserts the same scheduler id, so there is one schedule however many run.
    if (config.PAPER_FEEDS.length > 0) {
      await queue.upsertJobScheduler(
        SCHEDULER_ID,
        { pattern: config.PAPER_FEEDS_CRON, tz: 'UTC' },
        { name: 'poll', data: { kind: 'poll' } },
      );
    } else {
      await queue.removeJobScheduler(SCHEDULER_ID);
    }

    const worker = createWorker<IngestJob>(
      QUEUE_NAMES.ingest,
      async (job: Job<IngestJob>) => {
        if (job.data.kind === 'poll') {
          // Fan out so one slow or failing feed is retried on its own without holding up the others.
          await queue.addBulk(
            config.PAPER_FEEDS.map((url) => ({
              name: 'feed',
              data: { kind: 'feed' as const, url },
              opts: { attempts: 6, backoff: { type: 'exponential', delay: retryDelayMs } },
            })),
          );
          return { feeds: config.PAPER_FEEDS.length };
        }
        try {
          const report = await ingestFeed(db, await fetchFeed(job.data.url, fetchTimeoutMs));
          logger.info({ jobId: job.id, url: job.data.url, ...report, skipped: report.skipped.length }, 'feed ingested');
          if (report.skipped.length) logger.warn({ url: job.data.url, skipped: report.skipped }, 'feed items skipped');
          return { ...report, skipped: report.skipped.length };
        } catch (error) {
          // A feed that is wrong stays wrong: retrying it only repeats the error.
          if (error instanceof InvalidInputError) throw new UnrecoverableError(error.message);
          throw error;
        }
      },
      queues,
      { concurrency: 2 },
    );
    worker.on('closed', () => void queue.close());
    return worker;
  };

export const ingestWorker = createIngestWorker();
