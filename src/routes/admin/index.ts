// Admin API under /api/v1/admin; src/app.ts puts it (with the queue dashboard and /metrics) behind
// requireAdmin (./guard.ts).
import type { Queue } from 'bullmq';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import type { EmailTemplates } from '../../modules/mail/templates.ts';
import { MAX_FEED_BYTES } from '../../modules/papers/ingest.ts';
import type { DeliveryJob } from '../../queues/deliveries.ts';
import { adminDeliveryRoutes } from './deliveries.ts';
import { adminPaperRoutes } from './papers.ts';
import { adminStatsRoutes } from './stats.ts';
import { adminSubscriberRoutes } from './subscribers.ts';
import { adminSuppressionRoutes } from './suppressions.ts';
import { adminTopicRoutes } from './topics.ts';

export interface AdminDeps {
  db: Database;
  config: Config;
  templates: EmailTemplates;
  /** Where a retried delivery goes: transactional mail and digests have their own queues. */
  mailQueue: Queue<DeliveryJob>;
  digestQueue: Queue<DeliveryJob>;
}

export const adminRoutes: FastifyPluginAsyncZod<AdminDeps> = async (app, deps) => {
  // Atom feeds arrive as XML text; the ingest route tells the formats apart.
  app.addContentTypeParser(
    ['application/atom+xml', 'application/xml', 'text/xml'],
    { parseAs: 'string', bodyLimit: MAX_FEED_BYTES },
    (_request, body, done) => done(null, body),
  );

  await app.register(adminPaperRoutes, { db: deps.db });
  await app.register(adminTopicRoutes, { db: deps.db });
  await app.register(adminSubscriberRoutes, { db: deps.db, config: deps.config, templates: deps.templates });
  await app.register(adminDeliveryRoutes, {
    db: deps.db,
    config: deps.config,
    queues: { mail: deps.mailQueue, digest: deps.digestQueue },
  });
  await app.register(adminSuppressionRoutes, { db: deps.db });
  await app.register(adminStatsRoutes, { db: deps.db });
};
