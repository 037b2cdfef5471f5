// RSS 2.0 and Atom renderings of a ranked paper list, for readers who prefer a feed reader to email.
import { paperUrl, type RankedPaper } from './ranking.ts';

export interface FeedInfo {
  title: string;
  description: string;
  /** The page the feed is about, and the feed's own URL. */
  siteUrl: string;
  selfUrl: string;
  updated: Date;
}

// XML 1.0 forbids most control characters even when escaped; a feed containing one is unreadable.
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

export function escapeXml(text: string): string {
  return text
    .replace(INVALID_XML_CHARS, '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

const SUMMARY_LENGTH = 600;
function summaryOf(paper: RankedPaper): string {
  const text = paper.aiSummary ?? paper.abstract;
  return text.length > SUMMARY_LENGTH ? `${text.slice(0, SUMMARY_LENGTH).replace(/\s+\S*$/, '')}…` : text;
}

const element = (name: string, text: string) => `<${name}>${escapeXml(text)}</${name}>`;
// An RSS description is HTML (entity-encoded, RSS 2.0), and readers render it: plain text is escaped as HTML
// first, so `<script>` in an abstract reaches the reader as text, not markup.
const htmlDescription = (text: string) => element('description', escapeXml(text));

export function renderRss(info: FeedInfo, papers: RankedPaper[]): string {
  const items = papers.map((paper) =>
    [
      '<item>',
      element('title', paper.title),
      element('link', paperUrl(paper)),
      `<guid isPermaLink="false">${escapeXml(`arxiv:${paper.id}`)}</guid>`,
      element('pubDate', paper.listedAt.toUTCString()),
      htmlDescription(summaryOf(paper)),
      ...paper.authors.map((author) => element('dc:creator', author)),
      ...paper.topics.map((topic) => element('category', topic)),
      '</item>',
    ].join(''),
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">',
    '<channel>',
    element('title', info.title),
    element('link', info.siteUrl),
    htmlDescription(info.description),
    `<atom:link href="${escapeXml(info.selfUrl)}" rel="self" type="application/rss+xml"/>`,
    element('lastBuildDate', info.updated.toUTCString()),
    ...items,
    '</channel>',
    '</rss>',
    '',
  ].join('\n');
}

export function renderAtom(info: FeedInfo, papers: RankedPaper[]): string {
  const entries = papers.map((paper) =>
    [
      '<entry>',
      element('id', `https://arxiv.org/abs/${paper.id}`),
      element('title', paper.title),
      `<link rel="alternate" type="text/html" href="${escapeXml(paperUrl(paper))}"/>`,
      element('updated', paper.listedAt.toISOString()),
      element('published', paper.publishedAt.toISOString()),
      // Atom requires an author; a paper without listed authors gets a neutral one.
      ...(paper.authors.length ? paper.authors : ['Unknown authors']).map(
        (author) => `<author>${element('name', author)}</author>`,
      ),
      `<summary type="text">${escapeXml(summaryOf(paper))}</summary>`,
      ...paper.topics.map((topic) => `<category term="${escapeXml(topic)}"/>`),
      '</entry>',
    ].join(''),
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    element('id', info.selfUrl),
    element('title', info.title),
    element('subtitle', info.description),
    element('updated', info.updated.toISOString()),
    `<link rel="self" type="application/atom+xml" href="${escapeXml(info.selfUrl)}"/>`,
    `<link rel="alternate" type="text/html" href="${escapeXml(info.siteUrl)}"/>`,
    ...entries,
    '</feed>',
    '',
  ].join('\n');
}
