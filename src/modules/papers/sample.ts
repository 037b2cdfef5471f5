// The sample papers shipped in data/sample, so a fresh install has something to show and send.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Database } from '../../db/client.ts';
import { ingestParsedFeed, type IngestReport } from './ingest.ts';
import { parseFeed } from './parse-feed.ts';

export const SAMPLE_FEED = fileURLToPath(new URL('../../../data/sample/daily_papers.json', import.meta.url));

/**
 * Loads the sample papers as if they were trending today, so the first digest has papers to send.
 * Running it again changes nothing: a paper keeps the date it was first listed.
 */
export async function loadSamplePapers(db: Database, now: Date = new Date()): Promise<IngestReport> {
  const feed = parseFeed(await readFile(SAMPLE_FEED, 'utf8'), now);
  const papers = feed.papers.map((paper) => ({ ...paper, listedAt: now }));
  return ingestParsedFeed(db, { ...feed, papers }, { now });
}
