// Rate limits beyond test/subscribers/abuse.test.ts: the manage-link route spends the same per-IP budget as
// signups, forged X-Forwarded-For headers do not buy a fresh budget unless the proxy is trusted, and
// spellings of one address share its per-address budget.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formStamp } from '../../src/routes/forms.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { openForm, postForm, type FormSession } from '../helpers/subscriptions.ts';
import { fcOptions, hostileString } from './arbitraries.ts';

const LIMIT = 5;
const SPOOF_RUNS = 40;

/** Forged client addresses: lists, IPv6, garbage, the empty string. */
const forwardedFor = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.tuple(fc.ipV4(), fc.ipV4()).map(([a, b]) => `${a}, ${b}`),
  fc.constantFrom('', 'unknown', '127.0.0.1', '::1', '10.0.0.1, 127.0.0.1'),
  hostileString,
);

describe('rate limits', () => {
  let t: TestApp;
  let proxied: TestApp;
  let session: FormSession;
  const prefix = uniqueQueuePrefix();
  const proxiedPrefix = uniqueQueuePrefix();

  beforeAll(async () => {
    const limits = { SIGNUP_RATE_PER_IP: String(LIMIT), SIGNUP_RATE_PER_ADDRESS: String(LIMIT) };
    t = await openTestApp({ QUEUE_PREFIX: prefix, TRUST_PROXY: 'false', ...limits });
    proxied = await openTestApp({ QUEUE_PREFIX: proxiedPrefix, TRUST_PROXY: '10.0.0.1', ...limits });
    session = await openForm(t.app, '/');
  });
  afterAll(async () => {
    await t.close();
    await proxied.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
    await deleteKeysWithPrefix(t.config.REDIS_URL, proxiedPrefix);
  });

  const api = (app: TestApp, ip: string, email: string, headers: Record<string, string> = {}) =>
    app.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      remoteAddress: ip,
      headers: headers,
      payload: { email, topics: ['model-merging'] },
    });
  const manageLink = (ip: string, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/manage-link',
      remoteAddress: ip,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session.cookie, ...headers },
      payload: new URLSearchParams({ _csrf: session.csrf, email: 'someone@example.org' }).toString(),
    });

  it('counts manage-link requests against the per-IP signup budget, in both directions', async () => {
    // Signups spend the budget; the manage-link form is then refused.
    for (let i = 0; i < LIMIT; i++) expect((await api(t, '192.0.2.10', `a${i}@example.org`)).statusCode).toBe(202);
    const refused = await manageLink('192.0.2.10');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['content-type']).toContain('text/html');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Manage-link requests spend it; signups by form and API are then refused.
    for (let i = 0; i < LIMIT; i++) expect((await manageLink('192.0.2.11')).statusCode).toBe(200);
    expect((await api(t, '192.0.2.11', 'b@example.org')).statusCode).toBe(429);
    const form = await postForm(
      t.app,
      '/subscribe',
      session,
      { email: 'c@example.org', topics: 'model-merging', started: formStamp(t.config, Date.now() - 10_000) },
      '192.0.2.11',
    );
    expect(form.statusCode).toBe(429);
    expect(await t.database.db.subscriber.count({ where: { email: { in: ['b@example.org', 'c@example.org'] } } })).toBe(
      0,
    );
  });

  it('does not let a forged X-Forwarded-For buy a fresh budget when no proxy is trusted', async () => {
    for (let i = 0; i < LIMIT; i++) expect((await manageLink('192.0.2.20')).statusCode).toBe(200);
    await fc.assert(
      fc.asyncProperty(forwardedFor, fc.boolean(), async (xff, viaApi) => {
        const headers = { 'x-forwarded-for': xff, 'x-real-ip': xff.slice(0, 40), forwarded: `for=${xff.slice(0, 40)}` };
        const response = viaApi
          ? await api(t, '192.0.2.20', `spoof${Math.random()}@example.org`, headers)
          : await manageLink('192.0.2.20', headers);
        expect(response.statusCode, JSON.stringify(xff)).toBe(429);
      }),
      fcOptions(SPOOF_RUNS),
    );
  });

  it('believes X-Forwarded-For only from the trusted proxy', async () => {
    // From the proxy, each forwarded client has its own budget.
    for (let i = 0; i < LIMIT; i++) {
      expect(
        (await api(proxied, '10.0.0.1', `p${i}@example.org`, { 'x-forwarded-for': '203.0.113.1' })).statusCode,
      ).toBe(202);
    }
    expect((await api(proxied, '10.0.0.1', 'p@example.org', { 'x-forwarded-for': '203.0.113.1' })).statusCode).toBe(
      429,
    );
    expect((await api(proxied, '10.0.0.1', 'q@example.org', { 'x-forwarded-for': '203.0.113.2' })).statusCode).toBe(
      202,
    );
    // From anyone else the header is ignored: the budget is the sender's own.
    for (let i = 0; i < LIMIT; i++)
      expect((await api(proxied, '192.0.2.30', `r${i}@example.org`)).statusCode).toBe(202);
    await fc.assert(
      fc.asyncProperty(forwardedFor, async (xff) => {
        const response = await api(proxied, '192.0.2.30', `s${Math.random()}@example.org`, { 'x-forwarded-for': xff });
        expect(response.statusCode, JSON.stringify(xff)).toBe(429);
      }),
      fcOptions(SPOOF_RUNS),
    );
  });

  it('counts every spelling of one address against its one per-address budget', async () => {
    const spellings = fc
      .tuple(fc.constantFrom('', ' ', '\t'), fc.constantFrom('target', 'TARGET', 'Target'), fc.boolean())
      .map(([pad, local, upper]) => `${pad}${local}@${upper ? 'EXAMPLE.ORG' : 'example.org'}${pad}`);
    let ip = 0;
    const statuses: number[] = [];
    await fc.assert(
      fc.asyncProperty(spellings, async (email) => {
        statuses.push((await api(t, `198.51.100.${++ip}`, email)).statusCode);
      }),
      fcOptions(LIMIT * 4),
    );
    expect(statuses.filter((status) => status === 202)).toHaveLength(LIMIT);
    expect(statuses.slice(LIMIT).every((status) => status === 429)).toBe(true);
  });
});
