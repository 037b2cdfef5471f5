// Public topic catalogue.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../db/client.ts';
import { listTopics } from '../modules/topics/topics.ts';

const topicSchema = z.object({ slug: z.string(), name: z.string(), description: z.string() });

export const topicRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.get(
    '/api/v1/topics',
    {
      schema: {
        tags: ['papers'],
        summary: 'The topics a reader can choose.',
        response: { 200: z.object({ topics: z.array(topicSchema) }) },
      },
    },
    async () => ({
      topics: await listTopics(db),
    }),
  );
};
