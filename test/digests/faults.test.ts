// Digests when parts fail: SMTP 4xx and 5xx, an SMTP server that is down, and Redis losing its queues
// in the middle of a run. Postgres is the truth: every reader gets exactly one digest, none is lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { scheduleDueDigests } from '../../src/modules/digests/schedule.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { createQueueConnection } from '../../src/queues/connection.ts';
import { createDigestQueue, deliveryJob, pageJob } from '../../src/queues/deliveries.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { createDigestWorker } from '../../workers/digest.worker.ts';
import { testConfig } from '../helpers/config.ts';
import { freePort } from '../helpers/net.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

type TestDb = Awaited<ReturnType<typeof openTestDatabase>>;

interface SetUpOptions {
  /** Instead of the sink's port: a mail server that cannot work (an unresolvable name, TLS to plain text). */
  smtpUrl?: string;
  /** Environment of the worker beyond this file's defaults. */
  env?: Record<string, string>;
  /** MAIL_OUTAGE_PAUSE_MS of the worker: 300 ms, or long enough that a pause shows. */
  servicePauseMs?: number;
}

/** A database with a fresh merging paper and `count` readers due now, and a digest queue on its own prefix. */
async function setUp(count: number, smtpPort: number, options: SetUpOptions = {}) {
  const database = await openTestDatabase();
  const prefix = uniqueQueuePrefix();
  await ingestFeed(database.db, [
    {
      paper: { id: '2611.00010', title: 'Model Merging at Scale', upvotes: 3 },
      publishedAt: new Date(Date.now() - 3_600_000).toISOString(),
    },
  ]);
  const merging = await database.db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
  const hour = new Date().getUTCHours();
  await database.db.subscriber.createMany({
    data: Array.from({ length: count }, (_, i) => ({
      email: `reader${i}@example.org`,
      status: 'active' as const,
      timeZone: 'UTC',
      sendHour: hour,
    })),
  });
  await database.db
    .$executeRaw`INSERT INTO subscriber_topic (subscriber_id, topic_id) SELECT id, ${merging.id} FROM subscriber`;
  const config = testConfig({
    DATABASE_URL: database.url,
    SMTP_URL: options.smtpUrl ?? `smtp://127.0.0.1:${smtpPort}`,
    QUEUE_PREFIX: prefix,
    SEND_RATE_PER_SECOND: '1000',
    ...options.env,
  });
  const connection = createQueueConnection(config.REDIS_URL);
  const queue = createDigestQueue({ connection, prefix });
  // Quick retries, so a test sees several attempts in a second or two.
  const schedule = () =>
    scheduleDueDigests(
      database.db,
      async (ids) => {
        const { name, data, opts } = pageJob(ids);
        await queue.add(name, data, { ...opts, backoff: { type: 'fixed' as const, delay: 200 } });
      },
      { cutoffHours: 12 },
    ).then((pass) => pass.created);
  const start = (logger = createLogger(config)) =>
    startWorkers(config, logger, database.db, [
      createDigestWorker({ reconcileEveryMs: 300, servicePauseMs: options.servicePauseMs ?? 300 }),
    ]);
  const close = async (workers?: RunningWorkers) => {
    await workers?.close();
    await queue.close();
    await connection.quit();
    await database.close();
    await deleteKeysWithPrefix(config.REDIS_URL, prefix);
  };
  /** The BullMQ job that carries this delivery (a page: each scheduling pass here makes one). */
  const jobCarrying = async (deliveryId: string) =>
    (await queue.getJobs()).find((job) => deliveryJob.parse(job.data).deliveryIds.includes(deliveryId));
  /** The delivery to this reader, and its job. */
  const jobOf = async (email: string) => {
    const delivery = await database.db.delivery.findFirstOrThrow({ where: { subscriber: { email } } });
    return { delivery, job: await jobCarrying(delivery.id) };
  };
  return { database, config, prefix, queue, schedule, start, close, jobOf, jobCarrying };
}

const statuses = async (database: TestDb) =>
  Object.fromEntries(
    (await database.db.delivery.groupBy({ by: ['status'], _count: true })).map((g) => [g.status, g._count]),
  );

describe('digests when SMTP fails', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
  });

  it('delivers once after a 451, suppresses on 550 5.1.1 and sends that reader nothing more', async () => {
    const t = await setUp(3, sink.port);
    sink.failRecipient('reader0@example.org', { type: 'reply', code: 451, message: '4.7.1 greylisted' });
    sink.failRecipient('reader1@example.org', { type: 'reply', code: 550, message: '5.1.1 no such user' });
    const workers = await t.start();
    try {
      expect(await t.schedule()).toBe(3);
      await expect.poll(() => sink.messages.filter((m) => m.envelope.to[0] === 'reader2@example.org').length).toBe(1);
      await expect.poll(async () => (await statuses(t.database)).failed).toBe(1);
      expect(
        await t.database.db.suppression.count({ where: { addressHash: addressHash('reader1@example.org') } }),
      ).toBe(1);
      expect(
        await t.database.db.delivery.findFirst({ where: { subscriber: { email: 'reader0@example.org' } } }),
      ).toMatchObject({
        // Back in line for a retry (or already being retried): never failed for a 4xx.
        status: expect.stringMatching(/^(pending|sending)$/) as unknown,
        lastError: expect.stringContaining('451') as unknown,
      });
      sink.clearFailures();
      await expect.poll(() => sink.messages.filter((m) => m.envelope.to[0] === 'reader0@example.org').length).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 800));
      const to = sink.messages.map((m) => m.envelope.to[0]);
      expect(to.filter((a) => a === 'reader0@example.org')).toHaveLength(1);
      expect(to).not.toContain('reader1@example.org');
    } finally {
      sink.clearFailures();
      sink.reset();
      await t.close(workers);
    }
  });
});

describe('digests when the mail server is slow to answer one message', () => {
  it('retries that message alone: a stalled reply does not pause the queue for MAIL_OUTAGE_PAUSE_MS', async () => {
    const sink = await startSmtpSink();
    // A 6 s lease makes the SMTP socket timeout 2 s; a pause, if one came, would last a minute.
    const t = await setUp(4, sink.port, { env: { DELIVERY_LEASE_SECONDS: '6' }, servicePauseMs: 60_000 });
    sink.failRecipient('reader0@example.org', { type: 'stall', ms: 4_000 }, 1);
    const workers = await t.start();
    try {
      expect(await t.schedule()).toBe(4);
      const messages = await sink.waitForMessages(4, 15_000);
      expect(new Set(messages.map((m) => m.envelope.to[0])).size).toBe(4);
      await expect.poll(async () => (await statuses(t.database)).sent).toBe(4);
      // The stalled message spent one attempt (and only it), like any message that may pass.
      const { delivery, job } = await t.jobOf('reader0@example.org');
      expect(delivery).toMatchObject({ status: 'sent', attempts: 2 });
      expect(job?.attemptsMade).toBe(2);
    } finally {
      await t.close(workers);
      await sink.close();
    }
  });
});

describe('digests when the mail server closes the channel on a message (421 after DATA)', () => {
  it('sends it on the next try without spending one of its attempts, and pauses nothing', async () => {
    const sink = await startSmtpSink();
    const t = await setUp(3, sink.port, { env: { DELIVERY_RETRY_DELAY_MS: '200' }, servicePauseMs: 60_000 });
    sink.failNext(1, {
      type: 'reply',
      code: 421,
      message: '4.3.2 service not available, closing transmission channel',
    });
    const workers = await t.start();
    try {
      expect(await t.schedule()).toBe(3);
      const messages = await sink.waitForMessages(3, 15_000);
      expect(new Set(messages.map((m) => m.messageId)).size).toBe(3);
      await expect.poll(async () => (await statuses(t.database)).sent).toBe(3);
      const rows = await t.database.db.delivery.findMany();
      // The refused message was released and claimed again (its row counts both claims) ...
      expect(rows.map((d) => d.attempts).sort()).toEqual([1, 1, 2]);
      // ... but, like the others, its job completed on its first counted attempt: no retry was spent.
      for (const row of rows) expect((await t.jobCarrying(row.id))?.attemptsMade, row.id).toBe(1);
    } finally {
      await t.close(workers);
      await sink.close();
    }
  });
});

describe('digests when the relay cannot be resolved or TLS cannot be set up with it', () => {
  it.each([
    // .invalid never resolves (RFC 6761), so no query leaves the machine.
    ['a relay name that does not resolve', () => 'smtp://no-such-host.invalid:2525', /ENOTFOUND|EAI_AGAIN/],
    ['smtps:// to a server that speaks plain text', (port: number) => `smtps://127.0.0.1:${port}`, /SSL|TLS/],
    [
      'STARTTLS required, the server offers none',
      (port: number) => `smtp://127.0.0.1:${port}?requireTLS=true`,
      /STARTTLS/,
    ],
  ])('%s: the queue pauses with an alert, no attempt is spent, the deliveries stay pending', async (_, url, why) => {
    const sink = await startSmtpSink();
    const t = await setUp(3, sink.port, { smtpUrl: url(sink.port), servicePauseMs: 60_000 });
    const lines: string[] = [];
    const logger = createLogger({ LOG_LEVEL: 'warn', NODE_ENV: 'test' }, 'test', {
      write: (line) => void lines.push(line),
    });
    const workers = await t.start(logger);
    try {
      expect(await t.schedule()).toBe(3);
      const rows = () => t.database.db.delivery.findMany({ orderBy: { id: 'asc' } });
      // Each delivery was claimed, met the relay's failure and was given back ...
      await expect
        .poll(async () =>
          (await rows()).every((d) => d.status === 'pending' && d.attempts > 0 && why.test(d.lastError ?? '')),
        )
        .toBe(true);
      const claimed = (await rows()).map((d) => d.attempts);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // ... and then nothing: the queue is paused, not retrying message by message.
      expect((await rows()).map((d) => d.attempts)).toEqual(claimed);
      expect(await statuses(t.database)).toEqual({ pending: 3 });
      for (const row of await rows()) {
        const job = (await t.jobCarrying(row.id))!;
        expect(job.attemptsMade, row.id).toBe(0);
        expect(await job.getState()).toBe('waiting');
      }
      expect(lines.filter((line) => line.includes('ALERT: the mail server')).length).toBeGreaterThan(0);
      expect(sink.messages).toEqual([]);
    } finally {
      await t.close(workers);
      await sink.close();
    }
  });
});

describe('digests when the mail server rejects our credentials', () => {
  it('pauses sending instead of failing readers, and resumes once the server accepts again', async () => {
    const sink = await startSmtpSink();
    const t = await setUp(3, sink.port);
    sink.failNext(50, { type: 'reply', code: 535, message: '5.7.8 authentication failed' });
    const workers = await t.start();
    try {
      expect(await t.schedule()).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const rows = await t.database.db.delivery.findMany();
      expect(rows.filter((d) => d.status === 'failed')).toEqual([]);
      // Paused, not retried message by message: far fewer attempts than a retry storm would make.
      expect(rows.reduce((sum, d) => sum + d.attempts, 0)).toBeLessThan(20);
      sink.clearFailures();
      const messages = await sink.waitForMessages(3, 20_000);
      expect(new Set(messages.map((m) => m.messageId)).size).toBe(3);
    } finally {
      await t.close(workers);
      await sink.close();
    }
  });
});

describe('digests when the SMTP server is down, then back', () => {
  it('marks nothing failed while it is down and delivers everything once it is back', async () => {
    const port = await freePort();
    const t = await setUp(5, port);
    const workers = await t.start();
    let sink: SmtpSink | undefined;
    try {
      expect(await t.schedule()).toBe(5);
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect((await statuses(t.database)).failed).toBeUndefined();
      sink = await startSmtpSink({ port });
      const messages = await sink.waitForMessages(5, 20_000);
      expect(new Set(messages.map((m) => m.messageId)).size).toBe(5);
      await expect.poll(async () => (await statuses(t.database)).sent, { timeout: 10_000 }).toBe(5);
    } finally {
      await t.close(workers);
      await sink?.close();
    }
  });
});

describe('digests when Redis loses its queues', () => {
  it('sends every reader of a 500-digest run exactly one digest after the queue is wiped mid-run', async () => {
    const sink = await startSmtpSink();
    const t = await setUp(500, sink.port);
    const workers = await t.start();
    try {
      expect(await t.schedule()).toBe(500);
      await sink.waitForMessages(50, 20_000);
      // Everything queued in Redis for this run is gone, as with FLUSHALL (scoped to this test's prefix).
      await deleteKeysWithPrefix(t.config.REDIS_URL, t.prefix);
      await sink.waitForMessages(500, 60_000);
      await expect.poll(async () => (await statuses(t.database)).sent, { timeout: 30_000 }).toBe(500);
      const ids = sink.messages.map((m) => m.messageId);
      expect(new Set(ids).size).toBe(500);
      expect(ids).toHaveLength(500);
    } finally {
      await t.close(workers);
      await sink.close();
    }
  }, 120_000);
});
