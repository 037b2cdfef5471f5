// Builds the Fastify app from explicit dependencies; tests drive it through inject().
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import Fastify, { LogController, type FastifyError } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Config } from './config.ts';
import { isOverloaded, isUnreadableForm } from './errors.ts';
import type { Database } from './db/client.ts';
import type { Logger } from './logger.ts';
import fastifyCookie from '@fastify/cookie';
import fastifyCors from '@fastify/cors';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyMultipart from '@fastify/multipart';
import fastifyRateLimit from '@fastify/rate-limit';
import { adminRoutes } from './routes/admin/index.ts';
import { assetRoutes } from './routes/assets.ts';
import { subscriptionRoutes } from './routes/subscriptions.ts';
import { loadPages } from './views.ts';
import { compileEmailTemplates } from './modules/mail/templates.ts';
import { createCommandConnection, type RedisConnection } from './queues/connection.ts';
import { createDigestQueue, createMailQueue } from './queues/deliveries.ts';
import { createQueue, QUEUE_NAMES } from './queues/index.ts';
import { adminTokenHashes } from './modules/admin/auth.ts';
import { httpRequestDuration, watchQueueDepths } from './metrics.ts';
import { requireAdmin } from './routes/admin/guard.ts';
import { queueDashboard } from './routes/admin/queues.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { registerApiDocs } from './routes/api-docs.ts';
import { opsRoutes } from './routes/ops.ts';
import { isPlainText } from './text.ts';
import { paperRoutes } from './routes/papers.ts';
import { topicRoutes } from './routes/topics.ts';
import { webhookRoutes } from './routes/webhooks.ts';

export interface AppDeps {
  config: Config;
  db: Database;
  /** A probe-style connection (see createProbeConnection) so /readyz answers while Redis is down. */
  redis: RedisConnection;
  logger: Logger;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const PROBES = new Set(['/healthz', '/readyz']);

/**
 * How long a client may take: Fastify turns off Node's request timeout, so without these a body that
 * never finishes would hold its connection for ever. Idle keep-alive connections are Fastify's own
 * keepAliveTimeout (72 s, longer than the 60 s idle timeout of common load balancers).
 */
function connectionLimits(config: Pick<Config, 'REQUEST_TIMEOUT_MS' | 'CONNECTION_TIMEOUT_MS'>) {
  const requestTimeout = config.REQUEST_TIMEOUT_MS;
  return {
    requestTimeout,
    connectionTimeout: config.CONNECTION_TIMEOUT_MS,
    http: {
      requestTimeout,
      // Node refuses a headers timeout longer than the request timeout; 60 s is its own default.
      headersTimeout: Math.min(60_000, requestTimeout),
      // Node looks for overdue requests only this often (30 s by default): check a tenth of the timeout
      // apart, so a request is cut off at most 10% late.
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.round(requestTimeout / 10))),
    },
  };
}

export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Reuse a caller's request id (e.g. from a proxy) when it is sane, so logs line up across services.
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    logController: new LogController({
      requestIdLogLabel: 'requestId',
      // Orchestrators probe every few seconds; /readyz logs by itself when something is wrong.
      disableRequestLogging: (request) => PROBES.has(request.url),
    }),
    trustProxy: deps.config.TRUST_PROXY,
    ...connectionLimits(deps.config),
    // Signed link tokens travel as one path segment (~150 characters).
    routerOptions: { maxParamLength: 500 },
  }).withTypeProvider<ZodTypeProvider>();

  // Every route the app serves, for checks that must cover all of them (admin auth, API docs).
  const routeTable: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routeTable.push({ method, url: route.url });
  });
  app.decorate('routeTable', routeTable);

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Requests already running when shutdown starts still finish, but their keep-alive connections must
  // not outlive them: Fastify only closes connections that are idle at the moment it starts closing.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (closing) reply.header('connection', 'close');
  });

  // Query strings and path parameters reach SQL as text; NUL or broken Unicode there is always a mistake
  // (or an attack) and would otherwise surface as a database error.
  app.addHook('preValidation', async (request, reply) => {
    const values = [request.query, request.params].flatMap((part) =>
      part && typeof part === 'object' ? Object.values(part as Record<string, unknown>) : [],
    );
    const bad = values.flat().some((value) => typeof value === 'string' && !isPlainText(value));
    if (bad) {
      return reply.code(400).send({
        error: 'Bad Request',
        message: 'The address contains control characters or invalid Unicode.',
      });
    }
  });

  // Timed by route pattern, never the raw URL: that would leak link tokens and grow without bound.
  app.addHook('onResponse', async (request, reply) => {
    httpRequestDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'Not Found', message: `There is nothing at ${request.method} ${request.url}.` }),
  );

  // One place maps errors to HTTP: a client's mistake gets a 4xx that says what to fix; a 5xx is a bug.
  app.setErrorHandler<FastifyError>((error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const problems = error.validation.map((issue) => {
        const where = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
        return where ? `${where}: ${issue.message}` : issue.message;
      });
      return reply.code(400).send({ error: 'Bad Request', message: problems.join('; '), problems });
    }
    const status = typeof error.statusCode === 'number' ? error.statusCode : isUnreadableForm(error) ? 400 : 500;
    if (status < 500) {
      // Not every thrown thing is an Error (the rate limiter throws a plain object).
      return reply.code(status).send({ error: error.name ?? STATUS_CODES[status], message: error.message });
    }
    if (isOverloaded(error)) {
      request.log.warn({ err: error }, 'database saturated; asked the client to retry');
      return reply.code(503).header('retry-after', '5').send({
        error: 'Service Unavailable',
        message: 'Paperboy is busy right now; please try again in a few seconds.',
      });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'Internal Server Error', message: 'Something went wrong on our side.' });
  });

  // Pages and forms: cookies only carry the CSRF secret; strict security headers everywhere.
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        connectSrc: ["'self'"],
        // Only where the site itself is served over https: on http://localhost it would break every form.
        upgradeInsecureRequests: deps.config.PUBLIC_URL.startsWith('https:') ? [] : null,
      },
    },
  });
  await app.register(fastifyCookie, { secret: deps.config.TOKEN_KEYS.at(-1)!.secret });
  await app.register(fastifyCsrf, { cookieOpts: { signed: true, httpOnly: true, sameSite: 'strict', path: '/' } });
  await app.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  // Mail providers send the RFC 8058 one-click unsubscribe as multipart/form-data; nothing else needs it.
  await app.register(fastifyMultipart, {
    attachFieldsToBody: 'keyValues',
    limits: { files: 0, fields: 50, fieldSize: 8 * 1024 },
  });
  const redis = createCommandConnection(deps.config.REDIS_URL);
  await app.register(fastifyRateLimit, {
    global: false,
    redis,
    nameSpace: `${deps.config.QUEUE_PREFIX}:ratelimit:`,
    // If Redis is away, serve rather than refuse everyone.
    skipOnError: true,
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'Too Many Requests',
      message: `Too many requests; try again in ${Math.ceil(context.ttl / 1000)} seconds.`,
    }),
  });
  await app.register(fastifyCors, {
    // Only the signup API may be called from other sites (an embedded form); pages stay same-origin.
    origin: (origin, callback) => callback(null, origin !== undefined && deps.config.CORS_ORIGINS.includes(origin)),
    methods: ['POST'],
  });

  await registerApiDocs(app, deps.config.PUBLIC_URL, VERSION);

  const queueContext = { connection: redis, prefix: deps.config.QUEUE_PREFIX };
  const mailQueue = createMailQueue(queueContext);
  const digestQueue = createDigestQueue(queueContext);
  const queues = [
    mailQueue,
    digestQueue,
    createQueue(QUEUE_NAMES.schedule, queueContext),
    createQueue(QUEUE_NAMES.ingest, queueContext),
  ];
  // BullMQ prints every reconnect failure of a queue without an error listener; callers handle failed
  // commands themselves, and /readyz reports Redis being away.
  for (const queue of queues) queue.on('error', () => {});
  // Queue depths are the same from every process; the API reports them, worker processes do not.
  const unwatchQueues = watchQueueDepths(queues);
  app.addHook('onClose', async () => {
    unwatchQueues();
    await Promise.all(queues.map((queue) => queue.close()));
    redis.disconnect();
  });

  await app.register(opsRoutes, { db: deps.db, redis: deps.redis });
  await app.register(assetRoutes);
  const templates = await compileEmailTemplates();
  await app.register(subscriptionRoutes, {
    config: deps.config,
    db: deps.db,
    redis,
    mailQueue,
    render: loadPages(),
    templates,
  });
  await app.register(topicRoutes, { db: deps.db });
  await app.register(paperRoutes, { db: deps.db, publicUrl: deps.config.PUBLIC_URL });
  // Everything for operators sits behind one admin-token check.
  await app.register(async (admin) => {
    admin.addHook('onRequest', requireAdmin(adminTokenHashes(deps.config)));
    await admin.register(adminRoutes, {
      prefix: '/api/v1/admin',
      db: deps.db,
      config: deps.config,
      templates,
      mailQueue,
      digestQueue,
    });
    await admin.register(queueDashboard, { prefix: '/admin/queues', queues });
    await admin.register(metricsRoutes);
  });
  await app.register(webhookRoutes, { prefix: '/api/v1/webhooks', db: deps.db, config: deps.config });
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    routeTable: readonly { method: string; url: string }[];
  }
}

export type App = Awaited<ReturnType<typeof buildApp>>;
