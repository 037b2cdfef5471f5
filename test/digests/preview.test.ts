// Looking at a reader's next digest without sending it, and running a scheduling pass by hand.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { createQueueConnection } from '../../src/queues/connection.ts';
import { createDigestQueue } from '../../src/queues/deliveries.ts';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';
import { TEST_TOKEN_KEYS } from '../helpers/config.ts';
import { runNode } from '../helpers/processes.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';

describe('digest preview and manual runs', () => {
  let t: TestApp;
  let readerId: string;
  const prefix = uniqueQueuePrefix();
  const env = () => ({
    DATABASE_URL: t.database.url,
    REDIS_URL: t.config.REDIS_URL,
    TOKEN_KEYS: TEST_TOKEN_KEYS,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'silent',
  });

  beforeAll(async () => {
    t = await openTestApp({ QUEUE_PREFIX: prefix });
    await ingestFeed(t.database.db, [
      {
        paper: { id: '2611.00020', title: 'Model Merging for Everyone' },
        publishedAt: new Date(Date.now() - 3_600_000).toISOString(),
      },
    ]);
    const merging = await t.database.db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    const reader = await t.database.db.subscriber.create({
      data: {
        email: 'preview@example.org',
        status: 'active',
        timeZone: 'UTC',
        sendHour: new Date().getUTCHours(),
        topics: { create: { topicId: merging.id } },
      },
    });
    readerId = reader.id;
  });
  afterAll(async () => {
    await t.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  it('prints the next digest from the command line and records nothing', async () => {
    const run = await runNode('src/cli.ts', ['digest:preview', 'preview@example.org'], env());
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Model Merging for Everyone');
    expect(run.stdout).toMatch(/^<!doctype html>/);
    expect(await t.database.db.delivery.count()).toBe(0);
    const unknown = await runNode('src/cli.ts', ['digest:preview', 'nobody@example.org'], env());
    expect(unknown).toMatchObject({ code: 1, stderr: 'No subscriber has the address nobody@example.org.\n' });
  });

  it('returns the next digest from the admin API, behind the admin token', async () => {
    const url = `/api/v1/admin/subscribers/${readerId}/preview`;
    expect((await t.app.inject(url)).statusCode).toBe(401);
    const response = await t.app.inject({ url, headers: adminHeaders });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
    expect(response.body).toContain('Model Merging for Everyone');
    expect(
      (
        await t.app.inject({
          url: '/api/v1/admin/subscribers/00000000-0000-4000-8000-000000000000/preview',
          headers: adminHeaders,
        })
      ).statusCode,
    ).toBe(404);
    expect(await t.database.db.delivery.count()).toBe(0);
  });

  it('runs one scheduling pass with digest:run --now; running it again for the same date does nothing', async () => {
    const first = await runNode('src/cli.ts', ['digest:run', '--now'], env());
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('1 digest(s) scheduled.');
    const again = await runNode('src/cli.ts', ['digest:run', '--now'], env());
    expect(again.stdout).toContain('0 digest(s) scheduled.');
    expect(await t.database.db.delivery.count({ where: { kind: 'digest' } })).toBe(1);
    const connection = createQueueConnection(t.config.REDIS_URL);
    const queue = createDigestQueue({ connection, prefix });
    expect(await queue.count()).toBe(1);
    await queue.close();
    await connection.quit();
  });

  it("re-sends a reader's latest digest only when forced, with the same papers under a new Message-ID", async () => {
    const refused = await runNode('src/cli.ts', ['digest:run', '--now', '--force', 'preview@example.org'], env());
    expect(refused).toMatchObject({
      code: 1,
      stderr: 'preview@example.org has not been sent a digest yet: there is nothing to re-send.\n',
    });
    const latest = await t.database.db.delivery.findFirstOrThrow({ where: { kind: 'digest' } });
    await t.database.db.delivery.update({
      where: { id: latest.id },
      data: { status: 'sent', sentAt: new Date(), paperIds: ['2611.00020'] },
    });
    const forced = await runNode('src/cli.ts', ['digest:run', '--now', '--force', 'preview@example.org'], env());
    expect(forced.code, forced.stderr).toBe(0);
    const deliveries = await t.database.db.delivery.findMany({
      where: { kind: 'digest' },
      orderBy: { createdAt: 'asc' },
    });
    expect(deliveries).toHaveLength(2);
    expect(deliveries[1]).toMatchObject({ status: 'pending', paperIds: ['2611.00020'] });
    expect(deliveries[1]!.digestKey.startsWith(`${latest.digestKey}#resent-`)).toBe(true);
  });
});
