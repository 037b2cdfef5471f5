// The life of a subscription: signup, double opt-in, preferences, unsubscribe, export and forget-me.
// Every state change is written to the Event table in the same transaction as the change itself.
import type { Config } from '../../config.ts';
import type { Database, DbClient } from '../../db/client.ts';
import type { Subscriber } from '../../generated/prisma/client.ts';
import { deliveriesForExport } from '../mail/delivery-log.ts';
import { createTransactionalDelivery } from '../mail/outbox.ts';
import { isSuppressed, suppressAddress } from '../mail/suppressions.ts';
import { addressHash } from './address.ts';
import { recordBounce } from './bounces.ts';
import type { Preferences } from './preferences.ts';
import { TokenError, verifyToken, type TokenClaims, type TokenPurpose } from './tokens.ts';

export const FORM_VERSION = 'signup-2026-11';

export interface Consent {
  ip: string;
  userAgent: string;
  formVersion: string;
}

type Keys = Config['TOKEN_KEYS'];

export async function recordEvent(db: DbClient, subscriberId: string | null, type: string, data: object = {}) {
  await db.event.create({ data: { subscriberId, type, data } });
}

function preferenceColumns(prefs: Preferences) {
  return {
    frequency: prefs.frequency,
    weeklyDay: prefs.frequency === 'weekly' ? prefs.weeklyDay : null,
    sendHour: prefs.sendHour,
    timeZone: prefs.timeZone,
    maxPapers: prefs.maxPapers,
    includeKeywords: prefs.keywords,
    excludeKeywords: prefs.excludeKeywords,
  };
}

/** Makes the reader's topics exactly these slugs (unknown ones are ignored): two statements, no lookups. */
async function setTopics(db: DbClient, subscriberId: string, slugs: string[], isNew = false) {
  if (!isNew) {
    await db.$executeRaw`
      DELETE FROM subscriber_topic st
       WHERE st.subscriber_id = ${subscriberId}::uuid
         AND st.topic_id NOT IN (SELECT id FROM topic WHERE slug = ANY(${slugs}::text[]))`;
  }
  await db.$executeRaw`
    INSERT INTO subscriber_topic (subscriber_id, topic_id)
    SELECT ${subscriberId}::uuid, id FROM topic WHERE slug = ANY(${slugs}::text[])
    ON CONFLICT DO NOTHING`;
}

/**
 * Signs an address up. Whatever its state the caller answers the same way, so the form cannot be used
 * to learn who is subscribed; what happens differs: a new (or formerly unsubscribed) address gets a
 * confirmation email, an active one a manage link, a suppressed one nothing. Returns the delivery to
 * send, if any (at most one per address per window).
 */
export async function signUp(
  db: Database,
  config: Pick<Config, 'CONFIRM_EMAIL_WINDOW_MINUTES'>,
  email: string,
  prefs: Preferences,
  consent: Consent,
  now: Date = new Date(),
): Promise<string | undefined> {
  return db.$transaction(async (tx) => {
    // Serialise signups of one address (and its deletion), so two at once cannot both create it.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`signup:${addressHash(email)}`}))`;
    // A suppressed address changes nothing here, not only gets no mail (the outbox would refuse that too).
    if (await isSuppressed(tx, email)) return undefined;
    const existing = await tx.subscriber.findUnique({ where: { email } });
    const consentColumns = {
      consentAt: now,
      consentIp: consent.ip,
      consentUserAgent: consent.userAgent.slice(0, 500),
      consentFormVersion: consent.formVersion,
    };
    if (existing?.status === 'active') {
      await recordEvent(tx, existing.id, 'signup_while_active', { ip: consent.ip });
      return createTransactionalDelivery(tx, existing, 'manage_link', now, config.CONFIRM_EMAIL_WINDOW_MINUTES);
    }
    let subscriber: Subscriber;
    if (!existing) {
      subscriber = await tx.subscriber.create({
        data: { email, status: 'pending', ...preferenceColumns(prefs), ...consentColumns },
      });
    } else {
      // Pending: the latest form wins. Unsubscribed (or bounced before): a resubscription, and every
      // link from the earlier subscription stops working.
      subscriber = await tx.subscriber.update({
        where: { id: existing.id },
        data: {
          status: 'pending',
          ...preferenceColumns(prefs),
          ...consentColumns,
          ...(existing.status === 'pending'
            ? {}
            : { tokenVersion: { increment: 1 }, unsubscribedAt: null, confirmedAt: null }),
        },
      });
    }
    await setTopics(tx, subscriber.id, prefs.topics, !existing);
    const event = !existing ? 'signup' : existing.status === 'pending' ? 'signup_again' : 'resubscribe';
    await recordEvent(tx, subscriber.id, event, {
      ip: consent.ip,
      formVersion: consent.formVersion,
      topics: prefs.topics,
    });
    return createTransactionalDelivery(tx, subscriber, 'confirm', now, config.CONFIRM_EMAIL_WINDOW_MINUTES);
  });
}

export type LinkProblem = TokenError['reason'] | 'revoked' | 'unknown';

export class LinkError extends Error {
  readonly problem: LinkProblem;
  /** For an expired confirmation: who to offer a fresh link to. */
  readonly subscriberId: string | undefined;
  constructor(problem: LinkProblem, subscriberId?: string) {
    super(`link refused: ${problem}`);
    this.name = 'LinkError';
    this.problem = problem;
    this.subscriberId = subscriberId;
  }
}

/** The subscriber a link belongs to, if the link is genuine, unexpired, for this purpose and not revoked. */
export async function subscriberForLink(
  db: DbClient,
  keys: Keys,
  token: string,
  purpose: TokenPurpose,
  now: Date = new Date(),
): Promise<{ subscriber: Subscriber; claims: TokenClaims }> {
  let claims: TokenClaims;
  try {
    claims = verifyToken(keys, token, purpose, now);
  } catch (error) {
    if (!(error instanceof TokenError)) throw error;
    if (error.reason === 'expired') {
      // Still signed by us, so the subscriber id can be trusted enough to offer a new link.
      const [, payload] = token.split('.');
      const id = (JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as { s?: string }).s;
      throw new LinkError('expired', id);
    }
    throw new LinkError(error.reason);
  }
  const subscriber = await db.subscriber.findUnique({ where: { id: claims.subscriberId } });
  if (!subscriber) {
    // A case variant merged into another reader (see the migration that case-folded addresses): its
    // unsubscribe links now act for the reader that stayed, whose versions are its own.
    const merged =
      purpose === 'unsubscribe'
        ? await db.mergedSubscriber.findUnique({ where: { id: claims.subscriberId }, include: { kept: true } })
        : null;
    if (merged) return { subscriber: merged.kept, claims: { ...claims, subscriberId: merged.keptId } };
    throw new LinkError('unknown');
  }
  // An unsubscribe link only ever removes mail, so it outlives "sign out every link" and a resubscription:
  // every email keeps a working way out for as long as its link lives (a year), and a version we never
  // signed is still refused.
  const current =
    purpose === 'unsubscribe' ? claims.version <= subscriber.tokenVersion : claims.version === subscriber.tokenVersion;
  if (!current) throw new LinkError('revoked');
  return { subscriber, claims };
}

/** Activates a pending subscription. Confirming twice is fine; confirming a cancelled one is not. */
export async function confirmSubscription(db: Database, keys: Keys, token: string, ip: string, now = new Date()) {
  return db.$transaction(async (tx) => {
    const { subscriber, claims } = await subscriberForLink(tx, keys, token, 'confirm', now);
    // Conditional, so an unsubscribe committed meanwhile is never undone by a late confirmation.
    const { count } = await tx.subscriber.updateMany({
      where: { id: subscriber.id, status: 'pending', tokenVersion: claims.version },
      data: { status: 'active', confirmedAt: now, confirmedIp: ip },
    });
    const current = await tx.subscriber.findUniqueOrThrow({ where: { id: subscriber.id } });
    if (count === 0 && current.status !== 'active') throw new LinkError('revoked');
    if (count > 0) await recordEvent(tx, subscriber.id, 'confirm', { ip });
    return current;
  });
}

/** Sends a fresh confirmation to the owner of an expired link (within the usual window limit). */
export async function resendConfirmation(
  db: Database,
  config: Pick<Config, 'CONFIRM_EMAIL_WINDOW_MINUTES'>,
  subscriberId: string,
  now = new Date(),
) {
  const subscriber = await db.subscriber.findUnique({ where: { id: subscriberId } });
  if (subscriber?.status !== 'pending') return undefined;
  return createTransactionalDelivery(db, subscriber, 'confirm', now, config.CONFIRM_EMAIL_WINDOW_MINUTES);
}

/** "Email me my manage link": the same answer whatever the address, a link only for active readers. */
export async function requestManageLink(
  db: Database,
  config: Pick<Config, 'CONFIRM_EMAIL_WINDOW_MINUTES'>,
  email: string,
  now = new Date(),
) {
  return settingsLinkFor(db, config, await db.subscriber.findUnique({ where: { email } }), now);
}

/** The same from a page reached by the reader's unsubscribe link: the link goes to their inbox, not the page. */
export async function emailSettingsLink(
  db: Database,
  config: Pick<Config, 'CONFIRM_EMAIL_WINDOW_MINUTES'>,
  subscriberId: string,
  now = new Date(),
) {
  return settingsLinkFor(db, config, await db.subscriber.findUnique({ where: { id: subscriberId } }), now);
}

async function settingsLinkFor(
  db: Database,
  config: Pick<Config, 'CONFIRM_EMAIL_WINDOW_MINUTES'>,
  subscriber: Subscriber | null,
  now: Date,
) {
  if (!subscriber || subscriber.status !== 'active') return undefined;
  return createTransactionalDelivery(db, subscriber, 'manage_link', now, config.CONFIRM_EMAIL_WINDOW_MINUTES);
}

export async function updatePreferences(db: Database, subscriberId: string, prefs: Preferences) {
  await db.$transaction(async (tx) => {
    await tx.subscriber.update({ where: { id: subscriberId }, data: preferenceColumns(prefs) });
    await setTopics(tx, subscriberId, prefs.topics);
    await recordEvent(tx, subscriberId, 'preferences', { ...prefs });
  });
}

export async function setPaused(db: Database, subscriberId: string, paused: boolean) {
  await db.$transaction(async (tx) => {
    await tx.subscriber.update({ where: { id: subscriberId }, data: { pausedAt: paused ? new Date() : null } });
    await recordEvent(tx, subscriberId, paused ? 'pause' : 'resume');
  });
}

/**
 * "Sign out every link": bumps the token version, so every settings, confirmation and web-view link in
 * every email sent so far stops working (unsubscribe links keep working), and emails a fresh manage link.
 */
export async function revokeLinks(
  db: Database,
  config: Pick<Config, 'CONFIRM_EMAIL_WINDOW_MINUTES'>,
  subscriberId: string,
  now = new Date(),
) {
  return db.$transaction(async (tx) => {
    const subscriber = await tx.subscriber.update({
      where: { id: subscriberId },
      data: { tokenVersion: { increment: 1 } },
    });
    await recordEvent(tx, subscriberId, 'links_revoked');
    return createTransactionalDelivery(tx, subscriber, 'manage_link', now, config.CONFIRM_EMAIL_WINDOW_MINUTES);
  });
}

/** Unsubscribes from everything, or from one topic. Idempotent: a repeat changes nothing. */
export async function unsubscribe(db: Database, subscriberId: string, topicId?: number, source = 'link') {
  await db.$transaction(async (tx) => {
    if (topicId !== undefined) {
      const { count } = await tx.subscriberTopic.deleteMany({ where: { subscriberId, topicId } });
      if (count) await recordEvent(tx, subscriberId, 'unsubscribe_topic', { topicId, source });
      return;
    }
    const { count } = await tx.subscriber.updateMany({
      where: { id: subscriberId, status: { in: ['active', 'pending'] } },
      data: { status: 'unsubscribed', unsubscribedAt: new Date() },
    });
    if (count) await recordEvent(tx, subscriberId, 'unsubscribe', { source });
  });
}

/** Everything stored about a reader, for "export my data". */
export async function exportSubscriber(db: Database, subscriberId: string) {
  const subscriber = await db.subscriber.findUniqueOrThrow({
    where: { id: subscriberId },
    include: {
      topics: { include: { topic: { select: { slug: true, name: true } } } },
      events: { select: { type: true, data: true, createdAt: true }, orderBy: { createdAt: 'asc' } },
    },
  });
  const deliveries = await deliveriesForExport(db, subscriberId);
  const { topics, events, ...profile } = subscriber;
  return {
    exportedAt: new Date().toISOString(),
    profile,
    consent: {
      at: profile.consentAt,
      ip: profile.consentIp,
      userAgent: profile.consentUserAgent,
      formVersion: profile.consentFormVersion,
      confirmedAt: profile.confirmedAt,
      confirmedIp: profile.confirmedIp,
    },
    topics: topics.map((t) => t.topic),
    deliveries,
    events: events.map((event) => ({ ...event, id: undefined })),
  };
}

/**
 * The mail server said the address does not exist: never mail it again, and say why in its history. The
 * bounce webhook records bounces the same way (see bounces.ts).
 */
export async function markBounced(db: Database, email: string, reason: string) {
  await recordBounce(db, { type: 'hard', address: email, reason, source: 'smtp' });
}

/** "Delete me": the subscriber and its history go; only a hash stays, so the address is never mailed by mistake. */
export async function forgetSubscriber(db: Database, subscriberId: string, by: 'reader' | 'admin' = 'reader') {
  await db.$transaction(async (tx) => {
    const subscriber = await tx.subscriber.findUniqueOrThrow({ where: { id: subscriberId } });
    // The signup lock: a signup of this address cannot slip in between the suppression and the delete.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`signup:${addressHash(subscriber.email)}`}))`;
    await suppressAddress(tx, subscriber.email, 'forgotten');
    await tx.subscriber.delete({ where: { id: subscriberId } });
    await recordEvent(tx, null, 'forgotten', { by });
  });
}
