// Where email goes: an SMTP server (pooled connections) or, with no SMTP_URL, .eml files in OUTBOX_DIR.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { buildMessage, type MailMessage } from './mime.ts';

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
export function smtpTimeouts(leaseSeconds = 120) {
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
      // One connection per concurrent job, so no message waits in the pool's queue while its lease runs.
      maxConnections,
      maxMessages: Infinity,
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
 * trouble — may pass, so the delivery is tried again later rather than blamed on the reader.
 */
export function classifySendFailure(error: unknown): SendFailure {
  if (isMailServiceFailure(error)) return 'retry';
  const { responseCode, response, command } = error as { responseCode?: number; response?: string; command?: string };
  const forRecipient = command === undefined || ['RCPT TO', 'DATA'].includes(command);
  if (typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600 && forRecipient) {
    return /\b5\.1\.\d{1,3}\b/.test(response ?? '') ? 'hard-bounce' : 'rejected';
  }
  return 'retry';
}

/**
 * A failure of the mail service itself rather than of one message: wrong credentials, or no server to
 * talk to. Every message would fail the same way, so sending pauses instead of burning readers' retries.
 */
export function isMailServiceFailure(error: unknown): boolean {
  const { responseCode, code } = error as { responseCode?: number; code?: string };
  return (
    responseCode === 535 ||
    responseCode === 530 ||
    code === 'EAUTH' ||
    code === 'ECONNECTION' ||
    code === 'ETIMEDOUT' ||
    code === 'ESOCKET'
  );
}
