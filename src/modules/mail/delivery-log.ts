// Looking back at deliveries: the operator's lists and numbers and a reader's export. Read-only; the rows
// are written by the outbox, the scheduler and the delivery state machine.
import { z } from 'zod';
import type { Database, DbClient } from '../../db/client.ts';
import type { DeliveryKind, DeliveryStatus } from '../../generated/prisma/client.ts';
import { NotFoundError } from '../../errors.ts';
import { after, decodeCursor, newestFirst, pageOf, type PageQuery } from '../admin/pagination.ts';

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
const deliverySelect = {
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

/** A reader's latest deliveries, newest first, as their admin profile lists them. */
export async function latestDeliveriesOf(db: DbClient, subscriberId: string, take: number) {
  return db.delivery.findMany({
    where: { subscriberId },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take,
    select: deliverySelect,
  });
}

/** Every delivery of a reader, for "export my data": what was sent and when, not how it was sent. */
export async function deliveriesForExport(db: DbClient, subscriberId: string) {
  return db.delivery.findMany({
    where: { subscriberId },
    select: { kind: true, digestKey: true, status: true, paperIds: true, sentAt: true, createdAt: true },
  });
}

/** Emails of every kind marked sent in [since, until) (by sentAt). */
export async function sentBetween(db: Database, since: Date, until: Date): Promise<number> {
  return db.delivery.count({ where: { status: 'sent', sentAt: { gte: since, lt: until } } });
}

/**
 * Digest outcomes per UTC calendar day of dueAt (when the reader's send hour came, which never changes
 * afterwards), for the days in [from, until). Days without digests are absent.
 */
export async function digestOutcomesByDueDay(db: Database, from: Date, until: Date) {
  return db.$queryRaw<{ day: string; sent: number; skipped: number; failed: number }[]>`
    SELECT to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
           count(*) FILTER (WHERE status = 'sent')::int AS sent,
           count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
           count(*) FILTER (WHERE status = 'failed')::int AS failed
      FROM delivery
     WHERE kind = 'digest' AND due_at >= ${from} AND due_at < ${until}
     GROUP BY 1`;
}
