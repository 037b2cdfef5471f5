// The mail queue: one job per transactional delivery (confirmation, manage link), keyed by its id.
import { z } from 'zod';
import { createQueue, QUEUE_NAMES, type QueueContext } from './index.ts';

export const mailJob = z.object({ deliveryId: z.uuid() });
export type MailJob = z.infer<typeof mailJob>;

/** The job id is the delivery id, so a delivery is queued once however often it is enqueued. */
export const mailJobOptions = (deliveryId: string) => ({
  jobId: deliveryId,
  attempts: 10,
  backoff: { type: 'exponential' as const, delay: 10_000 },
});

export function createMailQueue(queues: QueueContext) {
  return createQueue<MailJob>(QUEUE_NAMES.mail, queues);
}
