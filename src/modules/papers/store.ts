// Writes papers to Postgres: batched, idempotent upserts (one statement per batch, not one per paper).
import type { Database, DbClient } from '../../db/client.ts';
import { matchPaperBatch } from '../topics/matching.ts';
import type { PaperInput } from './types.ts';

export interface UpsertResult {
  added: string[];
  updated: string[];
  unchanged: number;
}

export const UPSERT_BATCH_SIZE = 1_000;

/**
 * Stores papers and matches the new and changed ones to topics, one transaction per batch of 1,000: a
 * batch is stored and matched together or not at all, so a failure never leaves papers unmatched.
 * Ingests take turns batch by batch (an advisory lock), so two feeds listing the same paper at the same
 * moment merge into it one after the other instead of overwriting each other.
 *
 * A re-import changes only what a feed legitimately changes (upvotes, a new arXiv version's title or
 * abstract, links, withdrawal); rows that would not change are not written, so `updated_at` and the
 * counts stay honest.
 */
export async function storePapers(
  db: Database,
  papers: PaperInput[],
  onProgress: (done: number, total: number) => void = () => {},
): Promise<UpsertResult> {
  const result: UpsertResult = { added: [], updated: [], unchanged: 0 };
  // Postgres refuses to update one row twice in a statement; sorted batches also lock rows in one order.
  const byId = new Map(papers.map((paper) => [paper.id, paper]));
  const unique = [...byId.keys()].sort().map((id) => byId.get(id)!);
  for (let start = 0; start < unique.length; start += UPSERT_BATCH_SIZE) {
    const batch = unique.slice(start, start + UPSERT_BATCH_SIZE);
    const rows = await db.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('paperboy:paper-ingest'))`;
        const written = await upsertBatch(tx, batch);
        const changedIds = written.map((row) => row.id);
        await matchPaperBatch(tx, changedIds);
        return written;
      },
      { timeout: 120_000 },
    );
    for (const row of rows) (row.inserted ? result.added : result.updated).push(row.id);
    result.unchanged += batch.length - rows.length;
    onProgress(Math.min(start + batch.length, unique.length), unique.length);
  }
  return result;
}

/** One statement for the whole batch; returns the rows it inserted or changed. */
function upsertBatch(db: DbClient, batch: PaperInput[]) {
  // The statement's snapshot starts after the caller's lock, so `merged` sees every committed ingest.
  return db.$queryRaw<{ id: string; inserted: boolean }[]>`
      WITH incoming AS (
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(batch.map(toRow))}::jsonb) AS x(
          id text, title text, abstract text, authors text[], keywords text[], ai_summary text,
          published_at timestamptz, listed_at timestamptz, upvotes int, github_url text, project_url text,
          source paper_source, withdrawn_at timestamptz)
      ), merged AS (
        SELECT i.id, i.title,
               CASE WHEN i.abstract <> '' OR p.id IS NULL THEN i.abstract ELSE p.abstract END AS abstract,
               CASE WHEN cardinality(i.authors) > 0 OR p.id IS NULL THEN i.authors ELSE p.authors END AS authors,
               CASE WHEN cardinality(i.keywords) > 0 OR p.id IS NULL THEN i.keywords ELSE p.keywords END AS keywords,
               coalesce(i.ai_summary, p.ai_summary) AS ai_summary,
               -- The first listing is the one that counts: a re-import must not make a paper "new" again.
               least(p.published_at, i.published_at) AS published_at,
               least(p.listed_at, i.listed_at) AS listed_at,
               -- Only the trending feed knows upvotes; an arXiv import must not reset them.
               CASE WHEN i.source = 'hf_daily' OR p.id IS NULL THEN i.upvotes ELSE p.upvotes END AS upvotes,
               coalesce(i.github_url, p.github_url) AS github_url,
               coalesce(i.project_url, p.project_url) AS project_url,
               coalesce(p.source, i.source) AS source,
               coalesce(p.withdrawn_at, i.withdrawn_at) AS withdrawn_at
          FROM incoming i LEFT JOIN paper p ON p.id = i.id
      )
      INSERT INTO paper AS p (id, title, abstract, authors, keywords, ai_summary, published_at, listed_at,
                              upvotes, github_url, project_url, source, withdrawn_at, updated_at)
      SELECT *, now() FROM merged
      ON CONFLICT (id) DO UPDATE SET
        title = EXCLUDED.title, abstract = EXCLUDED.abstract, authors = EXCLUDED.authors,
        keywords = EXCLUDED.keywords, ai_summary = EXCLUDED.ai_summary, published_at = EXCLUDED.published_at,
        listed_at = EXCLUDED.listed_at, upvotes = EXCLUDED.upvotes, github_url = EXCLUDED.github_url,
        project_url = EXCLUDED.project_url, withdrawn_at = EXCLUDED.withdrawn_at, updated_at = now()
      WHERE (p.title, p.abstract, p.authors, p.keywords, p.ai_summary, p.published_at, p.listed_at, p.upvotes,
             p.github_url, p.project_url, p.withdrawn_at)
            IS DISTINCT FROM
            (EXCLUDED.title, EXCLUDED.abstract, EXCLUDED.authors, EXCLUDED.keywords, EXCLUDED.ai_summary,
             EXCLUDED.published_at, EXCLUDED.listed_at, EXCLUDED.upvotes, EXCLUDED.github_url,
             EXCLUDED.project_url, EXCLUDED.withdrawn_at)
      RETURNING id, (xmax = 0) AS inserted`;
}

function toRow(paper: PaperInput) {
  return {
    id: paper.id,
    title: paper.title,
    abstract: paper.abstract,
    authors: paper.authors,
    keywords: paper.keywords,
    ai_summary: paper.aiSummary,
    published_at: paper.publishedAt.toISOString(),
    listed_at: paper.listedAt.toISOString(),
    upvotes: paper.upvotes,
    github_url: paper.githubUrl,
    project_url: paper.projectUrl,
    source: paper.source,
    withdrawn_at: paper.withdrawnAt?.toISOString() ?? null,
  };
}
