// The suppression list: addresses that must never be mailed, kept only as SHA-256 hashes (see address.ts).
// The only module that reads or writes the table, so "is this address suppressed?" has one answer.
import { z } from 'zod';
import type { Database, DbClient } from '../../db/client.ts';
import type { SuppressionReason } from '../../generated/prisma/client.ts';
import { after, decodeCursor, newestFirst, pageOf, type PageQuery } from '../admin/pagination.ts';
import { addressHash } from '../subscribers/address.ts';

export const addressHashSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, { message: 'must be the 64 hex digits of an address hash (SHA-256)' });

/** The columns an operator sees; the hash is all there is of the address. */
const entrySelect = { addressHash: true, reason: true, detail: true, createdAt: true } as const;

/** Whether this address (any spelling of it) must not be mailed. */
export async function isSuppressed(db: DbClient, email: string): Promise<boolean> {
  return isHashSuppressed(db, addressHash(email));
}

export async function isHashSuppressed(db: DbClient, hash: string): Promise<boolean> {
  return (await db.suppression.count({ where: { addressHash: hash } })) > 0;
}

/** Why and since when an address is suppressed, or null: what an operator is told before reactivating. */
export async function suppressionOf(
  db: DbClient,
  email: string,
): Promise<{ reason: SuppressionReason; createdAt: Date } | null> {
  return db.suppression.findUnique({
    where: { addressHash: addressHash(email) },
    select: { reason: true, createdAt: true },
  });
}

/**
 * Suppresses an address unless it already is: the first reason and date stay (someone who asked to be
 * forgotten after a hard bounce is still recorded as the hard bounce it was).
 */
export async function suppressAddress(db: DbClient, email: string, reason: SuppressionReason, detail?: string) {
  await db.suppression.upsert({
    where: { addressHash: addressHash(email) },
    create: { addressHash: addressHash(email), reason, detail: detail ?? null },
    update: {},
  });
}

/** A stronger reason replaces a weaker one; "forgotten" and "manual" were people's decisions and stay. */
const STRENGTH: Partial<Record<SuppressionReason, number>> = { soft_bounce: 1, hard_bounce: 2, complaint: 3 };

/**
 * Suppresses a hash for what the mail system learnt (a bounce, a complaint). Never weakens a suppression:
 * a complaint overrides a bounce, but nothing overrides a person's own "forget me" or an operator's entry.
 */
export async function suppressForFeedback(
  tx: DbClient,
  hash: string,
  reason: SuppressionReason,
  detail: string | null,
) {
  const existing = await tx.suppression.findUnique({ where: { addressHash: hash } });
  if (!existing) {
    await tx.suppression.upsert({
      where: { addressHash: hash },
      create: { addressHash: hash, reason, detail },
      update: {},
    });
    return;
  }
  const before = STRENGTH[existing.reason];
  if (before !== undefined && STRENGTH[reason]! > before) {
    await tx.suppression.update({ where: { addressHash: hash }, data: { reason, detail } });
  }
}

/**
 * An operator's suppression of a hash. Returns whether it is new: an address already suppressed keeps its
 * reason and date (a hard bounce stays a hard bounce). ON CONFLICT rather than catching a unique violation,
 * which would abort the caller's transaction.
 */
export async function suppressByHand(tx: DbClient, hash: string, detail: string | undefined): Promise<boolean> {
  const rows = await tx.$queryRaw<{ addressHash: string }[]>`
    INSERT INTO suppression (address_hash, reason, detail) VALUES (${hash}, 'manual', ${detail ?? null})
    ON CONFLICT (address_hash) DO NOTHING
    RETURNING address_hash AS "addressHash"`;
  return rows.length > 0;
}

/** One entry as operators see it; throws when there is none (callers ask right after writing it). */
export async function suppressionEntry(db: DbClient, hash: string) {
  return db.suppression.findUniqueOrThrow({ where: { addressHash: hash }, select: entrySelect });
}

/** Lifts a suppression; false when the hash was not suppressed. */
export async function liftSuppression(tx: DbClient, hash: string): Promise<boolean> {
  const { count } = await tx.suppression.deleteMany({ where: { addressHash: hash } });
  return count > 0;
}

export interface SuppressionFilter extends PageQuery {
  reason?: SuppressionReason | undefined;
  /** Looks up one address (by its hash). */
  email?: string | undefined;
}

export async function listSuppressions(db: Database, filter: SuppressionFilter) {
  const cursor = decodeCursor(filter.cursor, addressHashSchema);
  const rows = await db.suppression.findMany({
    where: {
      ...(filter.reason ? { reason: filter.reason } : {}),
      ...(filter.email !== undefined ? { addressHash: addressHash(filter.email) } : {}),
      ...after(cursor, 'addressHash'),
    },
    select: entrySelect,
    orderBy: [...newestFirst('addressHash')],
    take: filter.limit + 1,
  });
  return pageOf(rows, filter.limit, (row) => row.addressHash);
}

/**
 * Suppressions first created in [since, until), by reason: one row per address, so a bounce counts once
 * however it arrived (SMTP answer or webhook) and however often it was reported.
 */
export async function suppressionsCreatedBetween(
  db: Database,
  since: Date,
  until: Date,
): Promise<Partial<Record<SuppressionReason, number>>> {
  const rows = await db.suppression.groupBy({
    by: ['reason'],
    where: { createdAt: { gte: since, lt: until } },
    _count: { _all: true },
  });
  return Object.fromEntries(rows.map((row) => [row.reason, row._count._all]));
}
