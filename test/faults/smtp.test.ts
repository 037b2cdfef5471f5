// The mail server misbehaving in every way at once: 4xx for a fifth of the readers, 5xx for some,
// dropped connections, and an hour-long outage.
//
// Time is compressed by configuration, not faked (vitest's fake timers do not drive real sockets): in
// production sending pauses MAIL_OUTAGE_PAUSE_MS = 60 s each time the server cannot be reached; here it
// pauses 100 ms, so an outage of 6 s is the same 60 pauses an hour-long outage costs in production. An
// outage spends no retries (the job goes back without an attempt), so its length only matters against
// the digest cut-off (DIGEST_CUTOFF_HOURS, 12 h), far away in both scales.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import {
  checkInvariants,
  readerEmail,
  setUpRun,
  startSmtpProxy,
  statuses,
  waitUntilSettled,
  type Run,
} from './harness.ts';

const READERS = 200;
const OUTAGE_MS = 6_000;

describe('a mail server that fails', () => {
  let sink: SmtpSink;
  let run: Run | undefined;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await run?.close();
    await sink.close();
  });

  it('6. 4xx, 5xx, drops and an hour-long outage: 4xx readers get one digest, 5xx none, nothing lost or doubled', async () => {
    const proxy = await startSmtpProxy(sink.port);
    run = await setUpRun({ readers: READERS, sink });
    const t = run;
    // Every fifth reader is greylisted twice (451), then accepted; every 20th that is not is unknown (550 5.1.1).
    const greylisted = Array.from({ length: READERS }, (_, i) => i).filter((i) => i % 5 === 0);
    const unknown = Array.from({ length: READERS }, (_, i) => i).filter((i) => i % 20 === 3);
    for (const i of greylisted) {
      sink.failRecipient(readerEmail(i), { type: 'reply', code: 451, message: '4.7.1 greylisted, try again' }, 2);
    }
    for (const i of unknown) {
      sink.failRecipient(readerEmail(i), { type: 'reply', code: 550, message: '5.1.1 no such user' });
    }
    // The first messages have their connection cut after DATA, without a reply.
    sink.failNext(5, { type: 'drop' });
    await t.startWorker({ SMTP_URL: proxy.url, MAIL_OUTAGE_PAUSE_MS: '100' });
    expect(await t.schedule()).toBe(READERS + 3);
    const acceptedAt = new Map<string, number>();
    const stopWatching = sink.onAccepted(
      (m) => void (acceptedAt.has(m.messageId!) || acceptedAt.set(m.messageId!, Date.now())),
    );
    await sink.waitForMessages(40, 60_000);

    const cutAt = Date.now();
    // A 550 answered just before the cut may still be being recorded as the outage starts, so the
    // failures the outage may end with are bounded by the 550s the server wrote before it, not by a
    // count read after it (that read raced the worker's write).
    const refusedBeforeCut = sink.refused.filter((r) => r.code >= 500).length;
    await proxy.down();
    const outageEnds = Date.now() + OUTAGE_MS;
    while (Date.now() < outageEnds) {
      // Nothing is blamed on readers while the server is away: the only failures are the 550s.
      const failed = await t.database.db.delivery.findMany({
        where: { status: 'failed' },
        select: { subscriber: { select: { email: true } } },
      });
      expect(failed.map((d) => d.subscriber.email).filter((e) => !unknown.map(readerEmail).includes(e))).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect((await statuses(t.database)).failed ?? 0).toBeLessThanOrEqual(refusedBeforeCut);
    await proxy.up();

    await waitUntilSettled(t);
    stopWatching();
    // Cutting the connections can lose a "250" the server already sent: that message is re-sent with its
    // Message-ID (the documented window), at most one per connection open at the cut.
    const { repeated } = await checkInvariants(t, { resent: 8 });
    for (const id of repeated) expect(Math.abs(acceptedAt.get(id)! - cutAt), id).toBeLessThan(2_000);
    for (const i of greylisted) expect(t.to(readerEmail(i)), readerEmail(i)).toHaveLength(1);
    for (const i of unknown) {
      expect(t.to(readerEmail(i))).toEqual([]);
      expect(await t.database.db.suppression.count({ where: { addressHash: addressHash(readerEmail(i)) } })).toBe(1);
    }
    expect(await statuses(t.database)).toEqual({ sent: READERS - unknown.length, failed: unknown.length, skipped: 3 });
    await proxy.close();
  }, 240_000);
});
