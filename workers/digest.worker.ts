// Digest queue: each job a page of digest deliveries (DIGEST_PAGE_SIZE), created by the scheduler.
import { digestBuildDuration } from '../src/metrics.ts';
import { composeDigests } from '../src/modules/digests/compose.ts';
import { QUEUE_NAMES } from '../src/queues/index.ts';
import { createDeliveryWorker, type DeliveryWorkerOptions } from './deliveries.ts';

/**
 * Pages one process works on at once: while some are being claimed and composed (waiting on Postgres),
 * the others keep the process's WORKER_CONCURRENCY conversations busy. Measured (bench/README.md): 2
 * left the conversations idle between pages; 4 sent 925 digests/s where 2 sent 612–833; 8 sent no more
 * (976/s) and held more memory.
 */
export const PAGES_AT_ONCE = 4;

export const createDigestWorker = (options: DeliveryWorkerOptions = {}) =>
  createDeliveryWorker(
    {
      queue: QUEUE_NAMES.digest,
      concurrency: PAGES_AT_ONCE,
      connections: (config) => config.WORKER_CONCURRENCY,
      compose: async (db, config, templates, deliveries) => {
        const done = digestBuildDuration.startTimer();
        try {
          return await composeDigests(db, config, templates, deliveries);
        } finally {
          done();
        }
      },
    },
    options,
  );

export const digestWorker = createDigestWorker();
