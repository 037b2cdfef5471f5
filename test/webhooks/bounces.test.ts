// The bounce and complaint webhook: authentication, what each type does, idempotent replays, refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailsBounced } from '../../src/metrics.ts';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { markBounced } from '../../src/modules/subscribers/subscriptions.ts';
import { signatureHeader } from '../../src/modules/webhooks/auth.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';

const SECRET = 'bounce-webhook-secret-for-tests-0123456789';
const URL = '/api/v1/webhooks/bounces';
const bearer = { authorization: `Bearer ${SECRET}` };
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();

describe('bounce webhook', () => {
  let t: TestApp;
  let n = 0;
  beforeAll(async () => {
    t = await openTestApp({ BOUNCE_WEBHOOK_SECRET: SECRET });
  });
  afterAll(async () => {
    await t.close();
  });

  const db = () => t.database.db;
  const post = (payload: unknown, headers: Record<string, string> = bearer) =>
    t.app.inject({ method: 'POST', url: URL, headers, payload: payload as object });
  const reader = async (status: 'active' | 'pending' = 'active') =>
    db().subscriber.create({ data: { email: `reader${++n}@example.org`, status } });
  const suppressionOf = (email: string) => db().suppression.findUnique({ where: { addressHash: addressHash(email) } });
  const eventsOf = (email: string) =>
    db().event.findMany({
      where: { data: { path: ['addressHash'], equals: addressHash(email) } },
      orderBy: { id: 'asc' },
    });
  const statusOf = async (id: string) => (await db().subscriber.findUniqueOrThrow({ where: { id } })).status;
  const bouncedCount = async (type: string) =>
    (await emailsBounced.get()).values.find((v) => v.labels.type === type)?.value ?? 0;

  describe('authentication', () => {
    it('refuses a missing or wrong secret with 401, storing nothing', async () => {
      const payload = { address: 'nobody@example.org', type: 'hard' };
      for (const headers of [
        {} as Record<string, string>,
        { authorization: 'Bearer wrong-secret-wrong-secret-wrong-secret' },
        { authorization: `Basic ${Buffer.from(`x:${SECRET}`).toString('base64')}` },
        // A right signature does not rescue a wrong bearer token.
        { authorization: 'Bearer nope', 'x-paperboy-signature': signatureHeader(SECRET, JSON.stringify(payload)) },
      ]) {
        const response = await post(payload, headers);
        expect(response.statusCode).toBe(401);
        expect(response.headers['www-authenticate']).toContain('Bearer');
        expect(response.json()).toMatchObject({ error: 'Unauthorized' });
        expect(response.json<{ message: string }>().message).toContain('Bearer');
      }
      expect(await db().suppression.count()).toBe(0);
      expect(await db().event.count()).toBe(0);
    });

    it('accepts a valid HMAC signature and refuses a bad, malformed or stale one', async () => {
      const body = JSON.stringify({ id: 'sig-1', address: 'signed@example.org', type: 'hard' });
      const send = (signature: string, payload = body) =>
        t.app.inject({
          method: 'POST',
          url: URL,
          headers: { 'content-type': 'application/json', 'x-paperboy-signature': signature },
          payload,
        });

      const tampered = await send(signatureHeader(SECRET, body), body.replace('signed@', 'other@'));
      expect(tampered.statusCode).toBe(401);
      expect(tampered.json<{ message: string }>().message).toMatch(/does not match the body/);
      expect((await send(signatureHeader('another-secret-another-secret-123', body))).statusCode).toBe(401);
      const malformed = await send('sha256=abc');
      expect(malformed.statusCode).toBe(401);
      expect(malformed.json<{ message: string }>().message).toMatch(/t=<unix seconds>,v1=/);
      const stale = await send(signatureHeader(SECRET, body, new Date(Date.now() - 6 * 60_000)));
      expect(stale.statusCode).toBe(401);
      expect(stale.json<{ message: string }>().message).toMatch(/more than 5 minutes/);
      expect((await send(signatureHeader(SECRET, body, new Date(Date.now() + 6 * 60_000)))).statusCode).toBe(401);
      // Broken JSON from someone without the secret is refused as unauthenticated, not parsed.
      expect((await send(signatureHeader('x'.repeat(32), '{"broken'), '{"broken')).statusCode).toBe(401);
      expect(await suppressionOf('signed@example.org')).toBeNull();

      const good = await send(signatureHeader(SECRET, body));
      expect(good.statusCode).toBe(200);
      expect(good.json()).toEqual({ status: 'recorded', suppressed: true });
      // A signature made a little while ago (within the tolerance) is still good, and the replay is a no-op.
      const again = await send(signatureHeader(SECRET, body, new Date(Date.now() - 60_000)));
      expect(again.json()).toEqual({ status: 'duplicate', suppressed: true });
      expect(await suppressionOf('signed@example.org')).toMatchObject({ reason: 'hard_bounce' });
    });

    it('answers 503 and stores nothing when no secret is configured', async () => {
      const off = await openTestApp();
      try {
        for (const headers of [{}, { authorization: 'Bearer anything-at-all-anything-at-all' }]) {
          const response = await off.app.inject({
            method: 'POST',
            url: URL,
            headers,
            payload: { address: 'x@example.org', type: 'hard' },
          });
          expect(response.statusCode).toBe(503);
          expect(response.json<{ message: string }>().message).toContain('BOUNCE_WEBHOOK_SECRET');
        }
        expect(await off.database.db.event.count()).toBe(0);
      } finally {
        await off.close();
      }
    });
  });

  describe('what each type does', () => {
    it('suppresses a hard bounce at once and marks the subscriber bounced, keeping only the hash', async () => {
      const before = await bouncedCount('hard');
      const subscriber = await reader();
      const response = await post({
        id: 'evt-hard-1',
        address: subscriber.email,
        type: 'hard',
        reason: `550 5.1.1 <${subscriber.email}>: Recipient address rejected`,
        messageId: '<d1@papers.example.org>',
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ status: 'recorded', suppressed: true });
      expect(await suppressionOf(subscriber.email)).toMatchObject({
        reason: 'hard_bounce',
        detail: '550 5.1.1 <[address]>: Recipient address rejected',
      });
      expect(await statusOf(subscriber.id)).toBe('bounced');
      const [event, ...more] = await eventsOf(subscriber.email);
      expect(more).toEqual([]);
      expect(event).toMatchObject({
        subscriberId: subscriber.id,
        type: 'bounce',
        dedupeKey: 'bounce:id:evt-hard-1',
        data: {
          type: 'hard',
          addressHash: addressHash(subscriber.email),
          source: 'webhook',
          messageId: '<d1@papers.example.org>',
          providerId: 'evt-hard-1',
        },
      });
      expect(JSON.stringify(event!.data)).not.toContain(subscriber.email);
      expect(await bouncedCount('hard')).toBe(before + 1);
    });

    it('turns a complaint into a complained subscriber, also after a hard bounce, and never back', async () => {
      const first = await reader();
      expect((await post({ address: first.email, type: 'complaint' })).json()).toEqual({
        status: 'recorded',
        suppressed: true,
      });
      expect(await statusOf(first.id)).toBe('complained');
      expect(await suppressionOf(first.email)).toMatchObject({ reason: 'complaint' });
      expect((await eventsOf(first.email)).map((e) => e.type)).toEqual(['complaint']);

      const second = await reader();
      await post({ address: second.email, type: 'hard', occurredAt: daysAgo(1) });
      await post({ address: second.email, type: 'complaint', occurredAt: daysAgo(0.5) });
      expect(await statusOf(second.id)).toBe('complained');
      expect(await suppressionOf(second.email)).toMatchObject({ reason: 'complaint' });
      // A later hard bounce records its event but neither the status nor the reason goes back.
      await post({ address: second.email, type: 'hard' });
      expect(await statusOf(second.id)).toBe('complained');
      expect(await suppressionOf(second.email)).toMatchObject({ reason: 'complaint' });
      expect((await eventsOf(second.email)).map((e) => e.type)).toEqual(['bounce', 'complaint', 'bounce']);
    });

    it('suppresses on the SOFT_BOUNCE_LIMIT-th soft bounce within the window, not before', async () => {
      const subscriber = await reader();
      const soft = (occurredAt: string) => post({ address: subscriber.email, type: 'soft', occurredAt });
      expect((await soft(daysAgo(3))).json()).toEqual({ status: 'recorded', suppressed: false });
      expect((await soft(daysAgo(2))).json()).toEqual({ status: 'recorded', suppressed: false });
      expect(await suppressionOf(subscriber.email)).toBeNull();
      expect(await statusOf(subscriber.id)).toBe('active');
      expect((await soft(daysAgo(1))).json()).toEqual({ status: 'recorded', suppressed: true });
      expect(await suppressionOf(subscriber.email)).toMatchObject({
        reason: 'soft_bounce',
        detail: '3 soft bounces within 7 days',
      });
      expect(await statusOf(subscriber.id)).toBe('bounced');
    });

    it('counts soft bounces by when they happened: old ones do not count, late ones do', async () => {
      const subscriber = await reader();
      const soft = (occurredAt: string) => post({ address: subscriber.email, type: 'soft', occurredAt });
      // Two long ago (inside a week of each other, but not of now), arriving now.
      await soft(daysAgo(20));
      await soft(daysAgo(19));
      expect((await soft(daysAgo(1))).json()).toEqual({ status: 'recorded', suppressed: false });
      // One that happened before the last one but arrives after it: two within the window.
      expect((await soft(daysAgo(6.9))).json()).toEqual({ status: 'recorded', suppressed: false });
      // Outside the window by a day: still two.
      expect((await soft(daysAgo(8))).json()).toEqual({ status: 'recorded', suppressed: false });
      expect(await suppressionOf(subscriber.email)).toBeNull();
      // The third within the window, delivered out of order.
      expect((await soft(daysAgo(4))).json()).toEqual({ status: 'recorded', suppressed: true });
      expect(await statusOf(subscriber.id)).toBe('bounced');
    });

    it('lets a soft bounce suppression never replace a hard bounce', async () => {
      const subscriber = await reader();
      await post({ address: subscriber.email, type: 'hard', occurredAt: daysAgo(3) });
      for (const days of [2, 1.5, 1]) {
        expect((await post({ address: subscriber.email, type: 'soft', occurredAt: daysAgo(days) })).json()).toEqual({
          status: 'recorded',
          suppressed: true,
        });
      }
      expect(await suppressionOf(subscriber.email)).toMatchObject({ reason: 'hard_bounce' });
      expect(await statusOf(subscriber.id)).toBe('bounced');
      expect(await eventsOf(subscriber.email)).toHaveLength(4);
    });

    it('suppresses an address nobody subscribed with, storing only its hash', async () => {
      const email = 'Stranger@Example.ORG';
      const response = await post({ address: email, type: 'hard', reason: `no mailbox ${email}` });
      expect(response.json()).toEqual({ status: 'recorded', suppressed: true });
      // The hash is case-folded, so every spelling of the mailbox is caught.
      expect(await suppressionOf('stranger@example.org')).toMatchObject({ reason: 'hard_bounce' });
      const [event] = await eventsOf(email);
      expect(event).toMatchObject({ subscriberId: null, data: { reason: 'no mailbox [address]' } });
      expect(JSON.stringify(event!.data).toLowerCase()).not.toContain('stranger');
    });

    it('records the SMTP path through the same module, counting it once', async () => {
      const before = await bouncedCount('hard');
      const subscriber = await reader();
      await markBounced(db(), subscriber.email, `550 5.1.1 <${subscriber.email}> no such user`);
      expect(await statusOf(subscriber.id)).toBe('bounced');
      expect(await suppressionOf(subscriber.email)).toMatchObject({ reason: 'hard_bounce' });
      const [event] = await eventsOf(subscriber.email);
      expect(event).toMatchObject({ type: 'bounce', data: { type: 'hard', source: 'smtp' } });
      expect(JSON.stringify(event!.data)).not.toContain(subscriber.email);
      expect(await bouncedCount('hard')).toBe(before + 1);
    });

    it('takes a batch of events, applied in order', async () => {
      const subscriber = await reader();
      const events = [1, 2, 3].map((i) => ({ id: `batch-${i}`, address: subscriber.email, type: 'soft' }));
      const response = await post({ events });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        results: [
          { status: 'recorded', suppressed: false },
          { status: 'recorded', suppressed: false },
          { status: 'recorded', suppressed: true },
        ],
      });
      expect((await post({ events })).json()).toEqual({
        results: Array(3).fill({ status: 'duplicate', suppressed: true }),
      });
    });
  });

  describe('replays', () => {
    it('records an event sent twice, or five times at once, exactly once', async () => {
      const before = await bouncedCount('hard');
      const subscriber = await reader();
      const payload = { id: 'evt-replayed', address: subscriber.email, type: 'hard', reason: 'gone' };
      expect((await post(payload)).json()).toEqual({ status: 'recorded', suppressed: true });
      expect((await post(payload)).json()).toEqual({ status: 'duplicate', suppressed: true });
      expect(await eventsOf(subscriber.email)).toHaveLength(1);

      for (const body of [
        { id: 'evt-concurrent', address: 'racer@example.org', type: 'hard' },
        // Without a provider id, the same address, type, time and reason make the same event.
        { address: 'racer2@example.org', type: 'complaint', occurredAt: daysAgo(1), reason: 'abuse' },
      ]) {
        const responses = await Promise.all(Array.from({ length: 5 }, () => post(body)));
        expect(responses.map((r) => r.statusCode)).toEqual(Array(5).fill(200));
        expect(responses.map((r) => r.json<{ status: string }>().status).sort()).toEqual([
          'duplicate',
          'duplicate',
          'duplicate',
          'duplicate',
          'recorded',
        ]);
        expect(await db().suppression.count({ where: { addressHash: addressHash(body.address) } })).toBe(1);
        expect(await eventsOf(body.address)).toHaveLength(1);
      }
      expect(await bouncedCount('hard')).toBe(before + 2);
    });

    it('counts concurrent soft bounces of one address one after the other', async () => {
      const subscriber = await reader();
      const responses = await Promise.all(
        [1, 2, 3].map((i) => post({ id: `soft-race-${i}`, address: subscriber.email, type: 'soft' })),
      );
      expect(responses.filter((r) => r.json<{ suppressed: boolean }>().suppressed)).toHaveLength(1);
      expect(await suppressionOf(subscriber.email)).toMatchObject({ reason: 'soft_bounce' });
    });
  });

  describe('invalid bodies', () => {
    it('answers 400 saying what is wrong, and stores nothing', async () => {
      const events = await db().event.count();
      const suppressions = await db().suppression.count();
      const cases: [unknown, RegExp][] = [
        [{ address: 'not-an-address', type: 'hard' }, /^address: /],
        [{ address: 'a@example.org', type: 'bounce' }, /^type: must be "hard", "soft" or "complaint"/],
        [{ address: 'a@example.org', type: 'hard', occurredAt: 'yesterday' }, /^occurredAt: must be an ISO 8601/],
        [{ address: 'a@example.org', type: 'hard', occurredAt: daysAgo(-1) }, /^occurredAt: must not be in the future/],
        [{ address: 'a@example.org', type: 'hard', id: 'bad\u0000id' }, /^id: must not contain control characters/],
        [{ type: 'hard' }, /^address: is required/],
        [{ events: [] }, /^events: must hold at least one event/],
        [{ events: [{ address: 'a@example.org', type: 'hard' }, { address: 'b@example.org' }] }, /events\.1\.type: /],
        [
          { events: Array.from({ length: 501 }, () => ({ address: 'a@example.org', type: 'hard' })) },
          /^events: must hold at most 500 events/,
        ],
        [[1, 2], /./],
      ];
      for (const [payload, message] of cases) {
        const response = await post(payload);
        expect(response.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(400);
        expect(response.json<{ message: string }>().message).toMatch(message);
      }
      const broken = await t.app.inject({
        method: 'POST',
        url: URL,
        headers: { ...bearer, 'content-type': 'application/json' },
        payload: '{"address": ',
      });
      expect(broken.statusCode).toBe(400);
      expect(broken.json<{ message: string }>().message).toMatch(/^The body is not valid JSON/);
      const text = await t.app.inject({
        method: 'POST',
        url: URL,
        headers: { ...bearer, 'content-type': 'text/plain' },
        payload: 'hard bounce',
      });
      expect(text.statusCode).toBe(415);
      expect(text.json<{ message: string }>().message).toContain('application/json');
      expect(await db().event.count()).toBe(events);
      expect(await db().suppression.count()).toBe(suppressions);
    });
  });
});
