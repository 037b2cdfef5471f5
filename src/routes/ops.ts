// Probes for orchestrators: /healthz says the process is up, /readyz that Postgres and Redis answer.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { checkReadiness, type ReadinessDeps } from '../modules/health/readiness.ts';

const checkSchema = z.object({ status: z.enum(['ok', 'failing']), error: z.string().optional() });
const readinessSchema = z.object({
  status: z.enum(['ready', 'unavailable']),
  message: z.string(),
  checks: z.object({ database: checkSchema, redis: checkSchema }),
});

const SERVICE_NAMES = { database: 'PostgreSQL', redis: 'Redis' } as const;

export const opsRoutes: FastifyPluginAsyncZod<ReadinessDeps> = async (app, deps) => {
  // Orchestrators probe every few seconds: log these only when something is wrong.
  app.get('/healthz', { schema: { response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/readyz',
    { schema: { response: { 200: readinessSchema, 503: readinessSchema } } },
    async (request, reply) => {
      const { ready, checks } = await checkReadiness(deps);
      const failing = (Object.keys(checks) as (keyof typeof checks)[]).filter((name) => !checks[name].ok);
      const body = {
        status: ready ? ('ready' as const) : ('unavailable' as const),
        message: ready
          ? 'PostgreSQL and Redis are answering.'
          : `${failing.map((name) => SERVICE_NAMES[name]).join(' and ')} not answering.`,
        checks: {
          database: checks.database.ok
            ? { status: 'ok' as const }
            : { status: 'failing' as const, error: checks.database.error },
          redis: checks.redis.ok
            ? { status: 'ok' as const }
            : { status: 'failing' as const, error: checks.redis.error },
        },
      };
      if (!ready) request.log.warn({ checks: body.checks }, body.message);
      return reply.code(ready ? 200 : 503).send(body);
    },
  );
};
