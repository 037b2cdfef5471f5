// The suppression list as operators keep it. Only SHA-256 hashes of addresses are stored (see address.ts):
// an operator looks an address up or adds one by typing it, and the address itself is never written down.
// The table itself is the mail module's (mail/suppressions.ts); this adds what operators type and the audit.
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { NotFoundError } from '../../errors.ts';
import { isPlainText, looksLikeAddress } from '../../text.ts';
import { liftSuppression, suppressByHand, suppressionEntry } from '../mail/suppressions.ts';
import { addressHash } from '../subscribers/address.ts';
import { recordEvent } from '../subscribers/subscriptions.ts';

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

/**
 * Suppresses an address by hand. Idempotent: an address already suppressed keeps its reason and date
 * (a hard bounce stays a hard bounce) and `created` is false. The reader, if there is one, keeps their
 * status; every send checks the suppression first, so nothing reaches them either way.
 */
export async function addSuppression(db: Database, email: string, detail: string | undefined) {
  return db.$transaction(async (tx) => {
    const hash = addressHash(email);
    const created = await suppressByHand(tx, hash, detail);
    if (created) {
      const subscriber = await tx.subscriber.findUnique({ where: { email }, select: { id: true } });
      await recordEvent(tx, subscriber?.id ?? null, 'admin_suppress', { addressHash: hash });
    }
    return { suppression: await suppressionEntry(tx, hash), created };
  });
}

/** Lifts a suppression, by hash. The address may be mailed again (a reader must still sign up or be reactivated). */
export async function removeSuppression(db: Database, hash: string) {
  await db.$transaction(async (tx) => {
    if (!(await liftSuppression(tx, hash))) throw new NotFoundError('That address is not suppressed.');
    await recordEvent(tx, null, 'admin_unsuppress', { addressHash: hash });
  });
}
