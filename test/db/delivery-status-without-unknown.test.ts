// The migration that drops the delivery status 'unknown': a row that says 'unknown' anyway becomes pending
// (sent again under its Message-ID) instead of failing the migration, and the status can no longer be stored.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MIGRATIONS_DIR, migrate } from '../../src/db/migrate.ts';
import { createEmptyDatabase, type TestDatabase } from '../helpers/postgres.ts';

const MIGRATION = '20261210090000_delivery_status_without_unknown';

describe("dropping the delivery status 'unknown'", () => {
  let database: TestDatabase;
  let client: pg.Client;
  afterAll(async () => {
    await client?.end();
    await database?.drop();
  });

  it("turns 'unknown' rows into pending ones, keeps every other status, and refuses 'unknown' afterwards", async () => {
    database = await createEmptyDatabase();
    // The database as the previous release left it; the generated client no longer knows 'unknown', so SQL.
    const before = await mkdtemp(path.join(os.tmpdir(), 'paperboy-migrations-'));
    await cp(DEFAULT_MIGRATIONS_DIR, before, { recursive: true });
    await rm(path.join(before, MIGRATION), { recursive: true });
    await migrate(database.url, { migrationsDir: before });
    await rm(before, { recursive: true });

    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const {
      rows: [reader],
    } = await client.query<{ id: string }>(
      `INSERT INTO subscriber (email, updated_at) VALUES ('unknown@example.org', now()) RETURNING id`,
    );
    const statuses = ['pending', 'sending', 'sent', 'skipped', 'failed', 'unknown'];
    for (const [index, status] of statuses.entries()) {
      await client.query(
        `INSERT INTO delivery (subscriber_id, kind, digest_key, status, due_at, lease_until, updated_at)
         VALUES ($1, 'digest', $2, $3::text::delivery_status, now(), CASE WHEN $3::text IN ('sending', 'unknown') THEN now() END, now())`,
        [reader!.id, `2026-12-0${index + 1}`, status],
      );
    }

    expect((await migrate(database.url)).applied).toEqual([MIGRATION]);

    const { rows } = await client.query<{ digest_key: string; status: string; lease: boolean }>(
      `SELECT digest_key, status::text AS status, lease_until IS NOT NULL AS lease FROM delivery ORDER BY digest_key`,
    );
    expect(rows).toEqual([
      { digest_key: '2026-12-01', status: 'pending', lease: false },
      { digest_key: '2026-12-02', status: 'sending', lease: true },
      { digest_key: '2026-12-03', status: 'sent', lease: false },
      { digest_key: '2026-12-04', status: 'skipped', lease: false },
      { digest_key: '2026-12-05', status: 'failed', lease: false },
      // Was unknown: pending and unleased, so the reconciler queues it again.
      { digest_key: '2026-12-06', status: 'pending', lease: false },
    ]);
    const { rows: labels } = await client.query<{ label: string }>(
      `SELECT unnest(enum_range(NULL::delivery_status))::text AS label`,
    );
    expect(labels.map(({ label }) => label)).toEqual(['pending', 'sending', 'sent', 'skipped', 'failed']);
    await expect(
      client.query(`UPDATE delivery SET status = 'unknown' WHERE digest_key = '2026-12-01'`),
    ).rejects.toThrow(/invalid input value for enum delivery_status/);
    // The default survived the change of type.
    const {
      rows: [fresh],
    } = await client.query<{ status: string }>(
      `INSERT INTO delivery (subscriber_id, kind, digest_key, due_at, updated_at)
       VALUES ($1, 'confirm', 'k', now(), now()) RETURNING status::text AS status`,
      [reader!.id],
    );
    expect(fresh).toEqual({ status: 'pending' });
  });
});
