// Whether the services Paperboy needs are answering, for /readyz and operators.
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import type { Database } from '../../db/client.ts';

export interface ReadinessDeps {
  db: Database;
  redis: Redis;
}

export type CheckResult = { ok: true } | { ok: false; error: string };

export interface Readiness {
  ready: boolean;
  checks: { database: CheckResult; redis: CheckResult };
}

const CHECK_TIMEOUT_MS = 2_000;

async function check(probe: () => Promise<unknown>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return { ok: true };
  } catch (error) {
    // Keep the cause, not the client's framing: Prisma wraps it in several lines of invocation text.
    const message = error instanceof Error ? error.message || error.name : String(error);
    return { ok: false, error: message.trim().split('\n').at(-1)!.trim() };
  } finally {
    clearTimeout(timer);
  }
}

/** Pings Redis; a connection still being opened (first probe after start-up) gets to finish first. */
async function pingRedis(redis: Redis): Promise<unknown> {
  if (['wait', 'connecting', 'connect'].includes(redis.status)) {
    const settled = new AbortController();
    try {
      await Promise.race([
        once(redis, 'ready', { signal: settled.signal }),
        once(redis, 'error', { signal: settled.signal }).then(([error]) => Promise.reject(error as Error)),
      ]);
    } finally {
      settled.abort();
    }
  }
  return redis.ping();
}

export async function checkReadiness({ db, redis }: ReadinessDeps): Promise<Readiness> {
  const [database, redisCheck] = await Promise.all([
    check(() => db.$queryRaw`SELECT 1`),
    check(() => pingRedis(redis)),
  ]);
  return { ready: database.ok && redisCheck.ok, checks: { database, redis: redisCheck } };
}
