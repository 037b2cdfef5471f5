// GET /metrics in Prometheus' text format. src/app.ts puts it behind the admin token; METRICS_PORT
// serves the same registry without one (see src/metrics-server.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { registry } from '../metrics.ts';

export const metricsRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics of this process (requests, queues, emails, digests, ingest).',
        response: { 200: z.string().describe('Prometheus text exposition format') },
      },
    },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
};
