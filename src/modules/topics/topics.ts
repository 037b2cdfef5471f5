// The topic catalogue: what readers can choose, and its administration.
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { ConflictError, InvalidInputError, NotFoundError } from '../../errors.ts';
import { isSearchableQuery, matchTopicToPapers } from './matching.ts';

export const topicInput = z.object({
  slug: z
    .string()
    .trim()
    .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, { message: 'use lower-case letters, digits and single hyphens' })
    .max(60),
  name: z.string().trim().min(1).max(80),
  description: z.string().trim().min(1).max(200),
  query: z.string().trim().min(1).max(2_000),
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

export async function createTopic(db: Database, input: TopicInput) {
  await assertSearchable(db, input.query);
  if (await db.topic.findUnique({ where: { slug: input.slug } })) {
    throw new ConflictError(`A topic with the slug "${input.slug}" already exists.`);
  }
  const topic = await db.topic.create({ data: input });
  await matchTopicToPapers(db, topic.id);
  return topic;
}

export async function updateTopic(db: Database, slug: string, patch: Partial<TopicInput>) {
  const existing = await db.topic.findUnique({ where: { slug } });
  if (!existing) throw new NotFoundError(`There is no topic "${slug}".`);
  if (patch.query !== undefined) await assertSearchable(db, patch.query);
  if (patch.slug && patch.slug !== slug && (await db.topic.findUnique({ where: { slug: patch.slug } }))) {
    throw new ConflictError(`A topic with the slug "${patch.slug}" already exists.`);
  }
  const topic = await db.topic.update({ where: { id: existing.id }, data: patch });
  if (patch.query !== undefined && patch.query !== existing.query) await matchTopicToPapers(db, topic.id);
  return topic;
}

export async function deleteTopic(db: Database, slug: string): Promise<void> {
  const { count } = await db.topic.deleteMany({ where: { slug } });
  if (count === 0) throw new NotFoundError(`There is no topic "${slug}".`);
}
