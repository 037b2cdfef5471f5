// Webhook credentials: a bearer secret, or an HMAC signature of the raw body that expires after a few minutes.
import { createHmac } from 'node:crypto';
import { matchesAny, sha256 } from '../../secrets.ts';

export const SIGNATURE_HEADER = 'x-paperboy-signature';
/** How far a signature's timestamp may be from our clock: a captured request cannot be replayed later. */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

/** Whether an Authorization header carries the secret as a bearer token (constant time). */
export function isBearerSecret(header: string, secret: string): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
  // Hashing first gives equal-length inputs, so the comparison's timing says nothing about the secret.
  return presented !== undefined && matchesAny(sha256(presented), [sha256(secret)]);
}

function hmac(secret: string, timestamp: number, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The X-Paperboy-Signature value for a body, as a sender (or a test) computes it. */
export function signatureHeader(secret: string, body: Buffer | string, now = new Date()): string {
  const timestamp = Math.floor(now.getTime() / 1000);
  return `t=${timestamp},v1=${hmac(secret, timestamp, Buffer.from(body)).toString('hex')}`;
}

export interface ParsedSignature {
  timestamp: number;
  /** Several v1 values are allowed, so a sender can sign with an old and a new secret while rotating. */
  signatures: Buffer[];
}

/** Reads `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`; undefined when it is not in that form. */
export function parseSignatureHeader(value: string): ParsedSignature | undefined {
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of value.split(',')) {
    const [key, item = ''] = part.trim().split('=', 2) as [string, string?];
    if (key === 't' && /^\d{1,12}$/.test(item)) timestamp = Number(item);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(item)) signatures.push(Buffer.from(item, 'hex'));
  }
  return timestamp === undefined || signatures.length === 0 ? undefined : { timestamp, signatures };
}

export function isFreshSignature(signature: ParsedSignature, now = new Date()): boolean {
  return Math.abs(now.getTime() / 1000 - signature.timestamp) <= SIGNATURE_TOLERANCE_SECONDS;
}

/** Whether one of the header's signatures is the HMAC of `<t>.<body>` with the secret (constant time). */
export function isSignedBody(signature: ParsedSignature, body: Buffer, secret: string): boolean {
  return matchesAny(hmac(secret, signature.timestamp, body), signature.signatures);
}
