// Probes for orchestrators: /healthz says the process is up, /readyz that it can serve (Postgres with every
// migration applied, and Redis).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { checkReadiness, type CheckName, type CheckResult, type ReadinessDeps } from '../modules/health/readiness.ts';

const checkSchema = z.object({ status: z.enum(['ok', 'failing']), error: z.string().optional() });
const readinessSchema = z.object({
  status: z.enum(['ready', 'unavailable']),
  message: z.string(),
  checks: z.object({ database: checkSchema, migrations: checkSchema, redis: checkSchema }),
});

const CHECK_NAMES: Record<CheckName, string> = {
  database: 'PostgreSQL',
  migrations: 'the database schema',
  redis: 'Redis',
};

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

const describe = (result: CheckResult) =>
  result.ok ? { status: 'ok' as const } : { status: 'failing' as const, error: result.error };

export const opsRoutes: FastifyPluginAsyncZod<ReadinessDeps> = async (app, deps) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process is up.',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: PostgreSQL answers with every migration applied, and Redis answers.',
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (request, reply) => {
      const { ready, checks } = await checkReadiness(deps);
      const failing = (Object.keys(checks) as CheckName[]).filter((name) => !checks[name].ok);
      const body = {
        status: ready ? ('ready' as const) : ('unavailable' as const),
        message: ready
          ? 'PostgreSQL and Redis are answering and the schema is up to date.'
          : capitalise(`${failing.map((name) => CHECK_NAMES[name]).join(' and ')} not available.`),
        checks: {
          database: describe(checks.database),
          migrations: describe(checks.migrations),
          redis: describe(checks.redis),
        },
      };
      if (!ready) request.log.warn({ checks: body.checks }, body.message);
      return reply.code(ready ? 200 : 503).send(body);
    },
  );
};
