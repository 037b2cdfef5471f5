// Every admin surface (API, queue dashboard, metrics) refuses a missing or wrong token; hashed tokens
// from ADMIN_TOKENS_FILE and HTTP Basic (for browsers) work.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAdminToken } from '../../src/modules/admin/auth.ts';
import { ADMIN_URL } from '../../src/routes/api-docs.ts';
import { ADMIN_TOKEN, adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('admin authentication', () => {
  const fromFile = newAdminToken();
  let t: TestApp;
  beforeAll(async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'paperboy-')), 'admin-tokens');
    writeFileSync(file, `# the on-call token\n${fromFile.fileLine}\n`);
    t = await openTestApp({ ADMIN_TOKENS_FILE: file });
  });
  afterAll(async () => {
    await t.close();
  });

  /** Every registered admin route, with its path parameters filled in. */
  const adminRoutes = () =>
    t.app.routeTable
      .filter((route) => ADMIN_URL.test(route.url) && route.method !== 'OPTIONS')
      .map(({ method, url }) => ({
        method,
        url: url
          .replace(/:id\b/g, '00000000-0000-4000-8000-000000000000')
          .replace(/:[A-Za-z]+/g, 'x')
          .replace('*', 'x'),
      }));

  it('finds the admin routes to walk', () => {
    const urls = adminRoutes().map((route) => route.url);
    expect(urls).toContain('/metrics');
    expect(urls).toContain('/admin/queues');
    expect(urls.filter((url) => url.startsWith('/api/v1/admin/')).length).toBeGreaterThan(4);
  });

  it('refuses a missing, wrong or malformed token on every admin route', async () => {
    const refusals = [
      {},
      { authorization: 'Bearer wrong-token-wrong-token-wrong' },
      { authorization: `Bearer ${ADMIN_TOKEN}x` },
      { authorization: basic('admin', 'wrong-token-wrong-token-wrong') },
      { authorization: 'Basic not-base64' },
      { authorization: ADMIN_TOKEN },
      // The file holds the hash: presenting the hash itself must not work.
      { authorization: `Bearer ${fromFile.fileLine}` },
    ];
    for (const { method, url } of adminRoutes()) {
      for (const headers of refusals) {
        const response = await t.app.inject({ method: method as 'GET', url, headers });
        expect({ method, url, status: response.statusCode }).toEqual({ method, url, status: 401 });
        expect(String(response.headers['www-authenticate'])).toContain('Basic realm');
        if (method !== 'HEAD') expect(response.json()).toMatchObject({ error: 'Unauthorized' });
      }
    }
    expect(await t.database.db.topic.count()).toBe(10);
  });

  it('accepts the configured token, a hashed token from the file, and Basic with the token as password', async () => {
    for (const authorization of [
      adminHeaders.authorization,
      `Bearer ${fromFile.token}`,
      basic('ops', fromFile.token),
      basic('', ADMIN_TOKEN),
    ]) {
      const topics = await t.app.inject({ url: '/api/v1/admin/topics', headers: { authorization } });
      expect(topics.statusCode).toBe(200);
      const metrics = await t.app.inject({ url: '/metrics', headers: { authorization } });
      expect(metrics.statusCode).toBe(200);
    }
  });

  it('serves the queue dashboard to an admin, with a policy that lets its page run', async () => {
    const page = await t.app.inject({ url: '/admin/queues', headers: adminHeaders });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<div id="root">');
    expect(page.headers['content-security-policy']).toContain("base-uri 'self'");
    const queues = await t.app.inject({ url: '/admin/queues/api/queues', headers: adminHeaders });
    expect(queues.statusCode).toBe(200);
    expect(
      queues
        .json<{ queues: { name: string }[] }>()
        .queues.map((q) => q.name)
        .sort(),
    ).toEqual(['digest', 'ingest', 'mail', 'schedule']);
  });

  it('keeps the strict policy on the public pages', async () => {
    const page = await t.app.inject('/');
    expect(page.headers['content-security-policy']).toContain("base-uri 'none'");
  });
});
