// A reader's own include/exclude keywords are matched by the same rule as topics.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { matchKeywords } from '../../src/modules/topics/matching.ts';
import { openTestDatabase } from '../helpers/postgres.ts';

const sample = readFileSync(path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json'), 'utf8');

describe('reader keywords', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let ids: string[];
  beforeAll(async () => {
    database = await openTestDatabase();
    await ingestFeed(database.db, sample);
    ids = (await database.db.paper.findMany({ select: { id: true } })).map((p) => p.id);
  });
  afterAll(async () => {
    await database.close();
  });

  const match = (include: string[], exclude: string[] = []) => matchKeywords(database.db, ids, { include, exclude });

  it('matches phrases, OR and stemmed words, reporting the keyword that matched best', async () => {
    const found = await match(['"model merging"', 'class-incremental OR "lifelong learning"']);
    expect(found.map((m) => m.paperId).sort()).toEqual(
      ['2303.07338', '2312.06795', '2403.14392', '2410.02396', '2412.09441', '2503.12649'].sort(),
    );
    expect(found.find((m) => m.paperId === '2312.06795')!.keyword).toBe('"model merging"');
  });

  it('leaves out papers that match an exclusion', async () => {
    const merging = await match(['"model merging"']);
    const withoutFrankWolfe = await match(['"model merging"'], ['Frank-Wolfe']);
    expect(merging.map((m) => m.paperId)).toContain('2503.12649');
    expect(withoutFrankWolfe.map((m) => m.paperId)).not.toContain('2503.12649');
    expect(withoutFrankWolfe).toHaveLength(merging.length - 1);
  });

  it('needs more than one passing mention in an abstract, like topics', async () => {
    // Meta-DMoE mentions "test-time adaptation" once, in its abstract only.
    expect((await match(['"test-time adaptation"'])).map((m) => m.paperId)).not.toContain('2210.03885');
  });

  it('matches nothing without include keywords or papers', async () => {
    expect(await match([])).toEqual([]);
    expect(await matchKeywords(database.db, [], { include: ['merging'], exclude: [] })).toEqual([]);
  });
});
