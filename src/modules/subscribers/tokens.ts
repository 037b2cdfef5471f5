// Signed links: HMAC-SHA256 tokens bound to a subscriber, a purpose, a token version and an expiry.
// Format: `<key id>.<payload>.<signature>`, base64url. The address never appears in a URL.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../../config.ts';

export const TOKEN_PURPOSES = ['confirm', 'manage', 'unsubscribe', 'web-view'] as const;
export type TokenPurpose = (typeof TOKEN_PURPOSES)[number];

export interface TokenClaims {
  subscriberId: string;
  purpose: TokenPurpose;
  /** The subscriber's token version when the link was made; bumping it revokes every older link. */
  version: number;
  /** Unix seconds. */
  expiresAt: number;
  /** For a per-topic unsubscribe link: the topic to remove. */
  topicId?: number;
  /** For a web-view link: the digest to show. */
  deliveryId?: string;
}

export type TokenFailure = 'malformed' | 'forged' | 'expired' | 'wrong-purpose';

export class TokenError extends Error {
  readonly reason: TokenFailure;
  constructor(reason: TokenFailure) {
    super(`invalid token: ${reason}`);
    this.name = 'TokenError';
    this.reason = reason;
  }
}

const payloadSchema = z.object({
  s: z.uuid(),
  p: z.enum(TOKEN_PURPOSES),
  v: z.number().int().positive(),
  e: z.number().int().positive(),
  t: z.number().int().positive().optional(),
  d: z.uuid().optional(),
});

type Keyring = Config['TOKEN_KEYS'];

const sign = (secret: string, data: string) => createHmac('sha256', secret).update(data).digest();

/** Signs claims with the newest key (the last one in TOKEN_KEYS). */
export function signToken(keys: Keyring, claims: TokenClaims): string {
  const key = keys.at(-1);
  if (!key) throw new Error('no token signing key configured');
  const payload = Buffer.from(
    JSON.stringify({
      s: claims.subscriberId,
      p: claims.purpose,
      v: claims.version,
      e: claims.expiresAt,
      ...(claims.topicId ? { t: claims.topicId } : {}),
      ...(claims.deliveryId ? { d: claims.deliveryId } : {}),
    }),
  ).toString('base64url');
  const signed = `${key.id}.${payload}`;
  return `${signed}.${sign(key.secret, signed).toString('base64url')}`;
}

/**
 * Checks a token's signature (any configured key, by its id; compared in constant time), purpose and
 * expiry. The caller checks the version against the subscriber's current one.
 */
export function verifyToken(keys: Keyring, token: string, purpose: TokenPurpose, now: Date = new Date()): TokenClaims {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]+$/.test(part))) throw new TokenError('malformed');
  const [keyId, payload, signature] = parts as [string, string, string];
  const key = keys.find((k) => k.id === keyId);
  if (!key) throw new TokenError('forged');
  const expected = sign(key.secret, `${keyId}.${payload}`);
  const given = Buffer.from(signature, 'base64url');
  // Base64 has several spellings of the same bytes (spare bits in the last character): accept only ours.
  const canonical = given.toString('base64url') === signature;
  if (!canonical || given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new TokenError('forged');

  let claims: z.infer<typeof payloadSchema>;
  try {
    claims = payloadSchema.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch {
    // Correctly signed but unreadable: only a bug in signToken could make one.
    throw new TokenError('malformed');
  }
  if (claims.p !== purpose) throw new TokenError('wrong-purpose');
  if (claims.e * 1000 <= now.getTime()) throw new TokenError('expired');
  return {
    subscriberId: claims.s,
    purpose: claims.p,
    version: claims.v,
    expiresAt: claims.e,
    ...(claims.t ? { topicId: claims.t } : {}),
    ...(claims.d ? { deliveryId: claims.d } : {}),
  };
}
