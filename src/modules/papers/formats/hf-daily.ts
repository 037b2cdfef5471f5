// The Hugging Face daily papers format (`/api/daily_papers`): a JSON array of listings, each with a paper.
import { z } from 'zod';
import { arxivId, cleanList, describeIssues, httpUrl, strictDate, TEXT_LIMITS } from '../normalize.ts';
import type { PaperInput } from '../types.ts';
import { cleanText } from '../../../text.ts';
import { feedCollector } from './collect.ts';

// Fields the product can do without are parsed leniently (`catch`): a wrong type drops the field, not the paper.
const optionalText = z.string().nullish().catch(undefined);
const keywords = z.array(z.string()).nullish().catch(undefined);
const hfPaper = z.object({
  id: z.string({ error: 'paper.id is missing' }),
  title: optionalText,
  summary: optionalText,
  authors: z
    .array(z.object({ name: z.string().nullish() }).catch({ name: undefined }))
    .nullish()
    .catch(undefined),
  publishedAt: z.string().nullish(),
  upvotes: z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 31 - 1)
    .nullish()
    .catch(undefined),
  githubRepo: optionalText,
  projectPage: optionalText,
  ai_summary: optionalText,
  ai_keywords: keywords,
  withdrawnAt: z.unknown().optional(),
});
const hfItem = z.object({
  paper: hfPaper,
  title: optionalText,
  summary: optionalText,
  publishedAt: z.string().nullish(),
  ai_summary: optionalText,
  ai_keywords: keywords,
});

export function looksLikeHfDaily(items: unknown[]): boolean {
  return items.some((item) => typeof item === 'object' && item !== null && 'paper' in item);
}

type ItemResult = { paper: PaperInput } | { reason: string; id?: string };

function toPaper(raw: unknown, now: Date): ItemResult {
  const parsed = hfItem.safeParse(raw);
  if (!parsed.success) return { reason: describeIssues(parsed.error) };
  const { paper, ...listing } = parsed.data;

  const rawId = cleanText(paper.id, 60);
  const id = arxivId(rawId);
  if (!id) return { id: rawId, reason: `paper.id "${rawId}" is not an arXiv id` };
  const title = cleanText(paper.title ?? listing.title ?? '', TEXT_LIMITS.title);
  if (!title) return { id, reason: 'the paper has no title' };

  // Top-level publishedAt is the day it was listed as trending; paper.publishedAt is the arXiv date.
  const listedAt = listing.publishedAt ? strictDate(listing.publishedAt) : now;
  if (!listedAt)
    return { id, reason: `publishedAt "${cleanText(listing.publishedAt ?? '', 40)}" is not an ISO 8601 date` };
  const publishedAt = paper.publishedAt ? strictDate(paper.publishedAt) : listedAt;
  if (!publishedAt) {
    return { id, reason: `paper.publishedAt "${cleanText(paper.publishedAt ?? '', 40)}" is not an ISO 8601 date` };
  }

  const withdrawn = paper.withdrawnAt;
  // Any sign of withdrawal counts: an unreadable date must not keep a withdrawn paper in digests.
  const withdrawnAt = withdrawn ? (typeof withdrawn === 'string' && strictDate(withdrawn)) || now : null;

  return {
    paper: {
      id,
      title,
      abstract: cleanText(paper.summary ?? listing.summary ?? '', TEXT_LIMITS.abstract),
      authors: cleanList(
        (paper.authors ?? []).map((a) => a.name),
        TEXT_LIMITS.author,
        TEXT_LIMITS.authors,
      ),
      keywords: cleanList(paper.ai_keywords ?? listing.ai_keywords ?? [], TEXT_LIMITS.keyword, TEXT_LIMITS.keywords),
      aiSummary: cleanText(paper.ai_summary ?? listing.ai_summary ?? '', TEXT_LIMITS.aiSummary) || null,
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

export function parseHfDaily(items: unknown[], now: Date) {
  const feed = feedCollector();
  items.forEach((item, i) => {
    const result = toPaper(item, now);
    if ('paper' in result) feed.add(i + 1, result.paper);
    else feed.skip(i + 1, result.reason, result.id);
  });
  return feed.result();
}
