// Choosing readers' papers: listed since their previous digest, matching their topics or own keywords,
// minus exclusions and anything already sent to them, ranked by the shared score, capped at their max.
// A page of readers is chosen for at once: one statement finds every reader's candidates with their
// best topic, best keyword, exclusion and score, and one more loads the chosen papers' cards.
import { sqlPool, type Database } from '../../db/client.ts';

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
export function digestWindowStart(reader: Pick<DigestReader, 'frequency'>, previousDigestAt: Date | null, now: Date) {
  return previousDigestAt ?? new Date(now.getTime() - (reader.frequency === 'weekly' ? 7 : 1) * 86_400_000);
}

/** Whose papers to choose: fresh ones `since` a time, or (`resend`) those of a digest already sent, in its order. */
export type PaperRequest = { reader: DigestReader; since: Date } | { reader: DigestReader; resend: string[] };

// For each reader `r.i`: the candidates (new to Paperboy since their previous digest, as a feed may deliver
// a paper dated earlier than it arrives; listed recently, so an arXiv import of old papers floods no one;
// never sent to them), or the papers of the digest being re-sent; each with the best of the reader's
// topics it matches, the best of their keywords, whether one of their exclusions matches, and the shared
// ranking (SQL `paper_rank`) for the relevance that wins. Work is shared across the page: the topic
// scores are stored per paper (paper_topic), and each distinct keyword of the page is matched against
// each candidate once (by the topic rule, `paper_matches`), whoever asked for it; readers then only join.
const CANDIDATES = `
  WITH r AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset($1::jsonb)
             AS r(i int, subscriber uuid, since timestamptz, include text[], exclude text[], resend text[])
  ), p AS MATERIALIZED (
    SELECT id, search, upvotes, listed_at, created_at FROM paper
     WHERE withdrawn_at IS NULL AND hidden_at IS NULL
       AND ((created_at > (SELECT min(since) FROM r) AND created_at <= $2 AND listed_at > $3)
            OR id = ANY(ARRAY(SELECT unnest(resend) FROM r)))
  ), sent AS MATERIALIZED (
    SELECT subscriber_id, paper_id FROM sent_paper
     WHERE subscriber_id IN (SELECT subscriber FROM r) AND paper_id IN (SELECT id FROM p)
  ), pairs AS MATERIALIZED (
    SELECT r.i, r.resend IS NOT NULL AS resend, p.id, p.upvotes, p.listed_at
      FROM r JOIN p ON CASE WHEN r.resend IS NULL
                            THEN p.created_at > r.since AND p.created_at <= $2 AND p.listed_at > $3
                            ELSE p.id = ANY(r.resend) END
     WHERE r.resend IS NOT NULL
        OR NOT EXISTS (SELECT 1 FROM sent WHERE sent.subscriber_id = r.subscriber AND sent.paper_id = p.id)
  ), hits AS MATERIALIZED (
    SELECT k.keyword, p.id, paper_relevance(p.search, k.q) AS score
      FROM (SELECT keyword, websearch_to_tsquery('english', keyword) AS q
              FROM (SELECT DISTINCT unnest(include || exclude) AS keyword FROM r) distinct_keywords) k
      JOIN p ON paper_matches(p.search, k.q)
  ), best_topic AS (
    SELECT DISTINCT ON (r.i, pt.paper_id) r.i, pt.paper_id AS id, t.name, pt.score
      FROM r JOIN subscriber_topic st ON st.subscriber_id = r.subscriber
      JOIN paper_topic pt ON pt.topic_id = st.topic_id AND pt.paper_id IN (SELECT id FROM p)
      JOIN topic t ON t.id = pt.topic_id
     ORDER BY r.i, pt.paper_id, pt.score DESC, t.name
  ), best_keyword AS (
    SELECT DISTINCT ON (r.i, h.id) r.i, h.id, h.keyword, h.score
      FROM r CROSS JOIN unnest(r.include) AS k(keyword) JOIN hits h ON h.keyword = k.keyword
     ORDER BY r.i, h.id, h.score DESC, h.keyword
  ), excluded AS (
    SELECT DISTINCT r.i, h.id FROM r CROSS JOIN unnest(r.exclude) AS k(keyword) JOIN hits h ON h.keyword = k.keyword
  ), judged AS (
    SELECT pr.i, pr.id, pr.upvotes, pr.listed_at, bt.name AS topic, coalesce(bt.score, 0) AS topic_score,
           bk.keyword, bk.score AS keyword_score,
           bk.keyword IS NOT NULL AND (bt.name IS NULL OR bk.score > coalesce(bt.score, 0)) AS by_keyword
      FROM pairs pr
      LEFT JOIN best_topic bt ON bt.i = pr.i AND bt.id = pr.id
      LEFT JOIN best_keyword bk ON bk.i = pr.i AND bk.id = pr.id
     -- A sent digest is shown as it was: its papers stay even if the reader's choices changed since.
     WHERE pr.resend
        OR NOT (EXISTS (SELECT 1 FROM excluded e WHERE e.i = pr.i AND e.id = pr.id)
                OR (bt.name IS NULL AND bk.keyword IS NULL))
  )
  SELECT i, id,
         CASE WHEN by_keyword THEN 'your keyword ' || keyword ELSE coalesce(topic, 'trending') END AS why,
         paper_rank((CASE WHEN by_keyword THEN keyword_score ELSE topic_score END)::real, upvotes, listed_at, $2) AS score
    FROM judged`;

const CARDS = `
  SELECT id, title, abstract, ai_summary AS "aiSummary", authors, github_url AS "githubUrl", source::text AS source
    FROM paper WHERE id = ANY($1::text[])`;

type Card = Omit<ChosenPaper, 'why' | 'score'>;

/**
 * Each request's papers, in request order: two statements for any number of readers. Fresh papers are
 * ranked (best first, ties by id) and cut at the reader's maximum; a re-sent digest keeps its order.
 */
export async function choosePapersFor(db: Database, requests: PaperRequest[], now: Date): Promise<ChosenPaper[][]> {
  if (requests.length === 0) return [];
  const pool = sqlPool(db);
  const readers = requests.map((request, i) => ({
    i,
    subscriber: request.reader.id,
    since: 'since' in request ? request.since : now,
    include: request.reader.includeKeywords,
    exclude: request.reader.excludeKeywords,
    resend: 'resend' in request ? request.resend : null,
  }));
  const listedAfter = new Date(now.getTime() - LISTED_WITHIN_DAYS * 86_400_000);
  const { rows } = await pool.query<{ i: number; id: string; why: string; score: number }>({
    name: 'digest-candidates',
    text: CANDIDATES,
    values: [JSON.stringify(readers), now, listedAfter],
  });
  const picks: { id: string; why: string; score: number }[][] = requests.map(() => []);
  for (const row of rows) picks[row.i]!.push(row);
  const chosen = picks.map((candidates, i) => {
    const request = requests[i]!;
    if ('resend' in request)
      return candidates.sort((a, b) => request.resend.indexOf(a.id) - request.resend.indexOf(b.id));
    return candidates.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id)).slice(0, request.reader.maxPapers);
  });
  const ids = [...new Set(chosen.flat().map((pick) => pick.id))];
  if (ids.length === 0) return chosen.map(() => []);
  const { rows: cards } = await pool.query<Card>({ name: 'digest-cards', text: CARDS, values: [ids] });
  const cardOf = new Map(cards.map((card) => [card.id, card]));
  return chosen.map((candidates) =>
    candidates.flatMap(({ id, why, score }) => {
      const card = cardOf.get(id);
      return card ? [{ ...card, why, score }] : [];
    }),
  );
}

/**
 * One reader's papers: `since` picks the fresh, unsent ones; `only` re-creates a digest already sent (its
 * papers, in its order, with the same "why").
 */
export async function choosePapers(
  db: Database,
  reader: DigestReader,
  since: Date,
  now: Date,
  only?: string[],
): Promise<ChosenPaper[]> {
  const [papers] = await choosePapersFor(db, [only ? { reader, resend: only } : { reader, since }], now);
  return papers ?? [];
}
