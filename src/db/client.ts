// The Prisma client, talking to Postgres through node-postgres (driver adapter, no native query engine).
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, type Prisma } from '../generated/prisma/client.ts';

export type Database = PrismaClient;
/** The client, or a transaction opened on it: what functions that may run inside a transaction take. */
export type DbClient = PrismaClient | Prisma.TransactionClient;

export function createDatabase(databaseUrl: string): Database {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    // Fail fast when Postgres is unreachable instead of hanging a request or a readiness probe.
    connectionTimeoutMillis: 5_000,
  });
  return new PrismaClient({ adapter });
}
