// Benchmark: digest throughput end to end. N readers all due now, one scheduling pass, the digest worker in
// 1 then 2 real processes sending to an SMTP sink in its own process; and, in the same run, the same path
// without a database (jobs carrying prebuilt template data, filled and sent by the same code, nodb-worker.ts)
// and the sink's own ceiling (prebuilt messages of the same size sent straight with nodemailer).
//
//   npm run bench -- digest [--readers 10000] [--concurrency 16] [--processes 1,2] [--profile] [--redis cluster]
//
// --profile writes a .cpuprofile per worker process to bench/profiles/ (open it in Chrome DevTools).
import os from 'node:os';
import { parseArgs } from 'node:util';
import nodemailer from 'nodemailer';
import { Queue } from 'bullmq';
import { createDatabase } from '../src/db/client.ts';
import { digestTemplateData } from '../src/modules/digests/compose.ts';
import { choosePapersFor } from '../src/modules/digests/papers.ts';
import { scheduleDueDigests } from '../src/modules/digests/schedule.ts';
import { loadSamplePapers } from '../src/modules/papers/sample.ts';
import { createQueueConnection } from '../src/queues/connection.ts';
import { createDigestQueue, enqueueDeliveries } from '../src/queues/deliveries.ts';
import { ask, forkReady, stop } from './ipc.ts';
import { NODB_QUEUE, type PrebuiltDigest } from './nodb.ts';
import { recordResult } from './results.ts';
import {
  BENCH_TOKEN_KEYS,
  benchConfig,
  cpuByGroup,
  cpuSnapshot,
  createBenchDatabase,
  deleteKeysWithPrefix,
  fixed,
  percentile,
  processMemory,
  REDIS_URL,
  seedDueReaders,
  uniqueQueuePrefix,
  useRedisCluster,
} from './support.ts';

const { values } = parseArgs({
  options: {
    readers: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '16' },
    processes: { type: 'string', default: '1,2' },
    profile: { type: 'boolean', default: false },
    redis: { type: 'string', default: 'single' },
  },
  strict: false,
});
if (values.redis === 'cluster') useRedisCluster();
const readers = Number(values.readers);
const concurrency = Number(values.concurrency);
const processCounts = String(values.processes).split(',').map(Number);
const PUBLIC_URL = 'https://papers.example.org';

type SinkReport = { accepted: [string, number][]; bytes: number; sample: string; peakMiB: number };

// The SMTP sink runs for the whole benchmark; every run resets it.
const { child: sink, ready } = await forkReady('./smtp-sink.ts');
const SMTP_URL = `smtp://127.0.0.1:${ready.port as number}`;

// One seeded database (sample papers listed today, N due readers) copied for each run.
const now = new Date();
const template = await createBenchDatabase();
{
  const db = createDatabase(template.url);
  await loadSamplePapers(db, now);
  await seedDueReaders(db, readers, now);
  await db.$disconnect();
}

interface Run {
  label: string;
  sent: number;
  skipped: number;
  passSeconds: number;
  seconds: number;
  p50: number;
  p99: number;
  peakMiB: number[];
  avgBytes: number;
  sample: string;
  queriesPerDigest: number;
  /** CPU ms per sent digest, by process group, over the pass and the sending. */
  cpuPerDigest: Map<string, number>;
}

/**
 * Where a process's CPU time is counted: this benchmark's processes by pid, the servers by name. Postgres
 * backends of other databases are other people's tests on the same server, not this run.
 */
const groupOf = (workerPids: number[], database?: string) => (pid: number, comm: string, backendOf?: string) =>
  workerPids.includes(pid)
    ? 'workers'
    : pid === sink.pid
      ? 'SMTP sink'
      : pid === process.pid
        ? 'benchmark (scheduling pass, polling)'
        : comm === 'postgres' && (backendOf === undefined || backendOf === database)
          ? 'postgres'
          : comm.startsWith('redis')
            ? 'redis'
            : 'other processes on the machine';

/** What both kinds of worker process are started with. */
const workerEnv = (prefix: string) => ({
  SMTP_URL,
  QUEUE_PREFIX: prefix,
  PUBLIC_URL,
  TOKEN_KEYS: BENCH_TOKEN_KEYS,
  PAPER_FEEDS: 'none',
  LOG_LEVEL: 'warn',
  NODE_ENV: 'production',
  WORKER_CONCURRENCY: String(concurrency),
});

async function waitFor(check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the digests to be sent');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function digestRun(processes: number): Promise<Run> {
  const database = await createBenchDatabase(template.name);
  const db = createDatabase(database.url);
  const prefix = uniqueQueuePrefix();
  const connection = createQueueConnection(REDIS_URL);
  const queue = createDigestQueue({ connection, prefix });
  const workers = await Promise.all(
    Array.from({ length: processes }, () =>
      forkReady(
        './digest-worker.ts',
        {
          ...workerEnv(prefix),
          DATABASE_URL: database.url,
          // Far above what is reachable, so the limiter never holds a job back.
          SEND_RATE_PER_SECOND: '100000',
        },
        values.profile ? ['--cpu-prof', '--cpu-prof-dir=bench/profiles'] : [],
      ),
    ),
  );
  await ask(sink, 'reset');

  // Latency is measured from the moment the pass hands a delivery's page to BullMQ (not from
  // Delivery.dueAt, which is each reader's send hour, up to hours before the pass).
  const enqueuedAt = new Map<string, number>();
  const enqueue = enqueueDeliveries(queue);
  const cpuBefore = cpuSnapshot();
  const started = Date.now();
  const { created } = await scheduleDueDigests(
    db,
    async (ids) => {
      const at = Date.now();
      for (const id of ids) enqueuedAt.set(id, at);
      await enqueue(ids);
    },
    { cutoffHours: 12 },
  );
  const passSeconds = (Date.now() - started) / 1000;

  const finished = async () => {
    const rows = await db.$queryRaw<{ status: string; n: bigint }[]>`
      SELECT status::text, count(*) AS n FROM delivery GROUP BY status`;
    const count = (status: string) => Number(rows.find((row) => row.status === status)?.n ?? 0);
    const done = count('sent') + count('skipped') + count('failed');
    return done >= created && (await ask<{ type: string; count: number }>(sink, 'count')).count >= count('sent');
  };
  await waitFor(finished, 30 * 60_000);
  const cpu = cpuByGroup(
    cpuBefore,
    cpuSnapshot(),
    groupOf(
      workers.map(({ child }) => child.pid!),
      database.name,
    ),
  );
  const peakMiB = workers.map(({ child }) => processMemory(child.pid).peakMiB);
  const stats = await Promise.all(workers.map(({ child }) => ask<{ type: string; queries: number }>(child, 'stats')));
  await Promise.all(workers.map(({ child }) => stop(child, 'stop')));

  const statuses = await db.$queryRaw<{ status: string; n: bigint }[]>`
    SELECT status::text, count(*) AS n FROM delivery GROUP BY status`;
  const count = (status: string) => Number(statuses.find((row) => row.status === status)?.n ?? 0);
  const report = await ask<SinkReport & { type: string }>(sink, 'report');
  const latencies = report.accepted
    .map(([messageId, at]) => at - (enqueuedAt.get(messageId.slice(1, messageId.indexOf('@'))) ?? Number.NaN))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const last = Math.max(...report.accepted.map(([, at]) => at));
  await queue.obliterate({ force: true });
  await queue.close();
  await connection.quit();
  await deleteKeysWithPrefix(prefix);
  await db.$disconnect();
  await database.drop();
  if (count('failed') || latencies.length !== count('sent')) {
    throw new Error(`${count('failed')} failed; ${latencies.length} of ${count('sent')} sent digests reached the sink`);
  }
  return {
    label: `${processes} worker process${processes === 1 ? '' : 'es'} × concurrency ${concurrency}`,
    sent: count('sent'),
    skipped: count('skipped'),
    passSeconds,
    seconds: (last - started) / 1000,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    peakMiB,
    avgBytes: report.bytes / Math.max(1, report.accepted.length),
    sample: report.sample,
    queriesPerDigest: stats.reduce((sum, { queries }) => sum + queries, 0) / count('sent'),
    cpuPerDigest: new Map([...cpu].map(([group, seconds]) => [group, (1000 * seconds) / count('sent')])),
  };
}

/** The sink's ceiling: one prebuilt digest sent `count` times over pooled connections, `inFlight` at a time. */
async function sinkCeiling(sample: string, count: number, connections: number, inFlight: number) {
  await ask(sink, 'reset');
  const transport = nodemailer.createTransport({ url: SMTP_URL, pool: true, maxConnections: connections });
  const envelope = { from: 'paperboy@papers.example.org', to: 'reader@bench.example.org' };
  const raw = Buffer.from(sample, 'latin1');
  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < count) await transport.sendMail({ envelope, raw });
    }),
  );
  transport.close();
  const report = await ask<SinkReport & { type: string }>(sink, 'report');
  const last = Math.max(...report.accepted.map(([, at]) => at));
  return { accepted: report.accepted.length, seconds: (last - started) / 1000, peakMiB: report.peakMiB };
}

/**
 * Up to `count` readers' digests as prebuilt template data: papers chosen (by the same statement, in
 * pages) and links signed ahead of time, so the no-database run only fills, builds and sends.
 */
async function prebuiltDigests(count: number): Promise<PrebuiltDigest[]> {
  const db = createDatabase(template.url);
  const config = benchConfig({ PUBLIC_URL, QUEUE_PREFIX: uniqueQueuePrefix() });
  const at = new Date();
  const rows = await db.subscriber.findMany({
    include: { topics: { include: { topic: { select: { id: true, name: true } } } } },
    orderBy: { email: 'asc' },
    take: count,
  });
  const digests: PrebuiltDigest[] = [];
  for (let i = 0; i < rows.length; i += 100) {
    const page = rows.slice(i, i + 100).map((row) => ({ ...row, topics: row.topics.map(({ topic }) => topic) }));
    const since = new Date(at.getTime() - 86_400_000);
    const chosen = await choosePapersFor(
      db,
      page.map((reader) => ({ reader, since })),
      at,
    );
    page.forEach((reader, k) => {
      if (!chosen[k]!.length) return;
      const deliveryId = crypto.randomUUID();
      const built = digestTemplateData(config, reader, chosen[k]!, at, { deliveryId });
      digests.push({ deliveryId, to: reader.email, ...built });
    });
  }
  await db.$disconnect();
  return digests;
}

/** The same sending path with no database: prebuilt pages through the same fill, builder and mailer. */
async function noDatabaseRun(processes: number, digests: PrebuiltDigest[]): Promise<Run> {
  const prefix = uniqueQueuePrefix();
  const connection = createQueueConnection(REDIS_URL);
  const queue = new Queue<{ digests: PrebuiltDigest[] }>(NODB_QUEUE, { connection, prefix });
  const workers = await Promise.all(
    Array.from({ length: processes }, () => forkReady('./nodb-worker.ts', workerEnv(prefix))),
  );
  await ask(sink, 'reset');
  const cpuBefore = cpuSnapshot();
  const started = Date.now();
  const pages: PrebuiltDigest[][] = [];
  for (let i = 0; i < digests.length; i += 100) pages.push(digests.slice(i, i + 100));
  await queue.addBulk(pages.map((page) => ({ name: 'send', data: { digests: page } })));
  await waitFor(
    async () => (await ask<{ type: string; count: number }>(sink, 'count')).count >= digests.length,
    30 * 60_000,
  );
  const cpu = cpuByGroup(cpuBefore, cpuSnapshot(), groupOf(workers.map(({ child }) => child.pid!)));
  const peakMiB = workers.map(({ child }) => processMemory(child.pid).peakMiB);
  await Promise.all(workers.map(({ child }) => stop(child, 'stop')));
  const report = await ask<SinkReport & { type: string }>(sink, 'report');
  const last = Math.max(...report.accepted.map(([, at]) => at));
  await queue.obliterate({ force: true });
  await queue.close();
  await connection.quit();
  await deleteKeysWithPrefix(prefix);
  return {
    label: `no database, ${processes} process${processes === 1 ? '' : 'es'}`,
    sent: report.accepted.length,
    skipped: 0,
    passSeconds: 0,
    seconds: (last - started) / 1000,
    p50: Number.NaN,
    p99: Number.NaN,
    peakMiB,
    avgBytes: report.bytes / Math.max(1, report.accepted.length),
    sample: report.sample,
    queriesPerDigest: 0,
    cpuPerDigest: new Map([...cpu].map(([group, seconds]) => [group, (1000 * seconds) / report.accepted.length])),
  };
}

const ceilingMessages = Math.min(readers, 10_000);
const prebuilt = await prebuiltDigests(ceilingMessages);
const runs: Run[] = [];
const baselines: Run[] = [];
for (const processes of processCounts) {
  runs.push(await digestRun(processes));
  baselines.push(await noDatabaseRun(processes, prebuilt));
}
const widest = Math.max(...processCounts);
// A worker process opens WORKER_CONCURRENCY SMTP connections (its messages in flight); so does the ceiling.
const ceiling = await sinkCeiling(runs[0]!.sample, ceilingMessages, concurrency * widest, concurrency * widest);
await stop(sink);
await template.drop();

const ceilingRate = ceiling.accepted / ceiling.seconds;
const table = [
  '| run | digests sent | seconds (pass + sending) | digests/s | % of sink ceiling | p50 / p99 latency (s) | peak RSS per process (MiB) |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...[...runs, ...baselines].map(
    (run) =>
      `| ${run.label} | ${run.sent} | ${fixed(run.seconds, 1)}${run.passSeconds ? ` (pass ${fixed(run.passSeconds, 1)})` : ''} | ${fixed(run.sent / run.seconds)} | ${fixed((100 * run.sent) / run.seconds / ceilingRate)}% | ${Number.isNaN(run.p50) ? '–' : `${fixed(run.p50 / 1000, 1)} / ${fixed(run.p99 / 1000, 1)}`} | ${run.peakMiB.map((m) => fixed(m)).join(', ')} |`,
  ),
  `| sink ceiling: ${ceiling.accepted} prebuilt ${fixed(runs[0]!.sample.length / 1024)} KiB digests (runs averaged ${fixed(runs[0]!.avgBytes / 1024)} KiB), nodemailer pool of ${concurrency * widest} connections, ${concurrency * widest} in flight | ${ceiling.accepted} | ${fixed(ceiling.seconds, 1)} | ${fixed(ceilingRate)} | 100% | – | sink ${fixed(ceiling.peakMiB)} |`,
];
const all = [...runs, ...baselines];
const groups = [...new Set(all.flatMap((run) => [...run.cpuPerDigest.keys()]))].sort();
/** What the target counts: CPU of the workers, Postgres and Redis per digest (not the sink's, nor the neighbours'). */
const ownCpu = (run: Run) =>
  ['workers', 'postgres', 'redis'].reduce((sum, group) => sum + (run.cpuPerDigest.get(group) ?? 0), 0);
table.push(
  '',
  `| CPU ms per digest sent (the machine has ${os.cpus().length * 1000} ms per second) | ${all.map((run) => run.label).join(' | ')} |`,
  `| --- | ${all.map(() => '---:').join(' | ')} |`,
  ...groups.map(
    (group) => `| ${group} | ${all.map((run) => fixed(run.cpuPerDigest.get(group) ?? 0, 2)).join(' | ')} |`,
  ),
  `| **workers + postgres + redis** | ${all.map((run) => fixed(ownCpu(run), 2)).join(' | ')} |`,
  `| (Postgres statements per digest, from the workers) | ${all.map((run) => fixed(run.queriesPerDigest, 2)).join(' | ')} |`,
  '',
  '| Paperboy against the same path without a database | digests/s, Paperboy | digests/s, no database | ratio |',
  '| --- | ---: | ---: | ---: |',
  ...runs.map((run, i) => {
    const paperboy = run.sent / run.seconds;
    const baseline = baselines[i]!.sent / baselines[i]!.seconds;
    return `| ${processCounts[i]} worker process${processCounts[i] === 1 ? '' : 'es'} | ${fixed(paperboy)} | ${fixed(baseline)} | ${fixed(paperboy / baseline, 2)} |`;
  }),
);
const notes =
  `${readers} readers due now (sample papers listed today); ${runs[0]!.skipped} skipped (no new paper matched). ` +
  `Each run: a fresh copy of the seeded database, worker processes started and ready, then one scheduling pass; ` +
  `seconds run from the start of the pass to the sink's last accept. Latency is from the moment the pass handed ` +
  `the delivery's page to BullMQ to the sink's accept (not from Delivery.dueAt, the reader's send hour). ` +
  `Workers: WORKER_CONCURRENCY=${concurrency}, SEND_RATE_PER_SECOND=100000 (never limits), as many SMTP ` +
  `connections each as WORKER_CONCURRENCY. Postgres, Redis, the sink and the workers share the ${os.cpus().length} cores.`;
console.log(`\nDigest throughput, ${readers} readers (${os.cpus().length} cores, Node ${process.version})\n`);
console.log(table.join('\n'));
console.log(`\n${notes}`);

await recordResult({
  benchmark: 'digest',
  command: `npm run bench -- digest --readers ${readers} --concurrency ${concurrency} --processes ${processCounts.join(',')}${values.redis === 'cluster' ? ' --redis cluster' : ''}`,
  table,
  notes,
});
