// Benchmark: one scheduling pass (scheduleDueDigests into a real BullMQ queue) over N due readers, with a
// baseline pass over fewer readers in the same run to show it scales linearly and memory stays flat.
//
//   npm run bench -- schedule [--readers 100000] [--baseline 10000]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createDatabase } from '../src/db/client.ts';
import { scheduleDueDigests } from '../src/modules/digests/schedule.ts';
import { loadSamplePapers } from '../src/modules/papers/sample.ts';
import { createQueueConnection } from '../src/queues/connection.ts';
import { createDigestQueue, deliveryJob, enqueueDeliveries } from '../src/queues/deliveries.ts';
import { recordResult } from './results.ts';
import {
  createBenchDatabase,
  deleteKeysWithPrefix,
  fixed,
  mib,
  REDIS_URL,
  seedDueReaders,
  uniqueQueuePrefix,
} from './support.ts';

const { values } = parseArgs({
  options: { readers: { type: 'string', default: '100000' }, baseline: { type: 'string', default: '10000' } },
  strict: false,
});
const sizes = [Number(values.baseline), Number(values.readers)];

async function pass(readers: number) {
  const database = await createBenchDatabase();
  const db = createDatabase(database.url);
  const now = new Date();
  await loadSamplePapers(db, now);
  await seedDueReaders(db, readers, now);
  const prefix = uniqueQueuePrefix();
  const connection = createQueueConnection(REDIS_URL);
  const queue = createDigestQueue({ connection, prefix });
  await queue.waitUntilReady();

  // Memory is sampled every 20 ms while the pass runs: a pass that collected every reader (or every id)
  // before enqueuing would grow with N; one page at a time stays flat.
  const start = process.memoryUsage();
  let peakRss = start.rss;
  let peakHeap = start.heapUsed;
  const sampler = setInterval(() => {
    const { rss, heapUsed } = process.memoryUsage();
    peakRss = Math.max(peakRss, rss);
    peakHeap = Math.max(peakHeap, heapUsed);
  }, 20);
  // Time in addBulk, to tell Redis apart from the SQL page queries.
  const enqueue = enqueueDeliveries(queue);
  let enqueueSeconds = 0;
  const started = performance.now();
  const { created } = await scheduleDueDigests(
    db,
    async (ids) => {
      const pageStarted = performance.now();
      await enqueue(ids);
      enqueueSeconds += (performance.now() - pageStarted) / 1000;
    },
    { now, cutoffHours: 12 },
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);

  // Every delivery must be in a waiting job: jobs carry pages of DIGEST_PAGE_SIZE (100).
  const queued = (await queue.getWaiting()).reduce(
    (sum, job) => sum + deliveryJob.parse(job.data).deliveryIds.length,
    0,
  );
  const jobs = await queue.getWaitingCount();
  await queue.obliterate({ force: true });
  await queue.close();
  await connection.quit();
  await deleteKeysWithPrefix(prefix);
  await db.$disconnect();
  await database.drop();
  if (created !== readers || queued !== readers) {
    throw new Error(`expected ${readers} deliveries created and queued, got ${created} and ${queued}`);
  }
  return { readers, jobs, seconds, enqueueSeconds, start, peakRss, peakHeap };
}

const results = [];
for (const size of sizes) results.push(await pass(size));
const [baseline, large] = results as [(typeof results)[0], (typeof results)[0]];

const table = [
  '| due readers | jobs queued | pass (s) | of which SQL (s) | of which addBulk (s) | readers/s | RSS start → peak (MiB) | heap used start → peak (MiB) |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map(
    (r) =>
      `| ${r.readers} | ${r.jobs} | ${fixed(r.seconds, 2)} | ${fixed(r.seconds - r.enqueueSeconds, 2)} | ${fixed(r.enqueueSeconds, 2)} | ${fixed(r.readers / r.seconds)} | ${fixed(mib(r.start.rss))} → ${fixed(mib(r.peakRss))} | ${fixed(mib(r.start.heapUsed))} → ${fixed(mib(r.peakHeap))} |`,
  ),
];
const notes =
  `${fixed(large.readers / baseline.readers)}x the readers took ${fixed(large.seconds / baseline.seconds, 1)}x the time ` +
  `(linear would be ${fixed(large.readers / baseline.readers)}x). Target < 5 s for 100,000: ` +
  `${large.seconds < 5 ? 'met' : 'not met'}. Each pass: a fresh database, readers in 6 time zones with send hours ` +
  `0-5 hours back, pages of 1,000 readers (one statement finds who is due and creates their deliveries) ` +
  `handed to BullMQ addBulk in jobs of 100 deliveries; every delivery is checked to be created and waiting in a job.`;
console.log(`\nScheduling pass (${os.cpus().length} cores, Node ${process.version})\n`);
console.log(table.join('\n'));
console.log(`\n${notes}`);

await recordResult({
  benchmark: 'schedule',
  command: `npm run bench -- schedule --readers ${large.readers} --baseline ${baseline.readers}`,
  table,
  notes,
});
