// The numbers an operator checks first: who reads, what they read, whether digests go out, and whether
// mail providers are unhappy with us (bounce and complaint rates).
import type { Database } from '../../db/client.ts';
import type { SubscriberStatus } from '../../generated/prisma/client.ts';
import { digestOutcomesByDueDay, sentBetween } from '../mail/delivery-log.ts';
import { suppressionsCreatedBetween } from '../mail/suppressions.ts';

export const DIGEST_DAYS = 30;
const DAY_MS = 86_400_000;
const STATUSES: SubscriberStatus[] = ['pending', 'active', 'unsubscribed', 'bounced', 'complained'];

interface Deliverability {
  /** Emails of every kind marked sent in the window (by sentAt). */
  sent: number;
  /** Suppressions with reason hard_bounce or soft_bounce created in the window. */
  bounces: number;
  /** Suppressions with reason complaint created in the window. */
  complaints: number;
  /** bounces ÷ sent; null when nothing was sent. */
  bounceRate: number | null;
  complaintRate: number | null;
}

/**
 * Bounces and complaints are counted from the suppression list (one row per address, created when it
 * was first suppressed), so the numbers do not depend on how a bounce arrived (SMTP answer or webhook).
 */
async function deliverability(db: Database, since: Date, until: Date): Promise<Deliverability> {
  const [sent, suppressed] = await Promise.all([
    sentBetween(db, since, until),
    suppressionsCreatedBetween(db, since, until),
  ]);
  const bounces = (suppressed.hard_bounce ?? 0) + (suppressed.soft_bounce ?? 0);
  const complaints = suppressed.complaint ?? 0;
  return {
    sent,
    bounces,
    complaints,
    bounceRate: sent ? bounces / sent : null,
    complaintRate: sent ? complaints / sent : null,
  };
}

export async function adminStats(db: Database, now: Date = new Date()) {
  const byStatusRows = await db.subscriber.groupBy({ by: ['status'], _count: { _all: true } });
  const byStatus = Object.fromEntries(
    STATUSES.map((status) => [status, byStatusRows.find((row) => row.status === status)?._count._all ?? 0]),
  ) as Record<SubscriberStatus, number>;
  const paused = await db.subscriber.count({ where: { status: 'active', pausedAt: { not: null } } });

  const byTopic = await db.$queryRaw<{ slug: string; name: string; activeReaders: number }[]>`
    SELECT t.slug, t.name, count(s.id)::int AS "activeReaders"
      FROM topic t
      LEFT JOIN subscriber_topic st ON st.topic_id = t.id
      LEFT JOIN subscriber s ON s.id = st.subscriber_id AND s.status = 'active'
     GROUP BY t.id
     ORDER BY "activeReaders" DESC, t.slug`;

  // Days are UTC calendar days of each digest's dueAt (when the reader's send hour came), which never
  // changes afterwards; today is the last of the DIGEST_DAYS days.
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const firstDay = new Date(today - (DIGEST_DAYS - 1) * DAY_MS);
  const digestRows = await digestOutcomesByDueDay(db, firstDay, new Date(today + DAY_MS));
  const digestsByDueDay = Array.from({ length: DIGEST_DAYS }, (_, index) => {
    const day = new Date(firstDay.getTime() + index * DAY_MS).toISOString().slice(0, 10);
    const row = digestRows.find((candidate) => candidate.day === day);
    return { day, sent: row?.sent ?? 0, skipped: row?.skipped ?? 0, failed: row?.failed ?? 0 };
  });

  const [last7Days, last30Days] = await Promise.all([
    deliverability(db, new Date(now.getTime() - 7 * DAY_MS), now),
    deliverability(db, new Date(now.getTime() - 30 * DAY_MS), now),
  ]);

  return {
    generatedAt: now,
    readers: { byStatus, pausedActive: paused },
    activeReadersByTopic: byTopic,
    digestsByDueDay,
    deliverability: { last7Days, last30Days },
  };
}
