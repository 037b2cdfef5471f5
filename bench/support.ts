// Helpers shared by the benchmarks: throwaway databases and Redis prefixes, seeded readers, a config,
// percentiles and memory samples.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Cluster, type Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig, type Config } from '../src/config.ts';
import type { Database } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { createQueueConnection, isRedisClusterUrl } from '../src/queues/connection.ts';

export const SERVER_URL = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
// `let`: useRedisCluster() repoints it (and what the benchmarks import sees) before a run starts.
export let REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The three-master loopback cluster scripts/redis-cluster.sh starts. */
export const LOCAL_REDIS_CLUSTER = 'redis-cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003';

/**
 * `--redis cluster`: the queues of this process and of the worker processes it forks (they inherit the
 * environment) on a Redis Cluster: REDIS_CLUSTER_URL, else the loopback one, started if it is not up.
 */
export function useRedisCluster(): void {
  const url = process.env.REDIS_CLUSTER_URL;
  if (!url) execFileSync('bash', ['scripts/redis-cluster.sh', 'start'], { stdio: 'inherit' });
  REDIS_URL = url ?? LOCAL_REDIS_CLUSTER;
  process.env.REDIS_URL = REDIS_URL;
}
/** A fixed signing key: benchmarks never send a real link anywhere. */
export const BENCH_TOKEN_KEYS = 'bench1:bench-signing-key-0123456789abcdefghijklmnopqrstuvwxyz';

export interface BenchDatabase {
  name: string;
  url: string;
  drop: () => Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A new database on the benchmark server: migrated, or a copy of `template` (fast, for repeated runs). */
export async function createBenchDatabase(template?: string): Promise<BenchDatabase> {
  const name = `paperboy_bench_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ''}`));
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  if (!template) await migrate(url.toString());
  return {
    name,
    url: url.toString(),
    drop: () => admin(async (client) => void (await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

/**
 * A Redis key prefix of its own, so a run never touches anyone else's queues on this shared Redis; on a
 * cluster hash-tagged, as config.ts requires there.
 */
export const uniqueQueuePrefix = () => {
  const prefix = `bench:${randomBytes(4).toString('hex')}`;
  return isRedisClusterUrl(REDIS_URL) ? `{${prefix}}` : prefix;
};

async function deleteMatching(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    // One by one: on a cluster node, keys of one scan page may be in different slots.
    for (const key of keys) await redis.del(key);
    cursor = next;
  } while (cursor !== '0');
}

/** Deletes the prefix's keys on the Redis, or on every master of the cluster. */
export async function deleteKeysWithPrefix(prefix: string): Promise<void> {
  const redis = createQueueConnection(REDIS_URL);
  try {
    if (!(redis instanceof Cluster)) return await deleteMatching(redis, prefix);
    if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
    for (const master of redis.nodes('master')) await deleteMatching(master, prefix);
  } finally {
    await redis.quit();
  }
}

export function benchConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'production',
    REDIS_URL,
    TOKEN_KEYS: BENCH_TOKEN_KEYS,
    LOG_LEVEL: 'warn',
    PAPER_FEEDS: 'none',
    ...overrides,
  });
}

const ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Sydney', 'America/Los_Angeles'];
const KEYWORDS = ['diffusion', 'agents', 'reasoning', 'benchmark', 'video', 'robot', 'retrieval', 'quantization'];

/**
 * Inserts `count` active readers, all due a daily digest at `now`: varied time zones, send hours from
 * zero to five hours back (so the pass also exercises yesterday's slots across midnight), one to three
 * topics (load papers first), and for some their own keywords or exclusions. One statement, so 100,000 take seconds.
 */
export async function seedDueReaders(db: Database, count: number, now: Date = new Date()): Promise<void> {
  await db.$executeRaw`
    INSERT INTO subscriber (email, status, time_zone, send_hour, frequency, max_papers, include_keywords,
                            exclude_keywords, confirmed_at, updated_at)
    SELECT 'reader' || i || '@bench.example.org', 'active', z.zone,
           ((extract(hour FROM ${now}::timestamptz AT TIME ZONE z.zone)::int - i % 6 + 24) % 24)::smallint,
           'daily', (5 + i % 6)::smallint,
           CASE WHEN i % 3 = 0 THEN ARRAY[(${KEYWORDS}::text[])[1 + i % 8]] ELSE '{}' END,
           CASE WHEN i % 7 = 0 THEN ARRAY[(${KEYWORDS}::text[])[1 + (i + 3) % 8]] ELSE '{}' END,
           ${now}, ${now}
      FROM generate_series(1, ${count}) AS i
      CROSS JOIN LATERAL (SELECT (${ZONES}::text[])[1 + i % ${ZONES.length}] AS zone) z`;
  // One to three topics each, among those that match some paper, so every reader has a digest to send.
  await db.$executeRaw`
    WITH readers AS (SELECT id, row_number() OVER (ORDER BY email) AS n FROM subscriber),
         topics AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS total
                      FROM topic WHERE EXISTS (SELECT 1 FROM paper_topic pt WHERE pt.topic_id = topic.id))
    INSERT INTO subscriber_topic (subscriber_id, topic_id)
    SELECT r.id, t.id FROM readers r JOIN topics t
        ON t.k = r.n % t.total
        OR (r.n % 2 = 0 AND t.k = (r.n * 3 + 1) % t.total)
        OR (r.n % 3 = 0 AND t.k = (r.n * 7 + 2) % t.total)`;
  // As autovacuum would soon after a bulk load. Without statistics the planner takes the 100,000 rows for
  // a handful and each scheduling page scans the whole table (58 ms instead of 1 ms a page, measured).
  await db.$executeRaw`ANALYZE`;
}

/** The value at quantile q (0..1) of ascending `sorted`, or NaN when empty. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Peak and current resident memory of a process in MiB, from /proc (Linux). */
export function processMemory(pid: number = process.pid): { peakMiB: number; rssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peakMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
}

export const mib = (bytes: number) => bytes / 2 ** 20;
export const fixed = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '–');

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * The database a Postgres backend serves (from its command line), so a run counts its own backends and
 * not those of other people's tests on the same server; undefined for the server's own processes (WAL
 * writer, checkpointer), which every run is charged with.
 */
function backendDatabase(pid: string): string | undefined {
  // After "postgres: " comes the cluster ("15/main: ") on Debian, then "<user> <database> <client> …" for
  // a backend, or "autovacuum worker <database>".
  const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    .replaceAll('\0', ' ')
    .replace(/^postgres: (\S+: )?/, '');
  return (/^autovacuum worker (\S+)/.exec(title) ?? /^\S+ (\S+) \S+\(\d+\)/.exec(title))?.[1];
}

/** CPU seconds used so far by every process on the machine, by pid, with its command name (Linux). */
export function cpuSnapshot(): Map<number, { comm: string; seconds: number; database?: string | undefined }> {
  const snapshot = new Map<number, { comm: string; seconds: number; database?: string | undefined }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
      const ticks = Number(fields[11]) + Number(fields[12]);
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      snapshot.set(Number(entry), {
        comm,
        seconds: ticks / CLOCK_TICKS_PER_SECOND,
        database: comm === 'postgres' ? backendDatabase(entry) : undefined,
      });
    } catch {
      // the process ended while we looked
    }
  }
  return snapshot;
}

/** CPU seconds between two snapshots, summed by the group `groupOf` puts each process in. */
export function cpuByGroup(
  before: ReturnType<typeof cpuSnapshot>,
  after: ReturnType<typeof cpuSnapshot>,
  groupOf: (pid: number, comm: string, database: string | undefined) => string,
): Map<string, number> {
  const groups = new Map<string, number>();
  for (const [pid, { comm, seconds, database }] of after) {
    const used = seconds - (before.get(pid)?.comm === comm ? before.get(pid)!.seconds : 0);
    if (used <= 0) continue;
    const group = groupOf(pid, comm, database);
    groups.set(group, (groups.get(group) ?? 0) + used);
  }
  return groups;
}
