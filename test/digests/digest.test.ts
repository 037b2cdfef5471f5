// Digests end to end: scheduled, composed from each reader's topics and keywords, sent once with the
// RFC 8058 headers, escaped, never repeating a paper.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { createLogger } from '../../src/logger.ts';
import { subscriberLink } from '../../src/modules/subscribers/emails.ts';
import { createProbeConnection } from '../../src/queues/connection.ts';
import { scheduleDueDigests } from '../../src/modules/digests/schedule.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { createDigestQueue, deliveryJobOptions } from '../../src/queues/deliveries.ts';
import { createQueueConnection } from '../../src/queues/connection.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { createDigestWorker } from '../../workers/digest.worker.ts';
import { testConfig } from '../helpers/config.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const sample = JSON.parse(
  readFileSync(path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json'), 'utf8'),
) as {
  paper: Record<string, unknown>;
  publishedAt: string;
}[];
const HOSTILE = `<img src=x onerror=alert(1)> & "quotes" in Model Merging`;

describe('digests', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let sink: SmtpSink;
  let workers: RunningWorkers;
  const prefix = uniqueQueuePrefix();
  const connection = createQueueConnection(testConfig().REDIS_URL);
  const queue = createDigestQueue({ connection, prefix });
  const config = () =>
    testConfig({
      DATABASE_URL: database.url,
      SMTP_URL: sink.url,
      QUEUE_PREFIX: prefix,
      PUBLIC_URL: 'https://papers.example.org',
    });
  const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
  const schedule = (now: Date) =>
    scheduleDueDigests(
      database.db,
      async (ids) =>
        void (await queue.addBulk(
          ids.map((id) => ({ name: 'send', data: { deliveryId: id }, opts: deliveryJobOptions(id) })),
        )),
      { now, cutoffHours: 12 },
    ).then((pass) => pass.created);

  beforeAll(async () => {
    database = await openTestDatabase();
    sink = await startSmtpSink();
    await ingestFeed(database.db, [
      ...sample.map((item) => ({ ...item, publishedAt: hoursAgo(2) })),
      {
        paper: { id: '2611.00001', title: HOSTILE, summary: 'Model merging. Model merging.', upvotes: 50 },
        publishedAt: hoursAgo(1),
      },
    ]);
    workers = await startWorkers(config(), createLogger(config()), database.db, [
      createDigestWorker({ reconcileEveryMs: 500 }),
    ]);
  });
  afterAll(async () => {
    await workers.close();
    await queue.close();
    await connection.quit();
    await sink.close();
    await database.close();
    await deleteKeysWithPrefix(config().REDIS_URL, prefix);
  });

  it('sends each reader the best papers for their topics and keywords, minus exclusions, capped, with a why', async () => {
    const hour = new Date().getUTCHours();
    const merging = await database.db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    const ada = await database.db.subscriber.create({
      data: {
        email: 'ada@example.org',
        status: 'active',
        timeZone: 'UTC',
        sendHour: hour,
        maxPapers: 3,
        excludeKeywords: ['Frank-Wolfe'],
        topics: { create: { topicId: merging.id } },
      },
    });
    await database.db.subscriber.create({
      data: {
        email: 'bob@example.org',
        status: 'active',
        timeZone: 'UTC',
        sendHour: hour,
        includeKeywords: ['"mixture-of-experts"'],
      },
    });
    await database.db.subscriber.create({
      data: {
        email: 'idle@example.org',
        status: 'active',
        timeZone: 'UTC',
        sendHour: hour,
        includeKeywords: ['quantum chromodynamics'],
      },
    });

    expect(await schedule(new Date())).toBe(3);
    const messages = await sink.waitForMessages(2);
    await expect.poll(async () => database.db.delivery.count({ where: { status: 'skipped' } })).toBe(1);
    const toAda = messages.find((m) => m.envelope.to[0] === 'ada@example.org')!;
    const toBob = messages.find((m) => m.envelope.to[0] === 'bob@example.org')!;

    expect(toAda.subject).toBe('3 trending papers: Model merging');
    // The hostile title: escaped in HTML, intact in the text part.
    expect(toAda.html).toContain('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt; &amp; &quot;quotes&quot;');
    expect(toAda.html).not.toContain('<img src=x');
    expect(toAda.text).toContain(HOSTILE);
    expect(toAda.text).not.toContain('Frank-Wolfe');
    expect(toAda.text).toContain('Why: Model merging');
    expect(toAda.text).toMatch(/Stop "Model merging": https:\/\/papers\.example\.org\/unsubscribe\//);
    expect(toAda.header('list-unsubscribe')).toMatch(
      /^<https:\/\/papers\.example\.org\/unsubscribe\/[\w.-]+>, <mailto:unsubscribe@papers\.example\.org\?subject=unsubscribe>$/,
    );
    expect(toAda.header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(toAda.header('list-id')).toBe('Paperboy digest <digest.papers.example.org>');
    expect(toAda.header('auto-submitted')).toBe('auto-generated');

    expect(toBob.subject).toBe('1 trending paper: "mixture-of-experts"');
    expect(toBob.text).toContain('Meta-DMoE');
    expect(toBob.text).toContain('Why: your keyword "mixture-of-experts"');

    // The sink has the message a moment before the worker records it as sent.
    await expect.poll(() => database.db.sentPaper.count({ where: { subscriberId: ada.id } })).toBe(3);
    const sent = await database.db.sentPaper.findMany({ where: { subscriberId: ada.id } });
    expect(sent.map((s) => s.paperId)).toContain('2611.00001');
  });

  it('shows a sent digest in the browser through its web-view link, and only to its reader', async () => {
    const toAda = sink.messages.find((m) => m.envelope.to[0] === 'ada@example.org')!;
    const webView = /View in your browser: (https:\/\/\S+)/.exec(toAda.text ?? '')![1]!;
    const redis = createProbeConnection(config().REDIS_URL);
    const app = await buildApp({ config: config(), db: database.db, redis, logger: createLogger(config()) });
    try {
      const page = await app.inject(new URL(webView).pathname);
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
      expect(page.body).toContain('Model merging');
      expect(page.headers['content-security-policy']).toContain("default-src 'none'");
      expect(page.headers['content-security-policy']).not.toContain('script');
      // A web-view token naming someone else's delivery shows nothing.
      const bob = await database.db.subscriber.findUniqueOrThrow({ where: { email: 'bob@example.org' } });
      const adaDelivery = await database.db.delivery.findFirstOrThrow({
        where: { subscriber: { email: 'ada@example.org' } },
      });
      const forged = subscriberLink(config(), bob, 'web-view', { deliveryId: adaDelivery.id });
      expect((await app.inject(new URL(forged).pathname)).statusCode).toBe(410);
    } finally {
      await app.close();
      redis.disconnect();
    }
  });

  it('never sends a paper twice: the next digest has only what was listed since', async () => {
    await expect.poll(() => database.db.delivery.count({ where: { status: 'sent' } })).toBe(2);
    sink.reset();
    await ingestFeed(database.db, [
      {
        paper: { id: '2611.00002', title: 'Merging Models Again: A Fresh Look at Model Merging' },
        publishedAt: new Date().toISOString(),
      },
    ]);
    const tomorrow = new Date(Date.now() + 24 * 3_600_000);
    await schedule(tomorrow);
    const [next] = await sink.waitForMessages(1);
    expect(next!.envelope.to).toEqual(['ada@example.org']);
    expect(next!.subject).toBe('1 trending paper: Model merging');
    expect(next!.text).toContain('Merging Models Again');
  });

  it('sends nothing twice when the scheduler runs again for the same day', async () => {
    sink.reset();
    expect(await schedule(new Date())).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(sink.messages).toEqual([]);
  });
});
