// Zod schemas shared by the admin routes: error answers, pages, and query values that arrive as text.
import { z } from 'zod';
import { strictDate } from '../../modules/papers/normalize.ts';

/** Every 4xx the app sends: the one error handler, the auth hook and the preValidation hook agree on it. */
export const errorResponse = z.object({
  error: z.string(),
  message: z.string(),
  /** Validation failures: one line per problem, `field: what is wrong`. */
  problems: z.array(z.string()).optional(),
});

/** Response schemas for the error statuses a route can answer with (401 applies to every admin route). */
export function errors<const Codes extends readonly number[]>(...codes: Codes) {
  return Object.fromEntries([401, ...codes].map((code) => [code, errorResponse])) as Record<
    401 | Codes[number],
    typeof errorResponse
  >;
}

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

/** `true` or `false` in a query string (z.coerce.boolean would read "false" as true). */
export const queryBoolean = z
  .enum(['true', 'false'], { message: 'must be true or false' })
  .transform((value) => value === 'true');

/** An ISO 8601 date or date-time in a query string. */
export const queryDate = z.string().transform((value, ctx) => {
  const date = strictDate(value);
  if (!date) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 date such as 2026-11-28 or 2026-11-28T07:00:00Z' });
    return z.NEVER;
  }
  return date;
});

export const uuidParams = z.object({ id: z.uuid({ message: 'must be a UUID' }) });
