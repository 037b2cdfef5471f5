// The schedule worker: its job scheduler exists, and a tick creates and queues the digests due now.
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { createQueueConnection } from '../../src/queues/connection.ts';
import { QUEUE_NAMES } from '../../src/queues/index.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { createDigestWorker } from '../../workers/digest.worker.ts';
import { scheduleWorker } from '../../workers/schedule.worker.ts';
import { testConfig } from '../helpers/config.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

describe('schedule worker', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let sink: SmtpSink;
  let workers: RunningWorkers;
  const prefix = uniqueQueuePrefix();
  const connection = createQueueConnection(testConfig().REDIS_URL);
  const ticks = new Queue(QUEUE_NAMES.schedule, { connection, prefix });

  beforeAll(async () => {
    database = await openTestDatabase();
    sink = await startSmtpSink();
    await ingestFeed(database.db, [
      { paper: { id: '2611.00040', title: 'Model Merging Today' }, publishedAt: new Date().toISOString() },
    ]);
    const merging = await database.db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    await database.db.subscriber.create({
      data: {
        email: 'tick@example.org',
        status: 'active',
        timeZone: 'UTC',
        sendHour: new Date().getUTCHours(),
        topics: { create: { topicId: merging.id } },
      },
    });
    const config = testConfig({ DATABASE_URL: database.url, SMTP_URL: sink.url, QUEUE_PREFIX: prefix });
    workers = await startWorkers(config, createLogger(config), database.db, [scheduleWorker, createDigestWorker()]);
  });
  afterAll(async () => {
    await workers.close();
    await ticks.close();
    await connection.quit();
    await sink.close();
    await database.close();
    await deleteKeysWithPrefix(testConfig().REDIS_URL, prefix);
  });

  it('ticks every minute in UTC, and a tick sends the digests due now', async () => {
    await expect
      .poll(async () => (await ticks.getJobSchedulers()).map((s) => [s.key, s.pattern, s.tz]))
      .toEqual([['digest-tick', '* * * * *', 'UTC']]);
    await ticks.add('tick', {});
    const [digest] = await sink.waitForMessages(1);
    expect(digest!.envelope.to).toEqual(['tick@example.org']);
    expect(digest!.subject).toBe('1 trending paper: Model merging');
  });
});
