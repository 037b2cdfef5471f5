// Abuse protections on signup: rate limits per IP and per address, CORS for embedded forms, headers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';

describe('signup abuse protections', () => {
  let t: TestApp;
  const prefix = uniqueQueuePrefix();
  beforeAll(async () => {
    t = await openTestApp({ QUEUE_PREFIX: prefix, CORS_ORIGINS: 'https://blog.example.org' });
  });
  afterAll(async () => {
    await t.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  const signup = (email: string, ip: string, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      remoteAddress: ip,
      headers,
      payload: { email, topics: ['model-merging'] },
    });

  it('lets the first N signups from one IP in a minute through and answers the rest 429, creating nothing for them', async () => {
    const limit = t.config.SIGNUP_RATE_PER_IP;
    const statuses: number[] = [];
    const responses = [];
    for (let i = 0; i < 200; i++) responses.push(await signup(`flood${i}@example.org`, '192.0.2.50'));
    for (const response of responses) statuses.push(response.statusCode);
    expect(statuses.slice(0, limit)).toEqual(Array(limit).fill(202));
    expect(statuses.slice(limit)).toEqual(Array(200 - limit).fill(429));
    const refused = responses[limit]!;
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.json<{ message: string }>().message).toMatch(/try again in \d+ seconds/);
    expect(await t.database.db.subscriber.count({ where: { email: { startsWith: 'flood' } } })).toBe(limit);
    expect(await t.database.db.delivery.count({ where: { subscriber: { email: { startsWith: 'flood' } } } })).toBe(
      limit,
    );
    // The budget is shared by every way of asking for email: the form now gets a page saying so.
    const form = await t.app.inject({
      method: 'POST',
      url: '/subscribe',
      remoteAddress: '192.0.2.50',
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'email=x%40example.org',
    });
    expect(form.statusCode).toBe(429);
    expect(form.headers['content-type']).toContain('text/html');
    expect(Number(form.headers['retry-after'])).toBeGreaterThan(0);
    // Another IP is not affected.
    expect((await signup('other@example.org', '192.0.2.51')).statusCode).toBe(202);
  });

  it('limits signups of one address, whatever IPs they come from', async () => {
    const statuses = [];
    for (let i = 0; i < t.config.SIGNUP_RATE_PER_ADDRESS + 2; i++)
      statuses.push((await signup('target@example.org', `198.18.0.${i + 1}`)).statusCode);
    expect(statuses.filter((status) => status === 429)).toHaveLength(2);
    const refused = await signup('target@example.org', '198.18.1.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('3600');
  });

  it('allows the signup API from configured origins only', async () => {
    const preflight = (origin: string) =>
      t.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/subscriptions',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
    expect((await preflight('https://blog.example.org')).headers['access-control-allow-origin']).toBe(
      'https://blog.example.org',
    );
    expect((await preflight('https://evil.example')).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sends strict security headers with every page', async () => {
    const page = await t.app.inject('/');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['set-cookie']).toMatch(/HttpOnly; SameSite=Strict/);
  });
});
