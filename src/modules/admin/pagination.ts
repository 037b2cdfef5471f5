// Keyset pagination for the admin lists: newest first (createdAt desc, then id desc), with an opaque cursor.
// A keyset, unlike an offset, neither repeats nor skips rows when new ones arrive between two pages.
import { z } from 'zod';
import { InvalidInputError } from '../../errors.ts';
import { isStorableDate } from '../../text.ts';

export const DEFAULT_PAGE_SIZE = 50;

/** `limit` and `cursor` as every admin list takes them. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(DEFAULT_PAGE_SIZE),
  cursor: z.string().max(500).optional(),
});
export type PageQuery = z.infer<typeof pageQuery>;

export interface Cursor {
  createdAt: Date;
  id: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const cursorJson = z.object({
  createdAt: z.iso.datetime().refine((at) => isStorableDate(new Date(at))),
  id: z.string(),
});

/**
 * Reads a cursor made by `pageOf`. The id must have the list's own shape: a cursor from another list
 * would otherwise reach SQL as, say, a paper id compared with a uuid column.
 */
export function decodeCursor(raw: string | undefined, id: z.ZodType<string>): Cursor | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed = cursorJson.parse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
    return { createdAt: new Date(parsed.createdAt), id: id.parse(parsed.id) };
  } catch {
    throw new InvalidInputError('The cursor is not valid: pass back the nextCursor of a previous page of this list.');
  }
}

const encodeCursor = (cursor: Cursor) =>
  Buffer.from(JSON.stringify({ createdAt: cursor.createdAt.toISOString(), id: cursor.id })).toString('base64url');

/** The rows after the cursor in (createdAt desc, key desc) order, as a Prisma `where`. */
export function after<K extends string>(cursor: Cursor | undefined, key: K) {
  if (!cursor) return {};
  return {
    OR: [
      { createdAt: { lt: cursor.createdAt } },
      { createdAt: cursor.createdAt, [key]: { lt: cursor.id } } as { createdAt: Date } & Record<K, { lt: string }>,
    ],
  };
}

export const newestFirst = <K extends string>(key: K) =>
  [{ createdAt: 'desc' as const }, { [key]: 'desc' as const } as Record<K, 'desc'>] as const;

/** Cuts the `limit + 1` rows a query fetched into a page; the extra row only says whether there is more. */
export function pageOf<T extends { createdAt: Date }>(rows: T[], limit: number, idOf: (row: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.createdAt, id: idOf(last) }) : null,
  };
}

/**
 * A substring for Prisma's `contains`, which becomes LIKE without escaping: `%` and `_` typed by an
 * operator must match themselves, not anything.
 */
export const likeText = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);
