// The delivery queues: `mail` (confirmations, manage links) and `digest`, one job per Delivery row, keyed
// by its id. Separate queues, so a big digest run never delays a confirmation.
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { createQueue, QUEUE_NAMES, type QueueContext } from './index.ts';

export const deliveryJob = z.object({ deliveryId: z.uuid() });
export type DeliveryJob = z.infer<typeof deliveryJob>;

/** The backoff type of delivery jobs: the worker computes it from DELIVERY_RETRY_DELAY_MS (see below). */
export const DELIVERY_BACKOFF = 'delivery';

/** The job id is the delivery id, so a delivery is queued once however often it is enqueued. */
export const deliveryJobOptions = (deliveryId: string) => ({
  jobId: deliveryId,
  attempts: 10,
  backoff: { type: DELIVERY_BACKOFF },
});

/**
 * Exponential backoff from the worker's own DELIVERY_RETRY_DELAY_MS (10 s, 20 s, 40 s, …), so whoever
 * queues a delivery (API, scheduler, reconciler) needs no retry settings; -1 for unknown types lets BullMQ fail.
 */
export const deliveryBackoff =
  (firstDelayMs: number) =>
  (attemptsMade: number, type?: string): number =>
    type === DELIVERY_BACKOFF ? firstDelayMs * 2 ** Math.max(0, attemptsMade - 1) : -1;

export function createMailQueue(queues: QueueContext) {
  return createQueue<DeliveryJob>(QUEUE_NAMES.mail, queues);
}

export function createDigestQueue(queues: QueueContext) {
  return createQueue<DeliveryJob>(QUEUE_NAMES.digest, queues);
}

/** Queues deliveries by id, as the scheduler hands them over a page at a time. */
export const enqueueDeliveries = (queue: Queue<DeliveryJob>) => async (ids: string[]) => {
  await queue.addBulk(ids.map((id) => ({ name: 'send', data: { deliveryId: id }, opts: deliveryJobOptions(id) })));
};

/**
 * How long a request (a signup, an admin retry) waits for Redis to queue an email. BullMQ waits for a
 * connection indefinitely while Redis is away; the delivery is already pending in Postgres by then, so the
 * reconciler will queue it anyway.
 */
export const QUEUE_WAIT_MS = 3_000;

/** `work`, or a rejection after `ms`: for queueing from a request, which must never hang on Redis. */
export function within<T>(work: Promise<T>, ms: number = QUEUE_WAIT_MS): Promise<T> {
  // If Redis comes back later the job is still added (same job id, so at most once); a late failure has
  // no one left to tell.
  work.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
