// The operator's pages in a real browser: Swagger UI lists every route of the OpenAPI document, and the
// Bull Board dashboard loads its queues for an admin — both under their Content-Security-Policy.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, openTestApp, type TestApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/browser.ts';
import { freePort } from '../helpers/net.ts';

describe('operator pages in a browser', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    t = await openTestApp({ PUBLIC_URL: base });
    await t.app.listen({ host: '127.0.0.1', port });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** A page that records what the browser refused or failed to run. */
  async function openPage(
    options: Parameters<Browser['newContext']>[0] = {},
  ): Promise<{ page: Page; problems: string[] }> {
    const page = await (await browser.newContext(options)).newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    return { page, problems };
  }

  it('shows every operation of /openapi.json in Swagger UI at /docs', async () => {
    const document = (await t.app.inject('/openapi.json')).json<{ paths: Record<string, Record<string, unknown>> }>();
    const operations = Object.values(document.paths).reduce((sum, path) => sum + Object.keys(path).length, 0);
    const { page, problems } = await openPage();
    await page.goto(`${base}/docs`);
    await expect.poll(() => page.locator('.opblock').count()).toBe(operations);
    await expect.poll(() => page.locator('.opblock-summary-path').allInnerTexts()).toContain('/api/v1/subscriptions');
    expect(problems).toEqual([]);
  });

  it('asks for the token at /admin/queues and shows the queues to an admin', async () => {
    // Without credentials the browser is challenged for them and, having none, gives up.
    const stranger = await openPage();
    await expect(stranger.page.goto(`${base}/admin/queues`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);

    const { page, problems } = await openPage({ httpCredentials: { username: 'ops', password: ADMIN_TOKEN } });
    await page.goto(`${base}/admin/queues`);
    for (const queue of ['digest', 'mail', 'schedule', 'ingest']) {
      await expect.poll(() => page.getByText(queue, { exact: true }).count()).toBeGreaterThan(0);
    }
    // Its web font from Google is the only thing it may not load (this machine has no internet); nothing
    // is refused by the page's Content-Security-Policy.
    expect(problems.filter((problem) => !/ERR_NAME_NOT_RESOLVED|fonts\.googleapis/.test(problem))).toEqual([]);
  });
});
