// Forged links, end to end through the HTTP routes: every mutation of a genuine token, another purpose's or
// another reader's token, an expired one, an unknown key, a revoked version: refused with a 4xx, never
// acting; and the genuine link still works afterwards. (test/subscribers/tokens.test.ts covers verifyToken.)
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { LightMyRequestResponse as Response } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { subscriberLink } from '../../src/modules/subscribers/emails.ts';
import { signToken, type TokenPurpose } from '../../src/modules/subscribers/tokens.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { openForm, postForm, type FormSession } from '../helpers/subscriptions.ts';
import { expectWellFormed, fcOptions, tokenMutation } from './arbitraries.ts';
import { seedReaders, snapshotReaders, type SeededReader } from './seed.ts';

/** Mutated tokens tried per link kind (four kinds, each sent to every route of that kind). */
const RUNS = 150;

const tokenOf = (link: string) => link.split('/').at(-1)!;

describe('forged links', () => {
  let t: TestApp;
  let session: FormSession;
  let victim: SeededReader;
  let other: SeededReader;
  let pending: SeededReader;
  let digestId: string;
  const prefix = uniqueQueuePrefix();
  const db = () => t.database.db;

  beforeAll(async () => {
    t = await openTestApp({ QUEUE_PREFIX: prefix, PUBLIC_URL: 'https://paperboy.test' });
    [victim, other, pending] = (await seedReaders(db(), [
      'victim@example.org',
      'other@example.org',
      'new@example.org',
    ])) as [SeededReader, SeededReader, SeededReader];
    await db().subscriber.update({ where: { id: pending!.id }, data: { status: 'pending', confirmedAt: null } });
    await ingestFeed(db(), [
      { paper: { id: '2611.00042', title: 'A paper to show' }, publishedAt: new Date().toISOString() },
    ]);
    const digest = await db().delivery.findFirstOrThrow({ where: { subscriberId: victim!.id, kind: 'digest' } });
    await db().delivery.update({ where: { id: digest.id }, data: { paperIds: ['2611.00042'] } });
    digestId = digest.id;
    session = await openForm(t.app, '/');
  });
  afterAll(async () => {
    await t.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  const link = (reader: SeededReader, purpose: TokenPurpose, options: { now?: Date } = {}) =>
    tokenOf(subscriberLink(t.config, reader, purpose, { deliveryId: digestId, ...options }));

  /** Every request a link of this purpose can make; the POSTs would change something if the link were good. */
  const attempts: Record<TokenPurpose, (token: string) => Promise<Response[]>> = {
    manage: async (token) => {
      const path = `/manage/${encodeURIComponent(token)}`;
      return [
        await t.app.inject(path),
        await t.app.inject(`${path}/export`),
        await postForm(t.app, path, session, { action: 'pause' }),
        await postForm(t.app, path, session, { action: 'delete', really: 'yes' }),
      ];
    },
    unsubscribe: async (token) => {
      const path = `/unsubscribe/${encodeURIComponent(token)}`;
      return [
        await t.app.inject(path),
        await postForm(t.app, path, undefined, { 'List-Unsubscribe': 'One-Click' }),
        await postForm(t.app, path, session, {}),
      ];
    },
    confirm: async (token) => {
      const path = `/confirm/${encodeURIComponent(token)}`;
      return [await t.app.inject(path), await postForm(t.app, path, session, {})];
    },
    'web-view': async (token) => [await t.app.inject(`/digest/${encodeURIComponent(token)}`)],
  };

  const owner = (purpose: TokenPurpose) => (purpose === 'confirm' ? pending : victim);

  const expectRefused = async (purpose: TokenPurpose, token: string) => {
    for (const response of await attempts[purpose](token)) {
      const what = `${purpose} ${JSON.stringify(token)}`;
      expectWellFormed(response, what);
      expect(response.statusCode, `${what}: ${response.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(response.body, what).not.toContain('victim@example.org');
    }
  };

  const ids = () => [victim.id, other.id, pending.id];

  it.each(['manage', 'unsubscribe', 'confirm', 'web-view'] as const)(
    'refuses every mutation of a genuine %s token, and acts on none',
    async (purpose) => {
      const before = await snapshotReaders(db(), ids());
      const genuine = link(owner(purpose), purpose);
      const others = [link(other, purpose), link(other, 'manage'), link(owner(purpose), 'unsubscribe')];
      await fc.assert(
        fc.asyncProperty(tokenMutation(genuine, others), (token) => expectRefused(purpose, token)),
        fcOptions(RUNS / (purpose === 'manage' ? 2 : 1)),
      );
      expect(await snapshotReaders(db(), ids())).toEqual(before);
    },
    60_000,
  );

  it('refuses links of another purpose, an expired one, an unknown key and a retired version', async () => {
    const before = await snapshotReaders(db(), ids());
    const keys = t.config.TOKEN_KEYS;
    const purposes = ['manage', 'unsubscribe', 'confirm', 'web-view'] as const;
    for (const purpose of purposes) {
      const reader = owner(purpose);
      // A genuine link meant for another page.
      for (const wrong of purposes.filter((p) => p !== purpose)) await expectRefused(purpose, link(reader, wrong));
      // Expired a second ago (confirm links live hours, the others a year).
      await expectRefused(purpose, link(reader, purpose, { now: new Date(Date.now() - 2 * 366 * 86_400_000) }));
      const claims = {
        subscriberId: reader.id,
        purpose,
        version: reader.tokenVersion,
        expiresAt: Math.floor(Date.now() / 1000) + 3600,
        deliveryId: digestId,
      };
      // Signed with a key we do not have, under a new id and under the id of ours.
      const rogue = randomBytes(32).toString('hex');
      await expectRefused(purpose, signToken([{ id: 'rogue', secret: rogue }], claims));
      await expectRefused(purpose, signToken([{ id: keys.at(-1)!.id, secret: rogue }], claims));
      // Signed by us for a version the reader has since moved past, or not yet reached.
      await expectRefused(purpose, signToken(keys, { ...claims, version: reader.tokenVersion + 1 }));
      // A reader who does not exist.
      await expectRefused(
        purpose,
        signToken(keys, { ...claims, subscriberId: '00000000-0000-4000-8000-000000000000' }),
      );
    }
    expect(await snapshotReaders(db(), ids())).toEqual(before);
  });

  it('acts on the genuine links, each only on its own reader, and refuses them once the links are revoked', async () => {
    const manage = link(victim, 'manage');
    const unsubscribe = link(victim, 'unsubscribe');
    const webView = link(victim, 'web-view');
    const confirm = link(pending, 'confirm');
    const otherBefore = await snapshotReaders(db(), [other.id]);

    expect((await t.app.inject(`/manage/${manage}`)).statusCode).toBe(200);
    const web = await t.app.inject(`/digest/${webView}`);
    expect(web.statusCode, web.body).toBe(200);
    expect(web.body).toContain('A paper to show');
    expect((await postForm(t.app, `/confirm/${confirm}`, session, {})).statusCode).toBe(200);
    expect((await db().subscriber.findUniqueOrThrow({ where: { id: pending.id } })).status).toBe('active');

    // "Sign out every link" bumps the version: the settings and web-view links above, and any signed with
    // the old version, die. The unsubscribe link does not: it only removes mail, and every email sent so
    // far must keep a way out (issue 11: this test used to require it refused).
    expect((await postForm(t.app, `/manage/${manage}`, session, { action: 'revoke-links' })).statusCode).toBe(200);
    for (const [purpose, token] of [
      ['manage', manage],
      ['web-view', webView],
    ] as const) {
      await expectRefused(purpose, token);
    }
    expect((await db().subscriber.findUniqueOrThrow({ where: { id: victim.id } })).status).toBe('active');

    // A fresh link (new version) works, and so does the old unsubscribe link; one-click acts on its reader only.
    const fresh = await db().subscriber.findUniqueOrThrow({ where: { id: victim.id } });
    expect((await t.app.inject(`/manage/${link(fresh, 'manage')}`)).statusCode).toBe(200);
    const oneClick = await postForm(t.app, `/unsubscribe/${unsubscribe}`, undefined, {
      'List-Unsubscribe': 'One-Click',
    });
    expect(oneClick.statusCode).toBe(200);
    expect((await db().subscriber.findUniqueOrThrow({ where: { id: victim.id } })).status).toBe('unsubscribed');
    expect(await snapshotReaders(db(), [other.id])).toEqual({
      ...otherBefore,
      suppressions: expect.anything() as unknown,
    });
  });
});
