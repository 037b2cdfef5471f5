// Bounces and complaints, whether the SMTP server said so or a provider's webhook did: the one place that
// records them and decides when an address must never be mailed again.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SOFT_BOUNCE_DEFAULTS, type Config } from '../../config.ts';
import type { Database, DbClient } from '../../db/client.ts';
import type { SubscriberStatus, SuppressionReason } from '../../generated/prisma/client.ts';
import { emailsBounced } from '../../metrics.ts';
import { cleanText, isPlainText, isStorableDate, withoutAddresses } from '../../text.ts';
import { isHashSuppressed, suppressForFeedback } from '../mail/suppressions.ts';
import { addressHash, emailAddress } from './address.ts';

export const BOUNCE_TYPES = ['hard', 'soft', 'complaint'] as const;
export type BounceType = (typeof BOUNCE_TYPES)[number];

export type BouncePolicy = Pick<Config, 'SOFT_BOUNCE_LIMIT' | 'SOFT_BOUNCE_WINDOW_DAYS'>;

/**
 * How far in the future a sender's clock may date an event. Beyond it the date is wrong, and refusing it
 * also lets the soft-bounce count look only at events received since the window began.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** Most events in one webhook request. */
export const MAX_BATCH = 500;

export interface BounceReport {
  type: BounceType;
  /** Normalised as subscribers' addresses are (see emailAddress). Never stored: only its hash is. */
  address: string;
  /** When the provider saw it; defaults to when we are told. */
  occurredAt?: Date | undefined;
  reason?: string | undefined;
  /** The Message-ID of our email, if the provider knows it. */
  messageId?: string | undefined;
  /** The provider's own id for the event: the safest way to recognise a replay. */
  providerId?: string | undefined;
  source: 'smtp' | 'webhook';
}

export interface BounceOutcome {
  status: 'recorded' | 'duplicate';
  /** Whether the address is suppressed now (by this event or an earlier one). */
  suppressed: boolean;
}

const plainText = (max: number, what: string) =>
  z
    .string({ error: `must be ${what}` })
    .max(max, { error: `must be at most ${max} characters` })
    .refine(isPlainText, { error: 'must not contain control characters or invalid Unicode' });

/** One event as a provider (or a small adapter in front of one) posts it to the webhook. */
export const bounceEventInput = z
  .object({
    id: plainText(200, 'the provider’s event id as a string').pipe(z.string().trim().min(1)).optional(),
    address: z.string({ error: 'is required: the address that bounced or complained' }).pipe(emailAddress),
    type: z.enum(BOUNCE_TYPES, { error: 'must be "hard", "soft" or "complaint"' }),
    // Reasons are free text from mail servers: newlines and tabs are common, the rest is cleaned on storing.
    reason: z.string({ error: 'must be text' }).max(2000, { error: 'must be at most 2000 characters' }).optional(),
    occurredAt: z.iso
      .datetime({ offset: true, error: 'must be an ISO 8601 date-time such as 2026-11-28T09:30:00Z' })
      .transform((value) => new Date(value))
      .refine((date) => date.getTime() <= Date.now() + MAX_CLOCK_SKEW_MS, { error: 'must not be in the future' })
      .refine(isStorableDate, { error: 'must be in year 1 or later' })
      .optional(),
    messageId: plainText(998, 'the Message-ID of our email').optional(),
  })
  .describe('A bounce or complaint for one address.');

const isBatch = (input: unknown) => typeof input === 'object' && input !== null && 'events' in input;

/** One event, or `{ events: [...] }` with up to MAX_BATCH of them. */
export const bounceWebhookBody = z.union(
  [
    z.object({
      events: z
        .array(bounceEventInput, { error: 'must be a list of events' })
        .min(1, { error: 'must hold at least one event' })
        .max(MAX_BATCH, { error: `must hold at most ${MAX_BATCH} events; send the rest in another request` }),
    }),
    bounceEventInput,
  ],
  {
    // A union's own message is "Invalid input"; say what is wrong with the form the sender meant instead.
    error: (issue) => {
      if (issue.code !== 'invalid_union') return undefined;
      const meant = issue.errors[isBatch(issue.input) ? 0 : 1] ?? [];
      return meant.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
    },
  },
);

export type BounceEventInput = z.output<typeof bounceEventInput>;

export const bounceOutcome = z.object({
  status: z.enum(['recorded', 'duplicate']).describe('duplicate: this event was already recorded; nothing changed.'),
  suppressed: z.boolean().describe('Whether the address is now suppressed (by this event or an earlier one).'),
});

const cleanReason = (reason: string) => cleanText(withoutAddresses(reason), 500);

/**
 * The key that makes a replay a no-op: the provider's event id when there is one, else a digest of what
 * the event says. Without an id or an occurredAt, a resent event cannot be recognised (it gets a new time).
 */
export function bounceDedupeKey(report: BounceReport, occurredAt: Date, reason: string | undefined): string {
  if (report.providerId) return `bounce:id:${report.providerId}`;
  const what = [addressHash(report.address), report.type, occurredAt.toISOString(), reason ?? ''].join('\n');
  return `bounce:sha256:${createHash('sha256').update(what).digest('hex')}`;
}

/** Complained outranks bounced, which outranks every other status. */
const STATUS_STRENGTH: Partial<Record<SubscriberStatus, number>> = { bounced: 1, complained: 2 };

/** Soft bounces of an address that happened (by the provider's clock) within the window ending now. */
async function recentSoftBounces(tx: DbClient, hash: string, windowDays: number, now: Date): Promise<number> {
  const since = new Date(now.getTime() - windowDays * 86_400_000);
  // Nothing dated after `since` can have been received before `since` minus the allowed skew: that bound
  // lets the (type, created_at) index do the work instead of every bounce ever recorded.
  const [row] = await tx.$queryRaw<{ count: number }[]>`
    SELECT count(*)::int AS count FROM event
    WHERE type = 'bounce' AND created_at >= ${new Date(since.getTime() - MAX_CLOCK_SKEW_MS)}
      AND data->>'addressHash' = ${hash} AND data->>'type' = 'soft'
      AND (data->>'occurredAt')::timestamptz > ${since}`;
  return row?.count ?? 0;
}

/**
 * Records a bounce or complaint once and applies it: a hard bounce or a complaint suppresses the address at
 * once, soft bounces when SOFT_BOUNCE_LIMIT of them happened within SOFT_BOUNCE_WINDOW_DAYS. A suppression
 * is never weakened, and a subscriber's status only moves towards complained. Replays (same dedupe key,
 * even at the same instant) change nothing. Works for addresses that have no subscriber.
 */
export async function recordBounce(
  db: Database,
  report: BounceReport,
  policy: BouncePolicy = SOFT_BOUNCE_DEFAULTS,
  now: Date = new Date(),
): Promise<BounceOutcome> {
  const hash = addressHash(report.address);
  const occurredAt = report.occurredAt ?? now;
  if (occurredAt.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
    throw new RangeError('a bounce cannot have happened in the future');
  }
  const reason = report.reason === undefined ? undefined : cleanReason(report.reason);
  const data = {
    type: report.type,
    addressHash: hash,
    occurredAt: occurredAt.toISOString(),
    source: report.source,
    ...(reason ? { reason } : {}),
    ...(report.messageId ? { messageId: report.messageId } : {}),
    ...(report.providerId ? { providerId: report.providerId } : {}),
  };

  const outcome = await db.$transaction(async (tx): Promise<BounceOutcome> => {
    // The address's lock (shared with signup and forget-me): concurrent soft bounces count one after the
    // other, and a signup cannot slip in between checking and writing the suppression.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`signup:${hash}`}))`;
    const subscriber = await tx.subscriber.findUnique({
      where: { email: report.address },
      select: { id: true, status: true },
    });
    // ON CONFLICT rather than catching P2002: a failed statement would abort the whole transaction.
    const inserted = await tx.$queryRaw<{ id: bigint }[]>`
      INSERT INTO event (subscriber_id, type, data, dedupe_key, created_at)
      VALUES (${subscriber?.id ?? null}::uuid, ${report.type === 'complaint' ? 'complaint' : 'bounce'},
              ${JSON.stringify(data)}::jsonb, ${bounceDedupeKey(report, occurredAt, reason)}, ${now})
      ON CONFLICT (dedupe_key) DO NOTHING
      RETURNING id`;
    const suppressedAlready = () => isHashSuppressed(tx, hash);
    if (inserted.length === 0) return { status: 'duplicate', suppressed: await suppressedAlready() };

    let suppression: SuppressionReason | undefined;
    let detail = reason ?? null;
    if (report.type === 'hard') suppression = 'hard_bounce';
    else if (report.type === 'complaint') suppression = 'complaint';
    else {
      const count = await recentSoftBounces(tx, hash, policy.SOFT_BOUNCE_WINDOW_DAYS, now);
      if (count >= policy.SOFT_BOUNCE_LIMIT) {
        suppression = 'soft_bounce';
        detail = `${count} soft bounces within ${policy.SOFT_BOUNCE_WINDOW_DAYS} days${reason ? `; last: ${reason}` : ''}`;
      }
    }
    if (!suppression) return { status: 'recorded', suppressed: await suppressedAlready() };

    await suppressForFeedback(tx, hash, suppression, detail?.slice(0, 500) ?? null);
    const status: SubscriberStatus = suppression === 'complaint' ? 'complained' : 'bounced';
    if (subscriber && (STATUS_STRENGTH[subscriber.status] ?? 0) < STATUS_STRENGTH[status]!) {
      await tx.subscriber.update({ where: { id: subscriber.id }, data: { status } });
    }
    return { status: 'recorded', suppressed: true };
  });
  if (outcome.status === 'recorded') emailsBounced.inc({ type: report.type });
  return outcome;
}

/** The webhook's form of an event, as the module takes it. */
export function bounceReportOf(event: BounceEventInput): BounceReport {
  return {
    type: event.type,
    address: event.address,
    occurredAt: event.occurredAt,
    reason: event.reason,
    messageId: event.messageId,
    providerId: event.id,
    source: 'webhook',
  };
}
