// The shared send rate's rule, against real Redis: a kind alone gets the whole rate; while both wait,
// digests get their floor and transactional mail the rest, whichever asked first in the window.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSendRate, type SendClass } from '../../src/modules/mail/send-rate.ts';
import { createQueueConnection, type RedisConnection } from '../../src/queues/connection.ts';
import { testConfig } from '../helpers/config.ts';
import { clusterUrl, deleteKeysWithPrefix, uniqueClusterPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';

describe('the shared send rate', () => {
  let redis: RedisConnection;
  const prefixes: string[] = [];
  beforeAll(() => {
    redis = createQueueConnection(testConfig().REDIS_URL);
  });
  afterAll(async () => {
    for (const prefix of prefixes) await deleteKeysWithPrefix(testConfig().REDIS_URL, prefix);
    redis.disconnect();
  });

  /** A rate per window on its own prefix; the window is long, so it never ends halfway in a test. */
  const rate = (perWindow = 10) => {
    const prefix = uniqueQueuePrefix();
    prefixes.push(prefix);
    return createSendRate(redis, prefix, perWindow, 60_000);
  };
  /** How many of `times` asks of this class were let through. */
  const ask = async (sendRate: ReturnType<typeof rate>, sendClass: SendClass, times: number) => {
    let allowed = 0;
    for (let i = 0; i < times; i++) if ((await sendRate.take(sendClass)) === 0) allowed++;
    return allowed;
  };

  it('gives a kind that is alone the whole rate, and nothing past it', async () => {
    const digestsOnly = rate();
    expect(await ask(digestsOnly, 'bulk', 15)).toBe(10);
    const mailOnly = rate();
    expect(await ask(mailOnly, 'transactional', 15)).toBe(10);
    const wait = await mailOnly.take('transactional');
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60_000);
  });

  it('keeps the digests their floor when transactional mail floods the window', async () => {
    const both = rate(20);
    expect(await ask(both, 'bulk', 1)).toBe(1);
    // Digests are waiting: transactional mail may take the rate less the digests' floor (2 of 20), even
    // though only one digest has gone out yet; the other digest slot stays theirs.
    expect(await ask(both, 'transactional', 25)).toBe(18);
    expect(await ask(both, 'bulk', 5)).toBe(1);
    expect(await ask(both, 'transactional', 5)).toBe(0);
  });

  it('puts transactional mail first when digests were there before it', async () => {
    const both = rate();
    expect(await ask(both, 'bulk', 5)).toBe(5);
    expect(await ask(both, 'transactional', 1)).toBe(1);
    // Transactional mail is waiting and the digests have had more than their floor: they wait.
    expect(await ask(both, 'bulk', 5)).toBe(0);
    expect(await ask(both, 'transactional', 10)).toBe(4);
  });

  it('runs on a Redis Cluster under a hash-tagged prefix, which its four keys need', async () => {
    const cluster = createQueueConnection(clusterUrl());
    const prefix = uniqueClusterPrefix();
    try {
      const both = createSendRate(cluster, prefix, 10, 60_000);
      expect(await ask(both, 'bulk', 5)).toBe(5);
      expect(await ask(both, 'transactional', 10)).toBe(5);
      // Without the tag the keys land in different slots and the cluster refuses the script.
      const untagged = createSendRate(cluster, uniqueQueuePrefix(), 10, 60_000);
      await expect(untagged.take('bulk')).rejects.toThrow(/CROSSSLOT/);
    } finally {
      await deleteKeysWithPrefix(clusterUrl(), prefix);
      cluster.disconnect();
    }
  });
});
