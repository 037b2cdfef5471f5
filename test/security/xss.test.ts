// XSS: script-carrying text in papers (ingested), topics (admin API), readers' keywords and form fields,
// then every page, feed and email that shows them, parsed as a browser or feed reader would parse them.
import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formStamp } from '../../src/routes/forms.ts';
import { subscriberLink } from '../../src/modules/subscribers/emails.ts';
import { previewDigest } from '../../src/modules/digests/compose.ts';
import { compileEmailTemplates } from '../../src/modules/mail/templates.ts';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { openForm, postForm, type FormSession } from '../helpers/subscriptions.ts';
import { fcOptions, hostileUrl, XSS_PAYLOADS, xssText } from './arbitraries.ts';
import { executableMarkup } from './html.ts';

const TOPICS = 20;
const PAPERS = 30;
const FORM_RUNS = 60;
const KEYWORD_RUNS = 30;

const expectSafe = (html: string, what: string) => {
  expect(executableMarkup(html), `${what}\n${html.slice(0, 3000)}`).toEqual([]);
};

describe('no executable markup from input survives into a page, feed or email', () => {
  let t: TestApp;
  let session: FormSession;
  let readerId: string;
  let manageToken: string;
  const prefix = uniqueQueuePrefix();
  const db = () => t.database.db;

  beforeAll(async () => {
    t = await openTestApp({
      QUEUE_PREFIX: prefix,
      PUBLIC_URL: 'https://paperboy.test',
      SIGNUP_RATE_PER_IP: '1000000',
      SIGNUP_RATE_PER_ADDRESS: '1000000',
    });
    session = await openForm(t.app, '/');
    // Topics through the admin API, with hostile names and descriptions.
    const topics = fc.sample(fc.tuple(xssText, xssText), { numRuns: TOPICS, seed: 3 });
    for (const [i, [name, description]] of topics.entries()) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/admin/topics',
        headers: adminHeaders,
        payload: { slug: `xss-${i}`, name: name.slice(0, 80), description: description.slice(0, 200), query: 'xss' },
      });
      expect([201, 400], response.body).toContain(response.statusCode);
    }
    // Papers through the admin ingest API, every text and link field hostile.
    const papers = fc.sample(
      fc.record({
        title: xssText,
        summary: xssText,
        aiSummary: xssText,
        authors: fc.array(xssText, { minLength: 1, maxLength: 4 }),
        keywords: fc.array(xssText, { maxLength: 3 }),
        githubRepo: hostileUrl,
        projectPage: hostileUrl,
      }),
      { numRuns: PAPERS, seed: 5 },
    );
    const ingest = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/papers',
      headers: adminHeaders,
      payload: papers.map((paper, i) => ({
        paper: {
          id: `2611.${String(20_000 + i)}`,
          title: paper.title,
          summary: paper.summary,
          authors: paper.authors.map((name) => ({ name })),
          ai_summary: i % 2 ? paper.aiSummary : null,
          ai_keywords: paper.keywords,
          githubRepo: paper.githubRepo,
          projectPage: paper.projectPage,
        },
        publishedAt: new Date().toISOString(),
      })),
    });
    expect(ingest.statusCode, ingest.body).toBe(200);
    expect(await db().paper.count()).toBe(PAPERS);

    // A reader of every hostile topic with hostile keywords, and a digest sent an hour ago with every paper.
    const xssTopics = await db().topic.findMany({ where: { slug: { startsWith: 'xss-' } } });
    const reader = await db().subscriber.create({
      data: {
        email: 'reader@example.org',
        status: 'active',
        includeKeywords: XSS_PAYLOADS.slice(0, 10).map((p) => p.slice(0, 100)),
        excludeKeywords: ['<script>alert(1)</script>'],
        topics: { create: xssTopics.map((topic) => ({ topicId: topic.id })) },
      },
    });
    readerId = reader.id;
    manageToken = subscriberLink(t.config, reader, 'manage').split('/').at(-1)!;
  });
  afterAll(async () => {
    await t.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  const reader = () => db().subscriber.findUniqueOrThrow({ where: { id: readerId }, include: { topics: true } });

  it('escapes hostile topic names and descriptions on the signup page and the manage page', async () => {
    const signup = await t.app.inject('/');
    expect(signup.statusCode).toBe(200);
    expect(signup.body).toContain('xss');
    expectSafe(signup.body, 'signup page');
    const manage = await t.app.inject(`/manage/${manageToken}`);
    expect(manage.statusCode).toBe(200);
    expectSafe(manage.body, 'manage page');
  });

  it('escapes whatever a reader types, shown back on the signup, manage-link and manage forms', async () => {
    const fields = fc.record({
      email: fc.oneof(xssText, fc.constantFrom(...XSS_PAYLOADS)),
      keywords: xssText,
      excludeKeywords: xssText,
      timeZone: fc.constantFrom(...XSS_PAYLOADS),
      topics: fc.constantFrom('xss-0', 'unknown-topic', '"><script>alert(1)</script>'),
      maxPapers: fc.constantFrom('" onfocus="alert(1)', '5'),
    });
    await fc.assert(
      fc.asyncProperty(fields, async (values) => {
        const started = formStamp(t.config, Date.now() - 10_000);
        const signup = await postForm(t.app, '/subscribe', session, { ...values, started });
        expect(signup.statusCode, signup.body.slice(0, 300)).toBe(400);
        expectSafe(signup.body, `signup form with ${JSON.stringify(values)}`);
        const manageLink = await postForm(t.app, '/manage-link', session, { email: values.email });
        expectSafe(manageLink.body, `manage-link form with ${JSON.stringify(values.email)}`);
        const manage = await postForm(t.app, `/manage/${manageToken}`, session, values);
        expect(manage.statusCode, manage.body.slice(0, 300)).toBe(400);
        expectSafe(manage.body, `manage form with ${JSON.stringify(values)}`);
      }),
      fcOptions(FORM_RUNS),
    );
  }, 60_000);

  it("escapes a reader's saved keywords on the manage page", async () => {
    const topics = (await reader()).topics;
    await fc.assert(
      fc.asyncProperty(fc.array(xssText, { minLength: 1, maxLength: 5 }), async (keywords) => {
        const saved = await postForm(t.app, `/manage/${manageToken}`, session, {
          keywords: keywords.map((k) => k.slice(0, 100)).join('\n'),
          excludeKeywords: keywords[0]!.slice(0, 100),
          topics: 'xss-1',
        });
        if (saved.statusCode === 303) {
          const page = await t.app.inject(`/manage/${manageToken}?saved=1`);
          expect(page.statusCode).toBe(200);
          expectSafe(page.body, `manage page with keywords ${JSON.stringify(keywords)}`);
        } else {
          expect(saved.statusCode, saved.body.slice(0, 300)).toBe(400);
          expectSafe(saved.body, `manage form with keywords ${JSON.stringify(keywords)}`);
        }
      }),
      fcOptions(KEYWORD_RUNS),
    );
    // Back to every hostile topic and keyword, for the digest tests below.
    await db().subscriberTopic.createMany({ data: topics, skipDuplicates: true });
    await db().subscriber.update({
      where: { id: readerId },
      data: { includeKeywords: XSS_PAYLOADS.slice(0, 10).map((p) => p.slice(0, 100)) },
    });
  }, 60_000);

  it('escapes hostile topics on per-topic unsubscribe pages', async () => {
    const current = await reader();
    expect(current.topics.length).toBeGreaterThan(5);
    for (const { topicId } of current.topics) {
      const url = subscriberLink(t.config, current, 'unsubscribe', { topicId });
      const page = await t.app.inject(new URL(url).pathname);
      expect(page.statusCode).toBe(200);
      expectSafe(page.body, `unsubscribe page of topic ${topicId}`);
    }
  });

  it('escapes hostile papers, topics and keywords in the digest email, its web view and the admin preview', async () => {
    const templates = await compileEmailTemplates();
    const digest = await previewDigest(db(), t.config, templates, readerId);
    expect(digest?.paperIds.length).toBeGreaterThan(0);
    expectSafe(digest!.html, 'digest email');
    expect(digest!.html).toContain('xss');

    const preview = await t.app.inject({
      url: `/api/v1/admin/subscribers/${readerId}/preview`,
      headers: adminHeaders,
    });
    expect(preview.statusCode).toBe(200);
    expectSafe(preview.body, 'admin preview');

    const delivery = await db().delivery.create({
      data: {
        subscriberId: readerId,
        kind: 'digest',
        digestKey: '2026-11-28',
        status: 'sent',
        dueAt: new Date(),
        sentAt: new Date(),
        paperIds: (await db().paper.findMany({ select: { id: true } })).map((p) => p.id),
      },
    });
    const current = await reader();
    const webView = await t.app.inject(
      new URL(subscriberLink(t.config, current, 'web-view', { deliveryId: delivery.id })).pathname,
    );
    expect(webView.statusCode).toBe(200);
    expect(webView.body).toContain('xss');
    expectSafe(webView.body, 'digest web view');
  });

  it('stores and serves only http(s) links for papers, whatever the feed said', async () => {
    const response = await t.app.inject('/api/v1/papers?limit=100');
    expect(response.statusCode).toBe(200);
    const { papers } = response.json<{
      papers: { url: string; githubUrl: string | null; projectUrl: string | null }[];
    }>();
    expect(papers).toHaveLength(PAPERS);
    for (const paper of papers) {
      for (const link of [paper.url, paper.githubUrl, paper.projectUrl]) {
        if (link !== null) expect(new URL(link).protocol, link).toMatch(/^https?:$/);
      }
    }
  });

  it('keeps hostile text plain in RSS and Atom feeds, even after a feed reader decodes it as HTML', async () => {
    const xml = new XMLParser({
      ignoreAttributes: false,
      processEntities: true,
      htmlEntities: false,
      trimValues: false,
    });
    const asList = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : ([value].flat() as T[]));
    const texts = (value: unknown): string[] =>
      asList(value as string | number | { '#text'?: string }).map((item) =>
        typeof item === 'object' ? (item['#text'] ?? '') : String(item),
      );
    for (const slug of ['all', 'xss-0', 'xss-1']) {
      const rss = await t.app.inject(`/feeds/${slug}.xml`);
      expect(rss.statusCode, rss.body).toBe(200);
      // The payloads' markup never appears as XML markup.
      expect(rss.body).not.toMatch(/<(?:script|img|svg|iframe|a)\b/i);
      const { channel } = (xml.parse(rss.body) as { rss: { channel: { description: unknown; item: unknown } } }).rss;
      const items = asList(channel.item as Record<string, unknown>[]);
      expect(items.length, slug).toBeGreaterThan(0);
      // RSS 2.0: a description is HTML (entity-encoded), so readers render it: it must decode to plain text.
      const descriptions = [...texts(channel.description), ...items.flatMap((item) => texts(item.description))];
      for (const description of descriptions) {
        expect(executableMarkup(description, { fragment: true }), `${slug}.xml description: ${description}`).toEqual(
          [],
        );
      }

      const atom = await t.app.inject(`/feeds/${slug}.atom`);
      expect(atom.statusCode, atom.body).toBe(200);
      expect(atom.body).not.toMatch(/<(?:script|img|svg|iframe|a)\b/i);
      // Atom: every text construct is type="text" (or has no type, the same), so readers never render it as HTML.
      for (const match of atom.body.matchAll(/<(title|subtitle|summary|content|rights)\b([^>]*)>/g)) {
        expect(match[2], `${slug}.atom ${match[0]}`).not.toMatch(/type="(?:html|xhtml)"/);
      }
    }
  });
});
