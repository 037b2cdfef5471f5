// Email addresses: validation, normalisation, and the hash that suppressions are stored under.
import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * Trimmed and case-folded, whole. RFC 5321 lets a local part be case-sensitive, but mailbox providers
 * deliver every spelling to one mailbox, so Paperboy treats them as one address: one subscription, one
 * suppression, one per-address limit (the database refuses an address that is not case-folded).
 */
export const emailAddress = z
  .string({ error: 'Enter your email address.' })
  .trim()
  .min(1, { error: 'Enter your email address.' })
  .max(254, { error: 'That address is too long (254 characters at most).' })
  .pipe(z.email({ error: 'That does not look like an email address (for example ada@example.org).' }))
  .refine((address) => address.split('@')[0]!.length <= 64, { error: 'The part before the @ is too long.' })
  .transform((address) => address.toLowerCase());

/** SHA-256 of the address, case-folded: a suppression must catch every spelling of the same mailbox. */
export function addressHash(address: string): string {
  return createHash('sha256').update(address.trim().toLowerCase()).digest('hex');
}
