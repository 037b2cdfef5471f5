// A reader who leaves while their digest is being composed gets nothing: the unsubscribe (or the suppression)
// commits after the worker checked the reader and before it talks to the mail server.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { composeDigests } from '../../src/modules/digests/compose.ts';
import { sendDelivery, type SendDeps } from '../../src/modules/mail/send.ts';
import { compileEmailTemplates, type EmailTemplates } from '../../src/modules/mail/templates.ts';
import { createMailer } from '../../src/modules/mail/transport.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { markBounced } from '../../src/modules/subscribers/subscriptions.ts';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

describe('leaving while a digest is being composed', () => {
  let t: TestApp;
  let sink: SmtpSink;
  let templates: EmailTemplates;
  let n = 0;

  beforeAll(async () => {
    sink = await startSmtpSink();
    t = await openTestApp({ SMTP_URL: sink.url, PUBLIC_URL: 'https://papers.example.org' });
    templates = await compileEmailTemplates();
    await ingestFeed(t.database.db, [
      {
        paper: { id: '2611.00010', title: 'Model Merging at Scale', upvotes: 3 },
        publishedAt: new Date(Date.now() - 3_600_000).toISOString(),
      },
    ]);
  });
  afterAll(async () => {
    await t.close();
    await sink.close();
  });
  beforeEach(() => sink.reset());

  /** An active reader of model merging with a digest due now. */
  const dueDigest = async () => {
    const db = t.database.db;
    const merging = await db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    const reader = await db.subscriber.create({
      data: {
        email: `leaver${++n}@example.org`,
        status: 'active',
        topics: { create: { topicId: merging.id } },
      },
    });
    const delivery = await db.delivery.create({
      data: { subscriberId: reader.id, kind: 'digest', digestKey: '2026-12-04', dueAt: new Date() },
    });
    return { reader, deliveryId: delivery.id };
  };

  /** The real digest worker's path, with `meanwhile` run after the digest is composed and before it is sent. */
  const sendWith = async (deliveryId: string, meanwhile: (unsubscribeUrl: string) => Promise<void>) => {
    const mailer = createMailer(t.config, createLogger(t.config));
    const deps: SendDeps = {
      db: t.database.db,
      mailer,
      compose: async (deliveries) => {
        const page = await composeDigests(t.database.db, t.config, templates, deliveries);
        for (const composed of page) {
          if ('message' in composed) {
            const header = (composed.message.headers as Record<string, string>)['List-Unsubscribe']!;
            await meanwhile(/<(https:[^>]+)>/.exec(header)![1]!);
          }
        }
        return page;
      },
      onHardBounce: (address, reason) => markBounced(t.database.db, address, reason),
    };
    try {
      return await sendDelivery(deps, deliveryId);
    } finally {
      mailer.close();
    }
  };

  it('sends nothing to a reader who clicked one-click unsubscribe meanwhile', async () => {
    const { reader, deliveryId } = await dueDigest();
    const result = await sendWith(deliveryId, async (unsubscribeUrl) => {
      const answer = await t.app.inject({
        method: 'POST',
        url: new URL(unsubscribeUrl).pathname,
        payload: { 'List-Unsubscribe': 'One-Click' },
      });
      expect(answer.statusCode).toBe(200);
    });
    expect(result).toBe('skipped');
    expect(sink.messages).toEqual([]);
    expect(await t.database.db.subscriber.findUniqueOrThrow({ where: { id: reader.id } })).toMatchObject({
      status: 'unsubscribed',
    });
    expect(await t.database.db.delivery.findUniqueOrThrow({ where: { id: deliveryId } })).toMatchObject({
      status: 'skipped',
      leaseUntil: null,
      lastError: expect.stringContaining('unsubscribed') as unknown,
    });
    expect(await t.database.db.sentPaper.count({ where: { subscriberId: reader.id } })).toBe(0);
  });

  it('sends nothing to an address an operator suppressed meanwhile', async () => {
    const { reader, deliveryId } = await dueDigest();
    const result = await sendWith(deliveryId, async () => {
      const answer = await t.app.inject({
        method: 'POST',
        url: '/api/v1/admin/suppressions',
        headers: adminHeaders,
        payload: { email: reader.email.toUpperCase() },
      });
      expect(answer.statusCode, answer.body).toBe(201);
    });
    expect(result).toBe('skipped');
    expect(sink.messages).toEqual([]);
  });

  it('still sends to a reader who stays', async () => {
    const { deliveryId } = await dueDigest();
    expect(await sendWith(deliveryId, async () => {})).toBe('sent');
    expect(sink.messages).toHaveLength(1);
  });
});
