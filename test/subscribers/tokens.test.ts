// Signed link tokens: what verifies, and every way a token is refused.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { signToken, TokenError, verifyToken, type TokenClaims } from '../../src/modules/subscribers/tokens.ts';

const keysOf = (value: string) => loadConfig({ TOKEN_KEYS: value }).TOKEN_KEYS;
const OLD = `old:${'o'.repeat(40)}`;
const NEW = `new:${'n'.repeat(40)}`;
const NOW = new Date('2026-11-28T07:00:00Z');
const claims = (overrides: Partial<TokenClaims> = {}): TokenClaims => ({
  subscriberId: randomUUID(),
  purpose: 'manage',
  version: 1,
  expiresAt: NOW.getTime() / 1000 + 3600,
  ...overrides,
});

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof TokenError) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe('tokens', () => {
  it('round-trips claims, including a topic, in a URL-safe string without the address', () => {
    const keys = keysOf(NEW);
    const original = claims({ purpose: 'unsubscribe', topicId: 7 });
    const token = signToken(keys, original);
    expect(token).toMatch(/^new\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(verifyToken(keys, token, 'unsubscribe', NOW)).toEqual(original);
  });

  it('signs with the newest key and still verifies links signed with an older one', () => {
    const before = signToken(keysOf(OLD), claims());
    const rotated = keysOf(`${OLD},${NEW}`);
    expect(signToken(rotated, claims()).startsWith('new.')).toBe(true);
    expect(refusal(() => verifyToken(rotated, before, 'manage', NOW))).toBe('accepted');
    // Once the old key is removed, its links stop working.
    expect(refusal(() => verifyToken(keysOf(NEW), before, 'manage', NOW))).toBe('forged');
  });

  it('refuses tampering: every flipped bit, a swapped payload, an unknown key id', () => {
    const keys = keysOf(NEW);
    const token = signToken(keys, claims());
    const bytes = Buffer.from(token);
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Buffer.from(bytes);
      flipped[i] = flipped[i]! ^ 0x01;
      expect(['forged', 'malformed']).toContain(refusal(() => verifyToken(keys, flipped.toString(), 'manage', NOW)));
    }
    const other = signToken(keys, claims());
    const [kid, , sig] = token.split('.');
    const swapped = `${kid}.${other.split('.')[1]}.${sig}`;
    expect(refusal(() => verifyToken(keys, swapped, 'manage', NOW))).toBe('forged');
    expect(refusal(() => verifyToken(keys, token.replace(/^new/, 'nope'), 'manage', NOW))).toBe('forged');
  });

  it('refuses expired, wrong-purpose and malformed tokens', () => {
    const keys = keysOf(NEW);
    const expired = signToken(keys, claims({ expiresAt: NOW.getTime() / 1000 - 1 }));
    expect(refusal(() => verifyToken(keys, expired, 'manage', NOW))).toBe('expired');
    const confirm = signToken(keys, claims({ purpose: 'confirm' }));
    expect(refusal(() => verifyToken(keys, confirm, 'unsubscribe', NOW))).toBe('wrong-purpose');
    for (const junk of ['', 'a.b', 'a.b.c.d', 'new.<script>.x', '...', 'new.%00.abc']) {
      expect(['malformed', 'forged']).toContain(refusal(() => verifyToken(keys, junk, 'manage', NOW)));
    }
  });
});
