// Where email goes: an SMTP server (pooled connections) or, with no SMTP_URL, .eml files in OUTBOX_DIR.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { DEFAULT_LEASE_SECONDS, type Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { buildMessage, MailHeaderError, type MailMessage } from './mime.ts';

export type { MailMessage } from './mime.ts';

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

type MailerConfig = Pick<Config, 'SMTP_URL' | 'OUTBOX_DIR'> &
  Partial<Pick<Config, 'DKIM_DOMAIN' | 'DKIM_SELECTOR' | 'DKIM_PRIVATE_KEY' | 'DELIVERY_LEASE_SECONDS'>>;

/**
 * SMTP timeouts that fit in a delivery's lease: a server that stalls makes the worker give up (and release
 * the delivery) well before the lease runs out, so no other worker can claim it while the first one may
 * still complete the send. Each timeout bounds one step (DNS, connect, greeting, one command's reply): at
 * most 3/8 + 1/3 of the lease when one step stalls. Capped at nodemailer's usual values for long leases.
 */
export function smtpTimeouts(leaseSeconds = DEFAULT_LEASE_SECONDS) {
  const leaseMs = leaseSeconds * 1000;
  const step = Math.min(10_000, Math.floor(leaseMs / 8));
  return {
    dnsTimeout: step,
    connectionTimeout: step,
    greetingTimeout: step,
    socketTimeout: Math.min(30_000, Math.floor(leaseMs / 3)),
  };
}

/** DKIM options for nodemailer when all three settings are present. */
function dkimOf(config: MailerConfig) {
  return config.DKIM_DOMAIN && config.DKIM_SELECTOR && config.DKIM_PRIVATE_KEY
    ? { domainName: config.DKIM_DOMAIN, keySelector: config.DKIM_SELECTOR, privateKey: config.DKIM_PRIVATE_KEY }
    : undefined;
}

export function createMailer(config: MailerConfig, logger: Logger, { maxConnections = 5 } = {}): Mailer {
  const dkim = dkimOf(config);
  if (config.SMTP_URL) {
    const transport = nodemailer.createTransport({
      url: config.SMTP_URL,
      pool: true,
      // One connection per message in conversation, so no message waits in the pool's queue while its lease runs.
      maxConnections,
      maxMessages: Infinity,
      // The pool must not quietly send a message again on a new connection when one closes mid-message
      // (it does, if the close is seen before the error): whether to retry is the delivery's claim to
      // decide, and a close after DATA may have lost a 250 for a message the server kept.
      maxRequeues: 0,
      ...smtpTimeouts(config.DELIVERY_LEASE_SECONDS),
      ...(dkim ? { dkim } : {}),
    });
    return {
      // Built once, as bytes, by our builder: several times cheaper in CPU than nodemailer's composer
      // (bench/README.md, mime). nodemailer still signs a raw message with the transport's DKIM key.
      send: async (message) => {
        const { raw, envelope, messageId } = buildMessage(message);
        await transport.sendMail({ envelope, raw, messageId });
      },
      close: () => transport.close(),
    };
  }
  // A fresh install works before a mail server is configured: each message becomes a file to open.
  const outbox = path.resolve(config.OUTBOX_DIR);
  const transport = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'windows',
    ...(dkim ? { dkim } : {}),
  });
  logger.info({ outbox }, 'SMTP_URL is not set: emails are written to the outbox folder instead of being sent');
  return {
    send: async (message) => {
      const { raw: built, envelope, messageId } = buildMessage(message);
      const { message: raw } = (await transport.sendMail({ envelope, raw: built, messageId })) as { message: Buffer };
      await mkdir(outbox, { recursive: true });
      const file = path.join(outbox, `${message.messageId.replace(/[^\w.@-]/g, '')}.eml`);
      await writeFile(file, raw);
      logger.info({ file }, 'email written to the outbox');
    },
    close: () => transport.close(),
  };
}

export type SendFailure = 'retry' | 'rejected' | 'hard-bounce';

/**
 * What an SMTP failure means for the delivery: a 5xx for the recipient is final (5.1.x: the address does
 * not exist, so it is suppressed); everything else — 4xx, timeouts, refused connections, authentication
 * trouble — may pass, so the delivery is tried again later rather than blamed on the reader (how: see
 * `retryModeOf`).
 */
export function classifySendFailure(error: unknown): SendFailure {
  // A header the builder refuses (a line break, not one plain address) fails the same way every time.
  if (error instanceof MailHeaderError) return 'rejected';
  if (isMailServiceFailure(error)) return 'retry';
  const { responseCode, response, command } = error as { responseCode?: number; response?: string; command?: string };
  const forRecipient = command === undefined || ['RCPT TO', 'DATA'].includes(command);
  if (typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600 && forRecipient) {
    return /\b5\.1\.\d{1,3}\b/.test(response ?? '') ? 'hard-bounce' : 'rejected';
  }
  return 'retry';
}

/**
 * How a delivery whose send may pass is tried again:
 * - 'pause': the mail service itself fails, the same way for every message: the whole queue waits
 *   MAIL_OUTAGE_PAUSE_MS and the job goes back without spending an attempt.
 * - 'defer': the server answered this message's transaction (MAIL, RCPT or DATA) with 421, "service not
 *   available, closing transmission channel": it is shedding load or going away, which says nothing about
 *   the message or its reader. The job goes back after DELIVERY_RETRY_DELAY_MS without spending an attempt,
 *   and the queue goes on (if the server is really gone, the next connection is refused and that pauses).
 * - 'backoff': this message, this time (a 4xx, a dropped connection, a reply that never came): the delivery
 *   spends one of its attempts and the queue retries it with backoff, while other messages go on.
 */
export type RetryMode = 'pause' | 'defer' | 'backoff';

export function retryModeOf(error: unknown): RetryMode {
  if (isMailServiceFailure(error)) return 'pause';
  // A 421 at greeting or EHLO is a service failure (above); here it is one for a message under way, whether
  // nodemailer reports it for the command (EMESSAGE after DATA) or as the server closing the connection.
  return (error as SmtpErrorFields | undefined)?.responseCode === 421 ? 'defer' : 'backoff';
}

/** The fields of a nodemailer error that say what failed (`SendError` in send.ts keeps the same ones). */
export interface SmtpErrorFields {
  code?: string;
  responseCode?: number;
  command?: string;
  /** nodemailer reports every timeout as ETIMEDOUT; this says which: CONNECT_, GREETING_ or SOCKET_TIMEOUT. */
  timeoutType?: string;
  /** The system error behind nodemailer's code, e.g. ECONNREFUSED behind ESOCKET. */
  originalCode?: string;
  message?: string;
}

/**
 * A TLS handshake that failed, by the system error nodemailer keeps in `originalCode` (it reports these
 * as ESOCKET): a protocol mismatch (ERR_SSL_WRONG_VERSION_NUMBER: smtps:// to a plain-text port) or a
 * certificate that does not verify (expired, self-signed, for another name).
 */
const TLS_FAILURE = /^(ERR_SSL_|ERR_TLS_)|CERT|CRL|^UNABLE_TO_|^(INVALID_CA|INVALID_PURPOSE|HOSTNAME_MISMATCH)$/;

/** A connection that was never made: nothing listens there, or no route to it. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'EADDRNOTAVAIL']);

/**
 * A failure of the mail service itself rather than of one message: wrong credentials, no server to talk
 * to, or a server that will not start a session with us. Every message would fail the same way, so
 * sending pauses instead of burning readers' retries. Only failures that say so count: a reply that stalls
 * or a connection dropped once a session was under way may be this message's bad luck (a slow content
 * filter, one overloaded connection), and pausing every queue for it would hold back every reader.
 */
export function isMailServiceFailure(error: unknown): boolean {
  const { code, responseCode, command, timeoutType, originalCode, message = '' } = (error ?? {}) as SmtpErrorFields;
  // Credentials refused or required (RFC 4954 530, 534, 535, 538), whichever command the server answered.
  if (code === 'EAUTH' || code === 'ENOAUTH' || code === 'EOAUTH2') return true;
  if (responseCode === 530 || responseCode === 534 || responseCode === 535 || responseCode === 538) return true;
  // The relay's name does not resolve (EDNS), or TLS cannot be set up with it (ETLS: STARTTLS refused or
  // failing; a handshake or certificate error): a configuration or service problem that every message meets
  // alike. Retried message by message, each failing within milliseconds, they would burn every reader's
  // attempts in minutes; paused, none is spent and the ALERT tells an operator what to fix.
  if (code === 'EDNS' || code === 'ETLS') return true;
  if (originalCode !== undefined && TLS_FAILURE.test(originalCode)) return true;
  // Nothing listens at SMTP_URL, or the network cannot reach it.
  if (code === 'ESOCKET' && originalCode !== undefined && UNREACHABLE.has(originalCode)) return true;
  // The server greets with a refusal (421 too busy, 554 no service) or ends the session at EHLO.
  if (code === 'EPROTOCOL' && command === 'CONN' && responseCode !== undefined) return true;
  if (responseCode === 421 && (command === 'EHLO' || command === 'HELO' || command === 'LHLO')) return true;
  // A stalled connect: the TCP connection or the greeting never came. Decided as an outage on purpose: no
  // message has been offered yet, so nothing about this one is at fault, and the next message would wait the
  // same timeout at the same silent server; retrying message by message would only spend every reader's
  // attempts one timeout at a time. A pause spends none, and costs one MAIL_OUTAGE_PAUSE_MS if it was luck.
  // (The messages are matched too, for nodemailer releases that set no timeoutType.)
  if (code === 'ETIMEDOUT') {
    return (
      timeoutType === 'CONNECT_TIMEOUT' ||
      timeoutType === 'GREETING_TIMEOUT' ||
      /^(Connection timeout|Greeting never received)/.test(message)
    );
  }
  // The pool's connections kept closing before a message could be offered (nodemailer gave up requeueing it).
  return code === 'ECONNECTION' && message.startsWith('Reached maximum number of retries after connection was closed');
}
