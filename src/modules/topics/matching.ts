// Which papers belong to which topic: Postgres full-text search over the weighted paper vector.
import type { Database } from '../../db/client.ts';

// `paper_matches` and `paper_relevance` are SQL functions (see the migrations) so that every query that
// asks "does this paper belong to this topic?" answers it the same way: the topic is in the title or
// keywords, or the abstract mentions it at least twice.

/** Recomputes PaperTopic rows for these papers against every topic (after an ingest). */
export async function matchPapersToTopics(db: Database, paperIds: string[]): Promise<void> {
  if (paperIds.length === 0) return;
  await db.$transaction([
    db.$executeRaw`DELETE FROM paper_topic WHERE paper_id = ANY(${paperIds})`,
    db.$executeRaw`
      INSERT INTO paper_topic (paper_id, topic_id, score)
      SELECT p.id, t.id, paper_relevance(p.search, t.q)
        FROM paper p
        CROSS JOIN (SELECT id, websearch_to_tsquery('english', query) AS q FROM topic) t
       WHERE p.id = ANY(${paperIds}) AND paper_matches(p.search, t.q)`,
  ]);
}

/** Recomputes one topic's PaperTopic rows against every paper (after its query changed). */
export async function matchTopicToPapers(db: Database, topicId: number): Promise<void> {
  await db.$transaction([
    db.$executeRaw`DELETE FROM paper_topic WHERE topic_id = ${topicId}`,
    db.$executeRaw`
      INSERT INTO paper_topic (paper_id, topic_id, score)
      SELECT p.id, t.id, paper_relevance(p.search, t.q)
        FROM (SELECT id, websearch_to_tsquery('english', query) AS q FROM topic WHERE id = ${topicId}) t
        JOIN paper p ON paper_matches(p.search, t.q)`,
  ]);
}

/** Whether a query has anything searchable in it (stop words alone, or only exclusions, match nothing). */
export async function isSearchableQuery(db: Database, query: string): Promise<boolean> {
  const [row] = await db.$queryRaw<{ searchable: boolean }[]>`
    SELECT numnode(websearch_to_tsquery('english', ${query})) > 0
       AND querytree(websearch_to_tsquery('english', ${query})) <> 'T' AS searchable`;
  return row?.searchable ?? false;
}
