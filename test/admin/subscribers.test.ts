// Admin API for readers: search and pagination, one reader's detail, status changes an operator may
// make (and those they may not), and deletion that keeps the address suppressed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';
import { adminGet, allPages, seedSubscriber } from '../helpers/admin.ts';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

describe('admin subscribers API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp();
  });
  afterAll(async () => {
    await t.close();
  });
  const db = () => t.database.db;
  const patch = (id: string, payload: object) =>
    t.app.inject({ method: 'PATCH', url: `/api/v1/admin/subscribers/${id}`, headers: adminHeaders, payload });

  it('pages through every reader newest first, without duplicates or gaps, even when times tie', async () => {
    const tied = new Date('2026-11-01T08:00:00Z');
    for (let i = 0; i < 12; i++) {
      await seedSubscriber(db(), {
        email: `page${String(i).padStart(2, '0')}@example.org`,
        // Eight share one creation time, so the id has to break the tie.
        createdAt: i < 8 ? tied : new Date(tied.getTime() + i * 60_000),
      });
    }
    const { items, pages } = await allPages<{ id: string; email: string; createdAt: string }>(
      t.app,
      '/api/v1/admin/subscribers?email=page&limit=5',
    );
    expect(pages).toBe(3);
    expect(items).toHaveLength(12);
    expect(new Set(items.map((item) => item.id)).size).toBe(12);
    const times = items.map((item) => Date.parse(item.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(items.slice(0, 4).map((item) => item.email)).toEqual([
      'page11@example.org',
      'page10@example.org',
      'page09@example.org',
      'page08@example.org',
    ]);
  });

  it('filters by address substring (any case), status and topic', async () => {
    const topic = await db().topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    const grace = await seedSubscriber(db(), {
      email: 'grace.hopper@navy.example',
      topics: { create: [{ topicId: topic.id }] },
    });
    await seedSubscriber(db(), { email: 'grace.other@navy.example', status: 'unsubscribed' });

    const byEmail = await adminGet(t.app, '/api/v1/admin/subscribers?email=GRACE.h');
    expect(byEmail.json<{ items: { id: string }[] }>().items.map((item) => item.id)).toEqual([grace.id]);

    const unsubscribed = await adminGet(t.app, '/api/v1/admin/subscribers?email=navy&status=unsubscribed');
    expect(unsubscribed.json<{ items: { email: string }[] }>().items.map((item) => item.email)).toEqual([
      'grace.other@navy.example',
    ]);

    const byTopic = await adminGet(t.app, '/api/v1/admin/subscribers?topic=model-merging');
    expect(byTopic.json()).toEqual({
      items: [expect.objectContaining({ id: grace.id, topics: ['model-merging'], status: 'active' })],
      nextCursor: null,
    });

    // A % in the search is a character, not a wildcard.
    expect((await adminGet(t.app, '/api/v1/admin/subscribers?email=%25')).json()).toEqual({
      items: [],
      nextCursor: null,
    });
  });

  it('explains bad filters and cursors with a 400, and an unknown topic with a 404', async () => {
    const status = await adminGet(t.app, '/api/v1/admin/subscribers?status=sleeping');
    expect(status.statusCode).toBe(400);
    expect(status.json<{ message: string }>().message).toMatch(/^status: /);
    const limit = await adminGet(t.app, '/api/v1/admin/subscribers?limit=500');
    expect(limit.statusCode).toBe(400);
    expect(limit.json<{ message: string }>().message).toMatch(/^limit: /);
    const cursor = await adminGet(t.app, '/api/v1/admin/subscribers?cursor=not-a-cursor');
    expect(cursor.statusCode).toBe(400);
    expect(cursor.json<{ message: string }>().message).toContain('cursor is not valid');
    // A cursor from another list (papers have arXiv ids, not UUIDs) is refused, not sent to SQL.
    const foreign = Buffer.from(JSON.stringify({ createdAt: new Date().toISOString(), id: '2401.00001' })).toString(
      'base64url',
    );
    expect((await adminGet(t.app, `/api/v1/admin/subscribers?cursor=${foreign}`)).statusCode).toBe(400);
    const topic = await adminGet(t.app, '/api/v1/admin/subscribers?topic=no-such-topic');
    expect(topic.statusCode).toBe(404);
    expect(topic.json<{ message: string }>().message).toBe('There is no topic "no-such-topic".');
  });

  it('shows one reader with topics, latest deliveries and latest events; 404 and 400 otherwise', async () => {
    const reader = await seedSubscriber(db(), { email: 'detail@example.org' });
    for (let i = 0; i < 55; i++) {
      await db().delivery.create({
        data: {
          subscriberId: reader.id,
          kind: 'digest',
          digestKey: `2026-10-${String(i).padStart(2, '0')}`,
          dueAt: new Date(),
          createdAt: new Date(Date.UTC(2026, 9, 1) + i * 3_600_000),
        },
      });
    }
    for (let i = 0; i < 105; i++) {
      await db().event.create({ data: { subscriberId: reader.id, type: `test_${i}`, createdAt: new Date(1e12 + i) } });
    }
    const response = await adminGet(t.app, `/api/v1/admin/subscribers/${reader.id}`);
    expect(response.statusCode).toBe(200);
    const body = response.json<{
      email: string;
      suppressed: unknown;
      deliveries: { digestKey: string }[];
      events: { id: string; type: string }[];
    }>();
    expect(body).toMatchObject({ email: 'detail@example.org', suppressed: null });
    expect(body.deliveries).toHaveLength(50);
    expect(body.deliveries[0]!.digestKey).toBe('2026-10-54');
    expect(body.events).toHaveLength(100);
    expect(body.events[0]).toMatchObject({ type: 'test_104', id: expect.stringMatching(/^\d+$/) as unknown });

    expect((await adminGet(t.app, `/api/v1/admin/subscribers/${UNKNOWN_ID}`)).statusCode).toBe(404);
    const bad = await adminGet(t.app, '/api/v1/admin/subscribers/42');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ message: string }>().message).toBe('id: must be a UUID');
  });

  it('unsubscribes, pauses and resumes a reader, recording each change', async () => {
    const reader = await seedSubscriber(db(), { email: 'changes@example.org' });
    const paused = await patch(reader.id, { paused: true });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ status: 'active', pausedAt: expect.any(String) as unknown });
    const resumed = await patch(reader.id, { paused: false });
    expect(resumed.json()).toMatchObject({ status: 'active', pausedAt: null });
    const gone = await patch(reader.id, { status: 'unsubscribed' });
    expect(gone.json()).toMatchObject({ status: 'unsubscribed', unsubscribedAt: expect.any(String) as unknown });
    // The same state again is not a change.
    expect((await patch(reader.id, { status: 'unsubscribed' })).statusCode).toBe(200);

    const events = await db().event.findMany({
      where: { subscriberId: reader.id, type: 'admin_status_change' },
      orderBy: { id: 'asc' },
    });
    expect(events.map((event) => event.data)).toEqual([
      { from: { status: 'active', paused: false }, to: { status: 'active', paused: true } },
      { from: { status: 'active', paused: true }, to: { status: 'active', paused: false } },
      { from: { status: 'active', paused: false }, to: { status: 'unsubscribed', paused: false } },
    ]);
  });

  it('refuses changes an operator must not make, saying why', async () => {
    const pending = await seedSubscriber(db(), { email: 'pending@example.org', status: 'pending' });
    const confirm = await patch(pending.id, { status: 'active' });
    expect(confirm.statusCode).toBe(409);
    expect(confirm.json<{ message: string }>().message).toContain('double opt-in');

    const unsubscribed = await seedSubscriber(db(), { email: 'left@example.org', status: 'unsubscribed' });
    const back = await patch(unsubscribed.id, { status: 'active' });
    expect(back.statusCode).toBe(409);
    expect(back.json<{ message: string }>().message).toContain('only they can subscribe again');
    const pause = await patch(unsubscribed.id, { paused: true });
    expect(pause.statusCode).toBe(409);
    expect(pause.json<{ message: string }>().message).toBe(
      'Only an active reader can be paused or resumed; this one is unsubscribed.',
    );

    for (const payload of [{}, { status: 'bounced' }, { status: 'active', extra: 1 }]) {
      const response = await patch(unsubscribed.id, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect((await patch(UNKNOWN_ID, { status: 'unsubscribed' })).statusCode).toBe(404);
    expect(await db().event.count({ where: { type: 'admin_status_change', subscriberId: unsubscribed.id } })).toBe(0);
  });

  it('reactivates a bounced reader only once the address is no longer suppressed', async () => {
    const bounced = await seedSubscriber(db(), { email: 'bounced@example.org', status: 'bounced' });
    await db().suppression.create({ data: { addressHash: addressHash('bounced@example.org'), reason: 'hard_bounce' } });
    const refused = await patch(bounced.id, { status: 'active' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json<{ message: string }>().message).toMatch(/^The address is suppressed \(hard bounce since /);

    const lift = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/suppressions?email=bounced@example.org`,
      headers: adminHeaders,
    });
    expect(lift.statusCode).toBe(204);
    const reactivated = await patch(bounced.id, { status: 'active' });
    expect(reactivated.statusCode).toBe(200);
    expect(reactivated.json()).toMatchObject({ status: 'active', suppressed: null });
  });

  it('deletes a reader and their history, keeping the address suppressed as forgotten', async () => {
    const reader = await seedSubscriber(db(), { email: 'forget.me@example.org' });
    await db().event.create({ data: { subscriberId: reader.id, type: 'signup' } });
    const remove = () =>
      t.app.inject({ method: 'DELETE', url: `/api/v1/admin/subscribers/${reader.id}`, headers: adminHeaders });
    expect((await remove()).statusCode).toBe(204);
    expect(await db().subscriber.findUnique({ where: { id: reader.id } })).toBeNull();
    expect(await db().event.count({ where: { subscriberId: reader.id } })).toBe(0);
    expect(
      await db().suppression.findUnique({ where: { addressHash: addressHash('forget.me@example.org') } }),
    ).toMatchObject({ reason: 'forgotten' });
    expect(await db().event.findFirst({ where: { type: 'forgotten' }, orderBy: { id: 'desc' } })).toMatchObject({
      subscriberId: null,
      data: { by: 'admin' },
    });
    expect((await remove()).statusCode).toBe(404);
  });
});
