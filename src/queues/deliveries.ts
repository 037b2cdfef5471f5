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
