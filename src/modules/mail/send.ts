// Sending a page of deliveries, each exactly once: claim them, compose them, send each, record each.
import type { Database } from '../../db/client.ts';
import { emailsFailed, emailsSent, emailsSkipped, schedulerLag } from '../../metrics.ts';
import { withoutAddresses } from '../../text.ts';
import {
  claimDeliveries,
  finishDelivery,
  LEASE_MS,
  markSent,
  releaseDeliveries,
  renewLeases,
  startSending,
  type ClaimedDelivery,
  type Decision,
} from './deliveries.ts';
import {
  classifySendFailure,
  retryModeOf,
  smtpTimeouts,
  type MailMessage,
  type Mailer,
  type RetryMode,
  type SmtpErrorFields,
} from './transport.ts';

/**
 * The message to send (and, for a digest, the papers it carries), why not to send it (`skip`: for good),
 * or why it could not be composed now (`retry`: it is put back and its job tried again later).
 */
export type Composed = { message: MailMessage; paperIds?: string[] } | { skip: string } | { retry: string };

export interface SendDeps {
  db: Database;
  mailer: Mailer;
  /** Builds the messages for a page of claimed deliveries, one per delivery in order. */
  compose: (deliveries: ClaimedDelivery[]) => Promise<Composed[]>;
  /** The server said the address does not exist (5.1.x): never mail it again. */
  onHardBounce: (address: string, reason: string) => Promise<void>;
  /** DELIVERY_LEASE_SECONDS in ms; the mailer's timeouts must fit in it (see `smtpTimeouts`). */
  leaseMs?: number;
  /** Resolves when the installation's send rate allows one more message. */
  takeSendSlot?: () => Promise<void>;
  /** Messages of a page in conversation with the server at once (the SMTP pool's connections). */
  inFlight?: number;
  /**
   * Shared by every page of the queue's worker: a message holds a place from before it is sent until it
   * is recorded, so however many pages run at once, at most `inFlight` of its messages are ever accepted
   * by the server and not yet recorded (what a crash can make it send again).
   */
  conversations?: Semaphore;
  /** True once the worker is shutting down: a page then sends nothing more and gives the rest back. */
  stopping?: () => boolean;
}

/** The page was given back unfinished because the worker is shutting down: its job goes back in line. */
export class SendingStoppedError extends Error {
  constructor(left: number) {
    super(`the worker is shutting down; ${left} deliveries of this job were given back`);
    this.name = 'SendingStoppedError';
  }
}

export interface Semaphore {
  acquire(): Promise<void>;
  release(): void;
}

export function createSemaphore(permits: number): Semaphore {
  let free = permits;
  const waiting: (() => void)[] = [];
  return {
    acquire: async () => {
      if (free > 0) free--;
      else await new Promise<void>((resolve) => waiting.push(resolve));
    },
    release: () => {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

/** Composes a page one delivery at a time: for kinds whose composer works on one (transactional mail). */
export const composeEach =
  (compose: (delivery: ClaimedDelivery) => Promise<Composed>) =>
  (deliveries: ClaimedDelivery[]): Promise<Composed[]> =>
    Promise.all(deliveries.map(compose));

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The error the queue retries with. nodemailer's carries the recipient (in `rejected`, `rejectedErrors`
 * and the server's reply), and the queue logs it and keeps it in Redis: pass on only what retrying needs.
 */
function withoutRecipient(error: unknown, reason: string): Error {
  // The fields `retryModeOf` reads, so the worker decides on this error as it would on nodemailer's.
  const { code, responseCode, command, timeoutType, originalCode } = error as SmtpErrorFields;
  return Object.assign(new Error(reason), {
    name: 'SendError',
    code,
    responseCode,
    command,
    timeoutType,
    originalCode,
  });
}

export interface PageResult {
  sent: number;
  skipped: number;
  failed: number;
  /** Already finished, or taken over by another worker. */
  notClaimed: number;
}

/** Another worker holds deliveries of the page: try again after its leases could have run out. */
export class DeliveryBusyError extends Error {
  constructor(count: number) {
    super(`${count} deliveries of this job are being sent by another worker`);
    this.name = 'DeliveryBusyError';
  }
}

/** Which retry wins when several messages of a page failed: a paused server stops all, a 4xx costs an attempt. */
const RETRY_ORDER: RetryMode[] = ['pause', 'backoff', 'defer'];

/**
 * Sends a page of deliveries, each that no one else has. A failure that may pass (4xx, network,
 * authentication) puts that delivery back; after the page, the error is thrown so the queue retries the
 * job (which then claims only what was put back). A server that cannot be reached stops the page at once
 * and puts back everything not yet sent. A 5xx for a recipient is final.
 *
 * The one window nobody can close: the server accepted a message and the process died (or Postgres stayed
 * away for the rest of the lease) before `markSent`. The lease then runs out and that delivery is sent
 * again, with the same Message-ID, so the receiving side can drop the duplicate. We prefer that to marking
 * it "unknown" and maybe losing it. It is as wide as the messages in flight when the process dies (at
 * most `inFlight`), never the whole page: each message is recorded on its own, right after its 250.
 */
export async function sendDeliveries(deps: SendDeps, ids: string[]): Promise<PageResult> {
  const { db } = deps;
  const leaseMs = deps.leaseMs ?? LEASE_MS;
  const result: PageResult = { sent: 0, skipped: 0, failed: 0, notClaimed: 0 };
  const page = await claimDeliveries(db, ids, leaseMs);
  result.notClaimed = ids.length - page.claimed.length - page.busy;
  if (page.claimed.length === 0) {
    if (page.busy) throw new DeliveryBusyError(page.busy);
    return result;
  }

  let composed: Composed[];
  try {
    composed = await deps.compose(page.claimed);
  } catch (error) {
    // A bug or a database hiccup while composing: give the page back rather than hold it for a lease.
    await releaseDeliveries(db, page.claimed, messageOf(error));
    throw error;
  }
  // A delivery that could not be composed now (a bug, a reader's odd data) goes back alone; the rest go on.
  const retry = page.claimed.filter((_, k) => 'retry' in composed[k]!);
  const retryReason = composed.find((message): message is { retry: string } => 'retry' in message)?.retry;
  if (retryReason) await releaseDeliveries(db, retry, retryReason);
  let leaseEnds = Date.now() + leaseMs;
  const starts = await startSending(
    db,
    page.claimed.flatMap((delivery, k): Decision[] => {
      const message = composed[k]!;
      if ('retry' in message) return [];
      return 'skip' in message ? [{ delivery, skip: message.skip }] : [{ delivery, paperIds: message.paperIds }];
    }),
    leaseMs,
  );
  const outgoing: { delivery: ClaimedDelivery; message: MailMessage; paperIds: string[] | undefined }[] = [];
  page.claimed.forEach((delivery, k) => {
    const start = starts.get(delivery.id);
    const message = composed[k]!;
    if ('retry' in message) return;
    if (start === 'send' && 'message' in message) {
      outgoing.push({ delivery, message: message.message, paperIds: message.paperIds });
    } else if (start === 'skipped') {
      result.skipped++;
      emailsSkipped.inc({ kind: delivery.kind });
    } else {
      // Composing took so long that the lease ran out and another worker took over: it sends, we must not.
      result.notClaimed++;
    }
  });

  // One message's SMTP conversation may take this long at worst; a page whose lease has less left renews it.
  const { dnsTimeout, connectionTimeout, greetingTimeout, socketTimeout } = smtpTimeouts(leaseMs / 1000);
  const messageBudgetMs = dnsTimeout + connectionTimeout + greetingTimeout + socketTimeout;
  const failures = new Map<RetryMode, Error>();
  if (retryReason) failures.set('backoff', new Error(retryReason));
  let next = 0;
  // After a renewal: the deliveries still ours (another worker may have taken over some meanwhile).
  let owned: Set<string> | undefined;
  let renewing: Promise<void> | undefined;
  // An error that stops the page (a renewal or a record that failed, a bug): no lane starts another send.
  let broken: unknown;
  const stopped = () => broken !== undefined || failures.has('pause') || (deps.stopping?.() ?? false);

  const renew = async () => {
    const renewedAt = Date.now();
    try {
      // (Those already recorded are no longer `sending`, so only the unfinished are renewed.)
      owned = await renewLeases(
        db,
        outgoing.map((item) => item.delivery),
        leaseMs,
      );
      leaseEnds = renewedAt + leaseMs;
    } finally {
      renewing = undefined;
    }
  };

  // Taken by a lane but not tried, because the page stopped while it waited for the send rate.
  const untried: ClaimedDelivery[] = [];
  const sendOne = async ({ delivery, message, paperIds }: (typeof outgoing)[number]) => {
    await deps.takeSendSlot?.();
    if (stopped()) {
      untried.push(delivery);
      return;
    }
    // Held back longer than expected (the send rate, a slow server): extend what is left of the page. A
    // renewal that fails stops the page; one that succeeds says which deliveries are still ours.
    if (Date.now() + messageBudgetMs > leaseEnds) await (renewing ??= renew());
    if (owned && !owned.has(delivery.id)) {
      result.notClaimed++;
      return;
    }
    try {
      await deps.mailer.send(message);
    } catch (error) {
      const failure = classifySendFailure(error);
      const reason = withoutAddresses(messageOf(error));
      if (failure === 'retry') {
        await releaseDeliveries(db, [delivery], reason);
        const mode = retryModeOf(error);
        if (!failures.has(mode)) failures.set(mode, withoutRecipient(error, reason));
        return;
      }
      // The suppression first: once the delivery reads failed, the address is already never mailed again.
      if (failure === 'hard-bounce') await deps.onHardBounce(message.to, reason);
      await finishDelivery(db, delivery, 'failed', reason);
      emailsFailed.inc({ kind: delivery.kind });
      result.failed++;
      return;
    }
    // The server has the message. A database that blinks now must not turn into a resend once the lease runs
    // out: the record is retried for as long as the lease keeps everyone else away.
    const recorded = await whileLeaseHolds(
      () => leaseEnds,
      () => markSent(db, delivery, message.messageId, paperIds),
    );
    // false only if our lease ran out mid-send and another worker took over (the SMTP timeouts fit in the
    // lease, so only a process frozen mid-send gets here): it sends under the same Message-ID, so the
    // receiver keeps one; nothing here may overwrite its record.
    if (recorded) {
      emailsSent.inc({ kind: delivery.kind });
      if (delivery.kind === 'digest') schedulerLag.observe((Date.now() - delivery.dueAt.getTime()) / 1000);
    }
    result.sent++;
  };

  const lane = async () => {
    // A server that cannot be reached stops the page: nothing more is tried until it is back.
    while (next < outgoing.length && !stopped()) {
      await deps.conversations?.acquire();
      try {
        // Checked again: another lane may have stopped the page while this one waited for its place.
        if (next < outgoing.length && !stopped()) await sendOne(outgoing[next++]!);
      } catch (error) {
        broken ??= error;
      } finally {
        deps.conversations?.release();
      }
    }
  };
  // Lanes never reject (an error stops the page through `broken`), so all of them have finished here.
  await Promise.all(Array.from({ length: Math.min(deps.inFlight ?? 1, outgoing.length) }, lane));

  // Not tried: put back, with the reason sending stopped (what an operator looking at a pending delivery
  // needs to read). The message a failing lane was on is left to its lease: it may have been accepted.
  const unsent = [...untried, ...outgoing.slice(next).map((item) => item.delivery)];
  if (broken !== undefined) {
    await releaseDeliveries(db, unsent, messageOf(broken)).catch(() => {});
    throw broken instanceof Error ? broken : new Error(messageOf(broken));
  }
  const stop = RETRY_ORDER.map((mode) => failures.get(mode)).find(Boolean);
  if (stop) {
    await releaseDeliveries(db, unsent, stop.message);
    throw stop;
  }
  if (unsent.length) {
    // Shutting down: what was not tried goes back now, not when its lease runs out.
    await releaseDeliveries(db, unsent, 'not tried: the worker was shutting down');
    throw new SendingStoppedError(unsent.length);
  }
  if (page.busy) throw new DeliveryBusyError(page.busy);
  return result;
}

export type SendResult = 'sent' | 'skipped' | 'failed' | 'not-claimed';

/** One delivery, as a page of one: what the tests of a single message's fate use. */
export async function sendDelivery(deps: SendDeps, deliveryId: string): Promise<SendResult> {
  const result = await sendDeliveries(deps, [deliveryId]);
  return result.sent ? 'sent' : result.failed ? 'failed' : result.skipped ? 'skipped' : 'not-claimed';
}

/** Time left at the end of a lease that retrying gives up, so the last attempt finishes before it runs out. */
const LEASE_MARGIN_MS = 1_000;

/**
 * `work`, tried again after a failure (50 ms, doubling up to 1 s) until it succeeds or the lease is about to
 * end; then the last error is thrown and the documented window applies.
 */
async function whileLeaseHolds<T>(leaseEnds: () => number, work: () => Promise<T>): Promise<T> {
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      return await work();
    } catch (error) {
      if (Date.now() + delay >= leaseEnds() - LEASE_MARGIN_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
