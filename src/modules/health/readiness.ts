// Whether the services Paperboy needs are answering, for /readyz and operators.
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
    return { ok: false, error: error instanceof Error ? error.message || error.name : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness({ db, redis }: ReadinessDeps): Promise<Readiness> {
  const [database, redisCheck] = await Promise.all([check(() => db.$queryRaw`SELECT 1`), check(() => redis.ping())]);
  return { ready: database.ok && redisCheck.ok, checks: { database, redis: redisCheck } };
}
