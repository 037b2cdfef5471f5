// Ranked paper lists: the one score (SQL `paper_rank`) and cursor pagination over it.
//
// score = (1 + ln(1 + upvotes)) × (0.5 + min(relevance, 2) / 4) × 0.5 ^ (hours since listing / 24)
//
// - popularity: upvotes count logarithmically, so 100 upvotes beat 10 but do not bury everything else;
// - relevance: how well the paper matches the topic (PaperTopic.score, 1 for "all trending"); it can at
//   most double a score, so a perfect match does not keep an old paper on top for ever;
// - freshness: the score halves every 24 hours after the paper was listed.
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import type { Database } from '../../db/client.ts';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { isStorableDate } from '../../text.ts';
import { arxivId } from './normalize.ts';
import type { PaperInput } from './types.ts';

/** A paper as lists show it: what was stored, plus its topics and its score at the time of the list. */
export type RankedPaper = Omit<PaperInput, 'keywords' | 'withdrawnAt'> & {
  /** Slugs of every topic the paper matches. */
  topics: string[];
  score: number;
};

export interface PaperQuery {
  /** Topic slug; none for "all trending". */
  topic?: string | undefined;
  /** Only papers listed at or after this time. */
  since?: Date | undefined;
  limit: number;
  cursor?: string | undefined;
  now?: Date;
}

// The cursor pins the moment scores were computed at, so later pages continue the same order.
const cursorSchema = z.object({
  at: z.iso.datetime().refine((at) => isStorableDate(new Date(at))),
  score: z.number(),
  id: z.string().refine((id) => arxivId(id) === id),
});
type Cursor = z.infer<typeof cursorSchema>;

const encodeCursor = (cursor: Cursor) => Buffer.from(JSON.stringify(cursor)).toString('base64url');
function decodeCursor(raw: string): Cursor {
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
  } catch {
    throw new InvalidInputError('The cursor is not valid: use the nextCursor of a previous page.');
  }
}

/** Where a reader can read a paper: its trending page for Hugging Face papers, arXiv otherwise. */
export function paperUrl(paper: Pick<RankedPaper, 'id' | 'source'>): string {
  return paper.source === 'hf_daily'
    ? `https://huggingface.co/papers/${paper.id}`
    : `https://arxiv.org/abs/${paper.id}`;
}

export async function rankPapers(
  db: Database,
  query: PaperQuery,
): Promise<{ papers: RankedPaper[]; nextCursor: string | null }> {
  const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
  const at = cursor ? new Date(cursor.at) : (query.now ?? new Date());

  let topicId: number | undefined;
  if (query.topic) {
    const topic = await db.topic.findUnique({ where: { slug: query.topic }, select: { id: true } });
    if (!topic) throw new NotFoundError(`There is no topic "${query.topic}".`);
    topicId = topic.id;
  }
  const relevance = topicId === undefined ? Prisma.sql`1::real` : Prisma.sql`pt.score`;
  const topicJoin =
    topicId === undefined
      ? Prisma.empty
      : Prisma.sql`JOIN paper_topic pt ON pt.paper_id = p.id AND pt.topic_id = ${topicId}`;
  const since = query.since ? Prisma.sql`AND p.listed_at >= ${query.since}` : Prisma.empty;
  const after = cursor
    ? Prisma.sql`WHERE score < ${cursor.score} OR (score = ${cursor.score} AND id > ${cursor.id})`
    : Prisma.empty;

  const rows = await db.$queryRaw<(Omit<RankedPaper, 'topics'> & { topics: string[] | null })[]>`
    WITH ranked AS (
      SELECT p.id, p.title, p.abstract, p.authors, p.ai_summary AS "aiSummary", p.published_at AS "publishedAt",
             p.listed_at AS "listedAt", p.upvotes, p.github_url AS "githubUrl", p.project_url AS "projectUrl",
             p.source::text AS source, paper_rank(${relevance}, p.upvotes, p.listed_at, ${at}) AS score
        FROM paper p ${topicJoin}
       WHERE p.withdrawn_at IS NULL AND p.hidden_at IS NULL ${since}
    )
    SELECT ranked.*,
           ARRAY(SELECT t.slug FROM paper_topic x JOIN topic t ON t.id = x.topic_id
                  WHERE x.paper_id = ranked.id ORDER BY t.slug) AS topics
      FROM ranked ${after}
     ORDER BY score DESC, id ASC
     LIMIT ${query.limit + 1}`;

  const papers = rows.slice(0, query.limit).map((row) => ({ ...row, topics: row.topics ?? [] }));
  const last = papers.at(-1);
  const nextCursor =
    rows.length > query.limit && last ? encodeCursor({ at: at.toISOString(), score: last.score, id: last.id }) : null;
  return { papers, nextCursor };
}
