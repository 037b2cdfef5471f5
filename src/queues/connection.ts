// Redis connections. Redis only carries jobs: every job can be rebuilt from Postgres, so it may vanish.
// REDIS_URL names either one Redis (redis://, rediss://) or a Redis Cluster (redis-cluster://host:port,…);
// every connection below is made for either, so nothing else needs to know which it is.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** One Redis or a cluster: both run the same commands, and BullMQ takes either. */
export type RedisConnection = Redis | Cluster;

export interface RedisClusterTarget {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
}

const CLUSTER_SCHEME = 'redis-cluster://';
const NODE = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/**
 * The nodes (and credentials) of a `redis-cluster://[user:password@]host:port,host:port,…` URL; undefined
 * for anything else. The URL class cannot read several hosts, hence our own small parser. Any node is
 * enough to find the others; listing several lets Paperboy start while one of them is down.
 */
export function parseRedisCluster(url: string): RedisClusterTarget | undefined {
  if (!url.toLowerCase().startsWith(CLUSTER_SCHEME)) return undefined;
  let rest = url.slice(CLUSTER_SCHEME.length).replace(/\/$/, '');
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const [user = '', ...secret] = rest.slice(0, at).split(':');
    username = decodeURIComponent(user) || undefined;
    password = secret.length ? decodeURIComponent(secret.join(':')) : undefined;
    rest = rest.slice(at + 1);
  }
  const nodes = rest.split(',').map((node) => {
    const match = NODE.exec(node.trim());
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65535) return undefined;
    return { host: match[1] ?? match[2]!, port };
  });
  if (!nodes.length || nodes.some((node) => node === undefined)) return undefined;
  return { nodes: nodes as RedisClusterTarget['nodes'], username, password };
}

export const isRedisClusterUrl = (url: string) => url.toLowerCase().startsWith(CLUSTER_SCHEME);

/**
 * `node` options go to every node's connection, `cluster` options to the cluster client. Our callers set
 * the same few options for both kinds of connection, so they are written once here.
 */
function connect(redisUrl: string, node: RedisOptions, cluster: ClusterOptions = {}): RedisConnection {
  const target = parseRedisCluster(redisUrl);
  if (!target) return new Redis(redisUrl, node);
  const { enableOfflineQueue, ...perNode } = node;
  return new Cluster(target.nodes, {
    ...cluster,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    redisOptions: { ...perNode, username: target.username, password: target.password },
  });
}

/**
 * A connection for BullMQ queues and workers: BullMQ requires `maxRetriesPerRequest: null` so a blocking
 * command survives a reconnect instead of failing the worker. On a cluster BullMQ reads it from the nodes'
 * options, and the queue prefix must be hash-tagged (config.ts checks) so a queue's keys share a slot.
 */
export function createQueueConnection(redisUrl: string, options: RedisOptions = {}): RedisConnection {
  return connect(redisUrl, { maxRetriesPerRequest: null, ...options });
}

const lastErrors = new WeakMap<RedisConnection, Error>();

/** The most recent error of a probe connection, to say why Redis is unavailable. */
export function lastConnectionError(redis: RedisConnection): Error | undefined {
  return lastErrors.get(redis);
}

/**
 * A connection for quick checks (readiness): commands fail at once while Redis is down rather than
 * waiting in the offline queue, so a probe answers instead of hanging. Its errors are kept for the probe
 * to report, not logged: while Redis is down ioredis reports one on every reconnect attempt.
 */
export function createProbeConnection(redisUrl: string): RedisConnection {
  const redis = connect(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 2_000 });
  redis.on('error', (error: Error) => lastErrors.set(redis, error));
  redis.on('ready', () => lastErrors.delete(redis));
  return redis;
}

/**
 * A connection for the API's own Redis commands (rate limits, enqueuing email): a command waits while the
 * connection is being opened, but gives up quickly when Redis is away, so a request never hangs on it.
 * A cluster retries a command on its own when a node is down (redirections, CLUSTERDOWN); fewer
 * redirections keep that within about the same couple of seconds.
 */
export function createCommandConnection(redisUrl: string): RedisConnection {
  const redis = connect(
    redisUrl,
    { maxRetriesPerRequest: 1, commandTimeout: 2_000, connectTimeout: 2_000 },
    { maxRedirections: 4, retryDelayOnClusterDown: 300, retryDelayOnFailover: 300 },
  );
  // Callers handle failed commands; the reconnect attempts need no log line each.
  redis.on('error', () => {});
  return redis;
}
