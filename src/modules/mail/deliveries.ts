// The delivery state machine: Postgres decides who may send an email, so nothing goes out twice.
//   pending ──claim──▶ sending ──▶ sent | failed | skipped
//      ▲                  │
//      └────release───────┘  (a retryable failure, or a lease that ran out because the worker died)
import { DEFAULT_LEASE_SECONDS } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import { Prisma, type DeliveryKind } from '../../generated/prisma/client.ts';
import { addressHash } from '../subscribers/address.ts';
import { EMAIL_KINDS } from './kinds.ts';

/**
 * How long a worker may hold a delivery before another may take it over (DELIVERY_LEASE_SECONDS). Leases
 * are set and compared by Postgres's clock (`now()`), never a worker's: worker hosts' clocks drift apart,
 * and one running minutes fast would take over live leases, one running slow would write leases that
 * everyone else already sees expired.
 */
export const LEASE_MS = DEFAULT_LEASE_SECONDS * 1000;

/** `now() + leaseMs` in SQL: the lease's end by Postgres's clock. */
const leaseEnd = (leaseMs: number) => Prisma.sql`now() + ${leaseMs}::int * interval '1 millisecond'`;

export interface ClaimedDelivery {
  id: string;
  subscriberId: string;
  kind: DeliveryKind;
  digestKey: string;
  /** Which claim this is: every later transition must come from the same claim (see `claimed`). */
  attempts: number;
  dueAt: Date;
  /** Papers chosen by an earlier attempt: a retry sends the same digest, under the same Message-ID. */
  paperIds: string[];
}

/** Claims a delivery for sending; null when it is done or another worker holds an unexpired lease. */
export async function claimDelivery(
  db: Database,
  id: string,
  leaseMs: number = LEASE_MS,
): Promise<ClaimedDelivery | null> {
  const rows = await db.$queryRaw<ClaimedDelivery[]>`
    UPDATE delivery
       SET status = 'sending', lease_until = ${leaseEnd(leaseMs)}, attempts = attempts + 1, updated_at = now()
     WHERE id = ${id}::uuid
       AND (status = 'pending' OR (status = 'sending' AND lease_until < now()))
    RETURNING id, subscriber_id AS "subscriberId", kind, digest_key AS "digestKey", attempts, due_at AS "dueAt",
              paper_ids AS "paperIds"`;
  return rows[0] ?? null;
}

/**
 * Only the worker holding the current claim may move a delivery on: a worker whose lease ran out (and
 * was taken over) must not mark, release or fail it. Returns false when the claim was lost.
 */
const claimed = (delivery: Pick<ClaimedDelivery, 'id' | 'attempts'>) => ({
  id: delivery.id,
  status: 'sending' as const,
  attempts: delivery.attempts,
});

/** Why `startSending` said no: the claim is gone (another worker sends), or the reader may no longer get it. */
export type SendRefusal = 'claim-lost' | 'reader-gone';

/**
 * The last step before the SMTP conversation: checks the claim is still ours (composing may have outlived
 * the lease, and another worker taken over), that the reader may still get this email (an unsubscribe or a
 * suppression may have committed while it was being composed), renews the lease so the whole send fits in
 * it, and keeps the papers chosen for a digest, so a retry sends the very same email. One statement: a
 * delivery whose reader is gone ends skipped right here. Returns true to send, or why not.
 */
export async function startSending(
  db: Database,
  delivery: ClaimedDelivery,
  message: { to: string; paperIds: string[] | undefined },
  leaseMs: number = LEASE_MS,
): Promise<true | SendRefusal> {
  const paperIds = message.paperIds ?? null;
  const rows = await db.$queryRaw<{ sendable: boolean }[]>`
    WITH target AS (
      SELECT d.id, EXISTS (
               SELECT 1 FROM subscriber s
                WHERE s.id = d.subscriber_id AND ${Prisma.raw(EMAIL_KINDS[delivery.kind].sendableReader)}
                  AND NOT EXISTS (SELECT 1 FROM suppression x WHERE x.address_hash = ${addressHash(message.to)})
             ) AS sendable
        FROM delivery d
       WHERE d.id = ${delivery.id}::uuid AND d.status = 'sending' AND d.attempts = ${delivery.attempts}
         FOR UPDATE
    )
    UPDATE delivery d
       SET lease_until = CASE WHEN t.sendable THEN ${leaseEnd(leaseMs)} END,
           status = CASE WHEN t.sendable THEN d.status ELSE 'skipped' END,
           last_error = CASE WHEN t.sendable THEN d.last_error
                             ELSE 'the reader unsubscribed, paused or was suppressed before it went out' END,
           paper_ids = CASE WHEN t.sendable AND ${paperIds}::text[] IS NOT NULL THEN ${paperIds}::text[]
                            ELSE d.paper_ids END,
           updated_at = now()
      FROM target t
     WHERE d.id = t.id
    RETURNING t.sendable`;
  if (!rows[0]) return 'claim-lost';
  return rows[0].sendable ? true : 'reader-gone';
}

/** Records a sent delivery and, for a digest, its papers: never sent to this reader again. */
export async function markSent(db: Database, delivery: ClaimedDelivery, messageId: string, paperIds: string[] = []) {
  // One statement (one round trip, atomic): the delivery is sent and its papers are remembered together,
  // and only by the worker that still holds the claim.
  const [row] = await db.$queryRaw<{ sent: number }[]>`
    WITH sent AS (
      UPDATE delivery
         SET status = 'sent', message_id = ${messageId}, sent_at = now(), lease_until = NULL, last_error = NULL,
             paper_ids = ${paperIds}::text[], updated_at = now()
       WHERE id = ${delivery.id}::uuid AND status = 'sending' AND attempts = ${delivery.attempts}
      RETURNING id, subscriber_id
    ), remembered AS (
      INSERT INTO sent_paper (subscriber_id, paper_id, delivery_id)
      SELECT sent.subscriber_id, paper.id, sent.id FROM sent CROSS JOIN unnest(${paperIds}::text[]) AS paper(id)
      ON CONFLICT DO NOTHING
    )
    SELECT count(*)::int AS sent FROM sent`;
  return (row?.sent ?? 0) > 0;
}

/** Gives the delivery back for a later attempt (the queue retries it with backoff). */
export async function releaseDelivery(db: Database, delivery: ClaimedDelivery, error: string) {
  const { count } = await db.delivery.updateMany({
    where: claimed(delivery),
    data: { status: 'pending', leaseUntil: null, lastError: error },
  });
  return count > 0;
}

export async function finishDelivery(
  db: Database,
  delivery: ClaimedDelivery,
  status: 'failed' | 'skipped',
  reason: string,
) {
  const { count } = await db.delivery.updateMany({
    where: claimed(delivery),
    data: { status, leaseUntil: null, lastError: reason },
  });
  return count > 0;
}

/** Unfinished: pending, or held by a worker whose lease ran out (by Postgres's clock). It belongs in a queue. */
const UNFINISHED = Prisma.sql`(status = 'pending' OR (status = 'sending' AND lease_until < now()))`;

/** Deliveries of these kinds that should be in the queue, oldest first. */
export async function findUnfinishedDeliveries(
  db: Database,
  kinds: DeliveryKind[],
  createdAfter: Date,
): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT id FROM delivery
     WHERE kind = ANY(${kinds}::delivery_kind[]) AND created_at > ${createdAfter} AND ${UNFINISHED}
     ORDER BY created_at
     LIMIT 10000`;
  return rows.map((row) => row.id);
}

/** Which of these deliveries are still unfinished now (a re-read just before queueing them). */
export async function stillUnfinished(db: Database, ids: string[]): Promise<Set<string>> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT id FROM delivery WHERE id = ANY(${ids}::uuid[]) AND ${UNFINISHED}`;
  return new Set(rows.map((row) => row.id));
}

/** A Message-ID that is the same for every attempt at one delivery, so receivers can drop repeats. */
export function messageIdFor(deliveryId: string, publicUrl: string): string {
  return `<${deliveryId}@${new URL(publicUrl).hostname}>`;
}
