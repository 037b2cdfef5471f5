// Digest queue: one job per reader's digest delivery, created by the scheduler.
import { digestBuildDuration } from '../src/metrics.ts';
import { composeDigest } from '../src/modules/digests/compose.ts';
import { QUEUE_NAMES } from '../src/queues/index.ts';
import { createDeliveryWorker, type DeliveryWorkerOptions } from './deliveries.ts';

export const createDigestWorker = (options: DeliveryWorkerOptions = {}) =>
  createDeliveryWorker(
    {
      queue: QUEUE_NAMES.digest,
      concurrency: (config) => config.WORKER_CONCURRENCY,
      compose: async (db, config, templates, delivery) => {
        const done = digestBuildDuration.startTimer();
        try {
          return await composeDigest(db, config, templates, delivery);
        } finally {
          done();
        }
      },
    },
    options,
  );

export const digestWorker = createDigestWorker();
