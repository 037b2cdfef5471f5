// The suppression list as operators keep it. Only SHA-256 hashes of addresses are stored (see address.ts):
// an operator looks an address up or adds one by typing it, and the address itself is never written down.
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import type { SuppressionReason } from '../../generated/prisma/client.ts';
import { NotFoundError } from '../../errors.ts';
import { isPlainText, looksLikeAddress } from '../../text.ts';
import { addressHash } from '../subscribers/address.ts';
import { recordEvent } from '../subscribers/subscriptions.ts';
import { after, decodeCursor, newestFirst, pageOf, type PageQuery } from './pagination.ts';

export const addressHashSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, { message: 'must be the 64 hex digits of an address hash (SHA-256)' });

// A free-text note must not smuggle in what the table exists to avoid keeping, nor what Postgres text
// cannot hold (NUL). Length first: zod runs refinements even after .max() failed, so a 100 KB note would
// otherwise be scanned in full.
export const suppressionDetail = z
  .string()
  .trim()
  .max(500, { abort: true })
  .refine(isPlainText, { message: 'must not contain control characters or invalid Unicode', abort: true })
  .refine((detail) => !looksLikeAddress(detail), {
    message: 'must not contain an email address: suppressions keep only a hash of the address',
  });

export interface SuppressionFilter extends PageQuery {
  reason?: SuppressionReason | undefined;
  /** Looks up one address (by its hash). */
  email?: string | undefined;
}

const suppressionSelect = { addressHash: true, reason: true, detail: true, createdAt: true } as const;

export async function listSuppressions(db: Database, filter: SuppressionFilter) {
  const cursor = decodeCursor(filter.cursor, addressHashSchema);
  const rows = await db.suppression.findMany({
    where: {
      ...(filter.reason ? { reason: filter.reason } : {}),
      ...(filter.email !== undefined ? { addressHash: addressHash(filter.email) } : {}),
      ...after(cursor, 'addressHash'),
    },
    select: suppressionSelect,
    orderBy: [...newestFirst('addressHash')],
    take: filter.limit + 1,
  });
  return pageOf(rows, filter.limit, (row) => row.addressHash);
}

/**
 * Suppresses an address by hand. Idempotent: an address already suppressed keeps its reason and date
 * (a hard bounce stays a hard bounce) and `created` is false. The reader, if there is one, keeps their
 * status; every send checks the suppression first, so nothing reaches them either way.
 */
export async function addSuppression(db: Database, email: string, detail: string | undefined) {
  return db.$transaction(async (tx) => {
    const hash = addressHash(email);
    const rows = await tx.$queryRaw<{ addressHash: string }[]>`
      INSERT INTO suppression (address_hash, reason, detail) VALUES (${hash}, 'manual', ${detail ?? null})
      ON CONFLICT (address_hash) DO NOTHING
      RETURNING address_hash AS "addressHash"`;
    const created = rows.length > 0;
    if (created) {
      const subscriber = await tx.subscriber.findUnique({ where: { email }, select: { id: true } });
      await recordEvent(tx, subscriber?.id ?? null, 'admin_suppress', { addressHash: hash });
    }
    const suppression = await tx.suppression.findUniqueOrThrow({
      where: { addressHash: hash },
      select: suppressionSelect,
    });
    return { suppression, created };
  });
}

/** Lifts a suppression, by hash. The address may be mailed again (a reader must still sign up or be reactivated). */
export async function removeSuppression(db: Database, hash: string) {
  await db.$transaction(async (tx) => {
    const removed = await tx.suppression.deleteMany({ where: { addressHash: hash } });
    if (removed.count === 0) throw new NotFoundError('That address is not suppressed.');
    await recordEvent(tx, null, 'admin_unsuppress', { addressHash: hash });
  });
}
