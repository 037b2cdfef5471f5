// Getting papers in: from a feed body, a file or a URL, through parsing, storing and topic matching.
import { readFile } from 'node:fs/promises';
import type { Database } from '../../db/client.ts';
import { InvalidInputError } from '../../errors.ts';
import { papersIngested } from '../../metrics.ts';
import { parseFeed } from './parse-feed.ts';
import { storePapers } from './store.ts';
import type { ParsedFeed, SkippedItem } from './types.ts';

export interface IngestReport {
  format: ParsedFeed['format'];
  /** Items in the feed, valid or not. */
  total: number;
  added: number;
  updated: number;
  unchanged: number;
  skipped: SkippedItem[];
}

export interface IngestOptions {
  now?: Date;
  onProgress?: (done: number, total: number) => void;
}

/** Imports an already parsed feed: stores its papers, matching the new and changed ones to topics. */
export async function ingestParsedFeed(
  db: Database,
  feed: ParsedFeed,
  options: IngestOptions = {},
): Promise<IngestReport> {
  const stored = await storePapers(db, feed.papers, options.onProgress);
  papersIngested.inc({ outcome: 'added' }, stored.added.length);
  papersIngested.inc({ outcome: 'updated' }, stored.updated.length);
  papersIngested.inc({ outcome: 'unchanged' }, stored.unchanged);
  papersIngested.inc({ outcome: 'skipped' }, feed.skipped.length);
  return {
    format: feed.format,
    total: feed.papers.length + feed.skipped.length,
    added: stored.added.length,
    updated: stored.updated.length,
    unchanged: stored.unchanged,
    skipped: feed.skipped,
  };
}

/** Imports a feed body (HF daily papers JSON, text or parsed, or arXiv Atom XML). */
export function ingestFeed(db: Database, body: unknown, options: IngestOptions = {}) {
  return ingestParsedFeed(db, parseFeed(body, options.now), options);
}

export const FEED_TIMEOUT_MS = 30_000;
/** The largest feed Paperboy reads, from a URL or an admin request (the daily list is ~1 MB). */
export const MAX_FEED_BYTES = 50 * 1024 * 1024;

/** A feed server that failed in a way worth retrying later (network, timeout, 5xx, 429). */
export class FeedUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FeedUnavailableError';
  }
}

/** Downloads a feed. Retryable failures throw FeedUnavailableError; a feed that is wrong, InvalidInputError. */
export async function fetchFeed(
  url: string,
  timeoutMs: number = FEED_TIMEOUT_MS,
  maxBytes: number = MAX_FEED_BYTES,
): Promise<string> {
  const unavailable = (error: unknown) => {
    const reason =
      error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : String(error);
    return new FeedUnavailableError(`Could not fetch ${url}: ${reason}`, { cause: error });
  };
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: 'application/json, application/atom+xml;q=0.9, */*;q=0.1', 'user-agent': 'Paperboy' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw unavailable(error);
  }
  if (response.status >= 500 || response.status === 429 || response.status === 408) {
    await response.body?.cancel();
    throw new FeedUnavailableError(`Could not fetch ${url}: the server answered ${response.status}`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new InvalidInputError(`Could not fetch ${url}: the server answered ${response.status}`);
  }
  // Count the bytes as they arrive: Content-Length may be absent (chunked) or describe the compressed size.
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      // Leaving the loop by throwing cancels the download.
      if (size > maxBytes) throw new InvalidInputError(`The feed at ${url} is larger than ${maxBytes} bytes.`);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    throw unavailable(error);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a feed from a local file or an http(s) URL. */
export async function readFeedSource(source: string): Promise<string> {
  if (/^https?:\/\//i.test(source)) return fetchFeed(source);
  try {
    return await readFile(source, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`Cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
