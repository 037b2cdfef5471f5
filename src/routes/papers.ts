// Public paper lists: the JSON API and RSS/Atom feeds, per topic and for everything trending.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../db/client.ts';
import { NotFoundError } from '../errors.ts';
import { renderAtom, renderRss } from '../modules/papers/feeds.ts';
import { paperUrl, rankPapers } from '../modules/papers/ranking.ts';
import { problem, queryDate } from './schemas.ts';

const FEED_SIZE = 50;
const FEED_WINDOW_DAYS = 30;

const paperSchema = z.object({
  id: z.string(),
  title: z.string(),
  abstract: z.string(),
  aiSummary: z.string().nullable(),
  authors: z.array(z.string()),
  url: z.string(),
  githubUrl: z.string().nullable(),
  projectUrl: z.string().nullable(),
  upvotes: z.number(),
  publishedAt: z.date(),
  listedAt: z.date(),
  topics: z.array(z.string()),
  score: z.number(),
});

const listQuery = z.object({
  topic: z.string().max(60).optional(),
  since: queryDate.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});

export const paperRoutes: FastifyPluginAsyncZod<{ db: Database; publicUrl: string }> = async (
  app,
  { db, publicUrl },
) => {
  app.get(
    '/api/v1/papers',
    {
      schema: {
        tags: ['papers'],
        summary: 'Trending papers, best first, optionally for one topic; page on with nextCursor.',
        querystring: listQuery,
        response: {
          200: z.object({ papers: z.array(paperSchema), nextCursor: z.string().nullable() }),
          400: problem,
          404: problem,
        },
      },
    },
    async (request) => {
      const { papers, nextCursor } = await rankPapers(db, request.query);
      return { papers: papers.map((paper) => ({ ...paper, url: paperUrl(paper) })), nextCursor };
    },
  );

  // /feeds/all.xml, /feeds/<topic>.xml (RSS 2.0) and the same names with .atom (Atom 1.0).
  const feedSchema = {
    tags: ['papers'],
    summary: 'RSS 2.0 (/feeds/<topic>.xml) or Atom (/feeds/<topic>.atom) of trending papers; `all` for every topic.',
    params: z.object({ file: z.string().max(80).describe('e.g. all.xml, model-merging.atom') }),
    response: {
      200: {
        description: 'The feed',
        content: { 'application/rss+xml': { schema: z.string() }, 'application/atom+xml': { schema: z.string() } },
      },
      404: problem,
    },
  };
  app.get('/feeds/:file', { schema: feedSchema }, async (request, reply) => {
    const match = /^([a-z0-9-]+)\.(xml|atom)$/.exec(request.params.file);
    if (!match) throw new NotFoundError('Feeds are at /feeds/all.xml or /feeds/<topic>.xml (RSS), or .atom (Atom).');
    const [, name, kind] = match as unknown as [string, string, 'xml' | 'atom'];
    const topic = name === 'all' ? undefined : await db.topic.findUnique({ where: { slug: name } });
    if (name !== 'all' && !topic) throw new NotFoundError(`There is no topic "${name}".`);

    const now = new Date();
    const since = new Date(now.getTime() - FEED_WINDOW_DAYS * 86_400_000);
    const { papers } = await rankPapers(db, { topic: topic?.slug, since, limit: FEED_SIZE, now });
    const info = {
      title: topic ? `Trending papers: ${topic.name}` : 'Trending papers',
      description: topic ? topic.description : 'The research papers trending today, ranked by Paperboy.',
      siteUrl: `${publicUrl}/`,
      selfUrl: `${publicUrl}/feeds/${request.params.file}`,
      updated: papers.reduce((latest, paper) => (paper.listedAt > latest ? paper.listedAt : latest), new Date(0)),
    };
    return kind === 'xml'
      ? reply.type('application/rss+xml; charset=utf-8').send(renderRss(info, papers))
      : reply.type('application/atom+xml; charset=utf-8').send(renderAtom(info, papers));
  });
};
