// The arXiv API's Atom feed (export.arxiv.org/api/query): one <entry> per paper version.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { InvalidInputError } from '../../../errors.ts';
import { arxivId, collapseWhitespace, httpUrl, strictDate } from '../normalize.ts';
import type { PaperInput, SkippedItem } from '../types.ts';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  textNodeName: '#text',
  isArray: (name) => ['entry', 'author', 'link', 'category'].includes(name),
});

interface AtomEntry {
  id?: unknown;
  title?: unknown;
  summary?: unknown;
  published?: unknown;
  updated?: unknown;
  comment?: unknown;
  author?: { name?: unknown }[];
  link?: { '@href'?: string; '@rel'?: string; '@title'?: string }[];
}

/** Text of an element that may carry attributes (then its text is under #text). */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && '#text' in value) return String(value['#text']);
  return '';
}

const GITHUB_URL = /https?:\/\/github\.com\/[\w.-]+\/[\w.-]+[\w-]/;

export function looksLikeAtom(body: string): boolean {
  return /<feed[\s>]/.test(body.slice(0, 2_000));
}

export function parseArxivAtom(body: string): { papers: PaperInput[]; skipped: SkippedItem[] } {
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    throw new InvalidInputError(`The feed is not well-formed XML (line ${valid.err.line}: ${valid.err.msg}).`);
  }
  const document = parser.parse(body) as { feed?: { entry?: AtomEntry[] } };
  if (!document.feed) throw new InvalidInputError('The XML is not an Atom feed: it has no <feed> element.');
  const entries = document.feed.entry ?? [];

  // The arXiv API reports a bad query as a feed with one "Error" entry.
  const apiError = entries.find((entry) => text(entry.id).includes('arxiv.org/api/errors'));
  if (apiError)
    throw new InvalidInputError(`The arXiv API answered with an error: ${collapseWhitespace(text(apiError.summary))}`);

  const papers: PaperInput[] = [];
  const skipped: SkippedItem[] = [];
  entries.forEach((entry, i) => {
    const skip = (reason: string, id?: string) => skipped.push({ index: i + 1, ...(id ? { id } : {}), reason });
    const rawId = collapseWhitespace(text(entry.id));
    const id = arxivId(rawId);
    if (!id) return skip(rawId ? `id "${rawId.slice(0, 60)}" is not an arXiv abs URL` : 'the entry has no <id>');
    const title = collapseWhitespace(text(entry.title));
    if (!title) return skip('the entry has no title', id);
    const published = strictDate(text(entry.published));
    if (!published) return skip(`<published> "${text(entry.published).slice(0, 40)}" is not an ISO 8601 date`, id);

    const abstract = collapseWhitespace(text(entry.summary));
    const comment = collapseWhitespace(text(entry.comment));
    const abs = entry.link?.find((link) => link['@rel'] === 'alternate')?.['@href'];
    papers.push({
      id,
      title,
      abstract,
      authors: (entry.author ?? []).map((author) => collapseWhitespace(text(author.name))).filter(Boolean),
      keywords: [],
      aiSummary: null,
      publishedAt: published,
      // An arXiv feed has no trending date: a paper counts as listed when it appeared on arXiv.
      listedAt: published,
      upvotes: 0,
      // arXiv has no code field; authors put the repository in the comment or the abstract.
      githubUrl: httpUrl(GITHUB_URL.exec(`${comment} ${abstract}`)?.[0]),
      projectUrl: abs && !arxivId(abs) ? httpUrl(abs) : null,
      source: 'arxiv',
      withdrawnAt: null,
    });
  });
  return { papers, skipped };
}
