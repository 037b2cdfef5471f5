// Rebuilding the queues from Postgres: Redis may be flushed, restarted or lose some keys; the delivery rows remain.
import type { JobState, Queue } from 'bullmq';
import type { Database } from '../../db/client.ts';
import type { Config } from '../../config.ts';
import { deliveryJob, pageJob, pagesOf, type DeliveryJob } from '../../queues/deliveries.ts';
import { findUnfinishedDeliveries, stillUnfinished } from './deliveries.ts';
import { deliveriesPerJob, EMAIL_KINDS, kindsOn, type EmailKind } from './kinds.ts';

/** Job states in which a job will still run (or runs now): a delivery in such a job needs no other. */
const LIVE: JobState[] = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'];

/**
 * Queues every unfinished delivery (pending, or held by a lease that ran out) of the kinds this queue
 * carries that is in no live job, as long as its kind says it is still worth sending, in jobs of the
 * queue's page size. Safe on every worker at once: the same page gets the same job id, and the claim
 * decides who sends.
 */
export async function reconcileDeliveries(
  db: Database,
  queue: Queue<DeliveryJob>,
  config: Pick<Config, 'DIGEST_CUTOFF_HOURS' | 'DIGEST_PAGE_SIZE'>,
  now: Date = new Date(),
): Promise<number> {
  const name = queue.name as EmailKind['queue'];
  const live = await deliveriesInLiveJobs(queue);
  const ids: string[] = [];
  for (const kind of kindsOn(name)) {
    const createdAfter = new Date(now.getTime() - EMAIL_KINDS[kind].staleAfterMs(config));
    ids.push(...(await findUnfinishedDeliveries(db, [kind], createdAfter, live)));
  }
  return ids.length ? queueDeliveries(db, queue, ids, deliveriesPerJob(name, config), live) : 0;
}

/** The deliveries that live jobs of the queue carry. */
async function deliveriesInLiveJobs(queue: Queue<DeliveryJob>): Promise<Set<string>> {
  const jobs = await queue.getJobs(LIVE);
  const ids = new Set<string>();
  for (const job of jobs) {
    const data = deliveryJob.safeParse(job?.data);
    if (data.success) for (const id of data.data.deliveryIds) ids.add(id);
  }
  return ids;
}

/**
 * Queues those of these deliveries that are in no live job, in pages of `pageSize`; returns how many
 * deliveries it queued. Also the admin retry's way in, whose delivery usually still has its finished job
 * from the failed attempt.
 *
 * A job that is finished (completed, failed) or orphaned (its hash survived but no list holds it: Redis
 * lost part of its keys) would block a new one with the same id, so it is replaced, but only after
 * Postgres says the deliveries are still unfinished: a delivery listed a moment ago may have been sent
 * since, and a job for it would be a no-op that still takes a worker's time. A page the scheduler has
 * created but not yet queued at this instant may be queued twice (in two differently cut pages): the
 * claim lets one send each delivery, and the other job finds it done.
 */
export async function queueDeliveries(
  db: Database,
  queue: Queue<DeliveryJob>,
  ids: string[],
  pageSize = 1,
  live?: Set<string>,
): Promise<number> {
  live ??= await deliveriesInLiveJobs(queue);
  const missing = ids.filter((id) => !live.has(id));
  if (missing.length === 0) return 0;
  const unfinished = await stillUnfinished(db, missing);
  let queued = 0;
  for (const page of pagesOf(
    missing.filter((id) => unfinished.has(id)),
    pageSize,
  )) {
    const job = pageJob(page);
    const previous = await queue.getJob(job.opts.jobId);
    if (previous) {
      try {
        await previous.remove();
      } catch {
        // Another reconciler (every worker runs one) replaced this job first and its new one is already
        // running, so the old one cannot be removed: the page has its job. The rest go on.
        continue;
      }
    }
    await queue.add(job.name, job.data, job.opts);
    queued += page.length;
  }
  return queued;
}
