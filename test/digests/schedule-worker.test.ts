// The schedule worker: its job scheduler exists, a tick creates and queues the digests due now, and one
// reader's time zone that Postgres does not know stops no one else's digest.
import { Writable } from 'node:stream';
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
  const logLines: string[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });

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
    const config = testConfig({
      DATABASE_URL: database.url,
      SMTP_URL: sink.url,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'info',
    });
    workers = await startWorkers(config, createLogger(config, 'paperboy-worker', logs), database.db, [
      scheduleWorker,
      createDigestWorker(),
    ]);
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

  it('sends everyone else their digest when a reader has a zone Postgres does not know, and logs it', async () => {
    sink.reset();
    const merging = await database.db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    const hourIn = (timeZone: string) =>
      Number(new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(new Date()));
    // Inserted as an older release stored them; the lowest ids, so they are on the first page.
    const readers: [string, string, string][] = [
      ['00000000-0000-0000-0000-000000000001', 'mars@example.org', 'Mars/Olympus_Mons'],
      ['00000000-0000-0000-0000-000000000002', 'pacific@example.org', 'US/Pacific-New'],
      ['00000000-0000-0000-0000-000000000003', 'vienna@example.org', 'Europe/Vienna'],
    ];
    for (const [id, email, zone] of readers) {
      const sendHour = hourIn(zone === 'Mars/Olympus_Mons' ? 'UTC' : zone);
      await database.db.$executeRaw`
        INSERT INTO subscriber (id, email, status, time_zone, send_hour, updated_at)
        VALUES (${id}::uuid, ${email}, 'active', ${zone}, ${sendHour}, now())`;
      await database.db.subscriberTopic.create({ data: { subscriberId: id, topicId: merging.id } });
    }
    await ticks.add('tick', {});
    const sent = await sink.waitForMessages(2);
    expect(sent.map((m) => m.envelope.to[0]).sort()).toEqual(['pacific@example.org', 'vienna@example.org']);
    await expect.poll(() => logLines.filter((line) => line.includes('Mars/Olympus_Mons')).length).toBeGreaterThan(0);
    const reported = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(reported).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 40, zone: 'Mars/Olympus_Mons', readers: 1 }),
        expect.objectContaining({ from: 'US/Pacific-New', to: 'America/Los_Angeles', readers: 1 }),
      ]),
    );
    // Zones and counts, never who.
    expect(logLines.join('\n')).not.toContain('@example.org');
    expect(sink.messages.some((m) => m.envelope.to.includes('mars@example.org'))).toBe(false);
  });
});
