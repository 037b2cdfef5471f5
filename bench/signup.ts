// Benchmark: POST /api/v1/subscriptions under autocannon against the real app on a port (fresh database,
// rate limits raised), every request a new address; GET /healthz of the same app in the same run as the
// baseline of what the app, the machine and autocannon manage without any signup work.
//
//   npm run bench -- signup [--connections 100] [--seconds 10] [--profile]
//
// --profile writes the app process's .cpuprofile to bench/profiles/.
import os from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { ask, forkReady, stop } from './ipc.ts';
import { recordResult } from './results.ts';
import {
  BENCH_TOKEN_KEYS,
  cpuByGroup,
  cpuSnapshot,
  createBenchDatabase,
  deleteKeysWithPrefix,
  fixed,
  uniqueQueuePrefix,
} from './support.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '10' },
    profile: { type: 'boolean', default: false },
  },
  strict: false,
});
const connections = Number(values.connections);
const seconds = Number(values.seconds);

const database = await createBenchDatabase();
const prefix = uniqueQueuePrefix();
const { child: app, ready } = await forkReady(
  './signup-app.ts',
  {
    DATABASE_URL: database.url,
    QUEUE_PREFIX: prefix,
    TOKEN_KEYS: BENCH_TOKEN_KEYS,
    PAPER_FEEDS: 'none',
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    PORT: '0',
    // Every request comes from 127.0.0.1: the per-IP limit would answer 429 after ten.
    SIGNUP_RATE_PER_IP: '100000000',
  },
  values.profile ? ['--cpu-prof', '--cpu-prof-dir=bench/profiles'] : [],
);
const url = String(ready.address);

let sequence = 0;
const TOPICS = ['model-merging', 'continual-learning', 'domain-adaptation', 'test-time-adaptation'];
/** A signup body with an address never used before, and varied topics. */
const signupBody = () => {
  const n = sequence++;
  return JSON.stringify({ email: `reader${n}@bench.example.org`, topics: [TOPICS[n % TOPICS.length]] });
};

interface Measured {
  label: string;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
  queriesPerRequest: number;
  cpu: Map<string, number>;
}

const statements = async () => (await ask<{ type: string; queries: number }>(app, 'stats')).queries;

async function measure(label: string, options: Partial<autocannon.Options>): Promise<Measured> {
  const before = cpuSnapshot();
  const queriesBefore = await statements();
  const result = await autocannon({ url, connections, duration: seconds, ...options });
  const cpu = cpuByGroup(before, cpuSnapshot(), (pid, comm) =>
    pid === app.pid
      ? 'app'
      : pid === process.pid
        ? 'autocannon'
        : comm === 'postgres'
          ? 'postgres'
          : comm.startsWith('redis')
            ? 'redis'
            : 'other processes on the machine',
  );
  const requests = result.requests.total;
  const queries = (await statements()) - queriesBefore;
  return {
    label,
    requests,
    perSecond: requests / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    queriesPerRequest: queries / Math.max(1, requests),
    cpu: new Map([...cpu].map(([group, used]) => [group, (1000 * used) / Math.max(1, requests)])),
  };
}

const runs = [
  await measure('GET /healthz', { requests: [{ method: 'GET', path: '/healthz' }] }),
  await measure('POST /api/v1/subscriptions (new address each)', {
    requests: [
      {
        method: 'POST',
        path: '/api/v1/subscriptions',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: signupBody() }),
      },
    ],
  }),
];

// How the signups landed: every one a pending subscriber with its confirmation email queued.
const { default: pg } = await import('pg');
const client = new pg.Client({ connectionString: database.url });
await client.connect();
const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM subscriber WHERE status = 'pending'`);
await client.end();
await stop(app);
await deleteKeysWithPrefix(prefix);
await database.drop();

const groups = ['app', 'postgres', 'redis', 'autocannon', 'other processes on the machine'];
const table = [
  `| route (${connections} connections, ${seconds} s) | requests/s | p50 (ms) | p99 (ms) | errors | Postgres statements/request | ${groups.map((g) => `CPU ms/request: ${g}`).join(' | ')} |`,
  `| --- | ---: | ---: | ---: | ---: | ---: | ${groups.map(() => '---:').join(' | ')} |`,
  ...runs.map(
    (run) =>
      `| ${run.label} | ${fixed(run.perSecond)} | ${run.p50} | ${run.p99} | ${run.errors} | ${fixed(run.queriesPerRequest, 1)} | ${groups.map((g) => fixed(run.cpu.get(g) ?? 0, 2)).join(' | ')} |`,
  ),
];
const signup = runs[1]!;
const notes =
  `Target ≥ 2,000 signups/s with p99 < 50 ms: ${signup.perSecond >= 2000 && signup.p99 < 50 ? 'met' : 'not met'}. ` +
  `${rows[0]?.n} pending subscribers were created. Every signup answer is padded to at least 40 ms (ANSWER_MS), ` +
  `so ${connections} connections allow at most ${fixed((connections * 1000) / 40)} signups/s whatever the CPU.`;
console.log(`\nSignup API (${os.cpus().length} cores, Node ${process.version})\n`);
console.log(table.join('\n'));
console.log(`\n${notes}`);

await recordResult({
  benchmark: 'signup',
  command: `npm run bench -- signup --connections ${connections} --seconds ${seconds}`,
  table,
  notes,
});
