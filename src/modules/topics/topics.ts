// The topic catalogue: what readers can choose, and its administration.
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import { ConflictError, InvalidInputError, NotFoundError } from '../../errors.ts';
import { isOneLine, isPlainText } from '../../text.ts';
import { isSearchableQuery, matchTopicToPapers } from './matching.ts';

const plainText = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(isPlainText, { message: 'must not contain control characters or invalid Unicode' });
const oneLine = (max: number) => plainText(max).refine(isOneLine, { message: 'must be one line (no line breaks)' });

export const topicInput = z.object({
  slug: z
    .string()
    .trim()
    .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, { message: 'use lower-case letters, digits and single hyphens' })
    .max(60),
  name: oneLine(80),
  description: plainText(200),
  query: plainText(2_000),
});
export type TopicInput = z.infer<typeof topicInput>;
export const topicPatch = topicInput.partial();

export interface TopicSummary {
  slug: string;
  name: string;
  description: string;
}

/** The public catalogue, in a stable order. */
export async function listTopics(db: Database): Promise<TopicSummary[]> {
  return db.topic.findMany({ select: { slug: true, name: true, description: true }, orderBy: { name: 'asc' } });
}

/** The catalogue with what operators need to see: its query and how many papers and readers each has. */
export async function listTopicsForAdmin(db: Database) {
  const topics = await db.topic.findMany({
    orderBy: { name: 'asc' },
    include: { _count: { select: { papers: true, subscribers: true } } },
  });
  return topics.map(({ _count, ...topic }) => ({ ...topic, papers: _count.papers, readers: _count.subscribers }));
}

async function assertSearchable(db: Database, query: string) {
  if (!(await isSearchableQuery(db, query))) {
    throw new InvalidInputError('The query has no searchable words (only stop words or exclusions).');
  }
}

/** A slug taken by another topic, whether found first or raced in by a concurrent request (P2002). */
async function withUniqueSlug<T>(slug: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
      throw new ConflictError(`A topic with the slug "${slug}" already exists.`);
    }
    throw error;
  }
}

export async function createTopic(db: Database, input: TopicInput) {
  await assertSearchable(db, input.query);
  const topic = await withUniqueSlug(input.slug, () => db.topic.create({ data: input }));
  await matchTopicToPapers(db, topic.id);
  return topic;
}

export async function updateTopic(db: Database, slug: string, patch: Partial<TopicInput>) {
  const existing = await db.topic.findUnique({ where: { slug } });
  if (!existing) throw new NotFoundError(`There is no topic "${slug}".`);
  if (patch.query !== undefined) await assertSearchable(db, patch.query);
  const topic = await withUniqueSlug(patch.slug ?? slug, () =>
    db.topic.update({ where: { id: existing.id }, data: patch }),
  );
  if (patch.query !== undefined && patch.query !== existing.query) await matchTopicToPapers(db, topic.id);
  return topic;
}

export async function deleteTopic(db: Database, slug: string): Promise<void> {
  const { count } = await db.topic.deleteMany({ where: { slug } });
  if (count === 0) throw new NotFoundError(`There is no topic "${slug}".`);
}
