// Start-up and graceful shutdown: `npm start` serves, and SIGTERM lets in-flight work finish first.
import net from 'node:net';
import { Queue, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { createLogger } from '../../src/logger.ts';
import { createProbeConnection, createQueueConnection } from '../../src/queues/connection.ts';
import { createWorker, QUEUE_NAMES } from '../../src/queues/index.ts';
import { startWorkers } from '../../workers/index.ts';
import { TEST_TOKEN_KEYS, testConfig } from '../helpers/config.ts';
import { freePort } from '../helpers/net.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { startNode, startProcess } from '../helpers/processes.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';

type TestDb = Awaited<ReturnType<typeof openTestDatabase>>;

describe('process lifecycle', () => {
  let database: TestDb;
  const prefix = uniqueQueuePrefix();

  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(async () => {
    await database.close();
    await deleteKeysWithPrefix(testConfig().REDIS_URL, prefix);
  });

  it('`npm start` serves /healthz and /readyz, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    // Through npm, as an operator would run it: the signal must reach Paperboy, not just npm.
    const service = startProcess('npm', ['start', '--silent'], {
      DATABASE_URL: database.url,
      REDIS_URL: testConfig().REDIS_URL,
      QUEUE_PREFIX: prefix,
      TOKEN_KEYS: TEST_TOKEN_KEYS,
      PAPER_FEEDS: 'none',
      PORT: String(port),
    });
    try {
      await service.waitForOutput(/Server listening/);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready' });
    } finally {
      service.child.kill('SIGTERM');
    }
    const exit = await service.finished;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout).toContain('shutdown complete');
  });

  it('serves /healthz while Redis is down, /readyz says so, and SIGTERM still exits 0', async () => {
    const port = await freePort();
    const service = startNode('src/main.ts', [], {
      DATABASE_URL: database.url,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      QUEUE_PREFIX: prefix,
      TOKEN_KEYS: TEST_TOKEN_KEYS,
      PORT: String(port),
    });
    try {
      await service.waitForOutput(/Server listening/);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ message: 'Redis not available.' });
    } finally {
      service.child.kill('SIGTERM');
    }
    const exit = await service.finished;
    expect(exit.code, exit.stderr).toBe(0);
  });

  it('says in one line when the port is taken, and exits 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    const run = await startNode('src/server.ts', [], {
      DATABASE_URL: database.url,
      REDIS_URL: testConfig().REDIS_URL,
      TOKEN_KEYS: TEST_TOKEN_KEYS,
      PORT: String(port),
    }).finished;
    blocker.close();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`127.0.0.1:${port} is already in use: stop the other process or set PORT.`);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/\n\s+at /);
  });

  it('finishes an in-flight request before the API closes', async () => {
    const config = testConfig();
    const redis = createProbeConnection(config.REDIS_URL);
    const app = await buildApp({ config, db: database.db, redis, logger: createLogger(config) });
    app.get('/test/slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      return { finished: true };
    });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const inFlight = fetch(`${address}/test/slow`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = app.close();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ finished: true });
    await closed;
    redis.disconnect();
    await expect(fetch(`${address}/healthz`)).rejects.toThrow();
  });

  it('lets an active job finish before the workers close', async () => {
    const config = testConfig({ QUEUE_PREFIX: prefix });
    const finished: string[] = [];
    let started!: () => void;
    const jobStarted = new Promise<void>((resolve) => (started = resolve));
    const running = await startWorkers(config, createLogger(config), database.db, [
      ({ queues }) =>
        createWorker<{ name: string }>(
          QUEUE_NAMES.mail,
          async (job: Job<{ name: string }>) => {
            started();
            await new Promise((resolve) => setTimeout(resolve, 500));
            finished.push(job.data.name);
            return 'done';
          },
          queues,
        ),
    ]);
    const connection = createQueueConnection(config.REDIS_URL);
    const queue = new Queue(QUEUE_NAMES.mail, { connection, prefix });
    const job = await queue.add('slow', { name: 'slow job' });
    await jobStarted;

    await running.close();
    expect(finished).toEqual(['slow job']);
    expect(await (await queue.getJob(job.id!))?.getState()).toBe('completed');
    await queue.close();
    await connection.quit();
  });
});
