// Digest jobs carry pages of deliveries: a worker SIGKILLed halfway through a page, and two workers whose
// jobs cut the same deliveries into different pages. Each delivery keeps its own claim, lease and
// Message-ID, so neither may lose a digest or send one twice.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scheduleDueDigests } from '../../src/modules/digests/schedule.ts';
import { deliveryJob, pageJob, pagesOf } from '../../src/queues/deliveries.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import {
  checkInvariants,
  readerEmail,
  setUpRun,
  statuses,
  waitUntilSettled,
  type Run,
  type WorkerProcess,
} from './harness.ts';

describe('pages of deliveries under faults', () => {
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

  /** Each delivery id and the page (job) that carries it, from every job the digest queue still has. */
  const pagesInQueue = async (t: Run) => {
    const pages = new Map<string, string[]>();
    for (const job of await t.digestQueue.getJobs()) {
      if (job) pages.set(job.id!, deliveryJob.parse(job.data).deliveryIds);
    }
    return pages;
  };

  it('9. a worker SIGKILLed in the middle of a page: the rest of that page goes out once its leases ran out', async () => {
    run = await setUpRun({ readers: 600, sink });
    const t = run;
    // A 5 s lease, so the killed worker's leases run out within the test; pages of 100 (7 pages of 603).
    // The killed worker has 4 messages in conversation at once, across the 2 pages it works on.
    const short = { DELIVERY_LEASE_SECONDS: '5', DIGEST_PAGE_SIZE: '100' };
    const inFlight = 4;
    // Killed once the server has accepted 150 messages: with two pages sent at once, at least one page is
    // partly sent then (its other messages claimed, in flight or not yet tried).
    let first: WorkerProcess | undefined;
    let killed: Promise<void> | undefined;
    let reached = false;
    const kill = () => {
      if (reached && first && !killed) killed = first.kill();
    };
    const stopListening = sink.onAccepted(() => {
      if (sink.messages.length >= 150) reached = true;
      kill();
    });
    first = await t.startWorker({ ...short, WORKER_CONCURRENCY: '4' });
    expect(await t.schedule()).toBe(603);
    await expect.poll(() => killed !== undefined, { timeout: 120_000, interval: 100 }).toBe(true);
    await killed;
    stopListening();

    // What the dead worker left: frozen now that its process is gone.
    const atKill = await t.database.db.delivery.findMany({
      select: { id: true, status: true, leaseUntil: true, attempts: true, messageId: true },
    });
    const byId = new Map(atKill.map((d) => [d.id, d]));
    const held = atKill.filter((d) => d.status === 'sending');
    const acceptedAtKill = sink.messages.length;
    expect(acceptedAtKill).toBeGreaterThanOrEqual(150);
    expect(acceptedAtKill).toBeLessThan(500);
    expect(held.length, 'deliveries the killed worker held').toBeGreaterThan(0);
    for (const d of held) {
      expect(d.attempts).toBe(1);
      expect(d.leaseUntil).toBeInstanceOf(Date);
    }
    // Really mid-page: a page with some deliveries recorded sent and others of the same page still held.
    const split = [...(await pagesInQueue(t)).entries()]
      .map(([jobId, ids]) => ({
        jobId,
        sent: ids.filter((id) => byId.get(id)?.status === 'sent'),
        held: ids.filter((id) => byId.get(id)?.status === 'sending'),
      }))
      .filter((page) => page.sent.length > 0 && page.held.length > 0);
    expect(split.length, 'pages the kill cut in the middle').toBeGreaterThan(0);
    const restOfPages = split.flatMap((page) => page.held);
    console.info(
      `mid-page kill: ${acceptedAtKill} accepted, ${held.length} held, pages cut: ${split
        .map((p) => `${p.jobId} ${p.sent.length} sent/${p.held.length} held`)
        .join(', ')}`,
    );

    await t.startWorker(short);
    await waitUntilSettled(t, 180_000);
    // A message accepted just as the worker died is the documented window (same Message-ID): at most one
    // per message the dead worker had in flight (a process holds at most WORKER_CONCURRENCY messages between
    // sent and recorded, whatever pages it works on), never the page.
    const { repeated } = await checkInvariants(t, { resent: inFlight });
    expect(await statuses(t.database)).toEqual({ sent: 600, skipped: 3 });
    for (let i = 0; i < 600; i++) {
      expect(new Set(t.to(readerEmail(i)).map((m) => m.messageId)).size, readerEmail(i)).toBe(1);
    }
    // Only what the dead worker held is re-sent, by the same delivery (same Message-ID).
    const heldIds = new Set(held.map((d) => d.id));
    const after = await t.database.db.delivery.findMany({ where: { id: { in: held.map((d) => d.id) } } });
    const resentDeliveries = after.filter((d) => repeated.includes(d.messageId!));
    expect(resentDeliveries).toHaveLength(repeated.length);
    for (const d of resentDeliveries) expect(heldIds.has(d.id)).toBe(true);
    // The rest of the killed pages: sent by the new worker (a second claim), after the leases had run out.
    for (const d of after.filter((d) => restOfPages.includes(d.id))) {
      expect(d).toMatchObject({ status: 'sent', attempts: 2 });
      expect(d.sentAt!.getTime(), `${d.id} sent before its lease ran out`).toBeGreaterThanOrEqual(
        byId.get(d.id)!.leaseUntil!.getTime(),
      );
    }
    // And nothing the dead worker had recorded was touched again.
    const sentAtKill = atKill.filter((d) => d.status === 'sent');
    const again = await t.database.db.delivery.findMany({ where: { id: { in: sentAtKill.map((d) => d.id) } } });
    for (const d of again)
      expect(d).toMatchObject({ status: 'sent', attempts: 1, messageId: byId.get(d.id)!.messageId });
    console.info(`mid-page kill: ${repeated.length} message(s) in the accepted-not-committed window`);
  }, 300_000);

  it('10. two workers, the same deliveries queued as one page, in pages of 100 and in pages of 70: one email each, every job completes', async () => {
    run = await setUpRun({ readers: 600, sink });
    const t = run;
    // The deliveries, created but not queued: the test cuts them into pages itself.
    const ids: string[] = [];
    await scheduleDueDigests(
      t.database.db,
      async (created) => {
        ids.push(...created);
      },
      { cutoffHours: 12 },
    );
    expect(ids).toHaveLength(603);
    ids.sort();
    // Three cuts of the same ids (as a scheduler and reconcilers racing could produce), interleaved so that
    // the jobs running at the same moment overlap: one page of all, 7 pages of 100 and 9 of 70, with the
    // real job options (retries after 200 ms, 400 ms, ... here: DELIVERY_RETRY_DELAY_MS).
    const hundreds = pagesOf(ids, 100).map(pageJob);
    const seventies = pagesOf(ids, 70).map(pageJob);
    const jobs = [
      pageJob(ids),
      ...Array.from({ length: Math.max(hundreds.length, seventies.length) }, (_, i) =>
        [hundreds[i], seventies[i]].filter((job) => job !== undefined),
      ).flat(),
    ];
    expect(new Set(jobs.map((job) => job.opts.jobId)).size).toBe(17);
    // Queued while the queue is paused, so that both workers start on them together.
    await t.digestQueue.pause();
    await t.digestQueue.addBulk(jobs);
    await Promise.all([t.startWorker(), t.startWorker()]);
    await t.digestQueue.resume();

    await waitUntilSettled(t, 180_000);
    // Nothing crashed: not a single message twice, not even under one Message-ID.
    await checkInvariants(t, { resent: 0 });
    expect(sink.messages).toHaveLength(600);
    for (let i = 0; i < 600; i++) expect(t.to(readerEmail(i)), readerEmail(i)).toHaveLength(1);
    expect(await statuses(t.database)).toEqual({ sent: 600, skipped: 3 });
    // Each delivery claimed exactly once: a job that met it in another's live claim skipped it (busy), it
    // did not take it over (nothing crashed, no lease ran out).
    const deliveries = await t.database.db.delivery.findMany({ select: { id: true, attempts: true } });
    expect(
      deliveries.filter((d) => d.attempts !== 1).map((d) => `${d.id} claimed ${d.attempts} times`),
      'deliveries claimed more than once',
    ).toEqual([]);
    // Every job completed (busy rows retried later, not failed), and some had to be retried for them.
    const counts = await t.digestQueue.getJobCounts('completed', 'failed');
    expect(counts).toEqual({ completed: 17, failed: 0 });
    const completed = await t.digestQueue.getJobs(['completed']);
    const retried = completed.filter((job) => job.attemptsMade > 1);
    console.info(
      `overlapping pages: ${retried.length} job(s) retried for busy rows (${retried.map((j) => `${j.id}×${j.attemptsMade}`).join(', ')})`,
    );
    expect(retried.length, 'jobs that found rows of their page busy and were retried').toBeGreaterThan(0);
  }, 300_000);
});
