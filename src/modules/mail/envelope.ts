// The envelope of every email: who it is from, where replies go, its Message-ID and, for bulk mail, the
// list headers mailbox providers require of it. Built here once, so a kind's email cannot forget one.
import type { Config } from '../../config.ts';
import type { DeliveryKind } from '../../generated/prisma/client.ts';
import { messageIdFor } from './deliveries.ts';
import { EMAIL_KINDS } from './kinds.ts';
import type { MailMessage } from './transport.ts';

export type EnvelopeConfig = Pick<Config, 'PUBLIC_URL' | 'MAIL_FROM' | 'MAIL_REPLY_TO'>;

export interface Letter {
  deliveryId: string;
  kind: DeliveryKind;
  to: string;
  subject: string;
  html: string;
  text: string;
  /** The reader's one-click unsubscribe link: required for bulk kinds, refused for transactional ones. */
  unsubscribeUrl?: string | undefined;
}

/**
 * The message for one delivery. Every email says it was sent by a machine (Auto-Submitted, RFC 3834), so
 * auto-responders stay quiet. Bulk mail (the digest) also carries one List-Unsubscribe header with both
 * ways out (https and mailto, RFC 2369), the one-click POST (RFC 8058), a List-Id and Precedence: bulk.
 * Transactional mail has no list to leave, so a link for it is a mistake and refused.
 */
export function envelope(config: EnvelopeConfig, letter: Letter): MailMessage {
  const bulk = EMAIL_KINDS[letter.kind].sendClass === 'bulk';
  if (bulk && !letter.unsubscribeUrl) throw new TypeError(`a ${letter.kind} email needs an unsubscribe link`);
  if (!bulk && letter.unsubscribeUrl !== undefined) {
    throw new TypeError(`a ${letter.kind} email is not list mail and takes no unsubscribe link`);
  }
  const host = new URL(config.PUBLIC_URL).hostname;
  return {
    messageId: messageIdFor(letter.deliveryId, config.PUBLIC_URL),
    from: config.MAIL_FROM,
    ...(config.MAIL_REPLY_TO ? { replyTo: config.MAIL_REPLY_TO } : {}),
    to: letter.to,
    subject: letter.subject,
    html: letter.html,
    text: letter.text,
    headers: bulk
      ? {
          'List-Unsubscribe': `<${letter.unsubscribeUrl}>, <mailto:unsubscribe@${host}?subject=unsubscribe>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          'List-Id': `Paperboy digest <digest.${host}>`,
          'Auto-Submitted': 'auto-generated',
          Precedence: 'bulk',
        }
      : { 'Auto-Submitted': 'auto-generated' },
  };
}
