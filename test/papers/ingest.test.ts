// Ingest into Postgres: idempotent batched upserts, partial imports, withdrawals, sample papers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { escapeXml } from '../../src/modules/papers/feeds.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { loadSamplePapers } from '../../src/modules/papers/sample.ts';
import { UPSERT_BATCH_SIZE } from '../../src/modules/papers/store.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import type { Database } from '../../src/db/client.ts';

const sampleText = readFileSync(path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json'), 'utf8');
const sampleItems = () => JSON.parse(sampleText) as { paper: Record<string, unknown>; publishedAt: string }[];
const atom = readFileSync(path.resolve(import.meta.dirname, '../fixtures/arxiv-query.atom'), 'utf8');
const NOW = new Date('2026-11-28T07:00:00Z');

describe('ingest', () => {
  let database: TestDatabase & { db: Database; close: () => Promise<void> };
  let db: Database;
  beforeAll(async () => {
    database = await openTestDatabase();
    db = database.db;
  });
  beforeEach(async () => {
    await db.paper.deleteMany();
  });
  afterAll(async () => {
    await database.close();
  });

  it('imports the 29 sample papers once; importing them again adds and changes nothing', async () => {
    const first = await ingestFeed(db, sampleText, { now: NOW });
    expect(first).toMatchObject({ format: 'hf_daily', total: 29, added: 29, updated: 0, unchanged: 0, skipped: [] });
    expect(await db.paper.count()).toBe(29);
    const before = await db.paper.findMany({ orderBy: { id: 'asc' } });

    const second = await ingestFeed(db, sampleText, { now: new Date('2026-11-29T07:00:00Z') });
    expect(second).toMatchObject({ added: 0, updated: 0, unchanged: 29 });
    expect(await db.paper.findMany({ orderBy: { id: 'asc' } })).toEqual(before);
  });

  it('updates only what a later listing changes (upvotes), keeping the first listing date', async () => {
    await ingestFeed(db, sampleText, { now: NOW });
    const items = sampleItems();
    items[0]!.paper.upvotes = 99;
    items[0]!.publishedAt = '2026-12-01T00:00:00.000Z';
    const report = await ingestFeed(db, items, { now: NOW });
    expect(report).toMatchObject({ added: 0, updated: 1, unchanged: 28 });
    const paper = await db.paper.findUniqueOrThrow({ where: { id: '2201.05718' } });
    expect(paper.upvotes).toBe(99);
    expect(paper.listedAt).toEqual(new Date(sampleItems()[0]!.publishedAt));
  });

  it('imports the rest of a feed with a malformed item and reports that item', async () => {
    const items: unknown[] = sampleItems();
    items.splice(3, 0, { paper: { id: '2601.99999', title: 'Broken', publishedAt: 'soon' } });
    const report = await ingestFeed(db, items, { now: NOW });
    expect(report).toMatchObject({ total: 30, added: 29 });
    expect(report.skipped).toEqual([
      { index: 4, id: '2601.99999', reason: 'paper.publishedAt "soon" is not an ISO 8601 date' },
    ]);
  });

  it('imports an arXiv Atom feed, and a later trending listing keeps its data', async () => {
    expect(await ingestFeed(db, atom, { now: NOW })).toMatchObject({
      format: 'arxiv_atom',
      added: 3,
      skipped: [{ index: 3 }],
    });
    const paper = await db.paper.findUniqueOrThrow({ where: { id: '2611.01234' } });
    expect(paper).toMatchObject({ source: 'arxiv', authors: ['Ada Lovelace', 'Alan Turing'], upvotes: 0 });

    // The same paper trending on Hugging Face gets its upvotes; an arXiv re-import does not reset them.
    await ingestFeed(
      db,
      [{ paper: { id: '2611.01234v2', title: paper.title, upvotes: 7 }, publishedAt: '2026-11-27' }],
      { now: NOW },
    );
    await ingestFeed(db, atom, { now: NOW });
    expect((await db.paper.findUniqueOrThrow({ where: { id: '2611.01234' } })).upvotes).toBe(7);
  });

  it('keeps a withdrawn paper withdrawn', async () => {
    const items = sampleItems();
    items[0]!.paper.withdrawnAt = '2026-11-27T00:00:00.000Z';
    await ingestFeed(db, items, { now: NOW });
    await ingestFeed(db, sampleText, { now: NOW });
    const withdrawn = await db.paper.findMany({ where: { withdrawnAt: { not: null } }, select: { id: true } });
    expect(withdrawn).toEqual([{ id: '2201.05718' }]);
  });

  it('stores 10,000 papers in batches of one statement each, not one round trip per paper', async () => {
    const items = Array.from({ length: 10_000 }, (_, i) => ({
      paper: {
        id: `2611.${String(i).padStart(5, '0')}`,
        title: `Generated paper ${i} on model merging`,
        summary: 'Model merging of large language models.',
        authors: [{ name: 'Generator' }],
        upvotes: i % 50,
      },
      publishedAt: '2026-11-27T00:00:00.000Z',
    }));
    const transactions = vi.spyOn(db, '$transaction');
    const report = await ingestFeed(db, items, { now: NOW });
    expect(report).toMatchObject({ added: 10_000, skipped: [] });
    // One transaction per batch, holding one upsert statement and the topic matching of that batch.
    expect(transactions).toHaveBeenCalledTimes(Math.ceil(10_000 / UPSERT_BATCH_SIZE));
    transactions.mockRestore();
    expect(await db.paperTopic.count({ where: { topic: { slug: 'model-merging' } } })).toBe(10_000);
  });

  it('loads the sample papers as listed now, once', async () => {
    const report = await loadSamplePapers(db, NOW);
    expect(report).toMatchObject({ added: 29, skipped: [] });
    expect(await db.paper.count({ where: { listedAt: NOW } })).toBe(29);
    expect(await loadSamplePapers(db, new Date('2026-11-29T00:00:00Z'))).toMatchObject({ added: 0, updated: 0 });
  });
});

describe('ingest under concurrency and failure', () => {
  let database: TestDatabase & { db: Database; close: () => Promise<void> };
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(async () => {
    await database.close();
  });

  it('merges two feeds listing the same papers at the same moment, losing nothing', async () => {
    const trending = JSON.parse(sampleText) as { paper: { id: string; title: string; upvotes?: number } }[];
    for (const item of trending) item.paper.upvotes = 42;
    // The same papers in an arXiv Atom feed: arXiv knows no upvotes, and must not reset them.
    const asAtom = `<feed xmlns="http://www.w3.org/2005/Atom">${trending
      .map(
        ({ paper }) =>
          `<entry><id>http://arxiv.org/abs/${paper.id}v1</id><title>${escapeXml(paper.title)}</title>` +
          `<published>2026-01-01T00:00:00Z</published><summary>An abstract.</summary></entry>`,
      )
      .join('')}</feed>`;
    // The race is timing-dependent; several rounds make a regression show up reliably.
    for (let round = 0; round < 6; round++) {
      await database.db.paper.deleteMany();
      await Promise.all([
        ingestFeed(database.db, trending, { now: NOW }),
        ingestFeed(database.db, asAtom, { now: NOW }),
      ]);
      const papers = await database.db.paper.findMany();
      expect(papers).toHaveLength(29);
      for (const paper of papers) {
        expect(paper.upvotes, paper.id).toBe(42);
        expect(paper.listedAt, paper.id).toEqual(new Date('2026-01-01T00:00:00Z'));
      }
    }
  });

  it('stores and matches each batch together, so a failure never leaves papers unmatched', async () => {
    await database.db.paper.deleteMany();
    const items = Array.from({ length: 1_500 }, (_, i) => ({
      paper: { id: `2612.${String(i).padStart(5, '0')}`, title: `Model merging study ${i}` },
      publishedAt: '2026-11-27T00:00:00.000Z',
    }));
    // A trigger that makes the second batch fail, as a lost connection or a full disk would.
    await database.db.$executeRawUnsafe(`
      CREATE FUNCTION refuse_paper() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'simulated failure'; END $$`);
    await database.db.$executeRawUnsafe(`
      CREATE TRIGGER refuse_paper BEFORE INSERT ON paper FOR EACH ROW
      WHEN (NEW.id = '2612.01200') EXECUTE FUNCTION refuse_paper()`);
    await expect(ingestFeed(database.db, items, { now: NOW })).rejects.toThrow(/simulated failure/);
    const merging = { topic: { slug: 'model-merging' } };
    expect(await database.db.paper.count()).toBe(1_000);
    expect(await database.db.paperTopic.count({ where: merging })).toBe(1_000);

    await database.db.$executeRawUnsafe('DROP TRIGGER refuse_paper ON paper');
    expect(await ingestFeed(database.db, items, { now: NOW })).toMatchObject({ added: 500, unchanged: 1_000 });
    expect(await database.db.paperTopic.count({ where: merging })).toBe(1_500);
  });
});
