// The installation's send rate under a digest run and a burst of signups at once: confirmations go first,
// digests keep flowing, and together they never exceed SEND_RATE_PER_SECOND.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { scheduleDueDigests } from '../../src/modules/digests/schedule.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { createQueueConnection, type RedisConnection } from '../../src/queues/connection.ts';
import { createDigestQueue, enqueueDeliveries } from '../../src/queues/deliveries.ts';
import { createDigestWorker } from '../../workers/digest.worker.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { createMailWorker } from '../../workers/mail.worker.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const RATE = 20;
const READERS = 200;
const SIGNUPS = 30;

describe('one send rate for digests and transactional mail', () => {
  let t: TestApp;
  let sink: SmtpSink;
  let workers: RunningWorkers | undefined;
  let connection: RedisConnection;
  const prefix = uniqueQueuePrefix();
  const arrivals: { at: number; confirmation: boolean }[] = [];

  beforeAll(async () => {
    sink = await startSmtpSink();
    sink.onAccepted((message) =>
      arrivals.push({ at: Date.now(), confirmation: message.subject === 'Confirm your Paperboy subscription' }),
    );
    t = await openTestApp({
      SMTP_URL: sink.url,
      QUEUE_PREFIX: prefix,
      SEND_RATE_PER_SECOND: String(RATE),
      SIGNUP_RATE_PER_IP: '1000',
    });
    connection = createQueueConnection(t.config.REDIS_URL);
    const { db } = t.database;
    await ingestFeed(db, [
      {
        paper: { id: '2611.00010', title: 'Model Merging at Scale', upvotes: 3 },
        publishedAt: new Date(Date.now() - 3_600_000).toISOString(),
      },
    ]);
    const merging = await db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    await db.subscriber.createMany({
      data: Array.from({ length: READERS }, (_, i) => ({
        email: `reader${i}@example.org`,
        status: 'active' as const,
        sendHour: new Date().getUTCHours(),
      })),
    });
    await db.$executeRaw`INSERT INTO subscriber_topic (subscriber_id, topic_id) SELECT id, ${merging.id} FROM subscriber`;
  });
  afterAll(async () => {
    await workers?.close();
    connection.disconnect();
    await t.close();
    await sink.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  it('sends a burst of confirmations ahead of a digest run without stopping it, within the rate', async () => {
    const digestQueue = createDigestQueue({ connection, prefix });
    await scheduleDueDigests(t.database.db, enqueueDeliveries(digestQueue), { cutoffHours: 12 });
    await digestQueue.close();
    const config = t.config;
    workers = await startWorkers(config, createLogger(config), t.database.db, [
      createMailWorker({ reconcileEveryMs: 60_000 }),
      createDigestWorker({ reconcileEveryMs: 60_000 }),
    ]);
    await sink.waitForMessages(RATE, 60_000);

    // A burst of readers signing up in the middle of the run.
    const answers = await Promise.all(
      Array.from({ length: SIGNUPS }, (_, i) =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/subscriptions',
          payload: { email: `newcomer${i}@example.org`, topics: ['model-merging'] },
        }),
      ),
    );
    expect(answers.map((answer) => answer.statusCode)).toEqual(answers.map(() => 202));
    await expect.poll(() => arrivals.filter((a) => a.confirmation).length, { timeout: 60_000 }).toBe(SIGNUPS);

    const confirmations = arrivals.filter((a) => a.confirmation);
    const burst = { from: confirmations[0]!.at, to: confirmations.at(-1)!.at };
    const digestsBefore = arrivals.filter((a) => !a.confirmation && a.at <= burst.to).length;
    const digestsDuring = arrivals.filter((a) => !a.confirmation && a.at >= burst.from && a.at <= burst.to).length;
    console.info(
      `${SIGNUPS} confirmations in ${burst.to - burst.from} ms; ${digestsDuring} digests meanwhile, ${digestsBefore} of ${READERS} by then`,
    );
    // Confirmations did not wait behind the digest run (at a tenth of the rate they took 15 s, and the
    // 200 digests were all out first)...
    expect(digestsBefore).toBeLessThan(READERS);
    expect(digestsDuring).toBeLessThan(SIGNUPS);
    // ... and the digests kept a share of the rate while they went out.
    expect(digestsDuring).toBeGreaterThan(0);

    await sink.waitForMessages(READERS + SIGNUPS, 60_000);
    // Fixed one-second windows: over any stretch of s seconds at most (s + 1) × the rate went out.
    const seconds = (arrivals.at(-1)!.at - arrivals[0]!.at) / 1000;
    expect(arrivals.length).toBeLessThanOrEqual((seconds + 1) * RATE);
  }, 180_000);
});
