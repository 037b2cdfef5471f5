// The API described by its own route schemas: OpenAPI 3 at /openapi.json, Swagger UI at /docs.
// Registered before every other route, so @fastify/swagger sees them all as they are added.
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RawServerDefault } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.ts';
import { useThirdPartyPagePolicy } from './content-policy.ts';

/** Where an admin token is required (the same gate as in src/app.ts). */
export const ADMIN_URL = /^\/(api\/v1\/admin|admin)(\/|$)|^\/metrics$/;

type AppInstance = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger, ZodTypeProvider>;

export async function registerApiDocs(app: AppInstance, publicUrl: string, version: string): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Paperboy',
        version,
        description:
          'Trending research papers by email. Public routes serve the signup pages, the signup API and the ' +
          'links in every email; admin routes need an admin token.',
      },
      servers: [{ url: publicUrl }],
      components: {
        securitySchemes: {
          adminToken: {
            type: 'http',
            scheme: 'bearer',
            description: 'One of ADMIN_TOKENS (or a token in ADMIN_TOKENS_FILE).',
          },
          adminBasic: { type: 'http', scheme: 'basic', description: 'Any user name, an admin token as the password.' },
        },
      },
      tags: [
        { name: 'subscriptions', description: 'Signing up, confirming, managing and leaving.' },
        { name: 'papers', description: 'Trending papers and topics, as JSON and feeds.' },
        { name: 'admin', description: 'Operating Paperboy (admin token required).' },
        { name: 'webhooks', description: 'Events from the mail provider.' },
        { name: 'operations', description: 'Probes, metrics and these docs.' },
      ],
    },
    transform: (input) => {
      const document = jsonSchemaTransform(input);
      if (!ADMIN_URL.test(input.url)) return document;
      return { ...document, schema: { ...document.schema, security: [{ adminToken: [] }, { adminBasic: [] }] } };
    },
    transformObject: jsonSchemaTransformObject,
  });

  await app.register(async (docs) => {
    useThirdPartyPagePolicy(docs);
    await docs.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { url: '/openapi.json' } });
  });

  app.get(
    '/openapi.json',
    { schema: { tags: ['operations'], summary: 'This API as an OpenAPI 3.1 document.', hide: true } },
    async () => app.swagger(),
  );
}
