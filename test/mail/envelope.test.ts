// The one envelope builder: sender, replies, Message-ID and the list headers bulk mail must carry.
import { describe, expect, it } from 'vitest';
import { messageIdFor } from '../../src/modules/mail/deliveries.ts';
import { envelope } from '../../src/modules/mail/envelope.ts';
import { buildMessage } from '../../src/modules/mail/mime.ts';

const config = {
  PUBLIC_URL: 'https://papers.example.org',
  MAIL_FROM: 'Paperboy <paperboy@example.org>',
  MAIL_REPLY_TO: 'help@example.org',
};
const DELIVERY_ID = '6f9619ff-8b86-4d01-b42d-00cf4fc964ff';
const body = { to: 'ada@example.org', subject: 'Today in LoRA', html: '<p>Hi</p>', text: 'Hi' };

describe('the envelope of an email', () => {
  it('gives a digest its sender, reply address, Message-ID and every list header', () => {
    const unsubscribeUrl = 'https://papers.example.org/unsubscribe/tok';
    expect(envelope(config, { deliveryId: DELIVERY_ID, kind: 'digest', unsubscribeUrl, ...body })).toEqual({
      messageId: `<${DELIVERY_ID}@papers.example.org>`,
      from: 'Paperboy <paperboy@example.org>',
      replyTo: 'help@example.org',
      ...body,
      headers: {
        'List-Unsubscribe':
          '<https://papers.example.org/unsubscribe/tok>, <mailto:unsubscribe@papers.example.org?subject=unsubscribe>',
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'List-Id': 'Paperboy digest <digest.papers.example.org>',
        'Auto-Submitted': 'auto-generated',
        Precedence: 'bulk',
      },
    });
  });

  it('gives transactional mail only Auto-Submitted, and no Reply-To when none is configured', () => {
    for (const kind of ['confirm', 'manage_link'] as const) {
      expect(envelope({ ...config, MAIL_REPLY_TO: undefined }, { deliveryId: DELIVERY_ID, kind, ...body })).toEqual({
        messageId: messageIdFor(DELIVERY_ID, config.PUBLIC_URL),
        from: config.MAIL_FROM,
        ...body,
        headers: { 'Auto-Submitted': 'auto-generated' },
      });
    }
  });

  it('keeps the Message-ID of a delivery across attempts', () => {
    const first = envelope(config, { deliveryId: DELIVERY_ID, kind: 'confirm', ...body });
    const again = envelope(config, { deliveryId: DELIVERY_ID, kind: 'confirm', ...body, subject: 'Other' });
    expect(again.messageId).toBe(first.messageId);
  });

  it('refuses a digest without an unsubscribe link and a transactional email with one', () => {
    expect(() => envelope(config, { deliveryId: DELIVERY_ID, kind: 'digest', ...body })).toThrow(/unsubscribe link/);
    expect(() =>
      envelope(config, { deliveryId: DELIVERY_ID, kind: 'confirm', unsubscribeUrl: 'https://x.test/u', ...body }),
    ).toThrow(/takes no unsubscribe link/);
  });

  it('builds messages the MIME writer accepts', () => {
    const message = envelope(config, {
      deliveryId: DELIVERY_ID,
      kind: 'digest',
      unsubscribeUrl: 'https://papers.example.org/unsubscribe/tok',
      ...body,
    });
    const raw = buildMessage(message).raw.toString();
    expect(raw).toContain(`Message-ID: <${DELIVERY_ID}@papers.example.org>\r\n`);
    expect(raw).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n');
    expect(raw).toContain('Reply-To: help@example.org\r\n');
  });
});
