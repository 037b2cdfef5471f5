// Feed parsing: both formats, normalisation, and what happens to odd, missing and broken fields.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.ts';
import { arxivId, strictDate, TEXT_LIMITS } from '../../src/modules/papers/normalize.ts';
import { parseFeed } from '../../src/modules/papers/parse-feed.ts';

const fixture = (name: string) => readFileSync(path.resolve(import.meta.dirname, '../fixtures', name), 'utf8');
const sample = readFileSync(path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json'), 'utf8');
const NOW = new Date('2026-11-28T07:00:00Z');

const hfItem = (paper: Record<string, unknown>, listing: Record<string, unknown> = {}) => ({
  paper: { id: '2601.00001', title: 'A Title', summary: 'An abstract.', authors: [{ name: 'A. Author' }], ...paper },
  publishedAt: '2026-11-27T00:00:00.000Z',
  ...listing,
});

describe('normalisation', () => {
  it('takes the version off arXiv ids, in every form they come in', () => {
    expect(arxivId('2201.05718v3')).toBe('2201.05718');
    expect(arxivId(' 2201.05718 ')).toBe('2201.05718');
    expect(arxivId('http://arxiv.org/abs/2201.05718v1')).toBe('2201.05718');
    expect(arxivId('https://arxiv.org/pdf/2201.05718v2.pdf')).toBe('2201.05718');
    expect(arxivId('arXiv:2501.12345')).toBe('2501.12345');
    expect(arxivId('hep-th/9901001v1')).toBe('hep-th/9901001');
    expect(arxivId('math.GT/0309136')).toBe('math.GT/0309136');
    expect(arxivId('not-an-id')).toBeUndefined();
    expect(arxivId('12345')).toBeUndefined();
  });

  it('parses only real ISO 8601 dates', () => {
    expect(strictDate('2026-11-28')).toEqual(new Date('2026-11-28T00:00:00Z'));
    expect(strictDate('2026-11-28T07:30:00.000Z')).toEqual(new Date('2026-11-28T07:30:00Z'));
    expect(strictDate('2026-11-28T07:30:00+05:45')).toEqual(new Date('2026-11-28T01:45:00Z'));
    for (const bad of ['2026', 'November 28, 2026', '2026-02-30', '2026-13-01', '28/11/2026', '', 'yesterday']) {
      expect(strictDate(bad), bad).toBeUndefined();
    }
  });
});

describe('Hugging Face daily papers', () => {
  it('reads all 29 sample papers with their fields', () => {
    const feed = parseFeed(sample, NOW);
    expect(feed.format).toBe('hf_daily');
    expect(feed.papers).toHaveLength(29);
    expect(feed.skipped).toEqual([]);
    const lame = feed.papers.find((p) => p.id === '2201.05718')!;
    expect(lame).toMatchObject({
      title: 'Parameter-free Online Test-time Adaptation',
      authors: ['Malik Boudiaf', 'Romain Mueller', 'Ismail Ben Ayed', 'Luca Bertinetto'],
      publishedAt: new Date('2022-01-15T00:00:00Z'),
      githubUrl: 'https://github.com/fiveai/LAME',
      upvotes: 0,
      source: 'hf_daily',
      withdrawnAt: null,
    });
    expect(feed.papers.find((p) => p.id === '2407.09435')!.upvotes).toBe(23);
  });

  it('collapses whitespace and keeps the listing date apart from the arXiv date', () => {
    const feed = parseFeed(
      [
        hfItem(
          {
            title: '  Attention\n   Is  All\tYou Need ',
            publishedAt: '2017-06-12T00:00:00.000Z',
            ai_keywords: [' attention ', 'transformer'],
          },
          { publishedAt: '2026-11-27T00:00:00.000Z' },
        ),
      ],
      NOW,
    );
    expect(feed.papers[0]).toMatchObject({
      title: 'Attention Is All You Need',
      keywords: ['attention', 'transformer'],
      publishedAt: new Date('2017-06-12T00:00:00Z'),
      listedAt: new Date('2026-11-27T00:00:00Z'),
    });
  });

  it('imports items with odd or missing optional fields as far as they are valid', () => {
    const feed = parseFeed(
      [
        hfItem({ summary: null, upvotes: 'many', githubRepo: 'javascript:alert(1)', authors: 'nobody' }),
        hfItem(
          { id: '2601.00002', publishedAt: undefined, projectPage: 'https://example.org/project' },
          { publishedAt: undefined },
        ),
      ],
      NOW,
    );
    expect(feed.skipped).toEqual([]);
    expect(feed.papers[0]).toMatchObject({ abstract: '', upvotes: 0, githubUrl: null, authors: [] });
    expect(feed.papers[1]).toMatchObject({
      listedAt: NOW,
      publishedAt: NOW,
      projectUrl: 'https://example.org/project',
    });
  });

  it('skips invalid items, saying which and why, and keeps the rest', () => {
    const feed = parseFeed(
      [
        hfItem({}),
        { title: 'no paper object' },
        hfItem({ id: 'not-arxiv' }),
        hfItem({ id: '2601.00003', title: '', summary: 'x' }, { title: '   ' }),
        hfItem({ id: '2601.00004', publishedAt: 'last Tuesday' }),
        hfItem({ id: '2601.00005' }, { publishedAt: '2026-02-30' }),
        42,
      ],
      NOW,
    );
    expect(feed.papers.map((p) => p.id)).toEqual(['2601.00001']);
    expect(feed.skipped).toEqual([
      { index: 2, reason: expect.stringMatching(/^paper: /) as unknown },
      { index: 3, id: 'not-arxiv', reason: 'paper.id "not-arxiv" is not an arXiv id' },
      { index: 4, id: '2601.00003', reason: 'the paper has no title' },
      { index: 5, id: '2601.00004', reason: 'paper.publishedAt "last Tuesday" is not an ISO 8601 date' },
      { index: 6, id: '2601.00005', reason: 'publishedAt "2026-02-30" is not an ISO 8601 date' },
      { index: 7, reason: expect.any(String) as unknown },
    ]);
  });

  it('cleans hostile text: NUL and control characters, broken Unicode, huge fields, absurd numbers', () => {
    const feed = parseFeed(
      [
        hfItem({
          title: 'Null\u0000byte \u0007bell \ud800 lone surrogate',
          authors: [{ name: 'A\u0000B' }, { name: '\u0001' }],
          summary: 'x '.repeat(100_000),
          upvotes: 3e9,
          ai_keywords: Array.from({ length: 500 }, (_, i) => `keyword ${i}`),
        }),
      ],
      NOW,
    );
    const [paper] = feed.papers;
    expect(paper!.title).toBe('Null byte bell \ufffd lone surrogate');
    expect(paper!.authors).toEqual(['A B']);
    expect(paper!.abstract.length).toBeLessThanOrEqual(TEXT_LIMITS.abstract);
    expect(paper!.upvotes).toBe(0);
    expect(paper!.keywords).toHaveLength(TEXT_LIMITS.keywords);
  });

  it('keeps a paper listed twice in one feed once, with its first listing, and reports the repeat', () => {
    const feed = parseFeed(
      [
        hfItem({ id: '2601.00001v2' }, { publishedAt: '2026-11-20T00:00:00Z' }),
        hfItem({ id: '2601.00001' }, { publishedAt: '2026-11-01T00:00:00Z' }),
      ],
      NOW,
    );
    expect(feed.papers).toHaveLength(1);
    expect(feed.papers[0]!.listedAt).toEqual(new Date('2026-11-01T00:00:00Z'));
    expect(feed.skipped).toEqual([{ index: 2, id: '2601.00001', reason: 'the same paper as item 1' }]);
  });

  it('marks withdrawn papers, even when the withdrawal date is unreadable', () => {
    const feed = parseFeed(
      [hfItem({ withdrawnAt: '2026-11-20T00:00:00Z' }), hfItem({ id: '2601.00002', withdrawnAt: true })],
      NOW,
    );
    expect(feed.papers.map((p) => p.withdrawnAt)).toEqual([new Date('2026-11-20T00:00:00Z'), NOW]);
  });

  it('refuses what is not a daily papers feed at all', () => {
    expect(() => parseFeed('{"papers": [', NOW)).toThrow(InvalidInputError);
    expect(() => parseFeed('{"papers": []}', NOW)).toThrow(/expected an array/);
    expect(() => parseFeed('[1, 2, {"title": "x"}]', NOW)).toThrow(/no item has a "paper" object/);
    expect(() => parseFeed('hello', NOW)).toThrow(/neither JSON nor an Atom feed/);
    expect(parseFeed('[]', NOW).papers).toEqual([]);
  });
});

describe('arXiv Atom', () => {
  it('imports the documented format: versions dropped, whitespace collapsed, authors and links read', () => {
    const feed = parseFeed(fixture('arxiv-query.atom'), NOW);
    expect(feed.format).toBe('arxiv_atom');
    expect(feed.papers.map((p) => p.id)).toEqual(['2611.01234', 'hep-th/9901001', '2611.05678']);
    expect(feed.papers[0]).toMatchObject({
      title: 'Continual Test-Time Adaptation with Low-Rank Adapters',
      authors: ['Ada Lovelace', 'Alan Turing'],
      publishedAt: new Date('2026-11-03T17:59:59Z'),
      listedAt: new Date('2026-11-03T17:59:59Z'),
      githubUrl: 'https://github.com/example/ctta-lora',
      source: 'arxiv',
      upvotes: 0,
    });
    expect(feed.papers[0]!.abstract).toMatch(
      /^We study continual test-time adaptation of vision transformers under distribution/,
    );
    expect(feed.papers[1]).toMatchObject({
      title: 'An Old-Style Identifier & "Quoted" <Title>',
      githubUrl: 'https://github.com/example/old-style',
    });
    expect(feed.skipped).toEqual([
      { index: 3, id: '2611.09999', reason: '<published> "yesterday" is not an ISO 8601 date' },
    ]);
  });

  it('decodes character references and finds the feed after a long prologue', () => {
    const body = fixture('arxiv-query.atom')
      .replace('<feed', `<!-- ${'x'.repeat(5_000)} -->\n<feed`)
      .replace('Merging Large Language Models', 'Merging Caf&#233; Models &#x1F600;');
    const feed = parseFeed(body, NOW);
    expect(feed.papers.find((p) => p.id === '2611.05678')!.title).toBe('Merging Café Models 😀 with Task Arithmetic');
  });

  it('refuses XML with external entities as a bad feed, not a crash', () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><feed><entry><title>&xxe;</title></entry></feed>`;
    expect(() => parseFeed(xxe, NOW)).toThrow(InvalidInputError);
  });

  it('reports an arXiv API error feed and malformed XML clearly', () => {
    expect(() => parseFeed(fixture('arxiv-error.atom'), NOW)).toThrow(
      'The arXiv API answered with an error: incorrect id format for 1234.12345',
    );
    expect(() => parseFeed('<feed><entry></feed>', NOW)).toThrow(/not well-formed XML \(line 1/);
    expect(() => parseFeed('<rss><channel/></rss>', NOW)).toThrow(/not an Atom feed/);
  });
});
