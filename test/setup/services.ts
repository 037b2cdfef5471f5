// Finds the Postgres and Redis the tests use: TEST_* variables, else local defaults, else testcontainers.
import net from 'node:net';

export interface TestServices {
  /** A URL to the Postgres server as a user allowed to create databases. */
  postgresUrl: string;
  redisUrl: string;
  stop: () => Promise<void>;
}

const LOCAL_POSTGRES = 'postgresql://postgres@127.0.0.1:5432/postgres';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

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
  return { postgresUrl, redisUrl, stop: async () => void (await Promise.all(stops.map((stop) => stop()))) };
}
