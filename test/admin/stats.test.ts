// Admin stats on a small seeded dataset: readers by status and topic, digests per due day, and bounce
// and complaint rates over the last 7 and 30 days.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';
import { adminGet, seedSubscriber } from '../helpers/admin.ts';

const DAY = 86_400_000;

describe('admin stats API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('counts readers, topics, digests and deliverability', async () => {
    const db = t.database.db;
    const now = Date.now();
    const today = Math.floor(now / DAY) * DAY;
    const merging = await db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    const withMerging = { topics: { create: [{ topicId: merging.id }] } };

    const ada = await seedSubscriber(db, { email: 'ada@example.org', ...withMerging });
    await seedSubscriber(db, { email: 'paused@example.org', pausedAt: new Date(), ...withMerging });
    await seedSubscriber(db, { email: 'plain@example.org' });
    await seedSubscriber(db, { email: 'pending@example.org', status: 'pending', ...withMerging });
    await seedSubscriber(db, { email: 'left1@example.org', status: 'unsubscribed', ...withMerging });
    await seedSubscriber(db, { email: 'left2@example.org', status: 'unsubscribed' });
    await seedSubscriber(db, { email: 'gone@example.org', status: 'bounced' });

    let key = 0;
    const delivery = (data: {
      kind?: 'digest' | 'confirm';
      status: 'sent' | 'skipped' | 'failed' | 'pending';
      dueAt: number;
      sentAt?: number;
    }) =>
      db.delivery.create({
        data: {
          subscriberId: ada.id,
          kind: data.kind ?? 'digest',
          digestKey: `k${++key}`,
          status: data.status,
          dueAt: new Date(data.dueAt),
          sentAt: data.sentAt === undefined ? null : new Date(data.sentAt),
        },
      });
    // Today (UTC): two sent, one skipped. Two days ago: one failed. 40 days ago: outside every window.
    await delivery({ status: 'sent', dueAt: today + 60_000, sentAt: now - 1_000 });
    await delivery({ status: 'sent', dueAt: today + 120_000, sentAt: now - 2_000 });
    await delivery({ status: 'skipped', dueAt: today + 60_000 });
    await delivery({ status: 'failed', dueAt: today - 2 * DAY + 60_000 });
    await delivery({ status: 'pending', dueAt: today + 60_000 });
    await delivery({ status: 'sent', dueAt: today - 40 * DAY, sentAt: today - 40 * DAY });
    // Emails of other kinds count as sent mail for the rates, not as digests.
    await delivery({ kind: 'confirm', status: 'sent', dueAt: now - DAY, sentAt: now - DAY });
    await delivery({ kind: 'confirm', status: 'sent', dueAt: now - 20 * DAY, sentAt: now - 20 * DAY });

    const suppression = (
      email: string,
      reason: 'hard_bounce' | 'soft_bounce' | 'complaint' | 'forgotten',
      ago: number,
    ) => db.suppression.create({ data: { addressHash: addressHash(email), reason, createdAt: new Date(now - ago) } });
    await suppression('b1@example.org', 'hard_bounce', DAY);
    await suppression('c1@example.org', 'complaint', 10 * DAY);
    await suppression('f1@example.org', 'forgotten', DAY);
    await suppression('s1@example.org', 'soft_bounce', 40 * DAY);

    const response = await adminGet(t.app, '/api/v1/admin/stats');
    expect(response.statusCode, response.body).toBe(200);
    const stats = response.json<{
      readers: unknown;
      activeReadersByTopic: { slug: string; activeReaders: number }[];
      digestsByDueDay: { day: string; sent: number; skipped: number; failed: number }[];
      deliverability: unknown;
    }>();

    expect(stats.readers).toEqual({
      byStatus: { pending: 1, active: 3, unsubscribed: 2, bounced: 1, complained: 0 },
      pausedActive: 1,
    });
    expect(stats.activeReadersByTopic[0]).toMatchObject({ slug: 'model-merging', activeReaders: 2 });
    expect(stats.activeReadersByTopic.slice(1).every((topic) => topic.activeReaders === 0)).toBe(true);

    const day = (offset: number) => new Date(today + offset * DAY).toISOString().slice(0, 10);
    expect(stats.digestsByDueDay).toHaveLength(30);
    expect(stats.digestsByDueDay[0]!.day).toBe(day(-29));
    expect(stats.digestsByDueDay.at(-1)).toEqual({ day: day(0), sent: 2, skipped: 1, failed: 0 });
    expect(stats.digestsByDueDay.at(-3)).toEqual({ day: day(-2), sent: 0, skipped: 0, failed: 1 });
    expect(stats.digestsByDueDay.reduce((sum, d) => sum + d.sent + d.skipped + d.failed, 0)).toBe(4);

    expect(stats.deliverability).toEqual({
      // Sent: two digests and a confirmation; bounces: the hard bounce (a 'forgotten' one is no bounce).
      last7Days: { sent: 3, bounces: 1, complaints: 0, bounceRate: 1 / 3, complaintRate: 0 },
      last30Days: { sent: 4, bounces: 1, complaints: 1, bounceRate: 0.25, complaintRate: 0.25 },
    });
  });

  it('gives no rate (null) when nothing was sent', async () => {
    await t.database.db.delivery.deleteMany();
    const stats = (await adminGet(t.app, '/api/v1/admin/stats')).json<{ deliverability: { last7Days: object } }>();
    expect(stats.deliverability.last7Days).toEqual({
      sent: 0,
      bounces: 1,
      complaints: 0,
      bounceRate: null,
      complaintRate: null,
    });
  });
});
