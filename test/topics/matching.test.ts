// Topic matching quality: precision and recall against hand-labelled papers, per topic.
// Set PAPERBOY_EVAL_PAPERS / PAPERBOY_EVAL_LABELS to score another labelled set the same way.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { openTestDatabase } from '../helpers/postgres.ts';

const PAPERS =
  process.env.PAPERBOY_EVAL_PAPERS ?? path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json');
const LABELS =
  process.env.PAPERBOY_EVAL_LABELS ?? path.resolve(import.meta.dirname, '../fixtures/topic_labels.sample.json');

/** The labels' topic keys and the catalogue slugs they stand for. */
const SLUGS: Record<string, string> = {
  tta: 'test-time-adaptation',
  merging: 'model-merging',
  peft: 'parameter-efficient-fine-tuning',
  continual: 'continual-learning',
  domain: 'domain-adaptation',
  llm: 'large-language-models',
};

interface Label {
  topic: string;
  relevant: string[];
  borderline: string[];
}
const labels = Object.entries(JSON.parse(readFileSync(LABELS, 'utf8')) as Record<string, Label | string>).filter(
  (entry): entry is [string, Label] => typeof entry[1] === 'object',
);

describe('topic matching', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase();
    const report = await ingestFeed(database.db, readFileSync(PAPERS, 'utf8'));
    expect(report.skipped).toEqual([]);
  });
  afterAll(async () => {
    await database.close();
  });

  it.each(labels)('%s: precision and recall are at least 0.9', async (key, label) => {
    const slug = SLUGS[key];
    expect(slug, `no catalogue topic for the label "${key}" (${label.topic})`).toBeDefined();
    const matched = await database.db.paperTopic.findMany({ where: { topic: { slug } }, select: { paperId: true } });
    // Borderline papers count neither way.
    const predicted = new Set(matched.map((m) => m.paperId).filter((id) => !label.borderline.includes(id)));
    const relevant = new Set(label.relevant);
    const hits = [...predicted].filter((id) => relevant.has(id));
    const precision = predicted.size ? hits.length / predicted.size : 1;
    const recall = relevant.size ? hits.length / relevant.size : 1;
    const wrong = {
      falsePositives: [...predicted].filter((id) => !relevant.has(id)),
      missed: [...relevant].filter((id) => !predicted.has(id)),
    };
    expect(precision, JSON.stringify(wrong)).toBeGreaterThanOrEqual(0.9);
    expect(recall, JSON.stringify(wrong)).toBeGreaterThanOrEqual(0.9);
  });

  it('scores a title match above a paper that only mentions the topic in its abstract', async () => {
    const scores = await database.db.paperTopic.findMany({
      where: { topic: { slug: 'test-time-adaptation' } },
      select: { paperId: true, score: true },
    });
    const score = (id: string) => scores.find((s) => s.paperId === id)!.score;
    // "Parameter-free Online Test-time Adaptation" (title) vs Meta-DMoE (abstract only).
    expect(score('2201.05718')).toBeGreaterThan(score('2210.03885'));
  });
});
