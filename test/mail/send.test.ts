// Sending a delivery exactly once through a real SMTP server that fails the ways real ones do.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { claimDelivery, messageIdFor } from '../../src/modules/mail/deliveries.ts';
import { composeEach, DeliveryBusyError, sendDelivery, type SendDeps } from '../../src/modules/mail/send.ts';
import { compileEmailTemplates } from '../../src/modules/mail/templates.ts';
import { classifySendFailure, createMailer } from '../../src/modules/mail/transport.ts';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { subscriptionEmail } from '../../src/modules/subscribers/emails.ts';
import { preferencesInput } from '../../src/modules/subscribers/preferences.ts';
import { markBounced, signUp } from '../../src/modules/subscribers/subscriptions.ts';
import { testConfig } from '../helpers/config.ts';
import { freePort } from '../helpers/net.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const prefs = preferencesInput.parse({ topics: ['model-merging'] });
const consent = { ip: '192.0.2.1', userAgent: 'test', formVersion: 'test' };

describe('sending a delivery', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let sink: SmtpSink;
  let deps: SendDeps;
  let n = 0;
  const config = () =>
    testConfig({ DATABASE_URL: database.url, SMTP_URL: sink.url, PUBLIC_URL: 'https://papers.example.org' });

  beforeAll(async () => {
    database = await openTestDatabase();
    sink = await startSmtpSink();
    const templates = await compileEmailTemplates();
    deps = {
      db: database.db,
      mailer: createMailer(config(), createLogger(config())),
      compose: composeEach((delivery) => subscriptionEmail(database.db, config(), templates, delivery)),
      onHardBounce: (address, reason) => markBounced(database.db, address, reason),
    };
  });
  afterAll(async () => {
    deps.mailer.close();
    await sink.close();
    await database.close();
  });
  beforeEach(() => sink.reset());

  const newDelivery = async () => {
    const email = `reader${++n}@example.org`;
    const id = await signUp(database.db, config(), email, prefs, consent);
    return { email, id: id! };
  };
  const deliveryRow = (id: string) => database.db.delivery.findUniqueOrThrow({ where: { id } });

  it('sends once, with a Message-ID derived from the delivery, and then has nothing left to do', async () => {
    const { id } = await newDelivery();
    expect(await sendDelivery(deps, id)).toBe('sent');
    expect(await sendDelivery(deps, id)).toBe('not-claimed');
    const [message] = await sink.waitForMessages(1);
    expect(message!.messageId).toBe(messageIdFor(id, 'https://papers.example.org'));
    expect(await deliveryRow(id)).toMatchObject({ status: 'sent', attempts: 1, messageId: message!.messageId });
    expect(sink.messages).toHaveLength(1);
  });

  it('puts the delivery back on a 451 and sends it once the server recovers', async () => {
    const { id, email } = await newDelivery();
    sink.failRecipient(email, { type: 'reply', code: 451, message: '4.7.1 try again later' });
    await expect(sendDelivery(deps, id)).rejects.toThrow(/451/);
    expect(await deliveryRow(id)).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastError: expect.stringContaining('451') as unknown,
    });
    sink.clearFailures();
    expect(await sendDelivery(deps, id)).toBe('sent');
    expect(sink.messages.filter((m) => m.envelope.to.includes(email))).toHaveLength(1);
  });

  it('marks the delivery failed on 550 5.1.1 and suppresses the address for good', async () => {
    const { id, email } = await newDelivery();
    sink.failRecipient(email, { type: 'reply', code: 550, message: '5.1.1 no such user' });
    expect(await sendDelivery(deps, id)).toBe('failed');
    expect(await deliveryRow(id)).toMatchObject({ status: 'failed' });
    expect(await database.db.suppression.findUnique({ where: { addressHash: addressHash(email) } })).toMatchObject({
      reason: 'hard_bounce',
    });
    const subscriber = await database.db.subscriber.findUniqueOrThrow({ where: { email }, include: { events: true } });
    expect(subscriber.status).toBe('bounced');
    expect(subscriber.events.map((e) => e.type)).toContain('bounce');
    // Signing up again sends nothing.
    expect(await signUp(database.db, config(), email, prefs, consent)).toBeUndefined();
  });

  it('marks nothing failed while the server is unreachable', async () => {
    const { id } = await newDelivery();
    const down = createMailer(
      { ...config(), SMTP_URL: `smtp://127.0.0.1:${await freePort()}` },
      createLogger(config()),
    );
    await expect(sendDelivery({ ...deps, mailer: down }, id)).rejects.toThrow();
    down.close();
    expect(await deliveryRow(id)).toMatchObject({ status: 'pending' });
    expect(await sendDelivery(deps, id)).toBe('sent');
  });

  it('lets another worker take over a delivery whose lease ran out, reusing the Message-ID', async () => {
    const { id } = await newDelivery();
    // A worker claimed it and died without a word.
    expect(await claimDelivery(database.db, id)).not.toBeNull();
    // While its lease runs, the job is retried later rather than completed.
    await expect(sendDelivery(deps, id)).rejects.toThrow(DeliveryBusyError);
    await database.db.delivery.update({ where: { id }, data: { leaseUntil: new Date(Date.now() - 1) } });
    expect(await sendDelivery(deps, id)).toBe('sent');
    expect((await sink.waitForMessages(1))[0]!.messageId).toBe(messageIdFor(id, 'https://papers.example.org'));
  });

  it('resends with the same Message-ID when a worker died after the server accepted but before recording it', async () => {
    const { id } = await newDelivery();
    // A worker claims, sends, and dies before markSent: the sink has the message, the row says "sending".
    const claim = (await claimDelivery(database.db, id))!;
    const [composed] = await deps.compose([claim]);
    if (!composed || !('message' in composed)) throw new Error('expected a message');
    await deps.mailer.send(composed.message);
    await database.db.delivery.update({ where: { id }, data: { leaseUntil: new Date(Date.now() - 1) } });
    // The documented policy: once the lease runs out, it is sent again under the same Message-ID.
    expect(await sendDelivery(deps, id)).toBe('sent');
    const messages = await sink.waitForMessages(2);
    expect(messages.map((m) => m.messageId)).toEqual([composed.message.messageId, composed.message.messageId]);
    expect(await deliveryRow(id)).toMatchObject({ status: 'sent' });
  });

  it('sends nothing when composing outlived the lease and another worker took the delivery over', async () => {
    const { id } = await newDelivery();
    let other: Awaited<ReturnType<typeof claimDelivery>> = null;
    const slow: SendDeps = {
      ...deps,
      compose: async (deliveries) => {
        // While this worker composes, its lease runs out and another worker claims the delivery.
        await database.db.delivery.update({ where: { id }, data: { leaseUntil: new Date(Date.now() - 1) } });
        other = await claimDelivery(database.db, id);
        return deps.compose(deliveries);
      },
    };
    expect(await sendDelivery(slow, id)).toBe('not-claimed');
    expect(other).not.toBeNull();
    expect(sink.messages).toEqual([]);
    expect(await deliveryRow(id)).toMatchObject({ status: 'sending', attempts: 2 });
  });

  it('skips a delivery whose reader left before it went out', async () => {
    const { id, email } = await newDelivery();
    await database.db.subscriber.update({ where: { email }, data: { status: 'unsubscribed' } });
    expect(await sendDelivery(deps, id)).toBe('skipped');
    expect(sink.messages).toEqual([]);
  });

  it('writes .eml files to the outbox when no SMTP server is configured', async () => {
    const outbox = await mkdtemp(path.join(os.tmpdir(), 'paperboy-outbox-'));
    const { id } = await newDelivery();
    const files = {
      ...deps,
      mailer: createMailer({ SMTP_URL: undefined, OUTBOX_DIR: outbox }, createLogger(config())),
    };
    expect(await sendDelivery(files, id)).toBe('sent');
    const [file] = await readdir(outbox);
    expect(file).toBe(`${id}@papers.example.org.eml`);
    expect(await readFile(path.join(outbox, file!), 'utf8')).toContain('Subject: Confirm your Paperboy subscription');
  });

  it('signs every message with DKIM when configured', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const signing = createMailer(
      { ...config(), DKIM_DOMAIN: 'papers.example.org', DKIM_SELECTOR: 'pb1', DKIM_PRIVATE_KEY: pem },
      createLogger(config()),
    );
    const { id } = await newDelivery();
    expect(await sendDelivery({ ...deps, mailer: signing }, id)).toBe('sent');
    signing.close();
    const [message] = await sink.waitForMessages(1);
    expect(message!.header('dkim-signature')).toMatch(/d=papers\.example\.org;.*s=pb1;/s);
  });

  it('tells final SMTP failures from passing ones', () => {
    expect(classifySendFailure({ responseCode: 550, response: '550 5.1.1 unknown user', command: 'RCPT TO' })).toBe(
      'hard-bounce',
    );
    expect(classifySendFailure({ responseCode: 552, response: '552 5.2.2 mailbox full', command: 'DATA' })).toBe(
      'rejected',
    );
    expect(classifySendFailure({ responseCode: 451, response: '451 4.7.1 later', command: 'RCPT TO' })).toBe('retry');
    expect(
      classifySendFailure({ responseCode: 535, response: '535 5.7.8 bad credentials', command: 'AUTH PLAIN' }),
    ).toBe('retry');
    expect(classifySendFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNECTION' }))).toBe(
      'retry',
    );
  });
});
