// Rebuilding the queues from Postgres: Redis may be flushed or restarted, the delivery rows remain.
import type { Queue } from 'bullmq';
import type { Database } from '../../db/client.ts';
import type { DeliveryKind } from '../../generated/prisma/client.ts';
import { deliveryJobOptions, type DeliveryJob } from '../../queues/deliveries.ts';
import { findUnfinishedDeliveries } from './deliveries.ts';

/**
 * Queues every unfinished delivery of these kinds (pending, or held by a lease that ran out) that has no
 * live job. Safe on every worker at once: the job id is the delivery id, and the claim decides who sends.
 */
export async function reconcileDeliveries(
  db: Database,
  queue: Queue<DeliveryJob>,
  kinds: DeliveryKind[],
  createdAfter: Date,
): Promise<number> {
  let queued = 0;
  for (const id of await findUnfinishedDeliveries(db, kinds, createdAfter)) {
    if (await queueDelivery(queue, id)) queued++;
  }
  return queued;
}

/**
 * Queues one delivery unless a live job for it exists; returns whether it added one. Also used by the
 * admin retry, whose delivery usually still has its finished job from the failed attempt.
 */
export async function queueDelivery(queue: Queue<DeliveryJob>, id: string): Promise<boolean> {
  const job = await queue.getJob(id);
  // A finished job for an unfinished delivery (it gave up, or ran while another worker held the lease)
  // would block a new one with the same id: replace it.
  if (job && ((await job.isCompleted()) || (await job.isFailed()))) await job.remove();
  else if (job) return false;
  await queue.add('send', { deliveryId: id }, deliveryJobOptions(id));
  return true;
}
