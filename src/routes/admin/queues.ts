// Bull Board at /admin/queues: what each queue holds, failed jobs and their errors, retries by hand.
// Jobs only carry delivery ids and every send claims its delivery in Postgres first, so a retry from
// here can never send an email twice.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyPluginAsync } from 'fastify';
import { useThirdPartyPagePolicy } from '../content-policy.ts';

export const queueDashboard: FastifyPluginAsync<{ prefix: string; queues: Queue[] }> = async (
  app,
  { prefix, queues },
) => {
  // The board's page also uses a web font, and a <base> element for its links.
  useThirdPartyPagePolicy(app, {
    styleSrc: ["'self'", "'unsafe-inline'", 'https://fonts.googleapis.com'],
    fontSrc: ["'self'", 'https://fonts.gstatic.com'],
    baseUri: ["'self'"],
  });
  const serverAdapter = new FastifyAdapter().setBasePath(prefix);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Paperboy queues' } },
  });
  await app.register(serverAdapter.registerPlugin());
};
