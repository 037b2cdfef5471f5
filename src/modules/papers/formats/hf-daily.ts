// The Hugging Face daily papers format (`/api/daily_papers`): a JSON array of listings, each with a paper.
import { z } from 'zod';
import { arxivId, collapseWhitespace, describeIssues, httpUrl, strictDate } from '../normalize.ts';
import type { PaperInput, SkippedItem } from '../types.ts';

// Fields the product can do without are parsed leniently (`catch`): a wrong type drops the field, not the paper.
const optionalText = z.string().nullish().catch(undefined);
const hfPaper = z.object({
  id: z.string({ error: 'paper.id is missing' }),
  title: optionalText,
  summary: optionalText,
  authors: z
    .array(z.object({ name: z.string().nullish() }).catch({ name: undefined }))
    .nullish()
    .catch(undefined),
  publishedAt: z.string().nullish(),
  upvotes: z.number().int().nonnegative().nullish().catch(undefined),
  githubRepo: optionalText,
  projectPage: optionalText,
  ai_summary: optionalText,
  ai_keywords: z.array(z.string()).nullish().catch(undefined),
  withdrawnAt: z.unknown().optional(),
});
const hfItem = z.object({
  paper: hfPaper,
  title: optionalText,
  summary: optionalText,
  publishedAt: z.string().nullish(),
  ai_summary: optionalText,
  ai_keywords: z.array(z.string()).nullish().catch(undefined),
});

export function looksLikeHfDaily(items: unknown[]): boolean {
  return items.some((item) => typeof item === 'object' && item !== null && 'paper' in item);
}

type ItemResult = { paper: PaperInput } | { skip: Omit<SkippedItem, 'index'> };

function toPaper(raw: unknown, now: Date): ItemResult {
  const parsed = hfItem.safeParse(raw);
  if (!parsed.success) return { skip: { reason: describeIssues(parsed.error) } };
  const { paper, ...listing } = parsed.data;

  const id = arxivId(paper.id);
  if (!id) return { skip: { id: paper.id, reason: `paper.id "${paper.id.slice(0, 40)}" is not an arXiv id` } };
  const title = collapseWhitespace(paper.title ?? listing.title ?? '');
  if (!title) return { skip: { id, reason: 'the paper has no title' } };

  // Top-level publishedAt is the day it was listed as trending; paper.publishedAt is the arXiv date.
  const listedAt = listing.publishedAt ? strictDate(listing.publishedAt) : now;
  if (!listedAt) return { skip: { id, reason: `publishedAt "${listing.publishedAt}" is not an ISO 8601 date` } };
  const publishedAt = paper.publishedAt ? strictDate(paper.publishedAt) : listedAt;
  if (!publishedAt) return { skip: { id, reason: `paper.publishedAt "${paper.publishedAt}" is not an ISO 8601 date` } };

  const withdrawn = paper.withdrawnAt;
  // Any sign of withdrawal counts: an unreadable date must not keep a withdrawn paper in digests.
  const withdrawnAt = withdrawn ? (typeof withdrawn === 'string' && strictDate(withdrawn)) || now : null;

  return {
    paper: {
      id,
      title,
      abstract: collapseWhitespace(paper.summary ?? listing.summary ?? ''),
      authors: (paper.authors ?? []).map((a) => collapseWhitespace(a.name ?? '')).filter(Boolean),
      keywords: (paper.ai_keywords ?? listing.ai_keywords ?? []).map(collapseWhitespace).filter(Boolean),
      aiSummary: collapseWhitespace(paper.ai_summary ?? listing.ai_summary ?? '') || null,
      publishedAt,
      listedAt,
      upvotes: paper.upvotes ?? 0,
      githubUrl: httpUrl(paper.githubRepo),
      projectUrl: httpUrl(paper.projectPage),
      source: 'hf_daily',
      withdrawnAt,
    },
  };
}

export function parseHfDaily(items: unknown[], now: Date): { papers: PaperInput[]; skipped: SkippedItem[] } {
  const papers: PaperInput[] = [];
  const skipped: SkippedItem[] = [];
  items.forEach((item, i) => {
    const result = toPaper(item, now);
    if ('paper' in result) papers.push(result.paper);
    else skipped.push({ index: i + 1, ...result.skip });
  });
  return { papers, skipped };
}
