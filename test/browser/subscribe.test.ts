// The reader's journey in a real browser (Debian's Chromium, driven by playwright-core): sign up, confirm
// from the email, change topics, unsubscribe. Screenshots of every page go to test/artifacts/.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { subscriberLink } from '../../src/modules/subscribers/emails.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { createMailWorker } from '../../workers/mail.worker.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/browser.ts';
import { freePort } from '../helpers/net.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const ARTIFACTS = path.resolve(import.meta.dirname, '../artifacts');

describe('subscribing in a browser', () => {
  let sink: SmtpSink;
  let t: TestApp;
  let workers: RunningWorkers;
  let browser: Browser;
  let page: Page;
  let base: string;
  const prefix = uniqueQueuePrefix();

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    sink = await startSmtpSink();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    t = await openTestApp({ SMTP_URL: sink.url, QUEUE_PREFIX: prefix, PUBLIC_URL: base });
    await t.app.listen({ host: '127.0.0.1', port });
    workers = await startWorkers(t.config, createLogger(t.config), t.database.db, [createMailWorker()]);
    browser = await launchChromium();
    page = await (
      await browser.newContext({ timezoneId: 'Europe/Vienna', viewport: { width: 420, height: 900 } })
    ).newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await workers?.close();
    await t?.close();
    await sink?.close();
    if (t) await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

  it('signs up, confirms, changes topics and unsubscribes', async () => {
    await page.goto(`${base}/`);
    // The tiny script filled in the browser's time zone.
    expect(await page.locator('#timeZone').inputValue()).toBe('Europe/Vienna');
    await page.getByLabel('Email address').fill('grace@example.org');
    await page.getByLabel(/Model merging/).check();
    await page.getByLabel(/Large language models/).check();
    await page.getByLabel('Send at').selectOption('6');
    await shot('1-signup');
    // People take a moment to fill a form; posts faster than that are treated as bots.
    await page.waitForTimeout(2_100);
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Check your inbox');
    await shot('2-check-inbox');

    const [email] = await sink.waitForMessages(1);
    const confirmUrl = /https?:\/\/\S+\/confirm\/\S+/.exec(email!.text ?? '')![0];
    await page.goto(confirmUrl);
    await shot('3-confirm');
    await page.getByRole('button', { name: 'Confirm my subscription' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('You are subscribed');
    await shot('4-confirmed');
    const grace = await t.database.db.subscriber.findUniqueOrThrow({ where: { email: 'grace@example.org' } });
    expect(grace).toMatchObject({ status: 'active', sendHour: 6, timeZone: 'Europe/Vienna' });

    await page.getByRole('link', { name: 'Change your topics or schedule' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Your Paperboy settings');
    await page.getByLabel(/Model merging/).uncheck();
    await page.getByLabel(/Computer vision/).check();
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Saved.');
    expect(await page.getByLabel(/Computer vision/).isChecked()).toBe(true);
    expect(await page.getByLabel(/Model merging/).isChecked()).toBe(false);
    await shot('5-manage-saved');
    const topics = await t.database.db.subscriberTopic.findMany({
      where: { subscriberId: grace.id },
      include: { topic: true },
    });
    expect(topics.map((s) => s.topic.slug).sort()).toEqual(['computer-vision', 'large-language-models']);

    await page.goto(subscriberLink(t.config, grace, 'unsubscribe'));
    await shot('6-unsubscribe');
    await page.getByRole('button', { name: 'Unsubscribe' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('You are unsubscribed');
    await shot('7-unsubscribed');
    expect((await t.database.db.subscriber.findUniqueOrThrow({ where: { id: grace.id } })).status).toBe('unsubscribed');
  });
});
