// Workers that die or hang mid-send: a SIGKILL in the middle of a run, a SIGKILL between the server's
// "250 accepted" and the commit, and a mail server that stalls while two workers compete for a lease.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { checkInvariants, readerEmail, setUpRun, statuses, waitUntilSettled, type Run } from './harness.ts';

describe('workers killed or stalled mid-send', () => {
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

  it('1. a worker SIGKILLed in the middle of a 500-digest run: another process finishes it', async () => {
    run = await setUpRun({ readers: 500, sink });
    const first = await run.startWorker();
    expect(await run.schedule()).toBe(503);
    await sink.waitForMessages(100, 60_000);
    await first.kill();
    // What the dead worker held: its leases must run out before anyone else sends these.
    const held = await run.database.db.delivery.findMany({ where: { status: 'sending' }, select: { id: true } });
    await run.startWorker();
    await waitUntilSettled(run);
    // A message the server accepted just as the worker died is the documented window (same Message-ID);
    // at most one per concurrent job of the killed worker.
    await checkInvariants(run, { resent: 8 });
    expect(await statuses(run.database)).toEqual({ sent: 500, skipped: 3 });
    const taken = await run.database.db.delivery.findMany({ where: { id: { in: held.map((d) => d.id) } } });
    for (const delivery of taken) expect(delivery).toMatchObject({ status: 'sent', attempts: 2 });
  }, 240_000);

  it('2. a worker killed after the server accepted, before the commit: re-sent once, same Message-ID', async () => {
    run = await setUpRun({ readers: 20, sink });
    // One job at a time, so exactly one message is in the window when the worker dies.
    const first = await run.startWorker({ WORKER_CONCURRENCY: '1' });
    // The first message is fully received, then its "250" is held back; the worker dies in that pause.
    // The server keeps the message, the worker never learns it was accepted: nothing is committed.
    let killed: Promise<void> | undefined;
    sink.failNext(1, {
      type: 'stall',
      ms: 2_000,
      onStall: () => {
        killed = first.kill();
      },
    });
    expect(await run.schedule()).toBe(23);
    const [accepted] = await sink.waitForMessages(1, 60_000);
    const victim = accepted!.messageId;
    await killed;
    expect(victim).toBeDefined();
    await run.startWorker();
    await waitUntilSettled(run);
    const { repeated } = await checkInvariants(run, { resent: 1 });
    expect(repeated).toEqual([victim]);
    const delivery = await run.database.db.delivery.findFirstOrThrow({ where: { messageId: victim! } });
    expect(delivery).toMatchObject({ status: 'sent', attempts: 2 });
  }, 120_000);

  // With a 6 s lease the SMTP timeouts are 0.75 s per connection step and 2 s per command (smtpTimeouts).
  const shortLease = { DELIVERY_LEASE_SECONDS: '6' };

  it('3a. two workers, a server stalling before DATA for longer than the lease: exactly one email', async () => {
    run = await setUpRun({ readers: 10, sink });
    // RCPT TO of reader0 hangs for 9 s, once: the worker holding it gives up after 2 s and releases it.
    sink.failRecipient(readerEmail(0), { type: 'stall', ms: 9_000 }, 1);
    await Promise.all([run.startWorker(shortLease), run.startWorker(shortLease)]);
    expect(await run.schedule()).toBe(13);
    await waitUntilSettled(run);
    // Let the stalled conversation end on the server's side: it must not turn into an email.
    await new Promise((resolve) => setTimeout(resolve, 9_000));
    await checkInvariants(run);
    expect(run.to(readerEmail(0))).toHaveLength(1);
    const delivery = await run.database.db.delivery.findFirstOrThrow({
      where: { subscriber: { email: readerEmail(0) } },
    });
    expect(delivery).toMatchObject({ status: 'sent', attempts: 2 });
  }, 120_000);

  it('3b. two workers, a server stalling after DATA for longer than the lease: the documented window', async () => {
    run = await setUpRun({ readers: 10, sink });
    // The first message is read in full, then its 250 comes 9 s late: the worker gave up after 2 s and
    // sent it again, and the server keeps both copies, under one Message-ID.
    sink.failNext(1, { type: 'stall', ms: 9_000 });
    await Promise.all([run.startWorker(shortLease), run.startWorker(shortLease)]);
    expect(await run.schedule()).toBe(13);
    await waitUntilSettled(run);
    await sink.waitForMessages(11, 30_000);
    const { repeated } = await checkInvariants(run, { resent: 1 });
    expect(repeated).toHaveLength(1);
    const delivery = await run.database.db.delivery.findFirstOrThrow({ where: { messageId: repeated[0]! } });
    expect(delivery).toMatchObject({ status: 'sent', attempts: 2 });
  }, 120_000);
});
