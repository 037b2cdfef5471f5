// Delivery leases against real Postgres when worker hosts' clocks disagree: Postgres's clock decides.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  claimDelivery,
  findUnfinishedDeliveries,
  startSending,
  stillUnfinished,
} from '../../src/modules/mail/deliveries.ts';
import { openTestDatabase } from '../helpers/postgres.ts';

const TEN_MINUTES = 10 * 60_000;

describe('delivery leases on hosts with skewed clocks', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let readerId: string;
  let n = 0;

  beforeAll(async () => {
    database = await openTestDatabase();
    readerId = (await database.db.subscriber.create({ data: { email: 'skew@example.org', status: 'active' } })).id;
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await database.close();
  });

  const newDelivery = async () =>
    (
      await database.db.delivery.create({
        data: {
          subscriberId: readerId,
          kind: 'digest',
          digestKey: `2026-12-${String(++n).padStart(2, '0')}`,
          dueAt: new Date(),
        },
      })
    ).id;
  /** This process's clock, as a skewed host's would be; only Date is faked, so sockets and timers run as usual. */
  const skewClock = (offsetMs: number) => {
    const real = Date.now();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(real + offsetMs);
  };
  /** Whether the delivery's lease is still live, by Postgres's clock. */
  const leaseLive = async (id: string) => {
    const [row] = await database.db.$queryRaw<{ live: boolean }[]>`
      SELECT lease_until > now() AS live FROM delivery WHERE id = ${id}::uuid`;
    return row!.live;
  };
  const listed = async (id: string) => ({
    reconciled: (await findUnfinishedDeliveries(database.db, ['digest'], new Date(0))).includes(id),
    reRead: (await stillUnfinished(database.db, [id])).has(id),
  });

  it('a worker whose clock runs 10 minutes fast cannot take over a live lease, only one that ended', async () => {
    const id = await newDelivery();
    // A worker with a correct clock holds the delivery for 1.5 s.
    expect(await claimDelivery(database.db, id, 1_500)).toMatchObject({ attempts: 1 });
    skewClock(TEN_MINUTES);
    // By this host's clock the lease ended 10 minutes ago; by Postgres's it is live.
    expect(await claimDelivery(database.db, id)).toBeNull();
    expect(await listed(id)).toEqual({ reconciled: false, reRead: false });
    await expect.poll(() => leaseLive(id), { interval: 100 }).toBe(false);
    expect(await listed(id)).toEqual({ reconciled: true, reRead: true });
    expect(await claimDelivery(database.db, id)).toMatchObject({ attempts: 2 });
  });

  it('a worker whose clock runs 10 minutes slow writes leases others see as live, and takes over ended ones', async () => {
    const id = await newDelivery();
    skewClock(-TEN_MINUTES);
    const claim = (await claimDelivery(database.db, id, 60_000))!;
    expect(claim).toMatchObject({ attempts: 1 });
    expect(await leaseLive(id)).toBe(true);
    expect((await startSending(database.db, [{ delivery: claim, paperIds: [] }], 60_000)).get(id)).toBe('send');
    expect(await leaseLive(id)).toBe(true);
    vi.useRealTimers();
    // A worker with a correct clock must keep away: by the slow host's arithmetic the lease ended 8 minutes ago.
    expect(await claimDelivery(database.db, id)).toBeNull();
    expect(await listed(id)).toEqual({ reconciled: false, reRead: false });

    // A lease that ended a second ago, by Postgres's clock, is the slow worker's to take over at once.
    await database.db.$executeRaw`UPDATE delivery SET lease_until = now() - interval '1 second' WHERE id = ${id}::uuid`;
    skewClock(-TEN_MINUTES);
    expect(await claimDelivery(database.db, id)).toMatchObject({ attempts: 2 });
  });
});
