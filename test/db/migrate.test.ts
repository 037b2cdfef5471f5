// The migration runner: ordered, transactional, recorded like Prisma, checksum-guarded, safe in parallel.
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate.ts';
import { createEmptyDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { runNode } from '../helpers/processes.ts';

const databases: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
});

async function emptyDatabase() {
  const database = await createEmptyDatabase();
  databases.push(database);
  return database;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A copy of the real migrations plus extra ones, in a temporary folder. */
async function migrationsWith(extra: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paperboy-migrations-'));
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  for (const [name, sql] of Object.entries(extra)) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

interface HistoryRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  applied_steps_count: number;
}
const history = (url: string) =>
  query<HistoryRow>(
    url,
    'SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY started_at',
  );

describe('migrate', () => {
  it('applies every migration in order and records it the way Prisma does', async () => {
    const { url } = await emptyDatabase();
    const dir = await migrationsWith({ '29990101000000_later': 'CREATE TABLE later_table (id int);' });
    const result = await migrate(url, { migrationsDir: dir });

    const migrations = await readMigrations(dir);
    expect(result).toEqual({ applied: migrations.map((m) => m.name), alreadyApplied: [] });
    const rows = await history(url);
    expect(rows.map((r) => r.migration_name)).toEqual(migrations.map((m) => m.name));
    for (const [i, row] of rows.entries()) {
      const file = await readFile(path.join(dir, row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(file).digest('hex'));
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.applied_steps_count).toBe(1);
      expect(row.migration_name).toBe(migrations[i]!.name);
    }
  });

  it('does nothing the second time', async () => {
    const { url } = await emptyDatabase();
    await migrate(url);
    const again = await migrate(url);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toHaveLength((await readMigrations()).length);
    expect(await history(url)).toHaveLength((await readMigrations()).length);
  });

  it('applies each migration once when two `db:migrate` processes start together', async () => {
    const { url } = await emptyDatabase();
    const runs = await Promise.all([1, 2].map(() => runNode('src/cli.ts', ['migrate'], { DATABASE_URL: url })));
    for (const run of runs) expect(run, run.stderr).toMatchObject({ code: 0 });
    const counts = await query<{ migration_name: string; n: number }>(
      url,
      'SELECT migration_name, count(*)::int AS n FROM _prisma_migrations GROUP BY migration_name',
    );
    expect(counts.map((c) => c.n)).toEqual((await readMigrations()).map(() => 1));
    // One process applied, the other found everything up to date.
    expect(runs.map((r) => r.stdout).join('\n')).toMatch(/Applied \d+ migration/);
    expect(runs.map((r) => r.stdout).join('\n')).toMatch(/up to date/);
  });

  it('refuses to run when an applied migration was edited', async () => {
    const { url } = await emptyDatabase();
    const dir = await migrationsWith({});
    await migrate(url, { migrationsDir: dir });
    const [first] = await readMigrations(dir);
    await writeFile(path.join(dir, first!.name, 'migration.sql'), `${first!.sql}\n-- edited\n`);

    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(
      `Migration ${first!.name} was edited after it was applied`,
    );
  });

  it('rolls a failing migration back completely and records nothing for it', async () => {
    const { url } = await emptyDatabase();
    const dir = await migrationsWith({
      '29990101000000_broken': 'CREATE TABLE half_done (id int);\nSELECT no_such_column FROM half_done;',
    });
    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(
      /Migration 29990101000000_broken failed and was rolled back: column "no_such_column" does not exist/,
    );
    expect(await query(url, "SELECT to_regclass('half_done') AS t")).toEqual([{ t: null }]);
    expect((await history(url)).map((r) => r.migration_name)).toEqual((await readMigrations()).map((m) => m.name));
  });

  it('refuses to continue after a run that never finished', async () => {
    const { url } = await emptyDatabase();
    await migrate(url);
    await query(url, `UPDATE _prisma_migrations SET finished_at = NULL`);
    await expect(migrate(url)).rejects.toThrow(/started but never finished/);
  });

  it('names a malformed DATABASE_URL and exits 1 from the command line', async () => {
    const run = await runNode('src/cli.ts', ['migrate'], { DATABASE_URL: 'mysql://nope' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('DATABASE_URL: must be a URL starting with postgres:// or postgresql://');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
