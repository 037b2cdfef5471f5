// Papers as operators see them: every stored paper, hidden and withdrawn ones too, and hiding one.
// Hidden papers are left out of lists, feeds and digests by the SQL that builds them (hidden_at IS NULL).
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { NotFoundError } from '../../errors.ts';
import { arxivId } from '../papers/normalize.ts';
import { recordEvent } from '../subscribers/subscriptions.ts';
import { after, decodeCursor, likeText, newestFirst, pageOf, type PageQuery } from './pagination.ts';

export interface AdminPaperFilter extends PageQuery {
  /** Case-insensitive substring of the title. */
  q?: string | undefined;
  hidden?: boolean | undefined;
}

const storedPaperId = z.string().refine((id) => arxivId(id) === id);

const paperSelect = {
  id: true,
  title: true,
  authors: true,
  source: true,
  upvotes: true,
  publishedAt: true,
  listedAt: true,
  hiddenAt: true,
  withdrawnAt: true,
  createdAt: true,
} as const;

export async function listPapersForAdmin(db: Database, filter: AdminPaperFilter) {
  const cursor = decodeCursor(filter.cursor, storedPaperId);
  const rows = await db.paper.findMany({
    where: {
      ...(filter.q ? { title: { contains: likeText(filter.q), mode: 'insensitive' } } : {}),
      ...(filter.hidden === undefined ? {} : { hiddenAt: filter.hidden ? { not: null } : null }),
      ...after(cursor, 'id'),
    },
    select: paperSelect,
    orderBy: [...newestFirst('id')],
    take: filter.limit + 1,
  });
  return pageOf(rows, filter.limit, (row) => row.id);
}

/** Hides or shows a paper again. Idempotent: hiding a hidden paper keeps the time it was first hidden. */
export async function setPaperHidden(db: Database, id: string, hidden: boolean, now = new Date()) {
  return db.$transaction(async (tx) => {
    const paper = await tx.paper.findUnique({ where: { id }, select: { hiddenAt: true } });
    if (!paper) throw new NotFoundError(`There is no paper "${id}".`);
    if (hidden !== (paper.hiddenAt !== null)) {
      await tx.paper.update({ where: { id }, data: { hiddenAt: hidden ? now : null } });
      await recordEvent(tx, null, hidden ? 'admin_paper_hidden' : 'admin_paper_unhidden', { paperId: id });
    }
    return tx.paper.findUniqueOrThrow({ where: { id }, select: paperSelect });
  });
}
