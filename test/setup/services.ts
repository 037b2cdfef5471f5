// Finds the Postgres and Redis the tests use: TEST_* variables, else local defaults, else testcontainers.
// The Redis Cluster is TEST_REDIS_CLUSTER_URL, else the loopback one scripts/redis-cluster.sh starts.
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

export interface TestServices {
  /** A URL to the Postgres server as a user allowed to create databases. */
  postgresUrl: string;
  redisUrl: string;
  /** A redis-cluster:// URL of a three-master cluster. */
  redisClusterUrl: string;
  stop: () => Promise<void>;
}

const LOCAL_POSTGRES = 'postgresql://postgres@127.0.0.1:5432/postgres';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';
const CLUSTER_SCRIPT = path.resolve(import.meta.dirname, '../../scripts/redis-cluster.sh');
/** The ports scripts/redis-cluster.sh uses by default. */
export const LOCAL_REDIS_CLUSTER = 'redis-cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003';

/** Runs scripts/redis-cluster.sh `start` or `stop`; REDIS_CLUSTER_PORTS and REDIS_CLUSTER_DIR pick another cluster. */
export async function redisClusterScript(command: 'start' | 'stop', env: Record<string, string> = {}): Promise<void> {
  try {
    await promisify(execFile)('bash', [CLUSTER_SCRIPT, command], { env: { ...process.env, ...env }, timeout: 90_000 });
  } catch (error) {
    const { stderr = '', message } = error as { stderr?: string; message: string };
    throw new Error(
      `The Redis Cluster tests need redis-server and redis-cli (apt-get install redis-server) to start a local ` +
        `cluster, or TEST_REDIS_CLUSTER_URL. ${CLUSTER_SCRIPT} ${command} failed: ${stderr.trim() || message}`,
      { cause: error },
    );
  }
}

function answers(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) || defaultPort });
    socket.setTimeout(1_000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export async function findTestServices(env: NodeJS.ProcessEnv = process.env): Promise<TestServices> {
  const stops: (() => Promise<unknown>)[] = [];
  let postgresUrl = env.TEST_DATABASE_URL;
  let redisUrl = env.TEST_REDIS_URL;
  // An explicit URL is used as given: if it does not answer, the tests should fail loudly, not fall back.
  if (!postgresUrl && (await answers(LOCAL_POSTGRES, 5432))) postgresUrl = LOCAL_POSTGRES;
  if (!redisUrl && (await answers(LOCAL_REDIS, 6379))) redisUrl = LOCAL_REDIS;

  if ((!postgresUrl || !redisUrl) && !(await dockerAvailable())) {
    throw new Error(
      'The tests need PostgreSQL and Redis. Start them locally (127.0.0.1:5432 as user postgres, 127.0.0.1:6379), ' +
        'set TEST_DATABASE_URL / TEST_REDIS_URL, or run a Docker engine so testcontainers can start them.',
    );
  }
  if (!postgresUrl) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:17').start();
    stops.push(() => container.stop());
    postgresUrl = container.getConnectionUri();
  }
  if (!redisUrl) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7').start();
    stops.push(() => container.stop());
    redisUrl = container.getConnectionUrl();
  }
  const redisClusterUrl = env.TEST_REDIS_CLUSTER_URL || LOCAL_REDIS_CLUSTER;
  // Started unless it is already up (the script is idempotent and serialises callers), so a fresh machine
  // with redis-server installed needs nothing else; it is left running for the next run.
  if (!env.TEST_REDIS_CLUSTER_URL) await redisClusterScript('start');
  return {
    postgresUrl,
    redisUrl,
    redisClusterUrl,
    stop: async () => void (await Promise.all(stops.map((stop) => stop()))),
  };
}
