// What operators do with readers: find them, look at one, change their status, delete them.
// Every change is written to the Event table (type 'admin_status_change') with the change itself.
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { Prisma, type SubscriberStatus } from '../../generated/prisma/client.ts';
import { ConflictError, NotFoundError } from '../../errors.ts';
import { latestDeliveriesOf } from '../mail/delivery-log.ts';
import { suppressionOf } from '../mail/suppressions.ts';
import { forgetSubscriber, recordEvent } from '../subscribers/subscriptions.ts';
import { after, decodeCursor, likeText, newestFirst, pageOf, type PageQuery } from './pagination.ts';

export const SUBSCRIBER_DETAIL_DELIVERIES = 50;
export const SUBSCRIBER_DETAIL_EVENTS = 100;

export interface SubscriberFilter extends PageQuery {
  /** Case-insensitive substring of the address. */
  email?: string | undefined;
  status?: SubscriberStatus | undefined;
  /** Topic slug: readers who chose it. */
  topic?: string | undefined;
}

const summarySelect = {
  id: true,
  email: true,
  status: true,
  pausedAt: true,
  frequency: true,
  timeZone: true,
  sendHour: true,
  createdAt: true,
  confirmedAt: true,
  unsubscribedAt: true,
  topics: { select: { topic: { select: { slug: true } } }, orderBy: { topic: { slug: 'asc' } } },
} satisfies Prisma.SubscriberSelect;

const withTopicSlugs = <T extends { topics: { topic: { slug: string } }[] }>({ topics, ...rest }: T) => ({
  ...rest,
  topics: topics.map(({ topic }) => topic.slug),
});

export async function listSubscribers(db: Database, filter: SubscriberFilter) {
  const cursor = decodeCursor(filter.cursor, z.uuid());
  if (filter.topic !== undefined && !(await db.topic.findUnique({ where: { slug: filter.topic } }))) {
    throw new NotFoundError(`There is no topic "${filter.topic}".`);
  }
  const rows = await db.subscriber.findMany({
    where: {
      ...(filter.email ? { email: { contains: likeText(filter.email), mode: 'insensitive' } } : {}),
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.topic ? { topics: { some: { topic: { slug: filter.topic } } } } : {}),
      ...after(cursor, 'id'),
    },
    select: summarySelect,
    orderBy: [...newestFirst('id')],
    take: filter.limit + 1,
  });
  const page = pageOf(rows, filter.limit, (row) => row.id);
  return { ...page, items: page.items.map(withTopicSlugs) };
}

/** A reader's profile, topics, latest deliveries and latest events; null when there is no such reader. */
export async function subscriberDetail(db: Database, id: string) {
  const subscriber = await db.subscriber.findUnique({
    where: { id },
    include: {
      topics: { select: { topic: { select: { slug: true } } }, orderBy: { topic: { slug: 'asc' } } },
      events: {
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: SUBSCRIBER_DETAIL_EVENTS,
        select: { id: true, type: true, data: true, createdAt: true },
      },
    },
  });
  if (!subscriber) return null;
  const [deliveries, suppression] = await Promise.all([
    latestDeliveriesOf(db, id, SUBSCRIBER_DETAIL_DELIVERIES),
    suppressionOf(db, subscriber.email),
  ]);
  const { events, ...profile } = withTopicSlugs(subscriber);
  return {
    ...profile,
    suppressed: suppression ? { reason: suppression.reason, createdAt: suppression.createdAt } : null,
    deliveries,
    // Event ids are bigints, which JSON cannot carry as numbers.
    events: events.map((event) => ({ ...event, id: event.id.toString() })),
  };
}

/**
 * What an operator may change. Statuses the mail system sets (bounced, complained) and the reader's own
 * steps (pending → active is their confirmation) are not offered: an operator cannot give consent for them.
 */
export const statusChange = z
  .object({
    status: z.enum(['active', 'unsubscribed']).optional(),
    paused: z.boolean().optional(),
  })
  .strict()
  .refine((change) => change.status !== undefined || change.paused !== undefined, {
    message: 'Send "status" ("active" or "unsubscribed"), "paused" (true or false), or both.',
  });
export type StatusChange = z.infer<typeof statusChange>;

/** Why a reader cannot be (re)activated by an operator, or null when they can. */
function activationRefusal(from: SubscriberStatus): string | null {
  switch (from) {
    case 'pending':
      return 'This reader has not confirmed their address yet; only they can, with the link in their confirmation email (double opt-in).';
    case 'unsubscribed':
      return 'This reader unsubscribed; only they can subscribe again (through the signup form), so that their consent is recorded.';
    default:
      return null;
  }
}

/**
 * Applies an operator's status change. Allowed: unsubscribe anyone not yet unsubscribed; reactivate a
 * bounced or complained reader whose address is not suppressed (lift the suppression first: the mail
 * system or the reader put it there for a reason); pause or resume an active reader. Asking for the
 * state the reader is already in changes nothing and records nothing.
 */
export async function changeSubscriberStatus(db: Database, id: string, change: StatusChange, now = new Date()) {
  await db.$transaction(async (tx) => {
    // Locked, so two operators (or an operator and the reader's own unsubscribe) cannot interleave.
    const [current] = await tx.$queryRaw<{ email: string; status: SubscriberStatus; paused: boolean }[]>`
      SELECT email, status::text AS status, paused_at IS NOT NULL AS paused FROM subscriber WHERE id = ${id}::uuid FOR UPDATE`;
    if (!current) throw new NotFoundError('There is no such subscriber.');

    const status = change.status ?? current.status;
    const paused = change.paused ?? current.paused;
    if (status === current.status && paused === current.paused) return;

    if (status !== current.status && status === 'active') {
      const refusal = activationRefusal(current.status);
      if (refusal) throw new ConflictError(refusal);
      const suppression = await suppressionOf(tx, current.email);
      if (suppression) {
        throw new ConflictError(
          `The address is suppressed (${suppression.reason.replace('_', ' ')} since ${suppression.createdAt.toISOString()}), so it cannot be reactivated: remove the suppression first if you are sure it can receive mail again.`,
        );
      }
    }
    if (paused !== current.paused && status !== 'active') {
      throw new ConflictError(`Only an active reader can be paused or resumed; this one is ${status}.`);
    }

    await tx.subscriber.update({
      where: { id },
      data: {
        status,
        pausedAt: paused ? (current.paused ? undefined : now) : null,
        ...(status === 'unsubscribed' && current.status !== 'unsubscribed' ? { unsubscribedAt: now } : {}),
      },
    });
    await recordEvent(tx, id, 'admin_status_change', {
      from: { status: current.status, paused: current.paused },
      to: { status, paused },
    });
  });
}

/**
 * An admin delete is the reader's own "delete me": the row and its history go, and the address stays
 * suppressed as 'forgotten', so a deleted reader is never mailed again by mistake (nor re-added by a
 * signup someone else makes for them). Lift the suppression to let them sign up again.
 */
export async function deleteSubscriber(db: Database, id: string) {
  if (!(await db.subscriber.findUnique({ where: { id }, select: { id: true } }))) {
    throw new NotFoundError('There is no such subscriber.');
  }
  try {
    await forgetSubscriber(db, id, 'admin');
  } catch (error) {
    // Deleted by someone else between the check and the delete.
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2025') {
      throw new NotFoundError('There is no such subscriber.');
    }
    throw error;
  }
}
