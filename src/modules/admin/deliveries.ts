// Deliveries as operators see them: find them, look at one, and send a failed one again.
import type { Queue } from 'bullmq';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import type { DeliveryKind, DeliveryStatus } from '../../generated/prisma/client.ts';
import { ConflictError, NotFoundError } from '../../errors.ts';
import { QUEUE_WAIT_MS, within, type DeliveryJob } from '../../queues/deliveries.ts';
import { EMAIL_KINDS, TRANSACTIONAL_MAX_AGE_MS } from '../mail/kinds.ts';
import { isPastCutoff } from '../digests/cutoff.ts';
import { queueDeliveries } from '../mail/reconcile.ts';
import { addressHash } from '../subscribers/address.ts';
import { recordEvent } from '../subscribers/subscriptions.ts';
import { after, decodeCursor, newestFirst, pageOf, type PageQuery } from './pagination.ts';

export interface DeliveryFilter extends PageQuery {
  status?: DeliveryStatus | undefined;
  kind?: DeliveryKind | undefined;
  subscriberId?: string | undefined;
  /** Created at or after this time. */
  createdFrom?: Date | undefined;
  /** Created strictly before this time. */
  createdBefore?: Date | undefined;
}

/** The columns of a delivery in lists (its own and a reader's). */
export const deliverySelect = {
  id: true,
  subscriberId: true,
  kind: true,
  digestKey: true,
  status: true,
  dueAt: true,
  sentAt: true,
  attempts: true,
  lastError: true,
  createdAt: true,
} as const;

export async function listDeliveries(db: Database, filter: DeliveryFilter) {
  const cursor = decodeCursor(filter.cursor, z.uuid());
  const rows = await db.delivery.findMany({
    where: {
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.kind ? { kind: filter.kind } : {}),
      ...(filter.subscriberId ? { subscriberId: filter.subscriberId } : {}),
      AND: [
        filter.createdFrom ? { createdAt: { gte: filter.createdFrom } } : {},
        filter.createdBefore ? { createdAt: { lt: filter.createdBefore } } : {},
        after(cursor, 'id'),
      ],
    },
    select: deliverySelect,
    orderBy: [...newestFirst('id')],
    take: filter.limit + 1,
  });
  return pageOf(rows, filter.limit, (row) => row.id);
}

export async function deliveryDetail(db: Database, id: string) {
  const delivery = await db.delivery.findUnique({
    where: { id },
    include: { subscriber: { select: { email: true, status: true } } },
  });
  if (!delivery) throw new NotFoundError('There is no such delivery.');
  return delivery;
}

/** Only a delivery that ended badly may be sent again; anything else is still on its way or done. */
const RETRYABLE: DeliveryStatus[] = ['failed', 'unknown'];

const NOT_RETRYABLE: Record<DeliveryStatus, string> = {
  pending: 'This delivery is already waiting to be sent; there is nothing to retry.',
  sending: 'This delivery is being sent right now; there is nothing to retry.',
  sent: 'This delivery was sent; a retry would email the reader twice.',
  skipped: 'This delivery was skipped on purpose (its lastError says why); a retry would be skipped again.',
  failed: '',
  unknown: '',
};

export interface RetryQueues {
  mail: Queue<DeliveryJob>;
  digest: Queue<DeliveryJob>;
}

/**
 * Puts a failed (or unknown) delivery back to pending and queues it on its kind's queue. `attempts` is
 * kept, not reset: it is also the claim token (see claimDelivery), which must only grow so a worker from
 * an earlier claim can never move this delivery on, and it keeps the history of how often it was tried.
 * Returns whether the job reached Redis; when it did not, the reconciler queues the pending row later.
 */
export async function retryDelivery(
  db: Database,
  queues: RetryQueues,
  id: string,
  { cutoffHours, now = new Date() }: { cutoffHours: number; now?: Date },
  onQueueError: (error: unknown) => void = () => {},
): Promise<{ queued: boolean }> {
  const delivery = await db.delivery.findUnique({
    where: { id },
    include: { subscriber: { select: { email: true } } },
  });
  if (!delivery) throw new NotFoundError('There is no such delivery.');
  if (!RETRYABLE.includes(delivery.status)) throw new ConflictError(NOT_RETRYABLE[delivery.status]);
  // The digest worker skips a digest past the cut-off rather than send it late; say so now instead.
  if (delivery.kind === 'digest' && isPastCutoff({ DIGEST_CUTOFF_HOURS: cutoffHours }, delivery.dueAt, now)) {
    throw new ConflictError(
      `This digest was due at ${delivery.dueAt.toISOString()}; digests are never sent more than ${cutoffHours} hours late (DIGEST_CUTOFF_HOURS), so a retry would only be skipped. The reader's next digest will carry the papers they have not been sent.`,
    );
  }
  // The reconciler forgets transactional mail after a day: a retry it might have to pick up must be younger.
  if (delivery.kind !== 'digest' && now.getTime() > delivery.createdAt.getTime() + TRANSACTIONAL_MAX_AGE_MS) {
    throw new ConflictError(
      'This email is more than a day old and its links may have expired: the reader can ask for a fresh one (sign up again, or "email me my link").',
    );
  }
  if (await db.suppression.findUnique({ where: { addressHash: addressHash(delivery.subscriber.email) } })) {
    throw new ConflictError(
      'The address is suppressed, so the delivery would be skipped: remove the suppression first if you are sure it can receive mail.',
    );
  }

  await db.$transaction(async (tx) => {
    // Conditional, so two retries at once (or a retry racing anything else) change the row once.
    const { count } = await tx.delivery.updateMany({
      where: { id, status: { in: RETRYABLE } },
      data: { status: 'pending', leaseUntil: null },
    });
    if (count === 0) throw new ConflictError('This delivery changed meanwhile (another retry?); look at it again.');
    await recordEvent(tx, delivery.subscriberId, 'admin_delivery_retry', {
      deliveryId: id,
      kind: delivery.kind,
      from: delivery.status,
      attempts: delivery.attempts,
      lastError: delivery.lastError,
    });
  });

  const queue = queues[EMAIL_KINDS[delivery.kind].queue];
  try {
    await within(queueDeliveries(db, queue, [id]), QUEUE_WAIT_MS);
    return { queued: true };
  } catch (error) {
    onQueueError(error);
    return { queued: false };
  }
}
