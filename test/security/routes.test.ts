// Every route in the route table under generated hostile requests: never a 5xx, always a well-formed
// answer, and nothing a stranger sends changes what is stored about other readers.
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriberLink } from '../../src/modules/subscribers/emails.ts';
import { formStamp } from '../../src/routes/forms.ts';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { openForm, type FormSession } from '../helpers/subscriptions.ts';
import {
  describeRequest,
  encodeBody,
  expectWellFormed,
  fcOptions,
  fillRoute,
  forgedCursor,
  hostileDate,
  hostileString,
  hostileBody,
  hostileHeaders,
  hostileQuery,
  hostileValue,
  urlPiece,
} from './arbitraries.ts';
import { seedReaders, snapshotReaders, type SeededReader } from './seed.ts';

/** Generated requests per public route and per admin route (≈ 30 public and 25 admin routes). */
const PUBLIC_RUNS = 60;
const ADMIN_RUNS = 25;

/** Need a token, or are someone else's code (Swagger UI, Bull Board): walked with the admin token below. */
const NOT_PUBLIC = /^\/(?:api\/v1\/admin|admin\/queues|metrics|docs)(?:\/|$)/;

describe('every route under hostile input', () => {
  let t: TestApp;
  let session: FormSession;
  let readers: SeededReader[];
  /** Valid links of a throwaway reader, so generated bodies also reach the handlers behind a good token. */
  let throwawayTokens: string[];
  const prefix = uniqueQueuePrefix();

  beforeAll(async () => {
    t = await openTestApp({
      QUEUE_PREFIX: prefix,
      PUBLIC_URL: 'https://paperboy.test',
      // The per-IP budget would turn most generated signups into 429s before they reach the handler.
      SIGNUP_RATE_PER_IP: '1000000',
      SIGNUP_RATE_PER_ADDRESS: '1000000',
      BOUNCE_WEBHOOK_SECRET: 'webhook-secret-for-fuzzing-0123456789',
    });
    readers = await seedReaders(t.database.db, ['ada@example.org', 'grace@example.org', 'linus@example.org']);
    const [throwaway] = await seedReaders(t.database.db, ['throwaway@example.net']);
    const delivery = await t.database.db.delivery.findFirstOrThrow({
      where: { subscriberId: throwaway!.id, kind: 'digest' },
    });
    throwawayTokens = (['confirm', 'manage', 'unsubscribe', 'web-view'] as const).map((purpose) =>
      subscriberLink(t.config, throwaway!, purpose, { deliveryId: delivery.id }).split('/').at(-1)!,
    );
    session = await openForm(t.app, '/');
  });
  afterAll(async () => {
    await t.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  /** A generated request to one route: path pieces, query, body, headers, sometimes a valid form session. */
  const requestFor = (method: string, url: string, extraHeaders: Record<string, string> = {}) =>
    fc
      .record({
        pieces: fc.array(fc.oneof(urlPiece, fc.constantFrom(...throwawayTokens)), { minLength: 1, maxLength: 3 }),
        query: fc.option(hostileQuery, { nil: undefined }),
        body: hostileBody,
        headers: hostileHeaders,
        // Half the requests carry a real CSRF cookie and token (and a human-paced form stamp), to get past them.
        withSession: fc.boolean(),
        remoteAddress: fc.constantFrom('127.0.0.1', '203.0.113.5', '::1', '::ffff:10.0.0.1'),
      })
      .map(({ pieces, query, body, headers, withSession, remoteAddress }): InjectOptions => {
        const extra: Record<string, string> = withSession
          ? { _csrf: session.csrf, started: formStamp(t.config, Date.now() - 10_000) }
          : {};
        const { contentType, payload } = encodeBody(body, extra);
        const path = fillRoute(url, pieces);
        return {
          method,
          url: query ? `${path}?${query}` : path,
          remoteAddress,
          headers: {
            ...headers,
            ...(withSession ? { cookie: session.cookie } : {}),
            ...(contentType !== undefined ? { 'content-type': contentType } : {}),
            ...extraHeaders,
          },
          ...(payload !== undefined ? { payload } : {}),
        };
      });

  const fuzz = async (routes: { method: string; url: string }[], runs: number, extra?: Record<string, string>) => {
    for (const { method, url } of routes) {
      await fc.assert(
        fc.asyncProperty(requestFor(method, url, extra), async (options) => {
          expectWellFormed(await t.app.inject(options), describeRequest(options));
        }),
        fcOptions(runs),
      );
    }
  };

  it('answers every public route without a 5xx, and no generated request touches another reader', async () => {
    const routes = t.app.routeTable.filter(({ method, url }) => url !== '*' && method !== 'OPTIONS');
    const publicRoutes = routes.filter(({ url }) => !NOT_PUBLIC.test(url));
    expect(publicRoutes.map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining([
        'POST /subscribe',
        'POST /manage/:token',
        'POST /api/v1/webhooks/bounces',
        'GET /feeds/:file',
      ]),
    );
    const before = await snapshotReaders(
      t.database.db,
      readers.map((r) => r.id),
    );
    await fuzz(publicRoutes, PUBLIC_RUNS);
    expect(
      await snapshotReaders(
        t.database.db,
        readers.map((r) => r.id),
      ),
    ).toEqual(before);
  }, 120_000);

  it('answers the bounce webhook without a 5xx for well-authenticated, hostile events', async () => {
    const event = fc.record(
      {
        id: hostileString,
        address: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('bounced@example.net', 'Bounced@EXAMPLE.net ') },
          { weight: 1, arbitrary: hostileString },
        ),
        type: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('hard', 'soft', 'complaint') },
          { weight: 1, arbitrary: hostileString },
        ),
        reason: hostileString,
        occurredAt: fc.oneof({ weight: 3, arbitrary: hostileDate }, { weight: 1, arbitrary: hostileString }),
        messageId: hostileString,
      },
      { requiredKeys: ['address', 'type', 'occurredAt'] },
    );
    const body = fc.oneof(event, fc.record({ events: fc.array(event, { minLength: 1, maxLength: 5 }) }));
    const before = await snapshotReaders(
      t.database.db,
      readers.map((r) => r.id),
    );
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        const options: InjectOptions = {
          method: 'POST',
          url: '/api/v1/webhooks/bounces',
          headers: { authorization: `Bearer ${t.config.BOUNCE_WEBHOOK_SECRET!}`, 'content-type': 'application/json' },
          payload: JSON.stringify(payload),
        };
        const response = await t.app.inject(options);
        expectWellFormed(response, describeRequest(options));
      }),
      fcOptions(PUBLIC_RUNS * 3),
    );
    expect(
      await snapshotReaders(
        t.database.db,
        readers.map((r) => r.id),
      ),
    ).toEqual({
      ...before,
      suppressions: expect.anything() as unknown,
    });
  }, 60_000);

  it('answers the paginated lists without a 5xx for hostile dates and forged cursors', async () => {
    const lists = ['/api/v1/papers', '/api/v1/admin/papers', '/api/v1/admin/subscribers', '/api/v1/admin/deliveries'];
    const query = fc.record(
      {
        list: fc.constantFrom(...lists),
        since: hostileDate.map(encodeURIComponent),
        cursor: forgedCursor,
      },
      { requiredKeys: ['list'] },
    );
    await fc.assert(
      fc.asyncProperty(query, async ({ list, since, cursor }) => {
        const params = [since && `since=${since}`, cursor && `cursor=${cursor}`].filter(Boolean).join('&');
        const options: InjectOptions = { method: 'GET', url: `${list}?${params}`, headers: adminHeaders };
        expectWellFormed(await t.app.inject(options), describeRequest(options));
      }),
      fcOptions(PUBLIC_RUNS * 2),
    );
  });

  it('answers every admin API route without a 5xx, even with the admin token', async () => {
    // Bull Board's own routes are left out: they are its code, and with a token they may empty the queues.
    const adminRoutes = t.app.routeTable.filter(
      ({ method, url }) => url.startsWith('/api/v1/admin') && method !== 'OPTIONS',
    );
    expect(adminRoutes.length).toBeGreaterThan(15);
    await fuzz(adminRoutes, ADMIN_RUNS, adminHeaders);
  }, 120_000);

  it('ingests feeds of hostile papers through the admin API without a 5xx', async () => {
    const text = fc.oneof(hostileString, fc.constant(undefined), fc.constant(null));
    const item = fc.record(
      {
        paper: fc.record(
          {
            id: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('2611.00001', 'arXiv:2611.00002v3') }, hostileString),
            title: text,
            summary: text,
            authors: fc.array(fc.record({ name: text }), { maxLength: 3 }),
            publishedAt: fc.oneof(hostileDate, hostileString),
            upvotes: fc.oneof(fc.integer(), fc.double()),
            githubRepo: text,
            projectPage: text,
            ai_summary: text,
            ai_keywords: fc.array(hostileString, { maxLength: 3 }),
            withdrawnAt: fc.oneof(hostileDate, hostileValue),
          },
          { requiredKeys: ['id', 'title'] },
        ),
        publishedAt: fc.oneof({ weight: 3, arbitrary: hostileDate }, { weight: 1, arbitrary: hostileString }),
      },
      { requiredKeys: ['paper'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 4 }), async (feed) => {
        const options: InjectOptions = {
          method: 'POST',
          url: '/api/v1/admin/papers',
          headers: { ...adminHeaders, 'content-type': 'application/json' },
          payload: JSON.stringify(feed),
        };
        expectWellFormed(await t.app.inject(options), describeRequest(options));
      }),
      fcOptions(ADMIN_RUNS * 4),
    );
  }, 60_000);
});
