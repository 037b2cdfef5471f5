// One send rate for every delivery queue, counted in Redis across all worker processes: mail a reader is
// waiting for (a confirmation, a settings link) goes first, digests take the rest and always keep a share.
import type { RedisConnection } from '../../queues/connection.ts';

/** Transactional mail is what a person just asked for; bulk is the digests, which may wait a few seconds. */
export type SendClass = 'transactional' | 'bulk';

/**
 * While both kinds are waiting, digests get this share of the rate and transactional mail the rest, so a
 * signup flood never stops a digest run (nor a digest run the confirmations). A kind alone gets all of it.
 */
export const BULK_FLOOR_SHARE = 0.1;

/** How long a kind's demand is remembered after it last asked: its queue is busy while it keeps asking. */
const DEMAND_MEMORY_MS = 1_000;
const WINDOW_MS = 1_000;

// A fixed one-second window, like BullMQ's own limiter. KEYS: sends in the window, bulk sends in the
// window, the transactional-demand flag, the bulk-demand flag (on a Redis Cluster all four are in one slot:
// they are under the queue prefix, whose {hash tag} config.ts requires there). ARGV: most sends per window,
// the bulk floor, window ms, class, demand ms. Answers 0 (send now) or the milliseconds until the window ends.
const TAKE = `
local max, floor = tonumber(ARGV[1]), tonumber(ARGV[2])
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local bulk = tonumber(redis.call('GET', KEYS[2]) or '0')
local function wait()
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then return ttl end
  return 1
end
if total >= max then
  redis.call('SET', ARGV[4] == 'bulk' and KEYS[4] or KEYS[3], '1', 'PX', ARGV[5])
  return wait()
end
if ARGV[4] == 'transactional' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[5])
  if redis.call('EXISTS', KEYS[4]) == 1 and total - bulk >= max - floor then return wait() end
else
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[5])
  if redis.call('EXISTS', KEYS[3]) == 1 and bulk >= floor then return wait() end
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if ARGV[4] == 'bulk' and redis.call('INCR', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[1]), 1))
end
return 0`;

type SendRateConnection = RedisConnection & {
  takeSendSlot(
    total: string,
    bulk: string,
    transactionalDemand: string,
    bulkDemand: string,
    max: number,
    floor: number,
    windowMs: number,
    sendClass: SendClass,
    demandMs: number,
  ): Promise<number>;
};

export interface SendRate {
  /** 0: send now. Otherwise how many milliseconds to wait before asking again. */
  take: (sendClass: SendClass) => Promise<number>;
}

/**
 * SEND_RATE_PER_SECOND for the whole installation (every process sharing this Redis and prefix).
 * `windowMs` is for tests that must not see a window end halfway.
 */
export function createSendRate(
  redis: RedisConnection,
  prefix: string,
  perSecond: number,
  windowMs = WINDOW_MS,
): SendRate {
  const connection = redis as SendRateConnection;
  if (typeof connection.takeSendSlot !== 'function')
    redis.defineCommand('takeSendSlot', { numberOfKeys: 4, lua: TAKE });
  const key = (name: string) => `${prefix}:send-rate:${name}`;
  // At least one digest a window, and at least one transactional email; at one a second, transactional first.
  const floor = perSecond > 1 ? Math.min(perSecond - 1, Math.max(1, Math.floor(perSecond * BULK_FLOOR_SHARE))) : 0;
  return {
    take: (sendClass) =>
      connection.takeSendSlot(
        key('window'),
        key('bulk'),
        key('transactional-demand'),
        key('bulk-demand'),
        perSecond,
        floor,
        windowMs,
        sendClass,
        DEMAND_MEMORY_MS,
      ),
  };
}
