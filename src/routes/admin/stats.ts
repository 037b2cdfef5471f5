// Admin stats: readers, topics, digests per day and deliverability in one answer.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { adminStats } from '../../modules/admin/stats.ts';
import { errors } from './schemas.ts';

const rates = z.object({
  sent: z.number(),
  bounces: z.number(),
  complaints: z.number(),
  bounceRate: z.number().nullable(),
  complaintRate: z.number().nullable(),
});

const statsResponse = z.object({
  generatedAt: z.date(),
  readers: z.object({
    byStatus: z.object({
      pending: z.number(),
      active: z.number(),
      unsubscribed: z.number(),
      bounced: z.number(),
      complained: z.number(),
    }),
    /** Active readers who paused their digests (counted in byStatus.active too). */
    pausedActive: z.number(),
  }),
  /** Readers with status active (paused ones included) who chose each topic. */
  activeReadersByTopic: z.array(z.object({ slug: z.string(), name: z.string(), activeReaders: z.number() })),
  /** Digests by the UTC day of their dueAt, the last 30 days up to today, oldest first. */
  digestsByDueDay: z.array(z.object({ day: z.string(), sent: z.number(), skipped: z.number(), failed: z.number() })),
  /** Emails sent (by sentAt) and bounce/complaint suppressions created in the last 7 and 30 days. */
  deliverability: z.object({ last7Days: rates, last30Days: rates }),
});

export const adminStatsRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.get(
    '/stats',
    {
      schema: {
        tags: ['admin'],
        summary: 'Readers by status and topic, digests per day, bounce and complaint rates',
        response: { 200: statsResponse, ...errors() },
      },
    },
    async () => adminStats(db),
  );
};
