// The harness gives each test file its own migrated database and Redis prefix, so files run in parallel.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { readMigrations } from '../../src/db/migrate.ts';
import { createQueueConnection } from '../../src/queues/connection.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';

type TestDb = Awaited<ReturnType<typeof openTestDatabase>>;

async function createTemplateClient() {
  const url = new URL(inject('postgresUrl'));
  url.pathname = `/${inject('templateDatabase')}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return client;
}

describe('test isolation', () => {
  const opened: TestDb[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((database) => database.close()));
  });

  it('gives each caller a separate, fully migrated, empty database', async () => {
    const [a, b] = await Promise.all([openTestDatabase(), openTestDatabase()]);
    opened.push(a, b);
    expect(a.name).not.toBe(b.name);
    expect(a.name.startsWith(`${inject('runId')}_`)).toBe(true);

    const migrations = await a.db.$queryRaw<
      { migration_name: string }[]
    >`SELECT migration_name FROM _prisma_migrations`;
    expect(migrations.map((m) => m.migration_name)).toEqual((await readMigrations()).map((m) => m.name));
    // Only what the migrations seed (the topic catalogue), nothing any test wrote.
    const seededTopics = await a.db.topic.count();
    expect(await a.db.paper.count()).toBe(0);
    expect(await b.db.topic.count()).toBe(seededTopics);

    await a.db.topic.create({
      data: { slug: 'isolation-check', name: 'Isolation', description: 'x', query: 'isolation' },
    });
    expect(await a.db.topic.count()).toBe(seededTopics + 1);
    expect(await b.db.topic.count()).toBe(seededTopics);
  });

  it('never changes the template the databases are cloned from', async () => {
    // The first test wrote to its clones; the template must still hold only what the migrations seed.
    const template = await createTemplateClient();
    const { rows } = await template.query<{ papers: number; isolation: number }>(
      `SELECT (SELECT count(*) FROM paper)::int AS papers,
              (SELECT count(*) FROM topic WHERE slug = 'isolation-check')::int AS isolation`,
    );
    await template.end();
    expect(rows).toEqual([{ papers: 0, isolation: 0 }]);
  });

  it('keeps queues with different prefixes apart and removes a prefix completely', async () => {
    const redisUrl = inject('redisUrl');
    const [first, second] = [uniqueQueuePrefix(), uniqueQueuePrefix()];
    expect(first).not.toBe(second);
    const connection = createQueueConnection(redisUrl);
    const queues = [
      new Queue('mail', { connection, prefix: first }),
      new Queue('mail', { connection, prefix: second }),
    ];
    await queues[0]!.add('hello', { n: 1 });
    await queues[0]!.add('hello', { n: 2 });
    expect(await queues[0]!.count()).toBe(2);
    expect(await queues[1]!.count()).toBe(0);
    await Promise.all(queues.map((queue) => queue.close()));
    await connection.quit();

    expect(await deleteKeysWithPrefix(redisUrl, first)).toBeGreaterThan(0);
    const redis = new Redis(redisUrl);
    expect(await redis.keys(`${first}:*`)).toEqual([]);
    await redis.quit();
  });
});
