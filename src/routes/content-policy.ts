// Pages that are not ours (Swagger UI, Bull Board) need a looser Content-Security-Policy than the
// site's strict default; @fastify/helmet reads a route's own policy from its config.
import type { FastifyInstance } from 'fastify';

type Directives = Record<string, string[]>;

/** Their own scripts and styles (with inline styles, which both set), nothing from elsewhere. */
const THIRD_PARTY_PAGE: Directives = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
};

/** Gives every route registered in this plugin (and its children) that policy, with `changes` on top. */
export function useThirdPartyPagePolicy(app: FastifyInstance, changes: Directives = {}): void {
  const helmet = { contentSecurityPolicy: { directives: { ...THIRD_PARTY_PAGE, ...changes } } };
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, helmet } as typeof route.config;
  });
}
