// Digest runs on a Redis Cluster (three masters): real worker processes whose queues live on the cluster
// under a hash-tagged prefix, and the master holding those queues' slot SIGKILLed and started again mid-run.
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PAGE_SIZE } from '../../src/config.ts';
import { checkReadiness } from '../../src/modules/health/readiness.ts';
import { createProbeConnection } from '../../src/queues/connection.ts';
import { testConfig } from '../helpers/config.ts';
import { clusterUrl, deleteKeysWithPrefix } from '../helpers/redis.ts';
import { masterOf, startPrivateRedisCluster } from '../helpers/redis-cluster.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { checkInvariants, setUpRun, statuses, waitUntilSettled, type Run } from './harness.ts';

describe('digest runs on a Redis Cluster', () => {
  let sink: SmtpSink;
  let run: Run | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterEach(async () => {
    await run?.close();
    run = undefined;
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    sink.reset();
  });
  afterAll(async () => {
    await sink.close();
  });

  it('two worker processes on the cluster: every reader gets exactly one digest, and the jobs were on the cluster', async () => {
    run = await setUpRun({ readers: 200, sink, redisUrl: clusterUrl() });
    const t = run;
    cleanups.push(() => deleteKeysWithPrefix(clusterUrl(), t.prefix));
    expect(t.prefix).toMatch(/^\{.+\}$/);
    await Promise.all([t.startWorker(), t.startWorker()]);
    expect(await t.schedule()).toBe(203);
    await waitUntilSettled(t);
    await checkInvariants(t);
    expect(await statuses(t.database)).toEqual({ sent: 200, skipped: 3 });
    // The finished jobs are on the master that serves the prefix's slot, and nothing of this run reached the
    // single Redis the other tests use.
    const owner = new Redis(await masterOf(clusterUrl(), t.prefix), '127.0.0.1');
    try {
      // The scheduler queued the 203 deliveries in pages of DIGEST_PAGE_SIZE (100): 3 jobs.
      expect(await owner.zcard(`${t.prefix}:digest:completed`)).toBe(Math.ceil(203 / DEFAULT_PAGE_SIZE));
    } finally {
      owner.disconnect();
    }
    expect(await deleteKeysWithPrefix(testConfig().REDIS_URL, t.prefix)).toBe(0);
  }, 180_000);

  it("the master holding the digest queue's slot SIGKILLed and restarted (empty) mid-run: every reader gets exactly one digest", async () => {
    const cluster = await startPrivateRedisCluster();
    cleanups.push(() => cluster.stop());
    run = await setUpRun({ readers: 300, sink, redisUrl: cluster.url });
    const t = run;
    const probe = createProbeConnection(cluster.url);
    cleanups.push(async () => probe.disconnect());
    /** What /readyz says of Redis: `ok`, or why not. */
    const ready = async () => {
      const check = (await checkReadiness({ db: t.database.db, redis: probe })).checks.redis;
      return check.ok ? 'ok' : check.error;
    };
    await expect.poll(ready).toBe('ok');
    await run.startWorker();
    expect(await run.schedule()).toBe(303);
    await sink.waitForMessages(50, 60_000);
    const port = await masterOf(cluster.url, `${run.prefix}:digest:wait`);
    await cluster.kill(port);
    const sentAtKill = sink.messages.length;
    // Past the nodes' 2 s timeout the other masters mark it failed and the cluster goes down: /readyz says so.
    await expect.poll(ready).toMatch(/cluster_state:fail/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // Same port, same nodes.conf: it rejoins as the master of its slots, without the keys it held.
    await cluster.restart();
    await expect.poll(ready).toBe('ok');
    await waitUntilSettled(run);
    await checkInvariants(run);
    expect(await statuses(run.database)).toEqual({ sent: 300, skipped: 3 });
    expect(sentAtKill).toBeLessThan(300);
    console.info(`cluster master ${port} killed after ${sentAtKill} of 300 digests`);
  }, 180_000);
});
