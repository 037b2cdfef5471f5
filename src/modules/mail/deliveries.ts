// The delivery state machine: Postgres decides who may send an email, so nothing goes out twice.
//   pending ──claim──▶ sending ──▶ sent | failed | skipped
//      ▲                  │
//      └────release───────┘  (a retryable failure, or a lease that ran out because the worker died)
import type { Database } from '../../db/client.ts';
import type { DeliveryKind } from '../../generated/prisma/client.ts';

/** How long a worker may hold a delivery before another may take it over. */
export const LEASE_MS = 2 * 60_000;

export interface ClaimedDelivery {
  id: string;
  subscriberId: string;
  kind: DeliveryKind;
  digestKey: string;
  attempts: number;
  dueAt: Date;
}

/** Claims a delivery for sending; null when it is done or another worker holds an unexpired lease. */
export async function claimDelivery(db: Database, id: string, now: Date = new Date()): Promise<ClaimedDelivery | null> {
  const leaseUntil = new Date(now.getTime() + LEASE_MS);
  const rows = await db.$queryRaw<ClaimedDelivery[]>`
    UPDATE delivery
       SET status = 'sending', lease_until = ${leaseUntil}, attempts = attempts + 1, updated_at = now()
     WHERE id = ${id}::uuid
       AND (status = 'pending' OR (status = 'sending' AND lease_until < ${now}))
    RETURNING id, subscriber_id AS "subscriberId", kind, digest_key AS "digestKey", attempts, due_at AS "dueAt"`;
  return rows[0] ?? null;
}

/** Records a sent delivery and, for a digest, its papers: never sent to this reader again. One transaction. */
export async function markSent(db: Database, id: string, messageId: string, paperIds: string[] = []): Promise<void> {
  await db.$transaction(async (tx) => {
    const delivery = await tx.delivery.update({
      where: { id },
      data: { status: 'sent', messageId, sentAt: new Date(), leaseUntil: null, lastError: null, paperIds },
    });
    if (paperIds.length) {
      await tx.sentPaper.createMany({
        data: paperIds.map((paperId) => ({ subscriberId: delivery.subscriberId, paperId, deliveryId: id })),
        skipDuplicates: true,
      });
    }
  });
}

/** Gives the delivery back for a later attempt (the queue retries it with backoff). */
export async function releaseDelivery(db: Database, id: string, error: string): Promise<void> {
  await db.delivery.update({ where: { id }, data: { status: 'pending', leaseUntil: null, lastError: error } });
}

export async function finishDelivery(db: Database, id: string, status: 'failed' | 'skipped', reason: string) {
  await db.delivery.update({ where: { id }, data: { status, leaseUntil: null, lastError: reason } });
}

/** Deliveries of these kinds that should be in the queue: pending, or held by a worker whose lease ran out. */
export async function findUnfinishedDeliveries(
  db: Database,
  kinds: DeliveryKind[],
  createdAfter: Date,
  now: Date = new Date(),
): Promise<string[]> {
  const rows = await db.delivery.findMany({
    where: {
      kind: { in: kinds },
      createdAt: { gt: createdAfter },
      OR: [{ status: 'pending' }, { status: 'sending', leaseUntil: { lt: now } }],
    },
    select: { id: true },
    orderBy: { createdAt: 'asc' },
    take: 10_000,
  });
  return rows.map((row) => row.id);
}

/** A Message-ID that is the same for every attempt at one delivery, so receivers can drop repeats. */
export function messageIdFor(deliveryId: string, publicUrl: string): string {
  return `<${deliveryId}@${new URL(publicUrl).hostname}>`;
}
