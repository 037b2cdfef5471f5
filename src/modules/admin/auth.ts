// Admin bearer tokens: compared in constant time so response timing reveals nothing about a token.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Whether an Authorization header carries one of the configured admin tokens. */
export function isAdminAuthorization(header: string | undefined, tokens: readonly string[]): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  if (!presented) return false;
  // Hashing first gives equal-length inputs; every token is compared, so timing does not tell which matched.
  const candidate = digest(presented);
  let matched = false;
  for (const token of tokens) matched = timingSafeEqual(candidate, digest(token)) || matched;
  return matched;
}
