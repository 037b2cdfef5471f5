// A page of deliveries through a real SMTP server when the page's own bookkeeping goes wrong: a lease
// renewal that finds deliveries taken over, a renewal that fails, one digest that cannot be composed.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sqlPool } from '../../src/db/client.ts';
import { createLogger } from '../../src/logger.ts';
import { claimDelivery, type ClaimedDelivery } from '../../src/modules/mail/deliveries.ts';
import { createSemaphore, sendDeliveries, type Composed, type SendDeps } from '../../src/modules/mail/send.ts';
import { createMailer } from '../../src/modules/mail/transport.ts';
import { testConfig } from '../helpers/config.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a page of deliveries', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let sink: SmtpSink;
  let mailer: ReturnType<typeof createMailer>;
  let n = 0;

  beforeAll(async () => {
    database = await openTestDatabase();
    sink = await startSmtpSink();
    const config = testConfig({ DATABASE_URL: database.url, SMTP_URL: sink.url });
    mailer = createMailer(config, createLogger(config), { maxConnections: 2 });
  });
  afterEach(() => sink.reset());
  afterAll(async () => {
    mailer.close();
    await sink.close();
    await database.close();
  });

  /** `size` digest deliveries due now, one reader each; their ids in page order. */
  const page = async (size: number) => {
    const ids: string[] = [];
    for (let k = 0; k < size; k++) {
      const reader = await database.db.subscriber.create({
        data: { email: `page${++n}@example.org`, status: 'active' },
      });
      const delivery = await database.db.delivery.create({
        data: { subscriberId: reader.id, kind: 'digest', digestKey: `2026-12-04#${n}`, dueAt: new Date() },
      });
      ids.push(delivery.id);
    }
    return ids.sort();
  };
  const message = (delivery: ClaimedDelivery): Composed => ({
    paperIds: [],
    message: {
      messageId: `<${delivery.id}@papers.example.org>`,
      from: 'paperboy@papers.example.org',
      to: delivery.reader!.email,
      subject: 'Your digest',
      html: '<p>papers</p>',
      text: 'papers',
    },
  });
  const deps = (overrides: Partial<SendDeps>): SendDeps => ({
    db: database.db,
    mailer,
    compose: async (deliveries) => deliveries.map(message),
    onHardBounce: async () => {},
    ...overrides,
  });
  const sentTo = () => sink.messages.map((m) => m.messageId!.slice(1, 37));
  const status = async (id: string) =>
    (await database.db.delivery.findUniqueOrThrow({ where: { id }, select: { status: true } })).status;

  it('does not send a delivery another worker took over while the page waited for the send rate', async () => {
    const ids = await page(3);
    let waited = false;
    const result = await sendDeliveries(
      deps({
        // A 2 s lease: waiting 0.7 s leaves less than one conversation's worth, so the page renews.
        leaseMs: 2_000,
        takeSendSlot: async () => {
          if (waited) return;
          waited = true;
          await delay(700);
          // Meanwhile the second delivery's lease ran out and another worker claimed it.
          await database.db.delivery.update({ where: { id: ids[1]! }, data: { leaseUntil: new Date(Date.now() - 1) } });
          expect(await claimDelivery(database.db, ids[1]!)).not.toBeNull();
        },
      }),
      ids,
    );
    expect(sentTo().sort()).toEqual([ids[0], ids[2]].sort());
    expect(result).toMatchObject({ sent: 2, notClaimed: 1 });
    expect(await status(ids[1]!)).toBe('sending');
  });

  it('stops at once when a lease renewal fails: nothing more goes out, what was not tried is put back', async () => {
    const ids = await page(8);
    const pool = sqlPool(database.db);
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
    const failingRenewals = (config: unknown, ...rest: unknown[]) =>
      (config as { name?: string } | undefined)?.name === 'delivery-renew'
        ? Promise.reject(new Error('Connection terminated unexpectedly'))
        : query(config, ...rest);
    Reflect.set(pool, 'query', failingRenewals);
    // Every message takes the server 300 ms to accept; the first lane also waits 0.7 s for the send rate.
    sink.failNext(ids.length, { type: 'stall', ms: 300 });
    let first = true;
    try {
      const sending = sendDeliveries(
        deps({
          // A 2 s lease: after 0.6 s, less than one conversation's worth is left, so the page renews.
          leaseMs: 2_000,
          inFlight: 2,
          conversations: createSemaphore(2),
          takeSendSlot: async () => {
            if (first) {
              first = false;
              await delay(700);
            }
          },
        }),
        ids,
      );
      await expect(sending).rejects.toThrow('Connection terminated unexpectedly');
      const sentAtFailure = sink.messages.length;
      await delay(1_000);
      // No lane went on sending after the page failed.
      expect(sink.messages.length).toBe(sentAtFailure);
      expect(sentAtFailure).toBeLessThan(ids.length);
    } finally {
      Reflect.set(pool, 'query', query);
    }
    const statuses = await Promise.all(ids.map(status));
    // Each delivery is sent, or back in line, or (the one whose renewal failed) waits for its lease.
    expect(statuses.filter((s) => s === 'sending').length).toBeLessThanOrEqual(2);
    expect(statuses.filter((s) => s === 'pending').length).toBe(
      ids.length - sink.messages.length - statuses.filter((s) => s === 'sending').length,
    );
  });

  it('puts back a digest that cannot be composed, alone, and sends the rest of the page', async () => {
    const ids = await page(4);
    const broken = ids[2]!;
    const sending = sendDeliveries(
      deps({
        compose: async (deliveries) =>
          deliveries.map((d) =>
            d.id === broken ? { retry: 'the digest could not be composed: bad data' } : message(d),
          ),
      }),
      ids,
    );
    // The job is retried for it (with backoff) ...
    await expect(sending).rejects.toThrow('could not be composed');
    // ... while the others went out.
    expect(sentTo().sort()).toEqual(ids.filter((id) => id !== broken).sort());
    expect(await database.db.delivery.findUniqueOrThrow({ where: { id: broken } })).toMatchObject({
      status: 'pending',
      lastError: 'the digest could not be composed: bad data',
    });
  });
});
