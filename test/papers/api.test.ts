// Public paper API and RSS/Atom feeds: ranking, filters, cursor pagination, escaping, valid XML.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';

const sample = JSON.parse(
  readFileSync(path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json'), 'utf8'),
) as { paper: Record<string, unknown>; publishedAt: string }[];

const HOSTILE_TITLE = `<img src=x onerror=alert(1)> & "quotes" 'too' on Model Merging`;

interface PaperJson {
  id: string;
  title: string;
  score: number;
  topics: string[];
  listedAt: string;
  url: string;
}

describe('paper API and feeds', () => {
  let t: TestApp;
  const now = new Date();
  const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3_600_000).toISOString();

  beforeAll(async () => {
    t = await openTestApp();
    // The sample as listed over the last few days, plus a hostile title, a withdrawn and a hidden paper.
    const items = sample.map((item, i) => ({ ...item, publishedAt: hoursAgo(i * 3) }));
    items.push(
      {
        paper: { id: '2611.00001', title: HOSTILE_TITLE, summary: 'Model merging, model merging.', upvotes: 5 },
        publishedAt: hoursAgo(1),
      },
      {
        paper: { id: '2611.00002', title: 'Withdrawn Model Merging', withdrawnAt: hoursAgo(1) },
        publishedAt: hoursAgo(1),
      },
      { paper: { id: '2611.00003', title: 'Hidden Model Merging' }, publishedAt: hoursAgo(1) },
    );
    await ingestFeed(t.database.db, items);
    await t.database.db.paper.update({ where: { id: '2611.00003' }, data: { hiddenAt: now } });
  });
  afterAll(async () => {
    await t.close();
  });

  const list = async (query: string) => {
    const response = await t.app.inject(`/api/v1/papers${query}`);
    return {
      status: response.statusCode,
      body: response.json<{ papers: PaperJson[]; nextCursor: string | null; message?: string }>(),
    };
  };

  it('lists trending papers by the shared score, without withdrawn or hidden ones', async () => {
    const { status, body } = await list('?limit=100');
    expect(status).toBe(200);
    expect(body.papers).toHaveLength(30);
    const scores = body.papers.map((p) => p.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(body.papers.map((p) => p.id)).not.toContain('2611.00002');
    expect(body.papers.map((p) => p.id)).not.toContain('2611.00003');
    expect(body.papers[0]).toMatchObject({
      url: expect.stringMatching(/^https:\/\/huggingface\.co\/papers\//) as unknown,
    });
  });

  it('scores each paper by the documented formula: upvotes, relevance and freshness', async () => {
    const { body } = await list('?limit=100');
    const requestedAt = Date.now();
    for (const paper of body.papers) {
      const upvotes =
        paper.id === '2407.09435'
          ? 23
          : paper.id === '2611.00001'
            ? 5
            : ((sample.find((s) => s.paper.id === paper.id)?.paper.upvotes as number | undefined) ?? 0);
      const hours = (requestedAt - new Date(paper.listedAt).getTime()) / 3_600_000;
      // Relevance is 1 in the "all trending" list: 0.5 + 1/4.
      const expected = (1 + Math.log(1 + upvotes)) * 0.75 * 0.5 ** (hours / 24);
      expect(paper.score / expected, paper.id).toBeCloseTo(1, 2);
    }
    const position = (id: string) => body.papers.findIndex((p) => p.id === id);
    // 23 upvotes 33 hours ago beat none 84 hours ago; 2 upvotes 3 hours ago beat none just now.
    expect(position('2407.09435')).toBeLessThan(position('2411.05735'));
    expect(position('2211.03831')).toBeLessThan(position('2201.05718'));
  });

  it('weighs topic relevance in a topic list', async () => {
    const { body } = await list('?topic=test-time-adaptation&limit=100');
    const score = (id: string) => body.papers.find((p) => p.id === id)!.score;
    const listed = (id: string) => new Date(body.papers.find((p) => p.id === id)!.listedAt).getTime();
    // Meta-DMoE mentions the topic in its abstract only; normalised for age, it scores below a title match.
    const perAge = (id: string) => score(id) / 0.5 ** ((Date.now() - listed(id)) / 86_400_000);
    expect(perAge('2201.05718')).toBeGreaterThan(perAge('2210.03885'));
  });

  it('filters by topic and by listing time', async () => {
    const merging = await list('?topic=model-merging&limit=100');
    expect(merging.body.papers.map((p) => p.id).sort()).toEqual(
      ['2111.09832', '2312.06795', '2407.02447', '2410.02396', '2503.12649', '2611.00001'].sort(),
    );
    for (const paper of merging.body.papers) expect(paper.topics).toContain('model-merging');

    const recent = await list(`?since=${encodeURIComponent(hoursAgo(7))}&limit=100`);
    expect(recent.body.papers.length).toBeGreaterThan(0);
    for (const paper of recent.body.papers) expect(new Date(paper.listedAt) >= new Date(hoursAgo(7))).toBe(true);
  });

  it('pages through everything with the cursor, each paper once', async () => {
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const { body } = await list(`?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...body.papers.map((p) => p.id));
      cursor = body.nextCursor;
      pages++;
    }
    expect(pages).toBe(5);
    expect(seen).toHaveLength(30);
    expect(new Set(seen).size).toBe(30);
    const all = await list('?limit=100');
    expect(seen).toEqual(all.body.papers.map((p) => p.id));
  });

  it('ranks papers listed years ago without overflowing', async () => {
    await ingestFeed(t.database.db, [
      { paper: { id: '1901.00001', title: 'An Old Paper' }, publishedAt: '2019-01-01' },
    ]);
    const { status, body } = await list('?limit=100');
    expect(status).toBe(200);
    expect(body.papers.find((p) => p.id === '1901.00001')!.score).toBeLessThan(1e-100);
    await t.database.db.paper.delete({ where: { id: '1901.00001' } });
  });

  it('refuses control characters in the address with a 400, not a database error', async () => {
    for (const query of ['?topic=%00', '?since=2026-01-01%00', '?cursor=%00']) {
      expect(await list(query), query).toMatchObject({
        status: 400,
        body: { message: expect.stringContaining('control characters') as unknown },
      });
    }
    const forged = Buffer.from(JSON.stringify({ at: new Date().toISOString(), score: 1, id: 'x\u0000' })).toString(
      'base64url',
    );
    expect((await list(`?cursor=${forged}`)).status).toBe(400);
  });

  it('answers bad queries with a 4xx that says what is wrong', async () => {
    expect(await list('?topic=no-such-topic')).toMatchObject({
      status: 404,
      body: { message: 'There is no topic "no-such-topic".' },
    });
    expect(await list('?cursor=garbage')).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining('cursor') as unknown },
    });
    expect(await list('?since=yesterday')).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining('since') as unknown },
    });
    expect((await list('?limit=0')).status).toBe(400);
    expect((await list('?limit=1000')).status).toBe(400);
  });

  it('lists the topic catalogue', async () => {
    const response = await t.app.inject('/api/v1/topics');
    const { topics } = response.json<{ topics: { slug: string; name: string; description: string }[] }>();
    expect(topics.map((topic) => topic.slug)).toEqual(
      expect.arrayContaining([
        'test-time-adaptation',
        'model-merging',
        'parameter-efficient-fine-tuning',
        'continual-learning',
        'domain-adaptation',
        'large-language-models',
        'computer-vision',
        'speech-audio',
        'reinforcement-learning',
        'natural-language-processing',
      ]),
    );
    for (const topic of topics) expect(topic.description.length).toBeGreaterThan(10);
  });

  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    isArray: (name) => ['item', 'entry'].includes(name),
  });

  it('serves RSS 2.0 per topic and for everything, valid and escaped', async () => {
    const response = await t.app.inject('/feeds/model-merging.xml');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/rss+xml; charset=utf-8');
    expect(XMLValidator.validate(response.body)).toBe(true);
    expect(response.body).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot; &apos;too&apos;');
    expect(response.body).not.toContain('<img');

    const rss = parser.parse(response.body) as {
      rss: { '@version': string; channel: Record<string, unknown> & { item: Record<string, unknown>[] } };
    };
    expect(rss.rss['@version']).toBe('2.0');
    for (const field of ['title', 'link', 'description']) expect(rss.rss.channel[field]).toBeTruthy();
    expect(rss.rss.channel.item).toHaveLength(6);
    for (const item of rss.rss.channel.item) {
      for (const field of ['title', 'link', 'guid', 'pubDate', 'description']) expect(item[field], field).toBeTruthy();
    }
    expect(rss.rss.channel.item.map((i) => i.title)).toContain(HOSTILE_TITLE);

    const all = await t.app.inject('/feeds/all.xml');
    expect(XMLValidator.validate(all.body)).toBe(true);
    expect((parser.parse(all.body) as { rss: { channel: { item: unknown[] } } }).rss.channel.item).toHaveLength(30);
  });

  it('serves Atom per topic, valid and escaped', async () => {
    const response = await t.app.inject('/feeds/model-merging.atom');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/atom+xml; charset=utf-8');
    expect(XMLValidator.validate(response.body)).toBe(true);
    const atom = parser.parse(response.body) as {
      feed: Record<string, unknown> & { entry: Record<string, unknown>[] };
    };
    expect(atom.feed['@xmlns']).toBe('http://www.w3.org/2005/Atom');
    for (const field of ['id', 'title', 'updated']) expect(atom.feed[field], field).toBeTruthy();
    expect(atom.feed.entry).toHaveLength(6);
    for (const entry of atom.feed.entry) {
      for (const field of ['id', 'title', 'updated', 'link', 'author', 'summary'])
        expect(entry[field], field).toBeTruthy();
    }
    expect(atom.feed.entry.map((e) => e.title)).toContain(HOSTILE_TITLE);
  });

  it('answers unknown feeds with a 404 that says where the feeds are', async () => {
    expect((await t.app.inject('/feeds/no-such-topic.xml')).statusCode).toBe(404);
    const wrong = await t.app.inject('/feeds/model-merging.json');
    expect(wrong.statusCode).toBe(404);
    expect(wrong.json<{ message: string }>().message).toContain('/feeds/all.xml');
  });
});
