// Admin topic routes: the catalogue with its query and counts, and its creation, change and deletion.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import {
  createTopic,
  deleteTopic,
  listTopicsForAdmin,
  topicInput,
  topicPatch,
  updateTopic,
} from '../../modules/topics/topics.ts';
import { errors } from './schemas.ts';

const slugParams = z.object({ slug: z.string().max(60) });

const topic = z.object({
  id: z.number(),
  slug: z.string(),
  name: z.string(),
  description: z.string(),
  query: z.string(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
const topicWithCounts = topic.extend({
  /** Papers matching the topic. */
  papers: z.number(),
  /** Readers who chose it, whatever their status. */
  readers: z.number(),
});

export const adminTopicRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.get(
    '/topics',
    {
      schema: {
        tags: ['admin'],
        summary: 'List topics with their query and paper and reader counts',
        response: { 200: z.object({ topics: z.array(topicWithCounts) }), ...errors() },
      },
    },
    async () => ({ topics: await listTopicsForAdmin(db) }),
  );
  app.post(
    '/topics',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create a topic and match the stored papers to it',
        body: topicInput,
        response: { 201: topic, ...errors(400, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await createTopic(db, request.body)),
  );
  app.patch(
    '/topics/:slug',
    {
      schema: {
        tags: ['admin'],
        summary: 'Change a topic; a new query rematches the papers',
        params: slugParams,
        body: topicPatch,
        response: { 200: topic, ...errors(400, 404, 409) },
      },
    },
    async (request) => updateTopic(db, request.params.slug, request.body),
  );
  app.delete(
    '/topics/:slug',
    {
      schema: {
        tags: ['admin'],
        summary: "Delete a topic (readers' choices of it go too)",
        params: slugParams,
        response: { 204: z.undefined(), ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      await deleteTopic(db, request.params.slug);
      return reply.code(204).send();
    },
  );
};
