// Redis connections. Redis only carries jobs: every job can be rebuilt from Postgres, so it may vanish.
import { Redis, type RedisOptions } from 'ioredis';

/**
 * A connection for BullMQ queues and workers: BullMQ requires `maxRetriesPerRequest: null` so a blocking
 * command survives a reconnect instead of failing the worker.
 */
export function createQueueConnection(redisUrl: string, options: RedisOptions = {}): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null, ...options });
}

const lastErrors = new WeakMap<Redis, Error>();

/** The most recent error of a probe connection, to say why Redis is unavailable. */
export function lastConnectionError(redis: Redis): Error | undefined {
  return lastErrors.get(redis);
}

/**
 * A connection for quick checks (readiness): commands fail at once while Redis is down rather than
 * waiting in the offline queue, so a probe answers instead of hanging. Its errors are kept for the probe
 * to report, not logged: while Redis is down ioredis reports one on every reconnect attempt.
 */
export function createProbeConnection(redisUrl: string): Redis {
  const redis = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 2_000 });
  redis.on('error', (error: Error) => lastErrors.set(redis, error));
  redis.on('ready', () => lastErrors.delete(redis));
  return redis;
}

/**
 * A connection for the API's own Redis commands (rate limits, enqueuing email): a command waits while the
 * connection is being opened, but gives up quickly when Redis is away, so a request never hangs on it.
 */
export function createCommandConnection(redisUrl: string): Redis {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 2_000, connectTimeout: 2_000 });
  // Callers handle failed commands; the reconnect attempts need no log line each.
  redis.on('error', () => {});
  return redis;
}
