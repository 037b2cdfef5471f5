// Zod schemas shared by the admin routes: error answers, pages, and query values that arrive as text.
import { z } from 'zod';
import { problem } from '../schemas.ts';

/** Response schemas for the error statuses a route can answer with (401 applies to every admin route). */
export function errors<const Codes extends readonly number[]>(...codes: Codes) {
  return Object.fromEntries([401, ...codes].map((code) => [code, problem])) as Record<
    401 | Codes[number],
    typeof problem
  >;
}

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

/** `true` or `false` in a query string (z.coerce.boolean would read "false" as true). */
export const queryBoolean = z
  .enum(['true', 'false'], { message: 'must be true or false' })
  .transform((value) => value === 'true');

export const uuidParams = z.object({ id: z.uuid({ message: 'must be a UUID' }) });

export const deliveryKind = z.enum(['confirm', 'manage_link', 'digest']);
export const deliveryStatus = z.enum(['pending', 'sending', 'sent', 'skipped', 'failed']);

/** A delivery as the lists show it. */
export const deliverySummary = z.object({
  id: z.string(),
  subscriberId: z.string(),
  kind: deliveryKind,
  /** Digest: the reader's local date or ISO week; transactional mail: its send window. */
  digestKey: z.string(),
  status: deliveryStatus,
  dueAt: z.date(),
  sentAt: z.date().nullable(),
  attempts: z.number(),
  lastError: z.string().nullable(),
  createdAt: z.date(),
});
