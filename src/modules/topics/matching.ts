// Which papers belong to which topic: Postgres full-text search over the weighted paper vector.
import type { Database, DbClient } from '../../db/client.ts';

// `paper_matches` and `paper_relevance` are SQL functions (see the migrations) so that every query that
// asks "does this paper belong to this topic?" answers it the same way: the topic is in the title or
// keywords, or the abstract mentions it at least twice.

/**
 * Recomputes PaperTopic rows for these papers against every topic. Runs in the caller's transaction (the
 * ingest stores and matches each batch together), so keep `paperIds` to a batch.
 */
export async function matchPaperBatch(db: DbClient, paperIds: string[]): Promise<void> {
  if (paperIds.length === 0) return;
  await db.$executeRaw`DELETE FROM paper_topic WHERE paper_id = ANY(${paperIds})`;
  // Both sides are materialised first: each topic's tsquery is built once, and Postgres walks this batch's
  // papers instead of scanning the full-text index for every paper in the library. FOR KEY SHARE keeps a
  // topic from being deleted under the insert; ON CONFLICT lets a concurrent topic re-match win quietly.
  await db.$executeRaw`
    WITH t AS MATERIALIZED (SELECT id, websearch_to_tsquery('english', query) AS q FROM topic FOR KEY SHARE),
         p AS MATERIALIZED (SELECT id, search FROM paper WHERE id = ANY(${paperIds}))
    INSERT INTO paper_topic (paper_id, topic_id, score)
    SELECT p.id, t.id, paper_relevance(p.search, t.q) FROM p CROSS JOIN t WHERE paper_matches(p.search, t.q)
    ON CONFLICT (paper_id, topic_id) DO UPDATE SET score = EXCLUDED.score`;
}

/** Recomputes one topic's PaperTopic rows against every paper (after its query changed). */
export async function matchTopicToPapers(db: Database, topicId: number): Promise<void> {
  await db.$transaction(
    [
      db.$executeRaw`DELETE FROM paper_topic WHERE topic_id = ${topicId}`,
      // The full-text index finds the candidates; the materialised tsquery is built once.
      db.$executeRaw`
        WITH t AS MATERIALIZED (
          SELECT id, websearch_to_tsquery('english', query) AS q FROM topic WHERE id = ${topicId} FOR KEY SHARE)
        INSERT INTO paper_topic (paper_id, topic_id, score)
        SELECT p.id, t.id, paper_relevance(p.search, t.q) FROM t JOIN paper p ON paper_matches(p.search, t.q)
        ON CONFLICT (paper_id, topic_id) DO UPDATE SET score = EXCLUDED.score`,
    ],
    // One topic against a whole library can take longer than Prisma's default of 5 seconds.
    { timeout: 10 * 60_000 },
  );
}

/** Whether a query has anything searchable in it (stop words alone, or only exclusions, match nothing). */
export async function isSearchableQuery(db: Database, query: string): Promise<boolean> {
  const [row] = await db.$queryRaw<{ searchable: boolean }[]>`
    SELECT numnode(websearch_to_tsquery('english', ${query})) > 0
       AND querytree(websearch_to_tsquery('english', ${query})) <> 'T' AS searchable`;
  return row?.searchable ?? false;
}

export interface KeywordMatch {
  paperId: string;
  /** The reader's keyword that matched, to tell them why the paper is in their digest. */
  keyword: string;
  score: number;
}

/**
 * Which of these papers match a reader's own keywords, by the same rule as topics: any include keyword
 * matches (the best one is reported), and no exclude keyword does. Keywords use the topic query syntax.
 */
export async function matchKeywords(
  db: Database,
  paperIds: string[],
  keywords: { include: string[]; exclude: string[] },
): Promise<KeywordMatch[]> {
  if (paperIds.length === 0 || keywords.include.length === 0) return [];
  return db.$queryRaw<KeywordMatch[]>`
    WITH inc AS MATERIALIZED (SELECT k AS keyword, websearch_to_tsquery('english', k) AS q FROM unnest(${keywords.include}::text[]) k),
         exc AS MATERIALIZED (SELECT websearch_to_tsquery('english', k) AS q FROM unnest(${keywords.exclude}::text[]) k),
         p AS MATERIALIZED (SELECT id, search FROM paper WHERE id = ANY(${paperIds}))
    SELECT DISTINCT ON (p.id) p.id AS "paperId", inc.keyword, paper_relevance(p.search, inc.q) AS score
      FROM p JOIN inc ON paper_matches(p.search, inc.q)
     WHERE NOT EXISTS (SELECT 1 FROM exc WHERE paper_matches(p.search, exc.q))
     ORDER BY p.id, score DESC, inc.keyword`;
}
