// The site's own stylesheet and script, served from public/ (kept out of the pages so the CSP stays strict).
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';

const ASSETS = {
  'site.css': 'text/css; charset=utf-8',
  'signup.js': 'text/javascript; charset=utf-8',
} as const;

export const assetRoutes: FastifyPluginAsync = async (app) => {
  for (const [name, type] of Object.entries(ASSETS)) {
    const body = readFileSync(new URL(`../../public/${name}`, import.meta.url));
    app.get(`/assets/${name}`, async (_request, reply) =>
      reply.type(type).header('cache-control', 'public, max-age=3600').send(body),
    );
  }
};
