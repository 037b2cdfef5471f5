// The emails a subscriber gets about their subscription: confirmation and manage link.
import type { Config } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import type { ClaimedDelivery } from '../mail/deliveries.ts';
import { envelope } from '../mail/envelope.ts';
import { renderEmail, type EmailTemplates } from '../mail/templates.ts';
import type { Composed } from '../mail/send.ts';
import { isSuppressed } from '../mail/suppressions.ts';
import { describeSchedule } from './preferences.ts';
import { signToken, type TokenPurpose } from './tokens.ts';

type LinkConfig = Pick<Config, 'PUBLIC_URL' | 'TOKEN_KEYS' | 'CONFIRM_TOKEN_TTL_HOURS'>;
const YEAR_SECONDS = 365 * 86_400;

/** A signed link to one of the subscriber pages. */
export function subscriberLink(
  config: LinkConfig,
  subscriber: { id: string; tokenVersion: number },
  purpose: TokenPurpose,
  options: { topicId?: number; deliveryId?: string; now?: Date } = {},
): string {
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const ttl = purpose === 'confirm' ? config.CONFIRM_TOKEN_TTL_HOURS * 3600 : YEAR_SECONDS;
  const token = signToken(config.TOKEN_KEYS, {
    subscriberId: subscriber.id,
    purpose,
    version: subscriber.tokenVersion,
    expiresAt: now + ttl,
    ...(options.topicId ? { topicId: options.topicId } : {}),
    ...(options.deliveryId ? { deliveryId: options.deliveryId } : {}),
  });
  const path = { confirm: 'confirm', manage: 'manage', unsubscribe: 'unsubscribe', 'web-view': 'digest' }[purpose];
  return `${config.PUBLIC_URL}/${path}/${token}`;
}

/**
 * The message for a claimed confirm or manage-link delivery, or why it must not be sent (the reader left,
 * confirmed meanwhile, or the address is suppressed). No text a person typed goes into these emails.
 */
export async function subscriptionEmail(
  db: Database,
  config: LinkConfig & Pick<Config, 'MAIL_FROM' | 'MAIL_REPLY_TO'>,
  templates: EmailTemplates,
  delivery: ClaimedDelivery,
): Promise<Composed> {
  const subscriber = await db.subscriber.findUnique({
    where: { id: delivery.subscriberId },
    include: { topics: { include: { topic: { select: { name: true } } }, orderBy: { topic: { name: 'asc' } } } },
  });
  if (!subscriber) return { skip: 'the subscriber no longer exists' };
  if (await isSuppressed(db, subscriber.email)) {
    return { skip: 'the address is suppressed' };
  }
  const expected = delivery.kind === 'confirm' ? 'pending' : 'active';
  if (subscriber.status !== expected) return { skip: `the subscriber is ${subscriber.status}` };

  const letter = { deliveryId: delivery.id, kind: delivery.kind, to: subscriber.email };
  const footer = 'You get this email because this address was entered on the Paperboy signup form.';
  if (delivery.kind === 'confirm') {
    const subject = 'Confirm your Paperboy subscription';
    const topics = subscriber.topics.map((t) => t.topic.name);
    const ownKeywords = subscriber.includeKeywords.length ? ['keywords of your own'] : [];
    const { html, text } = renderEmail(templates, 'confirm', {
      subject,
      preview: 'One click and the trending papers start arriving.',
      footer,
      topics: [...topics, ...ownKeywords].join(', '),
      schedule: describeSchedule({
        frequency: subscriber.frequency,
        weeklyDay: subscriber.weeklyDay ?? 1,
        sendHour: subscriber.sendHour,
        timeZone: subscriber.timeZone,
      }),
      confirmUrl: subscriberLink(config, subscriber, 'confirm'),
      validFor:
        config.CONFIRM_TOKEN_TTL_HOURS % 24 === 0
          ? `${config.CONFIRM_TOKEN_TTL_HOURS / 24} days`
          : `${config.CONFIRM_TOKEN_TTL_HOURS} hours`,
    });
    return { message: envelope(config, { ...letter, subject, html, text }) };
  }
  const subject = 'Your Paperboy settings link';
  const { html, text } = renderEmail(templates, 'manage-link', {
    subject,
    preview: 'Change your topics, schedule or subscription.',
    footer,
    manageUrl: subscriberLink(config, subscriber, 'manage'),
  });
  return { message: envelope(config, { ...letter, subject, html, text }) };
}
