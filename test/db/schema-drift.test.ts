// schema.prisma (what the generated client expects) and prisma/migrations (what the database gets) agree.
import { cp, readFile, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/client.ts';
import { DEFAULT_MIGRATIONS_DIR, migrate } from '../../src/db/migrate.ts';
import { createEmptyDatabase, createMigratedDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { compareSchema, readCatalog, readDmmf, type Catalog } from '../helpers/schema-drift.ts';

const SCHEMA_PATH = path.resolve(import.meta.dirname, '../../prisma/schema.prisma');
const INIT_MIGRATION = '20261128070000_init';

async function catalogOf(url: string): Promise<Catalog> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await readCatalog(client);
  } finally {
    await client.end();
  }
}

describe('schema drift', () => {
  const databases: TestDatabase[] = [];
  let schema: string;
  let migrated: Catalog;

  beforeAll(async () => {
    schema = await readFile(SCHEMA_PATH, 'utf8');
    const database = await createEmptyDatabase();
    databases.push(database);
    await migrate(database.url);
    migrated = await catalogOf(database.url);
  });
  afterAll(async () => {
    await Promise.all(databases.map((database) => database.drop()));
  });

  it('finds no difference between schema.prisma and the migrated database', async () => {
    expect(compareSchema(readDmmf(schema), migrated)).toEqual([]);
  });

  it('the generated client was generated from this schema.prisma', async () => {
    const database = await createMigratedDatabase();
    databases.push(database);
    const db = createDatabase(database.url);
    const runtime = (
      db as unknown as {
        _runtimeDataModel: {
          models: Record<string, { dbName: string | null; fields: { name: string; dbName?: string }[] }>;
        };
      }
    )._runtimeDataModel;
    const dmmf = readDmmf(schema);
    const fromSchema = Object.fromEntries(
      dmmf.datamodel.models.map((m) => [
        m.name,
        { table: m.dbName, fields: m.fields.map((f) => `${f.name}:${f.dbName ?? f.name}`) },
      ]),
    );
    const fromClient = Object.fromEntries(
      Object.entries(runtime.models).map(([name, m]) => [
        name,
        { table: m.dbName, fields: m.fields.map((f) => `${f.name}:${f.dbName ?? f.name}`) },
      ]),
    );
    expect(fromClient, 'run `npm run db:generate` after changing schema.prisma').toEqual(fromSchema);
    await db.$disconnect();
  });

  it('reports a column that a migration does not create', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'paperboy-migrations-'));
    await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
    const file = path.join(dir, INIT_MIGRATION, 'migration.sql');
    const sql = await readFile(file, 'utf8');
    const withoutColumn = sql.replace(/^\s*"consent_ip" TEXT,\n/m, '');
    expect(withoutColumn).not.toEqual(sql);
    await writeFile(file, withoutColumn);

    const database = await createEmptyDatabase();
    databases.push(database);
    await migrate(database.url, { migrationsDir: dir });
    const problems = compareSchema(readDmmf(schema), await catalogOf(database.url));
    expect(problems).toEqual(['column subscriber.consent_ip (Subscriber.consentIp) is missing in the database']);
  });

  it('reports a field added to schema.prisma alone', async () => {
    const edited = schema.replace(/(model Subscriber \{\n)/, '$1  nickname String?\n');
    expect(edited).not.toEqual(schema);
    expect(compareSchema(readDmmf(edited), migrated)).toEqual([
      'column subscriber.nickname (Subscriber.nickname) is missing in the database',
    ]);
  });

  it('reports differences in nullability, type, uniqueness, indexes and relations', async () => {
    const edited = schema
      .replace('  title       String\n', '  title       String?\n')
      .replace('  upvotes     Int ', '  upvotes     BigInt ')
      .replace('  slug        String   @unique\n', '  slug        String\n')
      .replace('  @@index([status, leaseUntil])\n', '')
      .replace(
        'subscriber Subscriber? @relation(fields: [subscriberId], references: [id], onDelete: Cascade)',
        'subscriber Subscriber? @relation(fields: [subscriberId], references: [id], onDelete: SetNull)',
      );
    const problems = compareSchema(readDmmf(edited), migrated);
    expect(problems).toEqual(
      expect.arrayContaining([
        'column paper.title is NOT NULL in the database but optional in schema.prisma',
        'column paper.upvotes is int4 in the database, int8 in schema.prisma',
        'index topic_slug_key on topic(slug) exists in the database but not in schema.prisma',
        'index delivery_status_lease_until_idx on delivery(status, lease_until) exists in the database but not in schema.prisma',
        'foreign key event(subscriber_id) → subscriber(id) deletes with Cascade, schema.prisma says SetNull',
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it('keeps the weighted full-text column and its GIN index that only the migration can express', () => {
    expect(migrated.columns.find((c) => c.table === 'paper' && c.column === 'search')?.udt).toBe('tsvector');
    expect(migrated.indexes.find((i) => i.name === 'paper_search_idx')).toMatchObject({
      method: 'gin',
      columns: ['search'],
    });
  });
});
