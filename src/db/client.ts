// The Prisma client, talking to Postgres through node-postgres (driver adapter, no native query engine).
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient, type Prisma } from '../generated/prisma/client.ts';

export type Database = PrismaClient;
/** The client, or a transaction opened on it: what functions that may run inside a transaction take. */
export type DbClient = PrismaClient | Prisma.TransactionClient;

const pools = new WeakMap<Database, pg.Pool>();

export function createDatabase(databaseUrl: string): Database {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    // Fail fast when Postgres is unreachable instead of hanging a request or a readiness probe.
    connectionTimeoutMillis: 5_000,
  });
  // A connection that breaks while idle must not throw out of the process; the next query reconnects.
  pool.on('error', () => {});
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(db, pool);
  return db;
}

/**
 * The connection pool under a client, for the few statements on the sending path that run as prepared,
 * named statements through node-postgres (`pool.query({ name, text, values })`): parsed and planned once
 * per connection, and none of Prisma's per-query work. Everything else goes through Prisma.
 */
export function sqlPool(db: Database): pg.Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error('sqlPool: this client was not made by createDatabase');
  return pool;
}

/** The SQLSTATE of a statement Postgres refused, as the driver adapter reports it inside Prisma's error. */
export function sqlStateOf(error: unknown): string | undefined {
  const cause = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } } | null)?.meta
    ?.driverAdapterError?.cause;
  return typeof cause?.originalCode === 'string' ? cause.originalCode : undefined;
}

/**
 * invalid_parameter_value: what `AT TIME ZONE` raises for a name Postgres does not know. Other bad
 * parameters raise it too, so a caller that handles it must check the zones and rethrow when none is bad.
 */
export const isInvalidTimeZone = (error: unknown) => sqlStateOf(error) === '22023';
