// Admin tokens: kept and compared only as SHA-256 hashes, in constant time, so neither a token file
// nor response timing reveals a token.
import { randomBytes } from 'node:crypto';
import type { Config } from '../../config.ts';
import { matchesAny, sha256 } from '../../secrets.ts';

/** Every accepted admin token's hash: ADMIN_TOKENS (hashed here) and the hashes in ADMIN_TOKENS_FILE. */
export function adminTokenHashes(config: Pick<Config, 'ADMIN_TOKENS' | 'ADMIN_TOKENS_FILE'>): Buffer[] {
  return [...config.ADMIN_TOKENS.map(sha256), ...config.ADMIN_TOKENS_FILE.map((hex) => Buffer.from(hex, 'hex'))];
}

/** A new admin token and the line to put in ADMIN_TOKENS_FILE for it. */
export function newAdminToken(): { token: string; fileLine: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, fileLine: `sha256:${sha256(token).toString('hex')}` };
}

/**
 * The token an Authorization header presents: `Bearer <token>` for scripts, or HTTP Basic with the
 * token as the password (any user name) so a browser can open the queue dashboard.
 */
function presentedToken(header: string | undefined): string | undefined {
  const [, scheme, value] = /^(\S+)\s+(\S+)\s*$/.exec(header ?? '') ?? [];
  if (!scheme || !value) return undefined;
  if (scheme.toLowerCase() === 'bearer') return value;
  if (scheme.toLowerCase() !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

/** Whether an Authorization header carries one of the admin tokens. */
export function isAdminAuthorization(header: string | undefined, tokenHashes: readonly Buffer[]): boolean {
  const presented = presentedToken(header);
  if (!presented) return false;
  return matchesAny(sha256(presented), tokenHashes);
}
