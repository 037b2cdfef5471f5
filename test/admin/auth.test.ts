// Every admin route, old and new, sits behind the bearer-token hook.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../helpers/app.ts';

const ID = '00000000-0000-4000-8000-000000000000';
const HASH = '0'.repeat(64);

describe('admin API authorisation', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it.each([
    ['GET', '/api/v1/admin/subscribers'],
    ['GET', `/api/v1/admin/subscribers/${ID}`],
    ['PATCH', `/api/v1/admin/subscribers/${ID}`],
    ['DELETE', `/api/v1/admin/subscribers/${ID}`],
    ['GET', `/api/v1/admin/subscribers/${ID}/preview`],
    ['GET', '/api/v1/admin/deliveries'],
    ['GET', `/api/v1/admin/deliveries/${ID}`],
    ['POST', `/api/v1/admin/deliveries/${ID}/retry`],
    ['GET', '/api/v1/admin/papers'],
    ['POST', '/api/v1/admin/papers/2401.00001/hide'],
    ['POST', '/api/v1/admin/papers/2401.00001/unhide'],
    ['GET', '/api/v1/admin/suppressions'],
    ['POST', '/api/v1/admin/suppressions'],
    ['DELETE', `/api/v1/admin/suppressions/${HASH}`],
    ['DELETE', '/api/v1/admin/suppressions?email=a@example.org'],
    ['GET', '/api/v1/admin/stats'],
  ] as const)('%s %s refuses a request without the token', async (method, url) => {
    const response = await t.app.inject({ method, url, payload: method === 'GET' ? undefined : {} });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: 'Unauthorized' });
  });
});
