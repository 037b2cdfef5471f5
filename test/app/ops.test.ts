// /healthz and /readyz against real Postgres and Redis, and against services that are down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildApp, type App } from '../../src/app.ts';
import { createDatabase, type Database } from '../../src/db/client.ts';
import { createLogger } from '../../src/logger.ts';
import { createProbeConnection } from '../../src/queues/connection.ts';
import { testConfig } from '../helpers/config.ts';
import { freePort } from '../helpers/net.ts';
import { createEmptyDatabase, openTestDatabase } from '../helpers/postgres.ts';

type TestDb = Awaited<ReturnType<typeof openTestDatabase>>;

async function appWith(db: Database, redisUrl: string): Promise<App> {
  const config = testConfig();
  const redis = createProbeConnection(redisUrl);
  redis.on('error', () => {});
  const app = await buildApp({ config, db, redis, logger: createLogger(config) });
  app.addHook('onClose', async () => redis.disconnect());
  return app;
}

describe('operations endpoints', () => {
  let database: TestDb;
  let app: App;

  beforeAll(async () => {
    database = await openTestDatabase();
    app = await appWith(database.db, testConfig().REDIS_URL);
    // A route with a schema, to see how the app answers a request that fails validation.
    app.post(
      '/test/echo',
      { schema: { body: z.object({ email: z.email(), count: z.number().int() }) } },
      async (req) => req.body,
    );
  });
  afterAll(async () => {
    await app.close();
    await database.close();
  });

  it('/healthz answers while the process is up', async () => {
    const response = await app.inject('/healthz');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 when Postgres and Redis answer', async () => {
    const response = await app.inject('/readyz');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      status: 'ready',
      message: 'PostgreSQL and Redis are answering and the schema is up to date.',
      checks: { database: { status: 'ok' }, migrations: { status: 'ok' }, redis: { status: 'ok' } },
    });
  });

  it('/readyz answers 503 naming Redis when Redis is down', async () => {
    const down = await appWith(database.db, `redis://127.0.0.1:${await freePort()}`);
    const response = await down.inject('/readyz');
    await down.close();
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({
      status: 'unavailable',
      message: 'Redis not available.',
      checks: {
        database: { status: 'ok' },
        redis: { status: 'failing', error: expect.stringContaining('ECONNREFUSED') as unknown },
      },
    });
  });

  it('/readyz answers 503 naming PostgreSQL when the database is unreachable', async () => {
    const unreachable = createDatabase(`postgresql://postgres@127.0.0.1:${await freePort()}/paperboy`);
    const down = await appWith(unreachable, testConfig().REDIS_URL);
    const response = await down.inject('/readyz');
    await down.close();
    await unreachable.$disconnect();
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({
      status: 'unavailable',
      message: 'PostgreSQL and the database schema not available.',
      checks: { database: { status: 'failing' }, migrations: { status: 'failing' }, redis: { status: 'ok' } },
    });
  });

  it('/readyz answers 503 naming the schema when migrations are not applied', async () => {
    const empty = await createEmptyDatabase();
    const db = createDatabase(empty.url);
    const unmigrated = await appWith(db, testConfig().REDIS_URL);
    const response = await unmigrated.inject('/readyz');
    await unmigrated.close();
    await db.$disconnect();
    await empty.drop();
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({
      message: 'The database schema not available.',
      checks: { migrations: { status: 'failing', error: 'no migrations applied: run `npm run db:migrate`' } },
    });
  });

  it('gives every response a request id, reusing a sane incoming one', async () => {
    const fresh = await app.inject('/healthz');
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const reused = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'edge-1234' } });
    expect(reused.headers['x-request-id']).toBe('edge-1234');
    const hostile = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'a\nb<script>' } });
    expect(hostile.headers['x-request-id']).not.toContain('<');
  });

  it('answers unknown routes with a JSON 404 that says what was asked', async () => {
    const response = await app.inject('/no/such/page');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'Not Found', message: 'There is nothing at GET /no/such/page.' });
  });

  it('answers invalid input with a 400 naming each field', async () => {
    const response = await app.inject({ method: 'POST', url: '/test/echo', payload: { email: 'nope', count: 1.5 } });
    expect(response.statusCode).toBe(400);
    const body = response.json<{ problems: string[] }>();
    expect(body.problems).toEqual([expect.stringMatching(/^email: /), expect.stringMatching(/^count: /)]);
  });

  it('answers malformed JSON with a 400, not a 500', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": ',
    });
    expect(response.statusCode).toBe(400);
  });
});
