// Redis and Postgres failing under a running worker: this run's keys deleted mid-run, a private
// redis-server killed and restarted mid-run, the worker's Postgres connections terminated mid-run, and
// a signup while Redis is down.
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix } from '../helpers/redis.ts';
import { openTestApp } from '../helpers/app.ts';
import { TEST_TOKEN_KEYS } from '../helpers/config.ts';
import { databaseUrl } from '../helpers/postgres.ts';
import { startNode } from '../helpers/processes.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { checkInvariants, setUpRun, startPrivateRedis, statuses, waitUntilSettled, type Run } from './harness.ts';

describe('Redis or Postgres failing mid-run', () => {
  let sink: SmtpSink;
  let run: Run | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterEach(async () => {
    await run?.close();
    run = undefined;
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    sink.reset();
  });
  afterAll(async () => {
    await sink.close();
  });

  it("5a. this run's Redis keys deleted mid-run (a FLUSH): every reader gets exactly one digest", async () => {
    run = await setUpRun({ readers: 300, sink });
    await run.startWorker();
    expect(await run.schedule()).toBe(303);
    await sink.waitForMessages(50, 60_000);
    await deleteKeysWithPrefix(run.config.REDIS_URL, run.prefix);
    await waitUntilSettled(run);
    await checkInvariants(run);
    expect(await statuses(run.database)).toEqual({ sent: 300, skipped: 3 });
  }, 180_000);

  it('5b. the redis-server killed and restarted (empty) mid-run: every reader gets exactly one digest', async () => {
    const redis = await startPrivateRedis();
    let current: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
    cleanups.push(async () => {
      await redis.kill();
      await current?.kill();
    });
    run = await setUpRun({ readers: 300, sink, redisUrl: redis.url });
    await run.startWorker();
    expect(await run.schedule()).toBe(303);
    await sink.waitForMessages(50, 60_000);
    await redis.kill();
    const sentWhileDown = sink.messages.length;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    current = await startPrivateRedis(redis.port);
    await waitUntilSettled(run);
    await checkInvariants(run);
    expect(await statuses(run.database)).toEqual({ sent: 300, skipped: 3 });
    expect(sentWhileDown).toBeLessThan(300);
  }, 180_000);

  it("5c. the worker's Postgres connections terminated mid-run: every reader gets exactly one digest", async () => {
    run = await setUpRun({ readers: 300, sink });
    const t = run;
    await t.startWorker();
    expect(await t.schedule()).toBe(303);
    const admin = new pg.Client({ connectionString: t.database.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      for (const after of [50, 120, 200]) {
        await sink.waitForMessages(after, 60_000);
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [t.database.name],
        );
      }
    } finally {
      await admin.end();
    }
    await waitUntilSettled(t);
    // A connection killed between the server's "250" and the commit is the documented window: re-sent
    // after the lease, same Message-ID. At most one per concurrent job per termination.
    const { repeated } = await checkInvariants(t, { resent: 24 });
    console.info(`postgres terminations: ${repeated.length} message(s) in the accepted-not-committed window`);
    expect(await statuses(t.database)).toEqual({ sent: 300, skipped: 3 });
  }, 180_000);

  it('5e. Postgres away for 3 s just as the server accepts a message: recorded when it is back, nothing sent twice', async () => {
    run = await setUpRun({ readers: 200, sink });
    const t = run;
    await t.startWorker();
    const admin = new pg.Client({ connectionString: databaseUrl(t.database.url, 'postgres') });
    admin.on('error', () => {});
    await admin.connect();
    const cut = (allow: boolean) =>
      admin.query(`ALTER DATABASE "${t.database.name}" WITH ALLOW_CONNECTIONS ${allow}`).then(async () => {
        if (allow) return;
        await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [
          t.database.name,
        ]);
      });
    let blip: Promise<void> | undefined;
    try {
      // The 41st message is fully received and its "250" held back while Postgres goes away; the worker
      // gets the 250 after 1.5 s, with Postgres still refusing connections for another 1.5 s.
      sink.onAccepted(() => {
        if (sink.messages.length !== 40 || blip) return;
        sink.failNext(1, {
          type: 'stall',
          ms: 1_500,
          onStall: () => {
            blip = cut(false).then(() =>
              new Promise<void>((resolve) => setTimeout(resolve, 3_000)).then(() => cut(true)),
            );
          },
        });
      });
      expect(await t.schedule()).toBe(203);
      await sink.waitForMessages(60, 60_000);
      await blip;
    } finally {
      await blip?.catch(() => {});
      await cut(true).catch(() => {});
      await admin.end();
    }
    await waitUntilSettled(t);
    const { repeated } = await checkInvariants(t, { resent: 0 });
    expect(repeated).toEqual([]);
    expect(await statuses(t.database)).toEqual({ sent: 200, skipped: 3 });
  }, 180_000);

  it("5f. Redis loses the queue's lists but keeps its job hashes (a partial loss): every reader gets one digest", async () => {
    run = await setUpRun({ readers: 100, sink });
    expect(await run.schedule()).toBe(103);
    // What a non-atomic flush, an eviction or a half-restored snapshot leaves: jobs no list holds.
    const redis = new Redis(run.config.REDIS_URL);
    await redis.del(`${run.prefix}:digest:wait`);
    redis.disconnect();
    await run.startWorker();
    await waitUntilSettled(run);
    await checkInvariants(run);
    expect(await statuses(run.database)).toEqual({ sent: 100, skipped: 3 });
  }, 180_000);

  it('5d. a signup while Redis is down answers 202, and its confirmation goes out once Redis is back', async () => {
    const redis = await startPrivateRedis();
    await redis.kill();
    const api = await openTestApp({ REDIS_URL: redis.url, SMTP_URL: sink.url });
    cleanups.push(() => api.close());
    const started = Date.now();
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      payload: { email: 'newcomer@example.org', topics: ['model-merging'] },
    });
    console.info(`signup with Redis down answered ${response.statusCode} after ${Date.now() - started} ms`);
    expect(response.statusCode, response.body).toBe(202);
    expect(Date.now() - started).toBeLessThan(10_000);
    const restarted = await startPrivateRedis(redis.port);
    cleanups.push(() => restarted.kill());
    // The worker's reconciler finds the confirmation in Postgres and queues it.
    const worker = startNode('workers/index.ts', [], {
      NODE_ENV: 'test',
      DATABASE_URL: api.database.url,
      REDIS_URL: redis.url,
      SMTP_URL: sink.url,
      PAPER_FEEDS: 'none',
      TOKEN_KEYS: TEST_TOKEN_KEYS,
      LOG_LEVEL: 'info',
    });
    cleanups.push(async () => (worker.child.kill('SIGKILL'), await worker.finished));
    await sink.waitForMessages(1, 60_000);
    await expect
      .poll(() => api.database.db.delivery.findFirst({ where: { kind: 'confirm' } }), { timeout: 20_000 })
      .toMatchObject({ status: 'sent' });
    expect(sink.messages.map((m) => m.envelope.to)).toEqual([['newcomer@example.org']]);
  }, 120_000);
});
