// Benchmark: ingesting N generated papers through the batch pipeline, against one upsert per paper
// (the naive baseline), both measured in the same run on fresh databases.
//
//   npm run bench -- ingest [--papers 10000]
//
// Needs Postgres (DATABASE_URL's server, default 127.0.0.1:5432 as postgres) allowed to create databases.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDatabase, type Database } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { parseFeed } from '../src/modules/papers/parse-feed.ts';
import { storePapers } from '../src/modules/papers/store.ts';
import { matchPaperBatch } from '../src/modules/topics/matching.ts';
import { recordResult } from './results.ts';

const { values } = parseArgs({ options: { papers: { type: 'string', default: '10000' } }, strict: false });
const count = Number(values.papers);
const serverUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

const WORDS =
  'model merging adaptation language vision transformer diffusion robust continual prompt tuning reinforcement'.split(
    ' ',
  );
const pick = (i: number, n: number) =>
  Array.from({ length: n }, (_, k) => WORDS[(i * 7 + k * 13) % WORDS.length]).join(' ');

/** A Hugging Face daily papers feed with `count` distinct, realistic-sized items. */
function generateFeed(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    paper: {
      id: `26${String(Math.floor(i / 100000) + 10).padStart(2, '0')}.${String(i % 100000).padStart(5, '0')}`,
      title: `On ${pick(i, 6)} (${i})`,
      summary: `${pick(i, 40)}. `.repeat(5),
      authors: Array.from({ length: 5 }, (_, k) => ({ name: `Author ${i}-${k}` })),
      publishedAt: '2026-11-20T00:00:00.000Z',
      upvotes: i % 97,
      githubRepo: i % 3 === 0 ? `https://github.com/example/repo-${i}` : null,
    },
    publishedAt: '2026-11-27T00:00:00.000Z',
  }));
}

async function withFreshDatabase<T>(work: (db: Database) => Promise<T>): Promise<T> {
  const name = `paperboy_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const db = createDatabase(url.toString());
  try {
    return await work(db);
  } finally {
    await db.$disconnect();
    await admin.query(`DROP DATABASE "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

async function time(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

const feed = generateFeed(count);

// Batch pipeline: what `paperboy ingest`, the admin API and the ingest worker run. Each batch of 1,000
// papers is stored and matched to topics in one transaction.
const batch = await withFreshDatabase(async (db) => {
  const { papers } = parseFeed(feed);
  return time(() => storePapers(db, papers));
});

// Baseline: one Prisma upsert per paper, then the same topic matching, 1,000 papers at a time.
let baselineMatch = 0;
const naive = await withFreshDatabase(async (db) => {
  const { papers } = parseFeed(feed);
  const store = await time(async () => {
    for (const { id, ...paper } of papers) {
      await db.paper.upsert({ where: { id }, create: { id, ...paper }, update: { upvotes: paper.upvotes } });
    }
  });
  baselineMatch = await time(async () => {
    for (let i = 0; i < papers.length; i += 1_000) {
      await matchPaperBatch(
        db,
        papers.slice(i, i + 1_000).map((p) => p.id),
      );
    }
  });
  return store + baselineMatch;
});

const table = [
  '| method | seconds | papers/s |',
  '| --- | ---: | ---: |',
  `| batch pipeline: one statement per 1,000 papers, matched in the same transaction | ${batch.toFixed(2)} | ${Math.round(count / batch)} |`,
  `| baseline: one upsert per paper, then the same matching | ${naive.toFixed(2)} | ${Math.round(count / naive)} |`,
];
const notes =
  `The batch pipeline is ${(naive / batch).toFixed(1)}x faster. Topic matching (10 topics) took ` +
  `${baselineMatch.toFixed(2)} s of the baseline; storing the rest.`;
console.log(`\nIngest of ${count} papers (${os.cpus().length} cores, Node ${process.version})\n`);
console.log(table.join('\n'));
console.log(`\n${notes}`);

await recordResult({
  benchmark: 'ingest',
  command: `npm run bench -- ingest --papers ${count}`,
  table,
  notes,
});
