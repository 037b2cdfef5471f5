// Admin API under /api/v1/admin; src/app.ts puts it behind requireAdmin (./guard.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import { NotFoundError } from '../../errors.ts';
import { previewDigest } from '../../modules/digests/compose.ts';
import type { EmailTemplates } from '../../modules/mail/templates.ts';
import { ingestFeed, MAX_FEED_BYTES } from '../../modules/papers/ingest.ts';
import {
  createTopic,
  deleteTopic,
  listTopicsForAdmin,
  topicInput,
  topicPatch,
  updateTopic,
} from '../../modules/topics/topics.ts';

export interface AdminDeps {
  db: Database;
  config: Config;
  templates: EmailTemplates;
}

const slugParams = z.object({ slug: z.string().max(60) });

export const adminRoutes: FastifyPluginAsyncZod<AdminDeps> = async (app, { db, config, templates }) => {
  // Atom feeds arrive as XML text; the route tells the formats apart.
  app.addContentTypeParser(
    ['application/atom+xml', 'application/xml', 'text/xml'],
    { parseAs: 'string', bodyLimit: MAX_FEED_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.post(
    '/papers',
    // Any JSON or XML body: parseFeed tells a feed from anything else and says what is wrong.
    { bodyLimit: MAX_FEED_BYTES, schema: { body: z.unknown() } },
    async (request) => ingestFeed(db, request.body),
  );

  app.get('/subscribers/:id/preview', { schema: { params: z.object({ id: z.uuid() }) } }, async (request, reply) => {
    const digest = await previewDigest(db, config, templates, request.params.id);
    if (digest === null && !(await db.subscriber.findUnique({ where: { id: request.params.id } }))) {
      throw new NotFoundError('There is no such subscriber.');
    }
    if (!digest) return reply.code(200).send({ message: 'No new papers match: the next digest would be skipped.' });
    return reply.type('text/html; charset=utf-8').send(digest.html);
  });

  app.get('/topics', async () => ({ topics: await listTopicsForAdmin(db) }));
  app.post('/topics', { schema: { body: topicInput } }, async (request, reply) =>
    reply.code(201).send(await createTopic(db, request.body)),
  );
  app.patch('/topics/:slug', { schema: { params: slugParams, body: topicPatch } }, async (request) =>
    updateTopic(db, request.params.slug, request.body),
  );
  app.delete('/topics/:slug', { schema: { params: slugParams } }, async (request, reply) => {
    await deleteTopic(db, request.params.slug);
    return reply.code(204).send();
  });
};
