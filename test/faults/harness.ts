// Fault-injection harness: a database of readers due a digest now, real worker processes
// (`node workers/index.ts`) that can be SIGKILLed or SIGTERMed, the SMTP sink in this process so it can
// misbehave on cue, and the invariants every scenario must end with.
import net from 'node:net';
import { expect } from 'vitest';
import type { Queue } from 'bullmq';
import type { Config } from '../../src/config.ts';
import { scheduleDueDigests } from '../../src/modules/digests/schedule.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { createQueueConnection, isRedisClusterUrl, type RedisConnection } from '../../src/queues/connection.ts';
import {
  createDigestQueue,
  createMailQueue,
  enqueueDeliveries,
  type DeliveryJob,
} from '../../src/queues/deliveries.ts';
import { TEST_TOKEN_KEYS, testConfig } from '../helpers/config.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { freePort } from '../helpers/net.ts';
import { startNode, startProcess, type Running } from '../helpers/processes.ts';
import { deleteKeysWithPrefix, uniqueClusterPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import type { CapturedMessage, SmtpSink } from '../helpers/smtp-sink.ts';

export type TestDb = Awaited<ReturnType<typeof openTestDatabase>>;

/**
 * Timings for worker processes under test. Production waits minutes; here every wait is a few seconds,
 * with the same proportions: SMTP timeouts are derived from the lease (a third of it at most per step).
 */
export const FAST = {
  DELIVERY_LEASE_SECONDS: '8',
  DELIVERY_RETRY_DELAY_MS: '200',
  MAIL_OUTAGE_PAUSE_MS: '300',
  RECONCILE_INTERVAL_MS: '1000',
  SEND_RATE_PER_SECOND: '2000',
  WORKER_CONCURRENCY: '8',
};

export const PUBLIC_URL = 'https://papers.example.org';

export interface RunOptions {
  /** Active readers due a digest now. */
  readers: number;
  sink: SmtpSink;
  /**
   * Redis for this run (a private redis-server for the restart scenario, or a redis-cluster:// URL, which
   * gets a hash-tagged prefix); the shared one by default.
   */
  redisUrl?: string;
}

export interface WorkerProcess extends Running {
  /** SIGKILL: no cleanup, no goodbye. Resolves once the process is gone. */
  kill: () => Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop: () => Promise<{ code: number | null; stdout: string }>;
}

export interface Run {
  database: TestDb;
  config: Config;
  prefix: string;
  sink: SmtpSink;
  /** Ids of the active readers due now (including the suppressed ones, whose digests end skipped). */
  due: string[];
  digestQueue: Queue<DeliveryJob>;
  mailQueue: Queue<DeliveryJob>;
  /** The environment of a worker process of this run. */
  env: (overrides?: Record<string, string>) => Record<string, string>;
  startWorker: (overrides?: Record<string, string>) => Promise<WorkerProcess>;
  /**
   * One scheduling pass from this process, queueing with the real job options; returns how many digests
   * exist afterwards (a running worker's own minute tick may have created them first).
   */
  schedule: () => Promise<number>;
  /** Messages the sink accepted for one address. */
  to: (address: string) => CapturedMessage[];
  close: () => Promise<void>;
}

export const readerEmail = (i: number) => `reader${i}@example.org`;

/**
 * A database with a fresh paper on model merging and `readers` active readers due now, plus readers who
 * must never get mail: 3 pending, 3 unsubscribed, and 3 active whose address is suppressed.
 */
export async function setUpRun({ readers, sink, redisUrl }: RunOptions): Promise<Run> {
  const database = await openTestDatabase();
  const prefix = redisUrl && isRedisClusterUrl(redisUrl) ? uniqueClusterPrefix() : uniqueQueuePrefix();
  await ingestFeed(database.db, [
    {
      paper: { id: '2611.00010', title: 'Model Merging at Scale', upvotes: 3 },
      publishedAt: new Date(Date.now() - 3_600_000).toISOString(),
    },
  ]);
  const merging = await database.db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
  const hour = new Date().getUTCHours();
  const reader = (email: string, status: 'active' | 'pending' | 'unsubscribed') => ({
    email,
    status,
    timeZone: 'UTC',
    sendHour: hour,
  });
  await database.db.subscriber.createMany({
    data: [
      ...Array.from({ length: readers }, (_, i) => reader(readerEmail(i), 'active')),
      ...[0, 1, 2].map((i) => reader(`pending${i}@example.org`, 'pending')),
      ...[0, 1, 2].map((i) => reader(`gone${i}@example.org`, 'unsubscribed')),
      ...[0, 1, 2].map((i) => reader(`suppressed${i}@example.org`, 'active')),
    ],
  });
  await database.db.suppression.createMany({
    data: [0, 1, 2].map((i) => ({ addressHash: addressHash(`suppressed${i}@example.org`), reason: 'manual' as const })),
  });
  await database.db
    .$executeRaw`INSERT INTO subscriber_topic (subscriber_id, topic_id) SELECT id, ${merging.id} FROM subscriber`;
  const due = (await database.db.subscriber.findMany({ where: { status: 'active' }, select: { id: true } })).map(
    (s) => s.id,
  );
  const env = (overrides: Record<string, string> = {}) => ({
    NODE_ENV: 'test',
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl ?? testConfig().REDIS_URL,
    QUEUE_PREFIX: prefix,
    SMTP_URL: sink.url,
    PUBLIC_URL,
    PAPER_FEEDS: 'none',
    TOKEN_KEYS: TEST_TOKEN_KEYS,
    LOG_LEVEL: 'info',
    ...FAST,
    ...overrides,
  });
  const config = testConfig(env());
  const connection: RedisConnection = createQueueConnection(config.REDIS_URL);
  connection.on('error', () => {});
  const digestQueue = createDigestQueue({ connection, prefix });
  const mailQueue = createMailQueue({ connection, prefix });
  const workers = new Set<WorkerProcess>();

  /**
   * A statement the killed process sent just before it died (a batch of sent records) still runs to its
   * commit in Postgres: what it held is read once that has settled, i.e. no other backend of the run's
   * database is busy (at most 5 s, for tests where another worker keeps working).
   */
  const settledAfterKill = async () => {
    for (const deadline = Date.now() + 5_000; Date.now() < deadline;) {
      const [row] = await database.db.$queryRaw<{ busy: number }[]>`
        SELECT count(*)::int AS busy FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'`;
      if (!row?.busy) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const startWorker = async (overrides: Record<string, string> = {}) => {
    const running = startNode('workers/index.ts', [], env(overrides));
    const exited = running.finished.then(() => undefined);
    const worker: WorkerProcess = {
      ...running,
      kill: async () => {
        running.child.kill('SIGKILL');
        await exited;
        await settledAfterKill();
      },
      stop: async () => {
        running.child.kill('SIGTERM');
        const { code, stdout } = await running.finished;
        return { code, stdout };
      },
    };
    workers.add(worker);
    void exited.then(() => workers.delete(worker));
    await running.waitForOutput(/workers started/, 60_000);
    return worker;
  };

  return {
    database,
    config,
    prefix,
    sink,
    due,
    digestQueue,
    mailQueue,
    env,
    startWorker,
    schedule: async () => {
      await scheduleDueDigests(database.db, enqueueDeliveries(digestQueue), { cutoffHours: 12 });
      return database.db.delivery.count({ where: { kind: 'digest' } });
    },
    to: (address) => sink.messages.filter((m) => m.envelope.to.includes(address)),
    close: async () => {
      await Promise.all([...workers].map((worker) => worker.kill()));
      await digestQueue.close();
      await mailQueue.close();
      connection.disconnect();
      await database.close();
      await deleteKeysWithPrefix(testConfig().REDIS_URL, prefix);
    },
  };
}

const FINAL = ['sent', 'skipped', 'failed'];
const OPEN_JOBS = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/** Jobs of the delivery queues that are still to run (or running). */
export async function openJobs(run: Run): Promise<number> {
  let open = 0;
  for (const queue of [run.digestQueue, run.mailQueue]) {
    const counts = await queue.getJobCounts(...OPEN_JOBS);
    open += OPEN_JOBS.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
  }
  return open;
}

/** Deliveries not yet in a final state. */
export const unfinished = (run: Run) =>
  run.database.db.delivery.count({ where: { status: { notIn: ['sent', 'skipped', 'failed'] } } });

/** Waits until every delivery is final and the queues are drained (workers still running). */
export async function waitUntilSettled(run: Run, timeout = 120_000) {
  await expect.poll(() => unfinished(run), { timeout, interval: 500 }).toBe(0);
  await expect.poll(() => openJobs(run), { timeout: 60_000, interval: 500 }).toBe(0);
}

export interface InvariantOptions {
  /**
   * The documented accepted-but-not-committed window: how many Message-IDs may arrive twice (a crash or a
   * timeout after the server accepted, before Postgres recorded it). Each repeat carries the same
   * Message-ID and its delivery ends sent once. Only scenarios that provoke the window allow it.
   */
  resent?: number;
}

/**
 * What must hold after every scenario, once recovered: one final delivery per due reader and date, one
 * message per Message-ID, every sent delivery's message in the sink (and nothing else there), no mail to
 * an unsubscribed, pending or suppressed address, and drained queues.
 */
export async function checkInvariants(run: Run, { resent = 0 }: InvariantOptions = {}) {
  const { db } = run.database;
  const deliveries = await db.delivery.findMany({
    include: { subscriber: { select: { email: true, status: true } } },
  });
  const digests = deliveries.filter((d) => d.kind === 'digest');
  const today = new Date().toISOString().slice(0, 10);

  // One digest per due reader per date, and none for anybody else.
  const perReader = new Map<string, string[]>();
  for (const d of digests) perReader.set(d.subscriberId, [...(perReader.get(d.subscriberId) ?? []), d.digestKey]);
  expect([...perReader.keys()].sort()).toEqual([...run.due].sort());
  for (const [reader, keys] of perReader) {
    expect(keys, `digests of ${reader}`).toEqual([today]);
  }
  // Every delivery final.
  const open = deliveries.filter((d) => !FINAL.includes(d.status));
  expect(
    open.map((d) => `${d.subscriber.email} ${d.status}`),
    'deliveries not in a final state',
  ).toEqual([]);

  // One message per Message-ID, except the allowed window (twice at most, same Message-ID).
  const byMessageId = new Map<string, CapturedMessage[]>();
  for (const message of run.sink.messages) {
    expect(message.messageId, 'every message has a Message-ID').toBeTruthy();
    byMessageId.set(message.messageId!, [...(byMessageId.get(message.messageId!) ?? []), message]);
  }
  const repeated = [...byMessageId.entries()].filter(([, copies]) => copies.length > 1);
  expect(
    repeated.every(([, copies]) => copies.length === 2),
    `a Message-ID arrived more than twice: ${repeated.map(([id, c]) => `${id}×${c.length}`).join(', ')}`,
  ).toBe(true);
  expect(repeated.length, `Message-IDs sent twice: ${repeated.map(([id]) => id).join(', ')}`).toBeLessThanOrEqual(
    resent,
  );

  // Each sent delivery's message arrived, to its reader; every message belongs to a sent delivery.
  const sent = deliveries.filter((d) => d.status === 'sent');
  for (const d of sent) {
    const copies = byMessageId.get(d.messageId ?? '');
    expect(copies, `message of the sent delivery to ${d.subscriber.email}`).toBeDefined();
    for (const copy of copies!) expect(copy.envelope.to).toEqual([d.subscriber.email]);
  }
  const sentIds = new Set(sent.map((d) => d.messageId));
  expect([...byMessageId.keys()].filter((id) => !sentIds.has(id))).toEqual([]);

  // Nobody unsubscribed, pending or suppressed got anything.
  const suppressed = new Set(
    (await db.suppression.findMany({ select: { addressHash: true } })).map((s) => s.addressHash),
  );
  const subscribers = await db.subscriber.findMany({ select: { email: true, status: true } });
  const mustNotReceive = new Set(
    subscribers.filter((s) => s.status !== 'active' || suppressed.has(addressHash(s.email))).map((s) => s.email),
  );
  expect(run.sink.messages.flatMap((m) => m.envelope.to).filter((to) => mustNotReceive.has(to))).toEqual([]);
  // ... and the suppressed ones' digests were skipped, not sent.
  for (const d of digests.filter((d) => d.subscriber.email.startsWith('suppressed'))) {
    expect(d.status, d.subscriber.email).toBe('skipped');
  }

  expect(await openJobs(run), 'jobs left in the delivery queues').toBe(0);
  return { deliveries, repeated: repeated.map(([id]) => id) };
}

/** Counts of deliveries by status, for assertions and failure messages. */
export async function statuses(database: TestDb): Promise<Record<string, number>> {
  const groups = await database.db.delivery.groupBy({ by: ['status'], _count: true });
  return Object.fromEntries(groups.map((g) => [g.status, g._count]));
}

/** A private redis-server on a free port, to kill and restart (the shared one must never be touched). */
export async function startPrivateRedis(port?: number) {
  const chosen = port ?? (await freePort());
  const server = startProcess('redis-server', ['--port', String(chosen), '--save', '', '--appendonly', 'no'], {});
  await server.waitForOutput(/Ready to accept connections/, 20_000);
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    kill: async () => {
      server.child.kill('SIGKILL');
      await server.finished;
    },
  };
}

/**
 * A TCP proxy in front of the sink that can go dark: `down()` refuses new connections and cuts open ones
 * (a mail server that is unreachable), `up()` listens again on the same port.
 */
export async function startSmtpProxy(target: number) {
  const sockets = new Set<net.Socket>();
  const open = () => {
    const server = net.createServer((client) => {
      const upstream = net.connect(target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    return server;
  };
  let server = open();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  return {
    url: `smtp://127.0.0.1:${port}`,
    down: close,
    up: async () => {
      server = open();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
    },
    close,
  };
}
