// Per-file Postgres databases: clones of the migrated template, or empty ones for migration tests.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase, type Database } from '../../src/db/client.ts';

/** The same server URL pointing at another database. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export interface TestDatabase {
  name: string;
  url: string;
  drop: () => Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('postgresUrl') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function createDatabaseFrom(template: string): Promise<TestDatabase> {
  const name = `${inject('runId')}_${randomBytes(5).toString('hex')}`;
  await admin(async (client) => {
    // Two files cloning at the same instant can briefly see each other as "using" the template.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        return;
      } catch (error) {
        const busy = error instanceof Error && /being accessed by other users/.test(error.message);
        if (!busy || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  });
  return {
    name,
    url: databaseUrl(inject('postgresUrl'), name),
    drop: () => admin(async (client) => void (await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

/** A database with every migration applied and no rows, private to the caller. */
export function createMigratedDatabase(): Promise<TestDatabase> {
  return createDatabaseFrom(inject('templateDatabase'));
}

/** A database with nothing in it, for testing migrations themselves. */
export function createEmptyDatabase(): Promise<TestDatabase> {
  return createDatabaseFrom('template0');
}

/** A migrated database plus a Prisma client on it; `close` disconnects and drops it. */
export async function openTestDatabase(): Promise<TestDatabase & { db: Database; close: () => Promise<void> }> {
  const database = await createMigratedDatabase();
  const db = createDatabase(database.url);
  return {
    ...database,
    db,
    close: async () => {
      await db.$disconnect();
      await database.drop();
    },
  };
}
