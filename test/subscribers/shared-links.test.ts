// Links that leave the reader's hands: the web view people share and the unsubscribe link that gets
// forwarded must never open the reader's settings; and every unsubscribe link ever sent keeps working.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { scheduleDueDigests } from '../../src/modules/digests/schedule.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { createQueueConnection } from '../../src/queues/connection.ts';
import { createDigestQueue, enqueueDeliveries } from '../../src/queues/deliveries.ts';
import { createDigestWorker } from '../../workers/digest.worker.ts';
import { createMailWorker } from '../../workers/mail.worker.ts';
import { openMailingApp, type MailingApp } from '../helpers/app.ts';
import { testConfig } from '../helpers/config.ts';
import type { CapturedMessage } from '../helpers/smtp-sink.ts';
import { linksIn, openForm, postForm, signUpWithForm } from '../helpers/subscriptions.ts';

const PUBLIC_URL = 'http://paperboy.test';
const ADDRESS = 'sharer@example.org';
/** A link that acts for one reader: settings, unsubscribe, confirmation or a web view. */
const PERSONAL = /\/(manage|unsubscribe|confirm|digest)\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;

describe('links that get shared', () => {
  let t: MailingApp;
  const connection = createQueueConnection(testConfig().REDIS_URL);
  let digest: CapturedMessage;
  /** The settings link the unsubscribe page had emailed. */
  let managePath: string;

  const db = () => t.database.db;
  const reader = () => db().subscriber.findUniqueOrThrow({ where: { email: ADDRESS } });
  const pathOf = (url: string) => new URL(url).pathname;

  /** Signs up with the form, confirms through the emailed link, and returns once the reader is active. */
  const subscribe = async () => {
    await signUpWithForm(t.app, t.config, {
      email: ADDRESS,
      topics: ['model-merging'],
      timeZone: 'UTC',
      sendHour: String(new Date().getUTCHours()),
    });
    // Other mail may still be on its way (the fresh settings link after "sign out every link").
    const isConfirmation = (m: CapturedMessage) => m.subject === 'Confirm your Paperboy subscription';
    while (!t.sink.messages.some(isConfirmation)) await t.sink.waitForMessages(t.sink.messages.length + 1);
    const confirmation = t.sink.messages.find(isConfirmation);
    const confirmPath = linksIn(confirmation!, PUBLIC_URL).find((link) => link.startsWith('/confirm/'))!;
    await postForm(t.app, confirmPath, await openForm(t.app, confirmPath), {});
    expect((await reader()).status).toBe('active');
    t.sink.reset();
  };

  beforeAll(async () => {
    t = await openMailingApp({ PUBLIC_URL }, [
      createMailWorker({ reconcileEveryMs: 200 }),
      createDigestWorker({ reconcileEveryMs: 200 }),
    ]);
    await ingestFeed(db(), [
      {
        paper: { id: '2611.00010', title: 'Model Merging at Scale', upvotes: 3 },
        publishedAt: new Date(Date.now() - 3_600_000).toISOString(),
      },
    ]);
    await subscribe();
    const queue = createDigestQueue({ connection, prefix: t.config.QUEUE_PREFIX });
    await scheduleDueDigests(db(), enqueueDeliveries(queue), { cutoffHours: 12 });
    await queue.close();
    [digest] = (await t.sink.waitForMessages(1)) as [CapturedMessage];
    // The sink has the message a moment before the worker records it as sent (and the web view shows it).
    while ((await db().delivery.count({ where: { kind: 'digest', status: 'sent' } })) === 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  afterAll(async () => {
    connection.disconnect();
    await t.close();
  });
  beforeEach(() => t.sink.reset());

  const unsubscribeUrl = () => /<(http[^>]+)>/.exec(digest.header('list-unsubscribe')!)![1]!;

  it('shows the web view without a single link that acts for the reader', async () => {
    const webView = linksIn(digest, PUBLIC_URL).find((link) => link.startsWith('/digest/'))!;
    const page = await t.app.inject(webView);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Model Merging at Scale');
    const hrefs = [...page.body.matchAll(/href="([^"]+)"/g)].map((match) => match[1]!);
    expect(hrefs.filter((href) => PERSONAL.test(href))).toEqual([]);
    expect(hrefs).toContain(`${PUBLIC_URL}/manage-link`);
    expect(page.body).not.toContain(ADDRESS);
  });

  it('offers to email a settings link on the unsubscribe page, and hands out none itself', async () => {
    const page = await openForm(t.app, pathOf(unsubscribeUrl()));
    expect(page.body).toContain('Unsubscribe from Paperboy?');
    const targets = [...page.body.matchAll(/(?:href|action)="([^"]+)"/g)].map((match) => match[1]!);
    expect(targets.filter((target) => /\/manage\//.test(target))).toEqual([]);
    const settingsLink = targets.find((target) => target.endsWith('/settings-link'))!;
    expect(settingsLink).toBe(`${pathOf(unsubscribeUrl())}/settings-link`);

    const answer = await postForm(t.app, settingsLink, page, {});
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toContain('Check your inbox');
    expect(answer.body).not.toMatch(PERSONAL);
    const [email] = await t.sink.waitForMessages(1);
    expect(email!.envelope.to).toEqual([ADDRESS]);
    expect(email!.subject).toBe('Your Paperboy settings link');
    managePath = linksIn(email!, PUBLIC_URL).find((link) => link.startsWith('/manage/'))!;
    expect((await t.app.inject(managePath)).statusCode).toBe(200);
    expect((await reader()).status).toBe('active');
  });

  it('keeps the unsubscribe link of an earlier email working after "sign out every link"', async () => {
    const signOut = await postForm(t.app, managePath, await openForm(t.app, managePath), { action: 'revoke-links' });
    expect(signOut.body).toContain('Every link signed out');
    expect((await t.app.inject(managePath)).statusCode).toBe(410);

    // The digest's unsubscribe link still opens its page and takes the RFC 8058 one-click POST.
    expect((await t.app.inject(pathOf(unsubscribeUrl()))).statusCode).toBe(200);
    const oneClick = await postForm(t.app, pathOf(unsubscribeUrl()), undefined, { 'List-Unsubscribe': 'One-Click' });
    expect(oneClick.statusCode, oneClick.body).toBe(200);
    expect((await reader()).status).toBe('unsubscribed');
  });

  it('keeps it working after the reader subscribes again', async () => {
    await subscribe();
    expect((await reader()).tokenVersion).toBeGreaterThan(2);
    const page = await openForm(t.app, pathOf(unsubscribeUrl()));
    const answer = await postForm(t.app, pathOf(unsubscribeUrl()), page, {});
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.body).toContain('You are unsubscribed');
    expect((await reader()).status).toBe('unsubscribed');
  });
});
