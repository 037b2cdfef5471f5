// Redis connections. Redis only carries jobs: every job can be rebuilt from Postgres, so it may vanish.
import { Redis, type RedisOptions } from 'ioredis';

/**
 * A connection for BullMQ queues and workers: BullMQ requires `maxRetriesPerRequest: null` so a blocking
 * command survives a reconnect instead of failing the worker.
 */
export function createQueueConnection(redisUrl: string, options: RedisOptions = {}): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null, ...options });
}

/**
 * A connection for quick checks (readiness): commands fail at once while Redis is down rather than
 * waiting in the offline queue, so a probe answers instead of hanging.
 */
export function createProbeConnection(redisUrl: string): Redis {
  return new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    lazyConnect: false,
  });
}
