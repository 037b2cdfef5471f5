// The whole Fastify app on this file's own database, for tests that drive it through inject().
import type { DestinationStream } from 'pino';
import { buildApp, type App } from '../../src/app.ts';
import type { Config } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createProbeConnection } from '../../src/queues/connection.ts';
import type { WorkerFactory } from '../../src/queues/worker.ts';
import { startWorkers } from '../../workers/index.ts';
import { createMailWorker } from '../../workers/mail.worker.ts';
import { testConfig } from './config.ts';
import { openTestDatabase } from './postgres.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from './redis.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';

export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';

export type TestDb = Awaited<ReturnType<typeof openTestDatabase>>;

export interface TestApp {
  app: App;
  database: TestDb;
  config: Config;
  close: () => Promise<void>;
}

/** The app on a fresh database; `logs` receives its log lines (JSON) instead of the console. */
export async function openTestApp(overrides: Record<string, string> = {}, logs?: DestinationStream): Promise<TestApp> {
  const database = await openTestDatabase();
  // Its own Redis prefix unless the test shares one with its workers: rate-limit counters must not leak.
  const config = testConfig({
    DATABASE_URL: database.url,
    ADMIN_TOKENS: ADMIN_TOKEN,
    QUEUE_PREFIX: uniqueQueuePrefix(),
    ...overrides,
  });
  const redis = createProbeConnection(config.REDIS_URL);
  redis.on('error', () => {});
  const app = await buildApp({ config, db: database.db, redis, logger: createLogger(config, 'paperboy', logs) });
  return {
    app,
    database,
    config,
    close: async () => {
      await app.close();
      redis.disconnect();
      await database.close();
      // Only our own prefix on the shared Redis (a test may point REDIS_URL at nothing on purpose).
      if (!overrides.QUEUE_PREFIX && !overrides.REDIS_URL) {
        await deleteKeysWithPrefix(config.REDIS_URL, config.QUEUE_PREFIX);
      }
    },
  };
}

export const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}` };

export interface MailingApp extends TestApp {
  sink: SmtpSink;
  close: () => Promise<void>;
}

/**
 * The app with real delivery workers on its database and Redis prefix, mailing an in-process SMTP sink:
 * a reader's side end to end. Signups are not limited per IP (tests sign up many addresses).
 */
export async function openMailingApp(
  overrides: Record<string, string> = {},
  factories: WorkerFactory[] = [createMailWorker({ reconcileEveryMs: 200 })],
): Promise<MailingApp> {
  const sink = await startSmtpSink();
  const prefix = uniqueQueuePrefix();
  const t = await openTestApp({ SMTP_URL: sink.url, QUEUE_PREFIX: prefix, SIGNUP_RATE_PER_IP: '1000', ...overrides });
  const workers = await startWorkers(t.config, createLogger(t.config), t.database.db, factories);
  return {
    ...t,
    sink,
    close: async () => {
      await workers.close();
      await t.close();
      await sink.close();
      await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
    },
  };
}
