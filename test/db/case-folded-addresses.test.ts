// The migration that makes addresses case-insensitive: case variants already stored (Victim@, VICTIM@
// beside victim@) become one reader that keeps every variant's history; then only case-folded addresses
// can be stored.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { createDatabase, type Database } from '../../src/db/client.ts';
import { createLogger } from '../../src/logger.ts';
import { subscriberLink } from '../../src/modules/subscribers/emails.ts';
import { createProbeConnection } from '../../src/queues/connection.ts';
import { testConfig } from '../helpers/config.ts';
import { DEFAULT_MIGRATIONS_DIR, migrate } from '../../src/db/migrate.ts';
import { createEmptyDatabase, type TestDatabase } from '../helpers/postgres.ts';

const MIGRATION = '20261204090000_case_insensitive_addresses';

describe('case-folding stored addresses', () => {
  let database: TestDatabase;
  let db: Database;
  afterAll(async () => {
    await db?.$disconnect();
    await database?.drop();
  });

  it('merges case variants into the most alive reader, keeps their history, and refuses new ones', async () => {
    database = await createEmptyDatabase();
    // The database as the previous release left it.
    const before = await mkdtemp(path.join(os.tmpdir(), 'paperboy-migrations-'));
    await cp(DEFAULT_MIGRATIONS_DIR, before, { recursive: true });
    await rm(path.join(before, MIGRATION), { recursive: true });
    await migrate(database.url, { migrationsDir: before });
    db = createDatabase(database.url);

    await db.paper.createMany({
      data: ['2611.00001', '2611.00002', '2611.00003'].map((id) => ({
        id,
        title: id,
        abstract: '',
        authors: [],
        publishedAt: new Date('2026-11-01'),
        listedAt: new Date('2026-11-01'),
        source: 'hf_daily' as const,
      })),
    });
    const reader = (email: string, status: 'active' | 'pending' | 'unsubscribed', confirmedAt?: string) =>
      db.subscriber.create({ data: { email, status, confirmedAt: confirmedAt ? new Date(confirmedAt) : null } });
    const active = await reader('Victim@example.org', 'active', '2026-11-02T07:00:00Z');
    const pending = await reader('VICTIM@example.org', 'pending');
    const left = await reader('victim@example.org', 'unsubscribed', '2026-11-01T07:00:00Z');
    const other = await reader('Other@Example.org', 'active');
    const sentDigest = async (subscriberId: string, key: string, papers: string[]) => {
      const delivery = await db.delivery.create({
        data: { subscriberId, kind: 'digest', digestKey: key, status: 'sent', dueAt: new Date(), paperIds: papers },
      });
      await db.sentPaper.createMany({
        data: papers.map((paperId) => ({ subscriberId, paperId, deliveryId: delivery.id })),
      });
      return delivery.id;
    };
    await sentDigest(active.id, '2026-11-03', ['2611.00001']);
    // Both got that day's digest: one row must be renamed, not lost.
    const leftSameDay = await sentDigest(left.id, '2026-11-03', ['2611.00001', '2611.00002']);
    await sentDigest(left.id, '2026-11-04', ['2611.00003']);
    const waiting = await db.delivery.create({
      data: { subscriberId: pending.id, kind: 'confirm', digestKey: 'v1:w', dueAt: new Date() },
    });
    await db.event.create({ data: { subscriberId: pending.id, type: 'signup' } });

    await migrate(database.url);

    expect(await db.subscriber.findMany({ select: { email: true }, orderBy: { email: 'asc' } })).toEqual([
      { email: 'other@example.org' },
      { email: 'victim@example.org' },
    ]);
    const kept = await db.subscriber.findUniqueOrThrow({ where: { email: 'victim@example.org' } });
    expect(kept).toMatchObject({ id: active.id, status: 'active' });
    expect((await db.subscriber.findUniqueOrThrow({ where: { email: 'other@example.org' } })).id).toBe(other.id);
    // Every paper any variant was sent stays sent to the mailbox.
    const sent = await db.sentPaper.findMany({ where: { subscriberId: kept.id }, orderBy: { paperId: 'asc' } });
    expect(sent.map((s) => s.paperId)).toEqual(['2611.00001', '2611.00002', '2611.00003']);
    // Every delivery is still there, the colliding one under a marked key, the unsent one skipped.
    const deliveries = await db.delivery.findMany({ where: { subscriberId: kept.id } });
    expect(deliveries).toHaveLength(4);
    expect(deliveries.find((d) => d.id === leftSameDay)!.digestKey).toBe(`2026-11-03#merged-${leftSameDay}`);
    // Skipped, and under a marked key, so it never blocks the kept reader's own for that key.
    expect(deliveries.find((d) => d.id === waiting.id)).toMatchObject({
      status: 'skipped',
      digestKey: `v1:w#merged-${waiting.id}`,
    });
    const events = await db.event.findMany({ where: { subscriberId: kept.id } });
    expect(events.map((e) => e.type).sort()).toEqual(['merged_case_variants', 'signup']);
    expect(events.find((e) => e.type === 'merged_case_variants')!.data).toEqual({ merged: 2 });

    await expect(db.subscriber.create({ data: { email: 'Newcomer@example.org' } })).rejects.toThrow(
      /subscriber_email_case_folded/,
    );

    // The unsubscribe link in an email sent to a merged variant still works, for the reader that stayed.
    const config = testConfig({ DATABASE_URL: database.url, PUBLIC_URL: 'https://papers.example.org' });
    const redis = createProbeConnection(config.REDIS_URL);
    const app = await buildApp({ config, db, redis, logger: createLogger(config) });
    try {
      const link = new URL(subscriberLink(config, pending, 'unsubscribe')).pathname;
      const oneClick = await app.inject({ method: 'POST', url: link, payload: { 'List-Unsubscribe': 'One-Click' } });
      expect(oneClick.statusCode, oneClick.body).toBe(200);
      expect(await db.subscriber.findUniqueOrThrow({ where: { id: kept.id } })).toMatchObject({
        status: 'unsubscribed',
      });
      // Only unsubscribing: a variant's settings link opens nothing.
      expect((await app.inject(new URL(subscriberLink(config, pending, 'manage')).pathname)).statusCode).toBe(410);
    } finally {
      await app.close();
      redis.disconnect();
    }
  });
});
