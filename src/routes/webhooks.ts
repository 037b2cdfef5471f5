// Webhooks from outside: bounces and complaints reported by the mail provider (or an adapter in front of it).
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../config.ts';
import type { Database } from '../db/client.ts';
import { InvalidInputError } from '../errors.ts';
import { problem } from './schemas.ts';
import {
  bounceOutcome,
  bounceReportOf,
  bounceWebhookBody,
  recordBounce,
  type BounceOutcome,
} from '../modules/subscribers/bounces.ts';
import {
  isBearerSecret,
  isFreshSignature,
  isSignedBody,
  parseSignatureHeader,
  SIGNATURE_HEADER,
} from '../modules/webhooks/auth.ts';

export interface WebhookDeps {
  config: Pick<Config, 'BOUNCE_WEBHOOK_SECRET' | 'SOFT_BOUNCE_LIMIT' | 'SOFT_BOUNCE_WINDOW_DAYS'>;
  db: Database;
}

/** 500 events with long reasons fit comfortably. */
const MAX_BODY_BYTES = 1024 * 1024;

const UNAUTHORIZED = {
  error: 'Unauthorized',
  message:
    'Send BOUNCE_WEBHOOK_SECRET as "Authorization: Bearer <secret>", or sign the body in "X-Paperboy-Signature: ' +
    't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".',
};

const header = (request: FastifyRequest, name: string) => {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
};

export const webhookRoutes: FastifyPluginAsyncZod<WebhookDeps> = async (app, { config, db }) => {
  const secret = config.BOUNCE_WEBHOOK_SECRET;

  // Only this plugin sees JSON as raw bytes: the signature covers the body exactly as it was sent, so it is
  // checked before the body is parsed (and an unauthenticated body is never parsed at all).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.addHook('onRequest', async (request, reply) => {
    if (!secret) {
      // 503 rather than 404: providers retry a 5xx, so events sent before the operator sets the secret arrive
      // once it is set, instead of being dropped (or the endpoint disabled) as a 4xx would make them.
      request.log.warn('bounce webhook called but BOUNCE_WEBHOOK_SECRET is not set');
      return reply.code(503).send({
        error: 'Service Unavailable',
        message: 'The bounce webhook is not set up on this server: its operator must set BOUNCE_WEBHOOK_SECRET.',
      });
    }
    const authorization = header(request, 'authorization');
    const signature = header(request, SIGNATURE_HEADER);
    const refuse = (message = UNAUTHORIZED.message) =>
      reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="paperboy-webhooks"')
        .send({ error: UNAUTHORIZED.error, message });
    if (authorization !== undefined) {
      if (!isBearerSecret(authorization, secret)) return refuse();
      return;
    }
    if (signature === undefined) return refuse();
    const parsed = parseSignatureHeader(signature);
    if (!parsed) return refuse(`X-Paperboy-Signature must look like "t=<unix seconds>,v1=<64 hex digits>".`);
    if (!isFreshSignature(parsed)) {
      return refuse(
        'The X-Paperboy-Signature timestamp is more than 5 minutes away from our clock: sign each request as you send it.',
      );
    }
  });

  app.addHook('preValidation', async (request, reply) => {
    // Fastify parses text/plain by itself; this plugin only wants the JSON bytes the signature covers.
    if (!Buffer.isBuffer(request.body)) {
      return reply.code(415).send({
        error: 'Unsupported Media Type',
        message: 'Send the events as JSON (Content-Type: application/json).',
      });
    }
    const raw = request.body;
    const signature = header(request, SIGNATURE_HEADER);
    // onRequest let through a good bearer secret, or a well-formed fresh signature still to be checked.
    if (header(request, 'authorization') === undefined && signature !== undefined) {
      if (!isSignedBody(parseSignatureHeader(signature)!, raw, secret!)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="paperboy-webhooks"')
          .send({ error: 'Unauthorized', message: 'The X-Paperboy-Signature does not match the body.' });
      }
    }
    try {
      request.body = JSON.parse(raw.toString('utf8')) as unknown;
    } catch (error) {
      throw new InvalidInputError(`The body is not valid JSON: ${(error as Error).message}`);
    }
  });

  app.post(
    '/bounces',
    {
      bodyLimit: MAX_BODY_BYTES,
      schema: {
        tags: ['webhooks'],
        summary: 'Report bounces and complaints',
        description:
          'One event, or { events: [...] } with up to 500. A hard bounce or a complaint suppresses the address at ' +
          'once; soft bounces once SOFT_BOUNCE_LIMIT of them happened within SOFT_BOUNCE_WINDOW_DAYS. An event ' +
          'already recorded (same id, or same address, type, occurredAt and reason) changes nothing. ' +
          'Authenticate with "Authorization: Bearer <BOUNCE_WEBHOOK_SECRET>" or an X-Paperboy-Signature header.',
        body: bounceWebhookBody,
        response: {
          200: z.union([bounceOutcome, z.object({ results: z.array(bounceOutcome) })]),
          400: problem,
          401: problem,
          413: problem,
          415: problem,
          503: problem,
        },
      },
    },
    async (request) => {
      const policy = {
        SOFT_BOUNCE_LIMIT: config.SOFT_BOUNCE_LIMIT,
        SOFT_BOUNCE_WINDOW_DAYS: config.SOFT_BOUNCE_WINDOW_DAYS,
      };
      const body = request.body;
      if (!('events' in body)) return recordBounce(db, bounceReportOf(body), policy);
      // One after another: events of one address in one batch must see each other.
      const results: BounceOutcome[] = [];
      for (const event of body.events) results.push(await recordBounce(db, bounceReportOf(event), policy));
      return { results };
    },
  );
};
