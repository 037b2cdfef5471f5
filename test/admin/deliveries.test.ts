// Admin API for deliveries: filters and pagination, one delivery's detail, and retries: a failed one goes
// back on its own queue (once, however often it is retried), a sent one is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queue } from 'bullmq';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { createQueueConnection, type RedisConnection } from '../../src/queues/connection.ts';
import { createDigestQueue, createMailQueue, type DeliveryJob } from '../../src/queues/deliveries.ts';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';
import { adminGet, allPages, seedSubscriber } from '../helpers/admin.ts';
import { freePort } from '../helpers/net.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

describe('admin deliveries API', () => {
  let t: TestApp;
  let connection: RedisConnection;
  let mailQueue: Queue<DeliveryJob>;
  let digestQueue: Queue<DeliveryJob>;
  const prefix = uniqueQueuePrefix();

  beforeAll(async () => {
    t = await openTestApp({ QUEUE_PREFIX: prefix });
    connection = createQueueConnection(t.config.REDIS_URL);
    mailQueue = createMailQueue({ connection, prefix });
    digestQueue = createDigestQueue({ connection, prefix });
  });
  afterAll(async () => {
    await mailQueue.close();
    await digestQueue.close();
    connection.disconnect();
    await t.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });
  const db = () => t.database.db;
  const retry = (id: string, app = t.app) =>
    app.inject({ method: 'POST', url: `/api/v1/admin/deliveries/${id}/retry`, headers: adminHeaders });

  let seq = 0;
  const delivery = async (
    subscriberId: string,
    data: {
      kind?: 'digest' | 'confirm' | 'manage_link';
      status?: 'pending' | 'sent' | 'failed' | 'skipped';
    } & {
      createdAt?: Date;
      dueAt?: Date;
      attempts?: number;
      lastError?: string;
    } = {},
  ) =>
    db().delivery.create({
      data: { subscriberId, kind: 'digest', digestKey: `key-${++seq}`, dueAt: new Date(), ...data },
    });

  it('filters by status, kind, reader and creation time, and pages without duplicates or gaps', async () => {
    const ada = await seedSubscriber(db(), { email: 'ada@example.org' });
    const bob = await seedSubscriber(db(), { email: 'bob@example.org' });
    const day = (d: number) => new Date(Date.UTC(2026, 10, d, 9));
    for (let d = 1; d <= 7; d++) await delivery(ada.id, { status: 'sent', createdAt: day(d) });
    await delivery(ada.id, { kind: 'confirm', status: 'failed', createdAt: day(3) });
    await delivery(bob.id, { status: 'failed', createdAt: day(3) });

    const list = (query: string) =>
      allPages<{ id: string; subscriberId: string; kind: string; status: string; createdAt: string }>(
        t.app,
        `/api/v1/admin/deliveries?${query}`,
      );
    const all = await list('limit=2');
    expect(all.items).toHaveLength(9);
    expect(all.pages).toBe(5);
    expect(new Set(all.items.map((item) => item.id)).size).toBe(9);

    expect((await list('status=failed')).items.map((item) => item.subscriberId).sort()).toEqual(
      [ada.id, bob.id].sort(),
    );
    expect((await list('status=failed&kind=digest')).items.map((item) => item.subscriberId)).toEqual([bob.id]);
    expect((await list(`subscriberId=${bob.id}`)).items).toHaveLength(1);
    // createdFrom is inclusive, createdBefore exclusive; a bare date is midnight UTC.
    const window = await list(`subscriberId=${ada.id}&kind=digest&createdFrom=2026-11-02&createdBefore=2026-11-05`);
    expect(window.items.map((item) => item.createdAt)).toEqual([
      day(4).toISOString(),
      day(3).toISOString(),
      day(2).toISOString(),
    ]);

    const bad = await adminGet(t.app, '/api/v1/admin/deliveries?createdFrom=yesterday&kind=letter');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ problems: string[] }>().problems).toEqual([
      expect.stringMatching(/^kind: /),
      'createdFrom: must be an ISO 8601 date such as 2026-11-28 or 2026-11-28T07:00:00Z',
    ]);
  });

  it('shows one delivery with its papers, Message-ID, attempts and last error; 404 for an unknown one', async () => {
    const reader = await seedSubscriber(db(), { email: 'detail@example.org' });
    const row = await db().delivery.create({
      data: {
        subscriberId: reader.id,
        kind: 'digest',
        digestKey: '2026-11-28',
        dueAt: new Date(),
        status: 'failed',
        attempts: 3,
        lastError: '552 mailbox full',
        paperIds: ['2401.00001', '2401.00002'],
        messageId: '<detail@paperboy.test>',
      },
    });
    const response = await adminGet(t.app, `/api/v1/admin/deliveries/${row.id}`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      id: row.id,
      status: 'failed',
      attempts: 3,
      lastError: '552 mailbox full',
      paperIds: ['2401.00001', '2401.00002'],
      messageId: '<detail@paperboy.test>',
      subscriber: { email: 'detail@example.org', status: 'active' },
    });
    expect((await adminGet(t.app, `/api/v1/admin/deliveries/${UNKNOWN_ID}`)).statusCode).toBe(404);
    expect((await retry(UNKNOWN_ID)).statusCode).toBe(404);
  });

  it('retries a failed digest on the digest queue and a failed confirmation on the mail queue, once', async () => {
    const reader = await seedSubscriber(db(), { email: 'retry@example.org' });
    const digest = await delivery(reader.id, { status: 'failed', attempts: 2, lastError: '451 try later' });
    const confirm = await delivery(reader.id, { kind: 'confirm', status: 'failed', attempts: 1 });
    // The failed attempt's finished job is still in Redis under the same id: it must not block the retry.
    await (
      await digestQueue.add('send', { deliveryId: digest.id }, { jobId: digest.id })
    )
      .moveToFailed(new Error('gave up'), '0', false)
      .catch(() => {});

    const first = await retry(digest.id);
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({ status: 'pending', queued: true });
    expect((await retry(confirm.id)).statusCode).toBe(202);

    const digestJob = await digestQueue.getJob(digest.id);
    expect(digestJob?.data).toEqual({ deliveryId: digest.id });
    expect(await digestJob?.isWaiting()).toBe(true);
    expect((await mailQueue.getJob(confirm.id))?.data).toEqual({ deliveryIds: [confirm.id] });
    expect(await mailQueue.getJob(digest.id)).toBeUndefined();
    expect(await digestQueue.getJob(confirm.id)).toBeUndefined();

    // Attempts are kept (they are the claim token); the lease is cleared; the retry is in the history.
    expect(await db().delivery.findUniqueOrThrow({ where: { id: digest.id } })).toMatchObject({
      status: 'pending',
      attempts: 2,
      leaseUntil: null,
    });
    expect(
      await db().event.findFirst({ where: { subscriberId: reader.id, type: 'admin_delivery_retry' } }),
    ).toMatchObject({ data: { deliveryId: digest.id, kind: 'digest', from: 'failed', attempts: 2 } });

    // Now pending: a second retry is refused, and the queue still holds one job for it.
    const again = await retry(digest.id);
    expect(again.statusCode).toBe(409);
    expect(again.json<{ message: string }>().message).toBe(
      'This delivery is already waiting to be sent; there is nothing to retry.',
    );
    expect(await digestQueue.getWaitingCount()).toBe(1);
  });

  it('refuses to retry a sent delivery, a late digest, a suppressed address and day-old mail, saying why', async () => {
    const reader = await seedSubscriber(db(), { email: 'refuse@example.org' });
    const sent = await delivery(reader.id, { status: 'sent' });
    const response = await retry(sent.id);
    expect(response.statusCode).toBe(409);
    expect(response.json<{ message: string }>().message).toBe(
      'This delivery was sent; a retry would email the reader twice.',
    );

    const late = await delivery(reader.id, { status: 'failed', dueAt: new Date(Date.now() - 2 * 86_400_000) });
    const lateRetry = await retry(late.id);
    expect(lateRetry.statusCode).toBe(409);
    expect(lateRetry.json<{ message: string }>().message).toContain('never sent more than 12 hours late');

    const blocked = await seedSubscriber(db(), { email: 'blocked@example.org' });
    await db().suppression.create({ data: { addressHash: addressHash('blocked@example.org'), reason: 'complaint' } });
    const suppressed = await delivery(blocked.id, { kind: 'manage_link', status: 'failed' });
    expect((await retry(suppressed.id)).statusCode).toBe(409);

    // The reconciler no longer looks at transactional mail older than a day: a retry could be lost.
    const old = await delivery(reader.id, {
      kind: 'confirm',
      status: 'failed',
      createdAt: new Date(Date.now() - 2 * 86_400_000),
    });
    const oldRetry = await retry(old.id);
    expect(oldRetry.statusCode).toBe(409);
    expect(oldRetry.json<{ message: string }>().message).toContain('more than a day old');

    for (const row of [sent, late, suppressed, old]) {
      expect((await db().delivery.findUniqueOrThrow({ where: { id: row.id } })).status).toBe(row.status);
    }
  });

  it('answers 202 when Redis is away: the delivery is pending and the reconciler will queue it', async () => {
    const away = await openTestApp({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    try {
      const reader = await seedSubscriber(away.database.db, { email: 'offline@example.org' });
      const failed = await away.database.db.delivery.create({
        data: { subscriberId: reader.id, kind: 'confirm', digestKey: 'k', dueAt: new Date(), status: 'failed' },
      });
      const response = await retry(failed.id, away.app);
      expect(response.statusCode).toBe(202);
      expect(response.json()).toMatchObject({ status: 'pending', queued: false });
      expect((await away.database.db.delivery.findUniqueOrThrow({ where: { id: failed.id } })).status).toBe('pending');
    } finally {
      await away.close();
    }
  });
});
