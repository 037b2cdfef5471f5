// Schedule queue: a job scheduler ticks every minute (UTC); each tick creates the digests now due and
// queues them on the digest queue.
import { scheduleDueDigests } from '../src/modules/digests/schedule.ts';
import { skipLateDigests } from '../src/modules/mail/outbox.ts';
import { createDigestQueue, enqueueDeliveries } from '../src/queues/deliveries.ts';
import { createQueue, createWorker, QUEUE_NAMES } from '../src/queues/index.ts';
import type { WorkerFactory } from '../src/queues/worker.ts';

const SCHEDULER_ID = 'digest-tick';
const SCHEDULE_REFRESH_MS = 5 * 60_000;

export const scheduleWorker: WorkerFactory = ({ config, logger, db, queues }) => {
  const ticks = createQueue<Record<string, never>>(QUEUE_NAMES.schedule, queues);
  const digests = createDigestQueue(queues);
  // Re-created every few minutes as well: a flushed Redis must not stop the digests for good.
  const ensureSchedule = () =>
    ticks
      .upsertJobScheduler(SCHEDULER_ID, { pattern: '* * * * *', tz: 'UTC' }, { name: 'tick', data: {} })
      .catch((error: unknown) => logger.warn({ err: error }, 'could not create the digest schedule'));
  void ensureSchedule();
  const refresh = setInterval(() => void ensureSchedule(), SCHEDULE_REFRESH_MS);

  const worker = createWorker<Record<string, never>>(
    QUEUE_NAMES.schedule,
    async () => {
      const { created, repaired, skipped } = await scheduleDueDigests(
        db,
        enqueueDeliveries(digests, config.DIGEST_PAGE_SIZE),
        {
          cutoffHours: config.DIGEST_CUTOFF_HOURS,
        },
      );
      await skipLateDigests(db, config.DIGEST_CUTOFF_HOURS);
      if (created) logger.info({ created }, 'digests scheduled');
      // Zones and counts only: who the readers are is in the Event table (repairs) and the database.
      for (const { from, to, readers } of repaired) {
        logger.warn(
          { from, to, readers },
          'readers moved from a time zone Postgres does not know to its canonical name',
        );
      }
      for (const { zone, readers } of skipped) {
        logger.warn({ zone, readers }, 'readers get no digest: Postgres knows no name for their time zone; change it');
      }
      return { created, repaired, skipped };
    },
    queues,
    // Ticks are cheap and idempotent; one at a time per process is plenty.
    { concurrency: 1 },
  );
  worker.on('closing', () => clearInterval(refresh));
  worker.on('closed', () => void Promise.all([ticks.close(), digests.close()]));
  return worker;
};
