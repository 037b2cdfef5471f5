// Ingest queue: polls PAPER_FEEDS on a schedule, one retried job per feed URL.
import { UnrecoverableError, type Job } from 'bullmq';
import { z } from 'zod';
import { InvalidInputError } from '../src/errors.ts';
import { FEED_TIMEOUT_MS, fetchFeed, ingestFeed } from '../src/modules/papers/ingest.ts';
import { createQueue, createWorker, QUEUE_NAMES } from '../src/queues/index.ts';
import type { WorkerFactory } from '../src/queues/worker.ts';

const ingestJob = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('poll') }),
  z.object({ kind: z.literal('feed'), url: z.url({ protocol: /^https?$/ }) }),
]);
export type IngestJob = z.infer<typeof ingestJob>;

const SCHEDULER_ID = 'poll-paper-feeds';
/** How often each worker re-creates the schedule, so a flushed Redis loses polling for minutes, not for good. */
const SCHEDULE_REFRESH_MS = 5 * 60_000;

export interface IngestWorkerOptions {
  /** First retry delay for a feed that could not be fetched; it doubles on each of the 5 retries. */
  retryDelayMs?: number;
  fetchTimeoutMs?: number;
}

export const createIngestWorker =
  ({ retryDelayMs = 30_000, fetchTimeoutMs = FEED_TIMEOUT_MS }: IngestWorkerOptions = {}): WorkerFactory =>
  ({ config, logger, db, queues }) => {
    const queue = createQueue<IngestJob>(QUEUE_NAMES.ingest, queues);

    // Every worker process upserts the same scheduler id, so there is one schedule however many run.
    const ensureSchedule = () =>
      (config.PAPER_FEEDS.length > 0
        ? queue.upsertJobScheduler(
            SCHEDULER_ID,
            { pattern: config.PAPER_FEEDS_CRON, tz: 'UTC' },
            { name: 'poll', data: { kind: 'poll' } },
          )
        : queue.removeJobScheduler(SCHEDULER_ID)
      ).catch((error: unknown) => logger.warn({ err: error }, 'could not update the feed polling schedule'));
    const scheduling = ensureSchedule();
    const refresh = setInterval(() => void ensureSchedule(), SCHEDULE_REFRESH_MS);

    const worker = createWorker<IngestJob>(
      QUEUE_NAMES.ingest,
      async (job: Job<IngestJob>) => {
        const parsed = ingestJob.safeParse(job.data);
        if (!parsed.success) throw new UnrecoverableError(`Not an ingest job: ${parsed.error.message}`);
        const data = parsed.data;
        if (data.kind === 'poll') {
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
          const report = await ingestFeed(db, await fetchFeed(data.url, fetchTimeoutMs));
          logger.info({ jobId: job.id, url: data.url, ...report, skipped: report.skipped.length }, 'feed ingested');
          if (report.skipped.length) logger.warn({ url: data.url, skipped: report.skipped }, 'feed items skipped');
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
    worker.on('closing', () => clearInterval(refresh));
    worker.on('closed', () => void scheduling.finally(() => queue.close()));
    return worker;
  };

export const ingestWorker = createIngestWorker();
