// Bull Board at /admin/queues: what each queue holds, failed jobs and their errors, retries by hand.
// Jobs only carry delivery ids and every send claims its delivery in Postgres first, so a retry from
// here can never send an email twice.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyPluginAsync } from 'fastify';
import { useContentSecurityPolicy } from '../content-policy.ts';

/** The board's page loads its own scripts and inline styles (and a web font); the rest stays strict. */
const DASHBOARD_POLICY = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'", 'https://fonts.googleapis.com'],
  fontSrc: ["'self'", 'https://fonts.gstatic.com'],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'self'"],
};

export const queueDashboard: FastifyPluginAsync<{ prefix: string; queues: Queue[] }> = async (
  app,
  { prefix, queues },
) => {
  useContentSecurityPolicy(app, DASHBOARD_POLICY);
  const serverAdapter = new FastifyAdapter().setBasePath(prefix);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Paperboy queues' } },
  });
  await app.register(serverAdapter.registerPlugin());
};
