// The outbox: where transactional deliveries are created and queued, and where an operator sends a failed
// one again. Postgres holds the row first; a job in Redis only says "look at it now" (the reconciler makes
// up for a job that never arrived), so queueing is bounded and never fails the caller.
import type { Queue } from 'bullmq';
import type { DbClient, Database } from '../../db/client.ts';
import { Prisma, type DeliveryKind, type DeliveryStatus } from '../../generated/prisma/client.ts';
import { ConflictError, NotFoundError } from '../../errors.ts';
import { enqueueDeliveries, QUEUE_WAIT_MS, within, type DeliveryJob } from '../../queues/deliveries.ts';
import { isPastCutoff, lateReason } from '../digests/cutoff.ts';
import { addressHash } from '../subscribers/address.ts';
import { EMAIL_KINDS, TRANSACTIONAL_MAX_AGE_MS } from './kinds.ts';
import { queueDeliveries } from './reconcile.ts';
import { isSuppressed } from './suppressions.ts';

/**
 * Transactional emails are keyed by time window and token version: the unique key allows one per address
 * per window, and a revocation (which makes the last email's links useless) starts a new one.
 */
export function mailWindowKey(now: Date, windowMinutes: number, tokenVersion: number): string {
  const windowMs = windowMinutes * 60_000;
  return `v${tokenVersion}:${new Date(Math.floor(now.getTime() / windowMs) * windowMs).toISOString()}`;
}

/**
 * Creates a confirmation or settings-link delivery, due now, unless this window already has one or the
 * address is suppressed (one statement: no gap between the check and the insert). Returns the new
 * delivery's id, to queue once the caller's transaction commits, or undefined.
 */
export async function createTransactionalDelivery(
  db: DbClient,
  subscriber: { id: string; email: string; tokenVersion: number },
  kind: Exclude<DeliveryKind, 'digest'>,
  now: Date,
  windowMinutes: number,
): Promise<string | undefined> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO delivery (subscriber_id, kind, digest_key, due_at, updated_at)
    SELECT ${subscriber.id}::uuid, ${kind}::delivery_kind,
           ${mailWindowKey(now, windowMinutes, subscriber.tokenVersion)}, ${now}, now()
     WHERE NOT EXISTS (SELECT 1 FROM suppression WHERE address_hash = ${addressHash(subscriber.email)})
    ON CONFLICT (subscriber_id, kind, digest_key) DO NOTHING
    RETURNING id`;
  return rows[0]?.id;
}

/**
 * Queues a delivery already committed as pending. Bounded: BullMQ would wait for Redis forever, and the
 * request with it; when Redis is away the row waits in Postgres and the reconciler queues it. Returns
 * whether the job reached Redis.
 */
export async function dispatchDelivery(
  queue: Queue<DeliveryJob>,
  deliveryId: string,
  onQueueError: (error: unknown) => void = () => {},
): Promise<boolean> {
  try {
    await within(enqueueDeliveries(queue)([deliveryId]), QUEUE_WAIT_MS);
    return true;
  } catch (error) {
    onQueueError(error);
    return false;
  }
}

/** Only a delivery that ended badly may be sent again; anything else is still on its way or done. */
const RETRYABLE: DeliveryStatus[] = ['failed'];

const NOT_RETRYABLE: Record<DeliveryStatus, string> = {
  pending: 'This delivery is already waiting to be sent; there is nothing to retry.',
  sending: 'This delivery is being sent right now; there is nothing to retry.',
  sent: 'This delivery was sent; a retry would email the reader twice.',
  skipped: 'This delivery was skipped on purpose (its lastError says why); a retry would be skipped again.',
  failed: '',
};

export interface RetryQueues {
  mail: Queue<DeliveryJob>;
  digest: Queue<DeliveryJob>;
}

/** What a retry changed, for the caller's audit record (written in the same transaction). */
export interface RetriedDelivery {
  id: string;
  subscriberId: string;
  kind: DeliveryKind;
  from: DeliveryStatus;
  attempts: number;
  lastError: string | null;
}

export interface RetryOptions {
  cutoffHours: number;
  now?: Date;
  /** Records who retried it, inside the transaction that reopens the delivery. */
  audit: (tx: Prisma.TransactionClient, retried: RetriedDelivery) => Promise<void>;
  onQueueError?: (error: unknown) => void;
}

/**
 * Puts a failed delivery back to pending and queues it on its kind's queue, refusing (409) what would only
 * be skipped again: a digest past the cut-off, transactional mail the reconciler no longer picks up, a
 * suppressed address. `attempts` is kept, not reset: it is also the claim token (see claimDelivery), which
 * must only grow so a worker from an earlier claim can never move this delivery on, and it keeps the
 * history of how often it was tried. Returns whether the job reached Redis; when it did not, the reconciler
 * queues the pending row later.
 */
export async function retryDelivery(
  db: Database,
  queues: RetryQueues,
  id: string,
  { cutoffHours, now = new Date(), audit, onQueueError }: RetryOptions,
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
  if (await isSuppressed(db, delivery.subscriber.email)) {
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
    await audit(tx, {
      id,
      subscriberId: delivery.subscriberId,
      kind: delivery.kind,
      from: delivery.status,
      attempts: delivery.attempts,
      lastError: delivery.lastError,
    });
  });

  // Not dispatchDelivery: the failed attempt's finished job still holds this job id, and queueDeliveries
  // replaces it (after re-reading that the row is still pending).
  const queue = queues[EMAIL_KINDS[delivery.kind].queue];
  try {
    await within(queueDeliveries(db, queue, [id]), QUEUE_WAIT_MS);
    return { queued: true };
  } catch (error) {
    onQueueError?.(error);
    return { queued: false };
  }
}

/**
 * The part of a scheduling statement that creates the digest deliveries: a CTE `inserted` (their ids),
 * from a CTE `due` of (id: the subscriber, digest_key, due_at) that the statement defines before it. A
 * fragment, not a function of its own, so that finding who is due and creating their deliveries stay one
 * statement per page of 1,000 readers (shipping the rows to the client and back costs more than the
 * SQL). The unique key (subscriber, kind, digest key) lets exactly one of several schedulers create each,
 * and makes a second digest for the same local date or ISO week impossible.
 */
export const CREATE_DUE_DIGESTS = Prisma.sql`inserted AS (
    INSERT INTO delivery (subscriber_id, kind, digest_key, due_at, updated_at)
    SELECT id, 'digest', digest_key, due_at, now() FROM due
    ON CONFLICT (subscriber_id, kind, digest_key) DO NOTHING
    RETURNING id
  )`;

/**
 * A forced re-send of a reader's latest digest (`digest:run --now --force <email>`): a new delivery with
 * the same papers and a new Message-ID, so mail providers do not drop it as a duplicate. Null when the
 * reader has no sent digest.
 */
export async function resendLatestDigest(db: Database, subscriberId: string, now: Date = new Date()) {
  const latest = await db.delivery.findFirst({
    where: { subscriberId, kind: 'digest', status: 'sent' },
    orderBy: { sentAt: 'desc' },
  });
  if (!latest) return null;
  const resend = await db.delivery.create({
    data: {
      subscriberId,
      kind: 'digest',
      digestKey: `${latest.digestKey.split('#')[0]}#resent-${now.toISOString()}`,
      dueAt: now,
      paperIds: latest.paperIds,
    },
  });
  return resend.id;
}

/** Digests still waiting past the cut-off are marked skipped, so none is ever sent late or left pending. */
export async function skipLateDigests(db: Database, cutoffHours: number, now: Date = new Date()): Promise<number> {
  return db.$executeRaw`
    UPDATE delivery SET status = 'skipped', last_error = ${lateReason({ DIGEST_CUTOFF_HOURS: cutoffHours })},
           lease_until = NULL, updated_at = now()
     WHERE kind = 'digest' AND status = 'pending' AND due_at + make_interval(hours => ${cutoffHours}) < ${now}`;
}
