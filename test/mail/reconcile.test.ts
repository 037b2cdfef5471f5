// The reconciler against real Redis and Postgres: it queues what Postgres says is unsent, replaces jobs
// that can no longer run, and never queues a delivery that finished after it was listed.
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queueDeliveries, reconcileDeliveries } from '../../src/modules/mail/reconcile.ts';
import { createQueueConnection, type RedisConnection } from '../../src/queues/connection.ts';
import { createDigestQueue, deliveryJobOptions, type DeliveryJob } from '../../src/queues/deliveries.ts';
import { testConfig } from '../helpers/config.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';

describe('reconciling the delivery queues', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let connection: RedisConnection;
  let queue: Queue<DeliveryJob>;
  let prefix: string;
  const prefixes: string[] = [];
  let n = 0;
  const config = { DIGEST_CUTOFF_HOURS: 12, DIGEST_PAGE_SIZE: 100 };

  beforeAll(async () => {
    database = await openTestDatabase();
    connection = createQueueConnection(testConfig().REDIS_URL);
  });
  beforeEach(async () => {
    await queue?.close();
    prefix = uniqueQueuePrefix();
    prefixes.push(prefix);
    queue = createDigestQueue({ connection, prefix });
    await database.db.delivery.deleteMany();
  });
  afterAll(async () => {
    await queue.close();
    for (const used of prefixes) await deleteKeysWithPrefix(testConfig().REDIS_URL, used);
    connection.disconnect();
    await database.close();
  });

  const digest = async (status: 'pending' | 'sent' = 'pending') => {
    const reader = await database.db.subscriber.create({
      data: { email: `reader${++n}@example.org`, status: 'active' },
    });
    const delivery = await database.db.delivery.create({
      data: { subscriberId: reader.id, kind: 'digest', digestKey: '2026-12-04', dueAt: new Date(), status },
    });
    return delivery.id;
  };
  const finishJob = async (id: string) => {
    await queue.add('send', { deliveryId: id }, deliveryJobOptions(id));
    const job = (await queue.getJob(id))!;
    // What a worker does when it completes a job, without a worker.
    await connection
      .multi()
      .lrem(`${prefix}:digest:wait`, 0, id)
      .zadd(`${prefix}:digest:completed`, Date.now(), id)
      .exec();
    await connection.hset(`${prefix}:digest:${id}`, 'finishedOn', Date.now(), 'returnvalue', '"sent"');
    expect(await job.getState()).toBe('completed');
  };

  it('queues a pending delivery that has no job, once however often it runs', async () => {
    const id = await digest();
    expect(await reconcileDeliveries(database.db, queue, config)).toBe(1);
    expect(await reconcileDeliveries(database.db, queue, config)).toBe(0);
    expect(await (await queue.getJob(id))!.getState()).toBe('waiting');
  });

  it('does not replace the finished job of a delivery that was sent after it was listed', async () => {
    // Listed as pending a moment ago; since then a worker sent it and its job completed.
    const id = await digest();
    await finishJob(id);
    await database.db.delivery.update({ where: { id }, data: { status: 'sent' } });
    expect(await queueDeliveries(database.db, queue, [id])).toBe(0);
    expect(await (await queue.getJob(id))!.getState()).toBe('completed');
    expect(await queue.getWaitingCount()).toBe(0);
  });

  it('replaces the finished job of a delivery that is still pending (an admin retry, a lost claim)', async () => {
    const id = await digest();
    await finishJob(id);
    expect(await queueDeliveries(database.db, queue, [id])).toBe(1);
    expect(await (await queue.getJob(id))!.getState()).toBe('waiting');
  });

  it('replaces an orphaned job (Redis lost its lists but kept the job hash), so the delivery is not stuck', async () => {
    // A partial loss: what a non-atomic flush, an eviction or a half-restored snapshot leaves behind.
    const ids = [await digest(), await digest(), await digest()];
    for (const id of ids) await queue.add('send', { deliveryId: id }, deliveryJobOptions(id));
    await connection.del(`${prefix}:digest:wait`);
    for (const id of ids) expect(await (await queue.getJob(id))!.getState()).toBe('unknown');
    expect(await reconcileDeliveries(database.db, queue, config)).toBe(3);
    // Digests are re-queued in pages: one job carries all three.
    const waiting = await queue.getWaiting();
    expect(waiting.flatMap((job) => (job.data as { deliveryIds: string[] }).deliveryIds).sort()).toEqual(
      [...ids].sort(),
    );
  });

  it('leaves a live job alone', async () => {
    const id = await digest();
    await queue.add('send', { deliveryId: id }, deliveryJobOptions(id));
    expect(await reconcileDeliveries(database.db, queue, config)).toBe(0);
    expect(await queue.getWaitingCount()).toBe(1);
  });
});
