// Sending one delivery, exactly once: claim it, compose it, send it, record what happened.
import type { Database } from '../../db/client.ts';
import { emailsFailed, emailsSent, emailsSkipped, schedulerLag } from '../../metrics.ts';
import { withoutAddresses } from '../../text.ts';
import {
  claimDelivery,
  finishDelivery,
  markSent,
  LEASE_MS,
  releaseDelivery,
  startSending,
  type ClaimedDelivery,
} from './deliveries.ts';
import { classifySendFailure, type MailMessage, type Mailer, type SmtpErrorFields } from './transport.ts';

/** The message to send (and, for a digest, the papers it carries), or why not to send it. */
export type Composed = { message: MailMessage; paperIds?: string[] } | { skip: string };

export interface SendDeps {
  db: Database;
  mailer: Mailer;
  /** Builds the message for a claimed delivery, or says why it must not be sent after all. */
  compose: (delivery: ClaimedDelivery) => Promise<Composed>;
  /** The server said the address does not exist (5.1.x): never mail it again. */
  onHardBounce: (address: string, reason: string) => Promise<void>;
  /** DELIVERY_LEASE_SECONDS in ms; the mailer's timeouts must fit in it (see `smtpTimeouts`). */
  leaseMs?: number;
}

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

export type SendResult = 'sent' | 'skipped' | 'failed' | 'not-claimed';

/** Another worker holds the delivery's lease: try again after it could have run out. */
export class DeliveryBusyError extends Error {
  constructor(deliveryId: string) {
    super(`delivery ${deliveryId} is being sent by another worker`);
    this.name = 'DeliveryBusyError';
  }
}

/**
 * Sends a delivery if no one else has it. A failure that may pass (4xx, network, authentication) puts the
 * delivery back and rethrows, so the queue retries it with backoff; a 5xx for the recipient is final.
 *
 * The one window nobody can close: the server accepted the message and the process died (or Postgres
 * stayed away for the rest of the lease) before `markSent`. The lease then runs out and the delivery is
 * sent again, with the same Message-ID, so the receiving side can drop the duplicate. We prefer that to
 * marking it "unknown" and maybe losing it.
 */
export async function sendDelivery(deps: SendDeps, deliveryId: string): Promise<SendResult> {
  const leaseMs = deps.leaseMs ?? LEASE_MS;
  const delivery = await claimDelivery(deps.db, deliveryId, leaseMs);
  if (!delivery) {
    // Done, or held by a live lease (its worker may still die): only the latter is worth retrying.
    const current = await deps.db.delivery.findUnique({ where: { id: deliveryId }, select: { status: true } });
    if (current?.status === 'sending') throw new DeliveryBusyError(deliveryId);
    return 'not-claimed';
  }
  let composed: Composed;
  try {
    composed = await deps.compose(delivery);
  } catch (error) {
    // A bug or a database hiccup while composing: give the delivery back rather than hold it for a lease.
    await releaseDelivery(deps.db, delivery, messageOf(error));
    throw error;
  }
  if ('skip' in composed) {
    await finishDelivery(deps.db, delivery, 'skipped', composed.skip);
    emailsSkipped.inc({ kind: delivery.kind });
    return 'skipped';
  }
  const leaseEnds = Date.now() + leaseMs;
  const start = await startSending(
    deps.db,
    delivery,
    { to: composed.message.to, paperIds: composed.paperIds },
    leaseMs,
  );
  // Composing took so long that the lease ran out and another worker took over: it sends, we must not.
  if (start === 'claim-lost') return 'not-claimed';
  if (start === 'reader-gone') {
    emailsSkipped.inc({ kind: delivery.kind });
    return 'skipped';
  }
  try {
    await deps.mailer.send(composed.message);
  } catch (error) {
    const failure = classifySendFailure(error);
    const reason = withoutAddresses(messageOf(error));
    if (failure === 'retry') {
      await releaseDelivery(deps.db, delivery, reason);
      throw withoutRecipient(error, reason);
    }
    // The suppression first: once the delivery reads failed, the address is already never mailed again.
    if (failure === 'hard-bounce') await deps.onHardBounce(composed.message.to, reason);
    await finishDelivery(deps.db, delivery, 'failed', reason);
    emailsFailed.inc({ kind: delivery.kind });
    return 'failed';
  }
  // The server has the message. A database that blinks now must not turn into a resend once the lease runs
  // out: the record is retried for as long as the lease keeps everyone else away.
  const recorded = await whileLeaseHolds(leaseEnds, () =>
    markSent(deps.db, delivery, composed.message.messageId, composed.paperIds),
  );
  // false only if our lease ran out mid-send and another worker took over (the SMTP timeouts fit in the
  // lease, so only a process frozen mid-send gets here): it sends under the same Message-ID, so the
  // receiver keeps one; nothing here may overwrite its record.
  if (recorded) {
    emailsSent.inc({ kind: delivery.kind });
    if (delivery.kind === 'digest') schedulerLag.observe((Date.now() - delivery.dueAt.getTime()) / 1000);
  }
  return 'sent';
}

/** Time left at the end of a lease that retrying gives up, so the last attempt finishes before it runs out. */
const LEASE_MARGIN_MS = 1_000;

/**
 * `work`, tried again after a failure (50 ms, doubling up to 1 s) until it succeeds or the lease is about to
 * end; then the last error is thrown and the documented window applies.
 */
async function whileLeaseHolds<T>(leaseEnds: number, work: () => Promise<T>): Promise<T> {
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      return await work();
    } catch (error) {
      if (Date.now() + delay >= leaseEnds - LEASE_MARGIN_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
