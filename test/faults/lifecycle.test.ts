// Readers and operators acting mid-run: an unsubscribe between scheduling and sending, and a SIGTERM
// (a deploy) in the middle of a digest run.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { unsubscribe } from '../../src/modules/subscribers/subscriptions.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { checkInvariants, readerEmail, setUpRun, statuses, waitUntilSettled, type Run } from './harness.ts';

describe('a digest run while readers and operators act', () => {
  let sink: SmtpSink;
  let run: Run | undefined;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterEach(async () => {
    await run?.close();
    run = undefined;
    sink.reset();
  });
  afterAll(async () => {
    await sink.close();
  });

  it('7. a reader who unsubscribes after their digest was queued gets nothing: it ends skipped', async () => {
    run = await setUpRun({ readers: 50, sink });
    expect(await run.schedule()).toBe(53);
    const leaving = await run.database.db.subscriber.findMany({
      where: { email: { in: [0, 7, 21, 49].map(readerEmail) } },
    });
    for (const reader of leaving) await unsubscribe(run.database.db, reader.id);
    await run.startWorker();
    await waitUntilSettled(run);
    await checkInvariants(run);
    for (const reader of leaving) {
      expect(run.to(reader.email)).toEqual([]);
      expect(await run.database.db.delivery.findFirstOrThrow({ where: { subscriberId: reader.id } })).toMatchObject({
        status: 'skipped',
        lastError: 'the subscriber is unsubscribed',
      });
    }
    expect(await statuses(run.database)).toEqual({ sent: 46, skipped: 7 });
  }, 120_000);

  it('8. SIGTERM mid-run: the worker finishes its jobs and exits 0, nothing stalls, a new one finishes', async () => {
    run = await setUpRun({ readers: 300, sink });
    const first = await run.startWorker();
    expect(await run.schedule()).toBe(303);
    await sink.waitForMessages(60, 60_000);
    const exit = await first.stop();
    expect(exit.code, exit.stdout.slice(-2_000)).toBe(0);
    expect(exit.stdout).toContain('shutdown complete');
    // Drained, not abandoned: no job left active (stalled) and no delivery held by the dead process.
    expect(await run.digestQueue.getActiveCount()).toBe(0);
    expect(await run.database.db.delivery.count({ where: { status: 'sending' } })).toBe(0);
    const sentBefore = sink.messages.length;
    expect(sentBefore).toBeLessThan(300);
    await run.startWorker();
    await waitUntilSettled(run);
    await checkInvariants(run);
    expect(await statuses(run.database)).toEqual({ sent: 300, skipped: 3 });
  }, 180_000);
});
