// Turns a feed body into normalised papers, whatever its format; invalid items are skipped and reported.
import { InvalidInputError } from '../../errors.ts';
import { parseArxivAtom } from './formats/arxiv-atom.ts';
import { looksLikeHfDaily, parseHfDaily } from './formats/hf-daily.ts';
import type { ParsedFeed } from './types.ts';

/**
 * Parses a Hugging Face daily papers feed (JSON text or already-parsed JSON) or an arXiv Atom feed (text).
 * Throws InvalidInputError when the body is not a feed at all.
 */
export function parseFeed(body: unknown, now: Date = new Date()): ParsedFeed {
  if (typeof body !== 'string') return parseJsonFeed(body, now);
  const trimmed = body.trimStart();
  if (trimmed.startsWith('<')) {
    return { format: 'arxiv_atom', ...parseArxivAtom(trimmed) };
  }
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch (error) {
    throw new InvalidInputError(
      `The feed is neither JSON nor an Atom feed (${error instanceof Error ? error.message : String(error)}).`,
    );
  }
  return parseJsonFeed(json, now);
}

function parseJsonFeed(items: unknown, now: Date): ParsedFeed {
  if (!Array.isArray(items)) {
    throw new InvalidInputError('The JSON is not a daily papers feed: expected an array of items with a "paper".');
  }
  if (items.length > 0 && !looksLikeHfDaily(items)) {
    throw new InvalidInputError('The JSON is not a daily papers feed: no item has a "paper" object.');
  }
  return { format: 'hf_daily', ...parseHfDaily(items, now) };
}
