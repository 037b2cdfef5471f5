// An operator sends a failed delivery again: the outbox decides whether it may, this records who did it.
import type { Database } from '../../db/client.ts';
import { retryDelivery, type RetryQueues } from '../mail/outbox.ts';
import { recordEvent } from '../subscribers/subscriptions.ts';

/** The outbox's retry, with the reader's history saying an operator asked for it and what it was before. */
export async function retryDeliveryAsOperator(
  db: Database,
  queues: RetryQueues,
  id: string,
  { cutoffHours, now = new Date() }: { cutoffHours: number; now?: Date },
  onQueueError: (error: unknown) => void = () => {},
): Promise<{ queued: boolean }> {
  return retryDelivery(db, queues, id, {
    cutoffHours,
    now,
    onQueueError,
    audit: (tx, retried) =>
      recordEvent(tx, retried.subscriberId, 'admin_delivery_retry', {
        deliveryId: retried.id,
        kind: retried.kind,
        from: retried.from,
        attempts: retried.attempts,
        lastError: retried.lastError,
      }),
  });
}
