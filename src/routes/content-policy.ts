// Pages that are not ours (Swagger UI, Bull Board) need a looser Content-Security-Policy than the
// site's strict default; @fastify/helmet reads a route's own policy from its config.
import type { FastifyInstance } from 'fastify';

type Directives = Record<string, string[]>;

/** Gives every route registered in this plugin (and its children) the policy made of these directives. */
export function useContentSecurityPolicy(app: FastifyInstance, directives: Directives): void {
  const helmet = { contentSecurityPolicy: { directives } };
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, helmet } as typeof route.config;
  });
}
