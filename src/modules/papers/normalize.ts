// Field-level normalisation shared by every feed format: ids, text, dates, links.
import type { z } from 'zod';
import { cleanText, isStorableDate } from '../../text.ts';

const NEW_STYLE_ID = /^(\d{4}\.\d{4,5})(?:v\d+)?$/;
const OLD_STYLE_ID = /^([a-z-]+(?:\.[A-Z]{2})?\/\d{7})(?:v\d+)?$/;

/** The arXiv id without its version, from a bare id or an arxiv.org abs/pdf URL; undefined if not one. */
export function arxivId(raw: string): string | undefined {
  const trimmed = raw.trim();
  const fromUrl = /^https?:\/\/(?:export\.)?arxiv\.org\/(?:abs|pdf)\/(.+?)(?:\.pdf)?$/.exec(trimmed)?.[1];
  const candidate = (fromUrl ?? trimmed).replace(/^arXiv:/i, '');
  return NEW_STYLE_ID.exec(candidate)?.[1] ?? OLD_STYLE_ID.exec(candidate)?.[1];
}

/** Longest text kept per field: generous for real papers, bounded for hostile feeds. */
export const TEXT_LIMITS = {
  title: 1_000,
  abstract: 20_000,
  aiSummary: 5_000,
  author: 300,
  authors: 500,
  keyword: 100,
  keywords: 50,
} as const;

/** Cleaned, non-empty texts, at most `maxItems` of them. */
export function cleanList(items: (string | null | undefined)[], maxLength: number, maxItems: number): string[] {
  return items
    .map((item) => cleanText(item ?? '', maxLength))
    .filter(Boolean)
    .slice(0, maxItems);
}

// Only full ISO 8601 dates or date-times: `new Date()` alone accepts "2024" or "March 5" and guesses.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;

/** Parses an ISO 8601 date strictly; undefined for anything else, including impossible dates. */
export function strictDate(raw: string): Date | undefined {
  const trimmed = raw.trim();
  if (!ISO_DATE.test(trimmed)) return undefined;
  // Reject roll-overs such as 2024-02-30, which Date would silently turn into March 1.
  const [year, month, day] = trimmed.slice(0, 10).split('-').map(Number) as [number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return undefined;
  const date = new Date(trimmed.length === 10 ? `${trimmed}T00:00:00Z` : trimmed);
  return isStorableDate(date) ? date : undefined;
}

/** Keeps only http(s) URLs: anything else (javascript:, data:, relative) must never become a link. */
export function httpUrl(raw: string | null | undefined): string | null {
  if (!raw) return null;
  const trimmed = raw.trim();
  if (!URL.canParse(trimmed)) return null;
  const url = new URL(trimmed);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : null;
}

/** A zod issue list as one short sentence per problem, naming the field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.join('.');
      return where ? `${where}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
