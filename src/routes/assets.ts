// The site's own stylesheet and script, served from public/ (kept out of the pages so the CSP stays strict).
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import { textResponse } from './schemas.ts';

const ASSETS = {
  'site.css': 'text/css; charset=utf-8',
  'signup.js': 'text/javascript; charset=utf-8',
} as const;

export const assetRoutes: FastifyPluginAsync = async (app) => {
  for (const [name, type] of Object.entries(ASSETS)) {
    const body = readFileSync(new URL(`../../public/${name}`, import.meta.url));
    const schema = {
      tags: ['operations'],
      summary: `The site's ${name}.`,
      response: { 200: textResponse(name, type.split(';')[0]) },
    };
    app.get(`/assets/${name}`, { schema }, async (_request, reply) =>
      reply.type(type).header('cache-control', 'public, max-age=3600').send(body),
    );
  }
};
