// The arXiv API's Atom feed (export.arxiv.org/api/query): one <entry> per paper version.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { InvalidInputError } from '../../../errors.ts';
import { arxivId, cleanList, httpUrl, strictDate, TEXT_LIMITS } from '../normalize.ts';
import { cleanText } from '../../../text.ts';
import { feedCollector } from './collect.ts';

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
  comment?: unknown;
  author?: { name?: unknown }[];
  link?: { '@href'?: string; '@rel'?: string }[];
}

/** Character references the parser leaves as they are (&#233; &#xE9;); invalid ones are dropped. */
function decodeCharacterReferences(text: string): string {
  return text.replace(/&#(x[0-9a-f]+|\d+);/gi, (_, ref: string) => {
    const code = ref[0] === 'x' || ref[0] === 'X' ? parseInt(ref.slice(1), 16) : parseInt(ref, 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
  });
}

/** Text of an element that may carry attributes (then its text is under #text), cleaned. */
function text(value: unknown, maxLength?: number): string {
  const raw =
    typeof value === 'string'
      ? value
      : typeof value === 'object' && value !== null && '#text' in value
        ? String(value['#text'])
        : '';
  return cleanText(decodeCharacterReferences(raw), maxLength);
}

const GITHUB_URL = /https?:\/\/github\.com\/[\w.-]+\/[\w.-]+[\w-]/;

export function parseArxivAtom(body: string) {
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    throw new InvalidInputError(`The feed is not well-formed XML (line ${valid.err.line}: ${valid.err.msg}).`);
  }
  let document: { feed?: { entry?: AtomEntry[] } };
  try {
    document = parser.parse(body) as typeof document;
  } catch (error) {
    // The parser refuses some constructs outright (external entities, reserved tag names).
    throw new InvalidInputError(`The feed cannot be read as XML: ${(error as Error).message}`);
  }
  if (!document.feed) throw new InvalidInputError('The XML is not an Atom feed: it has no <feed> element.');
  const entries = document.feed.entry ?? [];

  // The arXiv API reports a bad query as a feed with one "Error" entry.
  const apiError = entries.find((entry) => text(entry.id).includes('arxiv.org/api/errors'));
  if (apiError) throw new InvalidInputError(`The arXiv API answered with an error: ${text(apiError.summary, 500)}`);

  const feed = feedCollector();
  entries.forEach((entry, i) => {
    const index = i + 1;
    const rawId = text(entry.id, 200);
    const id = arxivId(rawId);
    if (!id)
      return feed.skip(index, rawId ? `id "${rawId.slice(0, 60)}" is not an arXiv abs URL` : 'the entry has no <id>');
    const title = text(entry.title, TEXT_LIMITS.title);
    if (!title) return feed.skip(index, 'the entry has no title', id);
    const published = strictDate(text(entry.published, 40));
    if (!published) return feed.skip(index, `<published> "${text(entry.published, 40)}" is not an ISO 8601 date`, id);

    const abstract = text(entry.summary, TEXT_LIMITS.abstract);
    const comment = text(entry.comment, 2_000);
    const abs = entry.link?.find((link) => link['@rel'] === 'alternate')?.['@href'];
    feed.add(index, {
      id,
      title,
      abstract,
      authors: cleanList(
        (entry.author ?? []).map((author) => text(author.name)),
        TEXT_LIMITS.author,
        TEXT_LIMITS.authors,
      ),
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
  return feed.result();
}
