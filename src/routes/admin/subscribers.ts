// Admin subscriber routes: find readers, look at one, change their status, delete them, preview a digest.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import { NotFoundError } from '../../errors.ts';
import {
  changeSubscriberStatus,
  deleteSubscriber,
  listSubscribers,
  statusChange,
  subscriberDetail,
} from '../../modules/admin/subscribers.ts';
import { pageQuery } from '../../modules/admin/pagination.ts';
import { previewDigest } from '../../modules/digests/compose.ts';
import type { EmailTemplates } from '../../modules/mail/templates.ts';
import { deliverySummary, errors, page, uuidParams } from './schemas.ts';

const subscriberStatus = z.enum(['pending', 'active', 'unsubscribed', 'bounced', 'complained']);

const subscriberSummary = z.object({
  id: z.string(),
  email: z.string(),
  status: subscriberStatus,
  pausedAt: z.date().nullable(),
  frequency: z.enum(['daily', 'weekdays', 'weekly']),
  timeZone: z.string(),
  sendHour: z.number(),
  createdAt: z.date(),
  confirmedAt: z.date().nullable(),
  unsubscribedAt: z.date().nullable(),
  /** Slugs of the chosen topics. */
  topics: z.array(z.string()),
});

const subscriberProfile = subscriberSummary.extend({
  weeklyDay: z.number().nullable(),
  maxPapers: z.number(),
  includeKeywords: z.array(z.string()),
  excludeKeywords: z.array(z.string()),
  tokenVersion: z.number(),
  consentAt: z.date().nullable(),
  consentIp: z.string().nullable(),
  consentUserAgent: z.string().nullable(),
  consentFormVersion: z.string().nullable(),
  confirmedIp: z.string().nullable(),
  updatedAt: z.date(),
  /** Whether the address is on the suppression list, and why. */
  suppressed: z.object({ reason: z.string(), createdAt: z.date() }).nullable(),
  deliveries: z.array(deliverySummary),
  events: z.array(z.object({ id: z.string(), type: z.string(), data: z.unknown(), createdAt: z.date() })),
});

const listQuery = pageQuery.extend({
  email: z.string().trim().min(1).max(254).optional(),
  status: subscriberStatus.optional(),
  topic: z.string().max(60).optional(),
});

export const adminSubscriberRoutes: FastifyPluginAsyncZod<{
  db: Database;
  config: Config;
  templates: EmailTemplates;
}> = async (app, { db, config, templates }) => {
  app.get(
    '/subscribers',
    {
      schema: {
        tags: ['admin'],
        summary: 'List readers, newest first, by address substring, status or topic',
        querystring: listQuery,
        response: { 200: page(subscriberSummary), ...errors(400, 404) },
      },
    },
    async (request) => listSubscribers(db, request.query),
  );

  app.get(
    '/subscribers/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'A reader: profile, topics, latest 50 deliveries and latest 100 events',
        params: uuidParams,
        response: { 200: subscriberProfile, ...errors(400, 404) },
      },
    },
    async (request) => {
      const subscriber = await subscriberDetail(db, request.params.id);
      if (!subscriber) throw new NotFoundError('There is no such subscriber.');
      return subscriber;
    },
  );

  app.patch(
    '/subscribers/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'Unsubscribe, reactivate, pause or resume a reader',
        params: uuidParams,
        body: statusChange,
        response: { 200: subscriberProfile, ...errors(400, 404, 409) },
      },
    },
    async (request) => {
      await changeSubscriberStatus(db, request.params.id, request.body);
      const subscriber = await subscriberDetail(db, request.params.id);
      if (!subscriber) throw new NotFoundError('There is no such subscriber.');
      return subscriber;
    },
  );

  app.delete(
    '/subscribers/:id',
    {
      schema: {
        tags: ['admin'],
        summary: "Delete a reader and their history; the address stays suppressed as 'forgotten'",
        params: uuidParams,
        response: { 204: z.undefined(), ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      await deleteSubscriber(db, request.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/subscribers/:id/preview',
    {
      schema: {
        tags: ['admin'],
        summary: "A reader's next digest as HTML; nothing is sent or recorded",
        params: uuidParams,
        response: {
          200: z.union([z.string().describe('The digest as text/html'), z.object({ message: z.string() })]),
          ...errors(400, 404),
        },
      },
    },
    async (request, reply) => {
      const digest = await previewDigest(db, config, templates, request.params.id);
      if (digest === null && !(await db.subscriber.findUnique({ where: { id: request.params.id } }))) {
        throw new NotFoundError('There is no such subscriber.');
      }
      if (!digest) return reply.code(200).send({ message: 'No new papers match: the next digest would be skipped.' });
      return reply.type('text/html; charset=utf-8').send(digest.html);
    },
  );
};
