// Rebuilding the queues from Postgres: Redis may be flushed, restarted or lose some keys; the delivery rows remain.
import type { JobState, Queue } from 'bullmq';
import type { Database } from '../../db/client.ts';
import type { Config } from '../../config.ts';
import { deliveryJobOptions, type DeliveryJob } from '../../queues/deliveries.ts';
import { findUnfinishedDeliveries, stillUnfinished } from './deliveries.ts';
import { EMAIL_KINDS, kindsOn, type EmailKind } from './kinds.ts';

/** Job states in which a job will still run (or runs now): a delivery with such a job needs no other. */
const LIVE: ReadonlySet<JobState | 'unknown'> = new Set([
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
]);

/** Deliveries looked at together: their job lookups run concurrently, and Postgres is re-read once per batch. */
const BATCH = 100;

/**
 * Queues every unfinished delivery (pending, or held by a lease that ran out) of the kinds this queue
 * carries that has no live job, as long as its kind says it is still worth sending. Safe on every worker
 * at once: the job id is the delivery id, and the claim decides who sends.
 */
export async function reconcileDeliveries(
  db: Database,
  queue: Queue<DeliveryJob>,
  config: Pick<Config, 'DIGEST_CUTOFF_HOURS'>,
  now: Date = new Date(),
): Promise<number> {
  let queued = 0;
  for (const kind of kindsOn(queue.name as EmailKind['queue'])) {
    const createdAfter = new Date(now.getTime() - EMAIL_KINDS[kind].staleAfterMs(config));
    const ids = await findUnfinishedDeliveries(db, [kind], createdAfter);
    for (let i = 0; i < ids.length; i += BATCH) queued += await queueDeliveries(db, queue, ids.slice(i, i + BATCH));
  }
  return queued;
}

/**
 * Queues each of these deliveries that has no live job; returns how many it added. Also the admin retry's
 * way in, whose delivery usually still has its finished job from the failed attempt.
 *
 * A job that is finished (completed, failed) or orphaned (its hash survived but no list holds it: Redis
 * lost part of its keys) would block a new one with the same id, so it is replaced, but only after
 * Postgres says the delivery is still unfinished: a delivery listed a moment ago may have been sent since,
 * and a job for it would be a no-op that still takes a place in the send rate.
 */
export async function queueDeliveries(db: Database, queue: Queue<DeliveryJob>, ids: string[]): Promise<number> {
  const jobs = await Promise.all(
    ids.map(async (id) => {
      const job = await queue.getJob(id);
      return { id, job, state: job ? await job.getState() : undefined };
    }),
  );
  const candidates = jobs.filter(({ state }) => state === undefined || !LIVE.has(state));
  if (candidates.length === 0) return 0;
  const unfinished = await stillUnfinished(
    db,
    candidates.map(({ id }) => id),
  );
  let queued = 0;
  for (const { id, job } of candidates) {
    if (!unfinished.has(id)) continue;
    if (job) {
      try {
        await job.remove();
      } catch {
        // Another reconciler (every worker runs one) replaced this job first and its new one is already
        // running, so the old one cannot be removed: the delivery has its job. The batch goes on.
        continue;
      }
    }
    await queue.add('send', { deliveryId: id }, deliveryJobOptions(id));
    queued++;
  }
  return queued;
}
