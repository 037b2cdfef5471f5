// Ingest into Postgres: idempotent batched upserts, partial imports, withdrawals, sample papers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
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
    const queries = vi.spyOn(db, '$queryRaw');
    const report = await ingestFeed(db, items, { now: NOW });
    expect(report).toMatchObject({ added: 10_000, skipped: [] });
    expect(queries).toHaveBeenCalledTimes(Math.ceil(10_000 / UPSERT_BATCH_SIZE));
    queries.mockRestore();
    expect(await db.paperTopic.count({ where: { topic: { slug: 'model-merging' } } })).toBe(10_000);
  });

  it('loads the sample papers as listed now, once', async () => {
    const report = await loadSamplePapers(db, NOW);
    expect(report).toMatchObject({ added: 29, skipped: [] });
    expect(await db.paper.count({ where: { listedAt: NOW } })).toBe(29);
    expect(await loadSamplePapers(db, new Date('2026-11-29T00:00:00Z'))).toMatchObject({ added: 0, updated: 0 });
  });
});
