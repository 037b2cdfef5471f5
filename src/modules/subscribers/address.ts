// Email addresses: validation, normalisation, and the hash that suppressions are stored under.
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Trimmed, domain lower-cased (the local part may legally be case-sensitive, so it is kept). */
export const emailAddress = z
  .string({ error: 'Enter your email address.' })
  .trim()
  .min(1, { error: 'Enter your email address.' })
  .max(254, { error: 'That address is too long (254 characters at most).' })
  .pipe(z.email({ error: 'That does not look like an email address (for example ada@example.org).' }))
  .refine((address) => address.split('@')[0]!.length <= 64, { error: 'The part before the @ is too long.' })
  .transform((address) => {
    const at = address.lastIndexOf('@');
    return `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}`;
  });

/** SHA-256 of the address, case-folded: a suppression must catch every spelling of the same mailbox. */
export function addressHash(address: string): string {
  return createHash('sha256').update(address.trim().toLowerCase()).digest('hex');
}
