// Whether Paperboy can serve: Postgres answers with every migration applied, and Redis answers.
import { once } from 'node:events';
import { Cluster } from 'ioredis';
import type { Database } from '../../db/client.ts';
import { readMigrations } from '../../db/migrate.ts';
import { lastConnectionError, type RedisConnection } from '../../queues/connection.ts';

export interface ReadinessDeps {
  db: Database;
  redis: RedisConnection;
}

export type CheckResult = { ok: true } | { ok: false; error: string };
export type CheckName = 'database' | 'migrations' | 'redis';

export interface Readiness {
  ready: boolean;
  checks: Record<CheckName, CheckResult>;
}

const CHECK_TIMEOUT_MS = 2_000;

async function check(probe: () => Promise<unknown>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return { ok: true };
  } catch (error) {
    // Keep the cause, not the client's framing: Prisma wraps it in several lines of invocation text.
    const message = error instanceof Error ? error.message || error.name : String(error);
    return { ok: false, error: message.trim().split('\n').at(-1)!.trim() };
  } finally {
    clearTimeout(timer);
  }
}

/** Pings Redis; a connection still being opened (first probe after start-up) gets to finish first. */
async function pingRedis(redis: RedisConnection): Promise<unknown> {
  if (['wait', 'connecting', 'connect'].includes(redis.status)) {
    const settled = new AbortController();
    try {
      await Promise.race([
        once(redis, 'ready', { signal: settled.signal }),
        once(redis, 'error', { signal: settled.signal }).then(([error]) => Promise.reject(error as Error)),
      ]);
    } finally {
      settled.abort();
    }
  }
  // While disconnected, say why (e.g. ECONNREFUSED) rather than ioredis's "stream isn't writeable".
  if (redis.status !== 'ready') throw lastConnectionError(redis) ?? new Error(`the connection is ${redis.status}`);
  if (!(redis instanceof Cluster)) return redis.ping();
  // A cluster missing a master still answers PING on every other node, but refuses every command for the
  // slots nobody serves; its own state says so, asked of every master at once (the first answer counts).
  const info = String(
    await Promise.any(redis.nodes('master').map((node) => node.cluster('INFO'))).catch((error: unknown) => {
      throw (error as AggregateError).errors?.[0] ?? new Error('no node of the Redis Cluster answers');
    }),
  );
  const state = /cluster_state:(\w+)/.exec(info)?.[1];
  if (state !== 'ok') throw new Error(`the Redis Cluster is not ok (cluster_state:${state ?? 'unknown'})`);
}

// Migrations never un-apply, so once every one is seen applied the check need not ask again.
const migrated = new WeakSet<Database>();
async function assertMigrated(db: Database): Promise<void> {
  if (migrated.has(db)) return;
  const [expected, applied] = await Promise.all([
    readMigrations(),
    db.$queryRaw<{ migration_name: string }[]>`
      SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  ]).catch((error: unknown) => {
    if (String(error).includes('_prisma_migrations'))
      throw new Error('no migrations applied: run `npm run db:migrate`');
    throw error;
  });
  const done = new Set(applied.map((row) => row.migration_name));
  const pending = expected.filter((migration) => !done.has(migration.name));
  if (pending.length) throw new Error(`${pending.length} migration(s) not applied: run \`npm run db:migrate\``);
  migrated.add(db);
}

export async function checkReadiness({ db, redis }: ReadinessDeps): Promise<Readiness> {
  const [database, redisCheck] = await Promise.all([
    check(() => db.$queryRaw`SELECT 1`),
    check(() => pingRedis(redis)),
  ]);
  const migrations: CheckResult = database.ok
    ? await check(() => assertMigrated(db))
    : { ok: false, error: 'the database is not available' };
  return {
    ready: database.ok && migrations.ok && redisCheck.ok,
    checks: { database, migrations, redis: redisCheck },
  };
}
