// Scheduled feed polling: a job scheduler, one job per feed, retries with backoff on network trouble.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.ts';
import { createLogger } from '../../src/logger.ts';
import { FeedUnavailableError, fetchFeed } from '../../src/modules/papers/ingest.ts';
import { createQueueConnection } from '../../src/queues/connection.ts';
import { QUEUE_NAMES } from '../../src/queues/index.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { createIngestWorker, type IngestJob } from '../../workers/ingest.worker.ts';
import { testConfig } from '../helpers/config.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';

const sample = readFileSync(path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json'), 'utf8');

async function until(condition: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('ingest worker', () => {
  const prefix = uniqueQueuePrefix();
  const hits: Record<string, number> = {};
  let server: http.Server;
  let base: string;
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let running: RunningWorkers;
  let queue: Queue<IngestJob>;
  const connection = createQueueConnection(testConfig().REDIS_URL);

  beforeAll(async () => {
    // A feed host that fails the way real ones do: 503 once, a stall once, or garbage every time.
    server = http.createServer((request, response) => {
      const url = request.url ?? '';
      hits[url] = (hits[url] ?? 0) + 1;
      if (url === '/flaky.json' && hits[url] === 1) return void response.writeHead(503).end('busy');
      if (url === '/slow.json' && hits[url] === 1) return; // never answers: the fetch must time out
      if (url === '/broken.json') return void response.writeHead(200).end('<html>not a feed</html>');
      response.writeHead(200, { 'content-type': 'application/json' }).end(sample);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    database = await openTestDatabase();
    const config = testConfig({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: prefix,
      PAPER_FEEDS: `${base}/flaky.json,${base}/slow.json,${base}/broken.json`,
    });
    running = await startWorkers(config, createLogger(config), database.db, [
      createIngestWorker({ retryDelayMs: 50, fetchTimeoutMs: 300 }),
    ]);
    queue = new Queue<IngestJob>(QUEUE_NAMES.ingest, { connection, prefix });
  });
  afterAll(async () => {
    await running.close();
    await queue.close();
    await connection.quit();
    server.closeAllConnections();
    server.close();
    await database.close();
    await deleteKeysWithPrefix(testConfig().REDIS_URL, prefix);
  });

  it('schedules polling of the configured feeds', async () => {
    await until(async () => (await queue.getJobSchedulers()).length > 0);
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers).toEqual([
      expect.objectContaining({ key: 'poll-paper-feeds', pattern: '15 * * * *', tz: 'UTC' }),
    ]);
  });

  it('imports every feed, retrying the ones that failed or stalled, and gives up on a broken one at once', async () => {
    await queue.add('poll', { kind: 'poll' });
    await until(async () => {
      const failed = await queue.getFailed();
      const completed = await queue.getCompleted();
      return failed.length === 1 && completed.filter((job) => job.name === 'feed').length === 2;
    });
    expect(await database.db.paper.count()).toBe(29);
    expect(hits).toMatchObject({ '/flaky.json': 2, '/slow.json': 2, '/broken.json': 1 });

    const [broken] = await queue.getFailed();
    expect(broken!.data).toEqual({ kind: 'feed', url: `${base}/broken.json` });
    expect(broken!.attemptsMade).toBe(1);
    expect(broken!.failedReason).toContain('The XML is not an Atom feed');
  });

  it('removes the schedule when no feeds are configured', async () => {
    const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, PAPER_FEEDS: 'none' });
    const again = await startWorkers(config, createLogger(config), database.db, [createIngestWorker()]);
    await until(async () => (await queue.getJobSchedulers()).length === 0);
    await again.close();
  });
});

describe('fetching feeds', () => {
  it('stops reading a feed larger than the limit, even without Content-Length', async () => {
    const server = http.createServer((_request, response) => {
      // Chunked: no Content-Length to trust.
      for (let i = 0; i < 10; i++) response.write('x'.repeat(1_000));
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    await expect(fetchFeed(url, 5_000, 5_000)).rejects.toThrow(InvalidInputError);
    await expect(fetchFeed(url, 5_000, 20_000)).resolves.toHaveLength(10_000);
    server.close();
  });

  it('treats refused connections and 5xx as worth retrying, 4xx as final', async () => {
    const server = http.createServer((request, response) =>
      response.writeHead(request.url === '/gone' ? 404 : 502).end(),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await expect(fetchFeed(`${base}/busy`)).rejects.toThrow(FeedUnavailableError);
    await expect(fetchFeed(`${base}/gone`)).rejects.toThrow(InvalidInputError);
    server.close();
    await expect(fetchFeed(`${base}/busy`)).rejects.toThrow(FeedUnavailableError);
  });
});
