// Comparing secrets (admin tokens, the webhook secret, HMAC signatures) without the timing telling anything.
import { createHash, timingSafeEqual } from 'node:crypto';

export const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Whether `candidate` equals one of `known`, all of equal length (hashes or HMACs). Every entry is
 * compared, so the timing says neither which matched nor how many there are.
 */
export function matchesAny(candidate: Buffer, known: readonly Buffer[]): boolean {
  let matched = false;
  for (const entry of known) matched = timingSafeEqual(candidate, entry) || matched;
  return matched;
}
