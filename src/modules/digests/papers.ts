// Choosing a reader's papers: listed since their previous digest, matching their topics or own keywords,
// minus exclusions and anything already sent to them, ranked by the shared score, capped at their max.
import type { Database } from '../../db/client.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import { matchKeywords } from '../topics/matching.ts';

export interface ChosenPaper {
  id: string;
  title: string;
  abstract: string;
  aiSummary: string | null;
  authors: string[];
  githubUrl: string | null;
  source: 'hf_daily' | 'arxiv';
  score: number;
  /** Why it is in this reader's digest: the topic or keyword that matched. */
  why: string;
}

export interface DigestReader {
  id: string;
  frequency: string;
  maxPapers: number;
  includeKeywords: string[];
  excludeKeywords: string[];
}

/** Papers listed longer ago than this are never news, however recently they were imported. */
const LISTED_WITHIN_DAYS = 8;

/** Where the window of a reader's next digest starts: their previous digest, or a day (a week) back. */
export async function digestWindowStart(db: Database, reader: DigestReader, now: Date): Promise<Date> {
  const previous = await db.delivery.findFirst({
    where: { subscriberId: reader.id, kind: 'digest', status: 'sent' },
    orderBy: { sentAt: 'desc' },
    select: { sentAt: true },
  });
  const fallback = new Date(now.getTime() - (reader.frequency === 'weekly' ? 7 : 1) * 86_400_000);
  return previous?.sentAt ?? fallback;
}

/**
 * The papers for a digest: `{ since, now }` picks the fresh, unsent ones; `{ only }` re-creates a digest
 * already sent (its papers, in its order, with the same "why").
 */
export async function choosePapers(
  db: Database,
  reader: DigestReader,
  since: Date,
  now: Date,
  only?: string[],
): Promise<ChosenPaper[]> {
  const which = only
    ? Prisma.sql`p.id = ANY(${only})`
    : // New to Paperboy since the previous digest (a feed may deliver a paper dated earlier than it
      // arrives), and listed recently: an arXiv import of old papers does not flood anyone's digest.
      Prisma.sql`p.created_at > ${since} AND p.created_at <= ${now}
       AND p.listed_at > ${new Date(now.getTime() - LISTED_WITHIN_DAYS * 86_400_000)}
       AND NOT EXISTS (SELECT 1 FROM sent_paper sp WHERE sp.subscriber_id = ${reader.id}::uuid AND sp.paper_id = p.id)`;
  // Candidates, each with the best of the reader's topics it matches.
  const byTopic = await db.$queryRaw<
    (Omit<ChosenPaper, 'why' | 'score'> & { why: string | null; relevance: number })[]
  >`
    SELECT p.id, p.title, p.abstract, p.ai_summary AS "aiSummary", p.authors, p.github_url AS "githubUrl",
           p.source::text AS source, best.name AS why, coalesce(best.score, 0) AS relevance
      FROM paper p
      LEFT JOIN LATERAL (
        SELECT t.name, pt.score FROM paper_topic pt
          JOIN subscriber_topic st ON st.topic_id = pt.topic_id AND st.subscriber_id = ${reader.id}::uuid
          JOIN topic t ON t.id = pt.topic_id
         WHERE pt.paper_id = p.id ORDER BY pt.score DESC LIMIT 1
      ) best ON true
     WHERE ${which} AND p.withdrawn_at IS NULL AND p.hidden_at IS NULL`;
  if (byTopic.length === 0) return [];

  const ids = byTopic.map((paper) => paper.id);
  const keywordHits = new Map(
    (await matchKeywords(db, ids, { include: reader.includeKeywords, exclude: [] })).map((m) => [m.paperId, m]),
  );
  const excluded = new Set(
    reader.excludeKeywords.length
      ? (await matchKeywords(db, ids, { include: reader.excludeKeywords, exclude: [] })).map((m) => m.paperId)
      : [],
  );
  const chosen = byTopic.flatMap((paper) => {
    const keyword = keywordHits.get(paper.id);
    // A sent digest is shown as it was: its papers stay even if the reader's choices changed since.
    if (!only && (excluded.has(paper.id) || (!paper.why && !keyword))) return [];
    const useKeyword = keyword && (!paper.why || keyword.score > paper.relevance);
    const relevance = useKeyword ? keyword.score : paper.relevance;
    const why = useKeyword ? `your keyword ${keyword.keyword}` : (paper.why ?? 'trending');
    return [{ ...paper, why, relevance }];
  });
  if (chosen.length === 0) return [];

  // The shared ranking (SQL paper_rank), computed for these few papers at `now`.
  const scores = await db.$queryRaw<{ id: string; score: number }[]>`
    SELECT p.id, paper_rank(c.relevance::real, p.upvotes, p.listed_at, ${now}) AS score
      FROM jsonb_to_recordset(${JSON.stringify(chosen.map(({ id, relevance }) => ({ id, relevance })))}::jsonb)
           AS c(id text, relevance double precision)
      JOIN paper p ON p.id = c.id`;
  const scoreOf = new Map(scores.map((row) => [row.id, row.score]));
  const ranked = chosen.map(({ relevance: _relevance, ...paper }) => ({ ...paper, score: scoreOf.get(paper.id) ?? 0 }));
  if (only) return ranked.sort((a, b) => only.indexOf(a.id) - only.indexOf(b.id));
  return ranked.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id)).slice(0, reader.maxPapers);
}
