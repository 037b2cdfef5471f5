// Per-file Redis isolation: a unique key prefix for BullMQ, removed when the file is done.
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { inject } from 'vitest';
import { createQueueConnection, isRedisClusterUrl } from '../../src/queues/connection.ts';

export function uniqueQueuePrefix(): string {
  return `${inject('runId')}:${randomBytes(5).toString('hex')}`;
}

/** A unique prefix for a Redis Cluster: hash-tagged, as config.ts requires there, so it is one slot. */
export const uniqueClusterPrefix = () => `{${uniqueQueuePrefix()}}`;

/** The shared test cluster (scripts/redis-cluster.sh, started by the global setup). */
export const clusterUrl = () => inject('redisClusterUrl');

async function deleteMatching(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    // One by one: on a cluster node the keys of one scan page may be in different slots.
    for (const key of keys) deleted += await redis.del(key);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}

/** Deletes every key under the prefix, on one Redis or on every master of a cluster. */
export async function deleteKeysWithPrefix(redisUrl: string, prefix: string): Promise<number> {
  if (!isRedisClusterUrl(redisUrl)) {
    const redis = new Redis(redisUrl);
    try {
      return await deleteMatching(redis, prefix);
    } finally {
      await redis.quit();
    }
  }
  const cluster = createQueueConnection(redisUrl);
  try {
    if (!(cluster instanceof Cluster)) throw new Error(`${redisUrl} did not make a cluster connection`);
    await new Promise<void>((resolve, reject) => {
      if (cluster.status === 'ready') return resolve();
      cluster.once('ready', resolve);
      cluster.once('error', reject);
    });
    let deleted = 0;
    for (const master of cluster.nodes('master')) deleted += await deleteMatching(master, prefix);
    return deleted;
  } finally {
    await cluster.quit();
  }
}
