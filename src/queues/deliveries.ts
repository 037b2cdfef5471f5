// The delivery queues: `mail` (confirmations, manage links) and `digest`, one job per Delivery row, keyed
// by its id. Separate queues, so a big digest run never delays a confirmation.
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { createQueue, QUEUE_NAMES, type QueueContext } from './index.ts';

export const deliveryJob = z.object({ deliveryId: z.uuid() });
export type DeliveryJob = z.infer<typeof deliveryJob>;

/** The job id is the delivery id, so a delivery is queued once however often it is enqueued. */
export const deliveryJobOptions = (deliveryId: string) => ({
  jobId: deliveryId,
  attempts: 10,
  backoff: { type: 'exponential' as const, delay: 10_000 },
});

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
