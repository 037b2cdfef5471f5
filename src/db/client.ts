// The Prisma client, talking to Postgres through node-postgres (driver adapter, no native query engine).
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.ts';

export type Database = PrismaClient;

export function createDatabase(databaseUrl: string): Database {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    // Fail fast when Postgres is unreachable instead of hanging a request or a readiness probe.
    connectionTimeoutMillis: 5_000,
  });
  return new PrismaClient({ adapter });
}
