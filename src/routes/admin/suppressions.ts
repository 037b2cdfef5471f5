// Admin suppression routes: look up, add and lift suppressions. Addresses are only ever hashed here.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { pageQuery } from '../../modules/admin/pagination.ts';
import { addSuppression, removeSuppression, suppressionDetail } from '../../modules/admin/suppressions.ts';
import { addressHashSchema, listSuppressions } from '../../modules/mail/suppressions.ts';
import { addressHash, emailAddress } from '../../modules/subscribers/address.ts';
import { errors, page } from './schemas.ts';

const suppression = z.object({
  /** SHA-256 (hex) of the address, trimmed and lower-cased. */
  addressHash: z.string(),
  reason: z.enum(['hard_bounce', 'soft_bounce', 'complaint', 'forgotten', 'manual']),
  detail: z.string().nullable(),
  createdAt: z.date(),
});

export const adminSuppressionRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.get(
    '/suppressions',
    {
      schema: {
        tags: ['admin'],
        summary: 'List suppressions, newest first, by reason, or look one address up',
        querystring: pageQuery.extend({ reason: suppression.shape.reason.optional(), email: emailAddress.optional() }),
        response: { 200: page(suppression), ...errors(400) },
      },
    },
    async (request) => listSuppressions(db, request.query),
  );

  app.post(
    '/suppressions',
    {
      schema: {
        tags: ['admin'],
        summary: 'Suppress an address (201; 200 with the existing entry if it already is)',
        body: z
          .object({
            email: emailAddress,
            reason: z.literal('manual').default('manual'),
            detail: suppressionDetail.optional(),
          })
          .strict(),
        response: { 200: suppression, 201: suppression, ...errors(400) },
      },
    },
    async (request, reply) => {
      const { suppression: entry, created } = await addSuppression(db, request.body.email, request.body.detail);
      return reply.code(created ? 201 : 200).send(entry);
    },
  );

  app.delete(
    '/suppressions/:addressHash',
    {
      schema: {
        tags: ['admin'],
        summary: 'Lift the suppression of an address hash',
        params: z.object({ addressHash: addressHashSchema }),
        response: { 204: z.undefined(), ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      await removeSuppression(db, request.params.addressHash);
      return reply.code(204).send();
    },
  );

  app.delete(
    '/suppressions',
    {
      schema: {
        tags: ['admin'],
        summary: 'Lift the suppression of an address given as ?email=',
        querystring: z.object({ email: emailAddress }),
        response: { 204: z.undefined(), ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      await removeSuppression(db, addressHash(request.query.email));
      return reply.code(204).send();
    },
  );
};
