// A saturated database is a full house, not a bug: the client is asked to come back (503, Retry-After).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../helpers/app.ts';

describe('a saturated database', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers a signup with 503 and Retry-After when no connection comes free in time', async () => {
    // Every connection of the pool (node-postgres' default of 10) busy for longer than a request waits for
    // one (connectionTimeoutMillis in src/db/client.ts, 5 s).
    const hogs = Array.from({ length: 10 }, () =>
      t.database.db.$transaction(async (tx) => tx.$executeRaw`SELECT pg_sleep(7)`, { timeout: 15_000 }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      payload: { email: 'patient@example.org', topics: ['model-merging'] },
    });
    await Promise.all(hogs);
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.json()).toMatchObject({ message: expect.stringContaining('try again') as unknown });
  });
});
