// Admin paper routes: feed ingest, the full list (hidden and withdrawn included), hide and unhide.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { listPapersForAdmin, setPaperHidden } from '../../modules/admin/papers.ts';
import { pageQuery } from '../../modules/admin/pagination.ts';
import { ingestFeed, MAX_FEED_BYTES } from '../../modules/papers/ingest.ts';
import { errors, page, queryBoolean } from './schemas.ts';

const ingestReport = z.object({
  format: z.enum(['hf_daily', 'arxiv_atom']),
  total: z.number(),
  added: z.number(),
  updated: z.number(),
  unchanged: z.number(),
  skipped: z.array(z.object({ index: z.number(), id: z.string().optional(), reason: z.string() })),
});

const adminPaper = z.object({
  id: z.string(),
  title: z.string(),
  authors: z.array(z.string()),
  source: z.enum(['hf_daily', 'arxiv']),
  upvotes: z.number(),
  publishedAt: z.date(),
  listedAt: z.date(),
  hiddenAt: z.date().nullable(),
  withdrawnAt: z.date().nullable(),
  createdAt: z.date(),
});

const paperParams = z.object({ id: z.string().max(60) });

export const adminPaperRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.post(
    '/papers',
    {
      // Any JSON or XML body: parseFeed tells a feed from anything else and says what is wrong.
      bodyLimit: MAX_FEED_BYTES,
      schema: {
        tags: ['admin'],
        summary: 'Import a feed (Hugging Face daily papers JSON or arXiv Atom)',
        body: z.unknown(),
        response: { 200: ingestReport, ...errors(400, 413, 415) },
      },
    },
    async (request) => ingestFeed(db, request.body),
  );

  app.get(
    '/papers',
    {
      schema: {
        tags: ['admin'],
        summary: 'List stored papers, newest first, hidden and withdrawn ones included',
        querystring: pageQuery.extend({
          q: z.string().trim().min(1).max(200).optional(),
          hidden: queryBoolean.optional(),
        }),
        response: { 200: page(adminPaper), ...errors(400) },
      },
    },
    async (request) => listPapersForAdmin(db, request.query),
  );

  for (const [action, hidden] of [
    ['hide', true],
    ['unhide', false],
  ] as const) {
    app.post(
      `/papers/:id/${action}`,
      {
        schema: {
          tags: ['admin'],
          summary: hidden
            ? 'Hide a paper from lists, feeds and digests'
            : 'Show a hidden paper in lists, feeds and digests again',
          params: paperParams,
          response: { 200: adminPaper, ...errors(400, 404) },
        },
      },
      async (request) => setPaperHidden(db, request.params.id, hidden),
    );
  }
};
