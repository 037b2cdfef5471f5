// One send rate for every delivery queue, counted in Redis across all worker processes: mail a reader is
// waiting for (a confirmation, a settings link) goes first, digests take the rest and always keep a floor.
import type { Redis } from 'ioredis';

/** Transactional mail is what a person just asked for; bulk is the digests, which may wait a few seconds. */
export type SendClass = 'transactional' | 'bulk';

/** While transactional mail is waiting, digests still get this share of the rate, so a signup flood never stops them. */
export const BULK_FLOOR_SHARE = 0.1;

/** How long transactional demand is remembered after its last send: its queue is busy while it keeps coming. */
const DEMAND_MEMORY_MS = 1_000;
const WINDOW_MS = 1_000;

// A fixed one-second window, like BullMQ's own limiter. KEYS: sends in the window, bulk sends in the window,
// the transactional-demand flag. ARGV: most sends per window, the bulk floor, window ms, class, demand ms.
// Answers 0 (send now) or the milliseconds until the window ends (wait).
const TAKE = `
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local function wait()
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then return ttl end
  return 1
end
if ARGV[4] == 'transactional' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[5])
elseif redis.call('EXISTS', KEYS[3]) == 1 and tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[2]) then
  return wait()
end
if total >= tonumber(ARGV[1]) then return wait() end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if ARGV[4] == 'bulk' and redis.call('INCR', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[1]), 1))
end
return 0`;

interface SendRateConnection extends Redis {
  takeSendSlot(
    total: string,
    bulk: string,
    demand: string,
    max: number,
    floor: number,
    windowMs: number,
    sendClass: SendClass,
    demandMs: number,
  ): Promise<number>;
}

export interface SendRate {
  /** 0: send now. Otherwise how many milliseconds to wait before asking again. */
  take: (sendClass: SendClass) => Promise<number>;
}

/** SEND_RATE_PER_SECOND for the whole installation (every process sharing this Redis and prefix). */
export function createSendRate(redis: Redis, prefix: string, perSecond: number): SendRate {
  const connection = redis as SendRateConnection;
  if (typeof connection.takeSendSlot !== 'function')
    redis.defineCommand('takeSendSlot', { numberOfKeys: 3, lua: TAKE });
  const key = (name: string) => `${prefix}:send-rate:${name}`;
  const floor = Math.max(1, Math.floor(perSecond * BULK_FLOOR_SHARE));
  return {
    take: (sendClass) =>
      connection.takeSendSlot(
        key('window'),
        key('bulk'),
        key('transactional-demand'),
        perSecond,
        floor,
        WINDOW_MS,
        sendClass,
        DEMAND_MEMORY_MS,
      ),
  };
}
