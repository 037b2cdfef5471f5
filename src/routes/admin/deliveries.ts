// Admin delivery routes: find deliveries, look at one, send a failed one again.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import { retryDeliveryAsOperator } from '../../modules/admin/deliveries.ts';
import { pageQuery } from '../../modules/admin/pagination.ts';
import { deliveryDetail, listDeliveries } from '../../modules/mail/delivery-log.ts';
import type { RetryQueues } from '../../modules/mail/outbox.ts';
import { queryDate } from '../schemas.ts';
import { deliveryKind, deliveryStatus, deliverySummary, errors, page, uuidParams } from './schemas.ts';

const deliveryFull = deliverySummary.extend({
  paperIds: z.array(z.string()),
  messageId: z.string().nullable(),
  leaseUntil: z.date().nullable(),
  updatedAt: z.date(),
  subscriber: z.object({ email: z.string(), status: z.string() }),
});

const listQuery = pageQuery.extend({
  status: deliveryStatus.optional(),
  kind: deliveryKind.optional(),
  subscriberId: z.uuid({ message: 'must be a UUID' }).optional(),
  /** Created at or after (ISO 8601 date or date-time; a date means 00:00 UTC). */
  createdFrom: queryDate.optional(),
  /** Created strictly before. */
  createdBefore: queryDate.optional(),
});

export const adminDeliveryRoutes: FastifyPluginAsyncZod<{ db: Database; config: Config; queues: RetryQueues }> = async (
  app,
  { db, config, queues },
) => {
  app.get(
    '/deliveries',
    {
      schema: {
        tags: ['admin'],
        summary: 'List deliveries, newest first, by status, kind, reader or creation time',
        querystring: listQuery,
        response: { 200: page(deliverySummary), ...errors(400) },
      },
    },
    async (request) => listDeliveries(db, request.query),
  );

  app.get(
    '/deliveries/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'A delivery with its papers, Message-ID, attempts and last error',
        params: uuidParams,
        response: { 200: deliveryFull, ...errors(400, 404) },
      },
    },
    async (request) => deliveryDetail(db, request.params.id),
  );

  app.post(
    '/deliveries/:id/retry',
    {
      schema: {
        tags: ['admin'],
        summary: 'Send a failed delivery again (202: queued now, or by the reconciler if Redis is away)',
        params: uuidParams,
        response: {
          202: z.object({
            status: z.literal('pending'),
            /** False when Redis could not be reached: the reconciler queues the pending delivery later. */
            queued: z.boolean(),
            message: z.string(),
          }),
          ...errors(400, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const { queued } = await retryDeliveryAsOperator(
        db,
        queues,
        request.params.id,
        { cutoffHours: config.DIGEST_CUTOFF_HOURS },
        (error) =>
          request.log.warn(
            { err: error, deliveryId: request.params.id },
            'could not queue a retry; the reconciler will',
          ),
      );
      return reply.code(202).send({
        status: 'pending' as const,
        queued,
        message: queued
          ? 'The delivery is pending again and queued for sending.'
          : 'The delivery is pending again; the queue is unavailable, so it will be queued when the workers next reconcile.',
      });
    },
  );
};
