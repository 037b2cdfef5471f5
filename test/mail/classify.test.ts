// What each way an SMTP send fails means, provoked through the real mailer: pause every queue (the mail
// service is down), or retry this one message.
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import {
  classifySendFailure,
  createMailer,
  retryModeOf,
  type MailMessage,
  type SendFailure,
  type RetryMode,
} from '../../src/modules/mail/transport.ts';
import { MailHeaderError } from '../../src/modules/mail/mime.ts';
import { testConfig } from '../helpers/config.ts';
import { freePort } from '../helpers/net.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

// A 6 s lease: 0.75 s per connection step, 2 s per command reply (smtpTimeouts), so stalls end quickly.
const LEASE_SECONDS = 6;

describe('classifying SMTP failures through the real mailer', () => {
  let sink: SmtpSink;
  const servers: net.Server[] = [];
  let n = 0;

  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  beforeEach(() => sink.reset());
  afterAll(async () => {
    for (const server of servers) server.close();
    await sink.close();
  });

  const message = (to = `reader${++n}@example.org`): MailMessage => ({
    from: 'paperboy@example.org',
    to,
    subject: 'Trending papers',
    text: 'Model merging at scale',
    html: '<p>Model merging at scale</p>',
    messageId: `<classify-${n}@papers.example.org>`,
  });
  /** The error one send through a fresh pooled mailer at `url` fails with. */
  const failureAt = async (url: string, mail: MailMessage = message()) => {
    const config = testConfig();
    const mailer = createMailer(
      { SMTP_URL: url, OUTBOX_DIR: 'outbox', DELIVERY_LEASE_SECONDS: LEASE_SECONDS },
      createLogger(config),
    );
    try {
      await mailer.send(mail);
    } catch (error) {
      return error;
    } finally {
      mailer.close();
    }
    throw new Error(`sending through ${url} succeeded`);
  };
  const meaning = (error: unknown): [SendFailure, RetryMode] => [classifySendFailure(error), retryModeOf(error)];
  /** A bare TCP server standing in for a mail server that misbehaves before any SMTP is spoken. */
  const tcpServer = async (onConnection: (socket: net.Socket) => void) => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      onConnection(socket);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `smtp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  };

  describe('the mail service is down: pause', () => {
    it('nothing listens at SMTP_URL', async () => {
      expect(meaning(await failureAt(`smtp://127.0.0.1:${await freePort()}`))).toEqual(['retry', 'pause']);
    });

    it('the server accepts the connection but never greets (a stalled connect)', async () => {
      const error = await failureAt(await tcpServer(() => {}));
      expect(error).toMatchObject({ code: 'ETIMEDOUT', timeoutType: 'GREETING_TIMEOUT' });
      expect(meaning(error)).toEqual(['retry', 'pause']);
    });

    it('the server greets with 421 (too busy) or 554 (no service)', async () => {
      for (const greeting of ['421 4.3.2 too busy, try later', '554 5.7.1 no service for you']) {
        const error = await failureAt(await tcpServer((socket) => socket.end(`${greeting}\r\n`)));
        expect(meaning(error), greeting).toEqual(['retry', 'pause']);
      }
    });

    it('the server ends the session at EHLO with 421', async () => {
      const url = await tcpServer((socket) => {
        socket.write('220 mail.example.org ESMTP\r\n');
        socket.once('data', () => socket.end('421 4.3.2 shutting down\r\n'));
      });
      expect(meaning(await failureAt(url))).toEqual(['retry', 'pause']);
    });

    it('the server closes every connection before greeting', async () => {
      expect(meaning(await failureAt(await tcpServer((socket) => socket.destroy())))).toEqual(['retry', 'pause']);
    });

    it('the relay name does not resolve', async () => {
      // .invalid never resolves (RFC 6761), so no query leaves the machine.
      const error = await failureAt('smtp://no-such-host.invalid:2525');
      expect(error).toMatchObject({ code: 'EDNS' });
      expect(meaning(error)).toEqual(['retry', 'pause']);
    });

    it('the TLS handshake fails: smtps:// to a server that speaks plain text', async () => {
      const error = await failureAt(`smtps://127.0.0.1:${sink.port}`);
      expect(error).toMatchObject({ code: 'ESOCKET', originalCode: 'ERR_SSL_WRONG_VERSION_NUMBER' });
      expect(meaning(error)).toEqual(['retry', 'pause']);
    });

    it('TLS is required and the server offers no STARTTLS', async () => {
      const error = await failureAt(`${sink.url}?requireTLS=true`);
      expect(error).toMatchObject({ code: 'ETLS', command: 'STARTTLS' });
      expect(meaning(error)).toEqual(['retry', 'pause']);
    });

    it('the server certificate does not verify (as nodemailer reports it: ESOCKET and the TLS error)', () => {
      for (const originalCode of [
        'DEPTH_ZERO_SELF_SIGNED_CERT',
        'SELF_SIGNED_CERT_IN_CHAIN',
        'CERT_HAS_EXPIRED',
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        'ERR_TLS_CERT_ALTNAME_INVALID',
      ]) {
        expect(retryModeOf({ code: 'ESOCKET', command: 'CONN', originalCode }), originalCode).toBe('pause');
      }
      // A connection reset mid-session is not TLS trouble.
      expect(retryModeOf({ code: 'ESOCKET', command: 'CONN', originalCode: 'ECONNRESET' })).toBe('backoff');
    });

    it('the server refuses our credentials', async () => {
      sink.failNext(1, { type: 'reply', code: 535, message: '5.7.8 authentication failed' });
      expect(meaning(await failureAt(sink.url))).toEqual(['retry', 'pause']);
    });
  });

  describe('this one message: retry it with backoff, other messages go on', () => {
    it('the reply to its DATA stalls past the socket timeout', async () => {
      sink.failNext(1, { type: 'stall', ms: 4_000 });
      const error = await failureAt(sink.url);
      expect(error).toMatchObject({ code: 'ETIMEDOUT', timeoutType: 'SOCKET_TIMEOUT' });
      expect(meaning(error)).toEqual(['retry', 'backoff']);
    });

    it('the reply to its RCPT TO stalls past the socket timeout', async () => {
      sink.failRecipient('slow@example.org', { type: 'stall', ms: 4_000 }, 1);
      expect(meaning(await failureAt(sink.url, message('slow@example.org')))).toEqual(['retry', 'backoff']);
    });

    it('its connection is dropped after DATA', async () => {
      sink.failNext(1, { type: 'drop' });
      expect(meaning(await failureAt(sink.url))).toEqual(['retry', 'backoff']);
    });

    it('the server defers the recipient with 451', async () => {
      sink.failRecipient('grey@example.org', { type: 'reply', code: 451, message: '4.7.1 greylisted' });
      expect(meaning(await failureAt(sink.url, message('grey@example.org')))).toEqual(['retry', 'backoff']);
    });
  });

  describe('the server closes the channel on this message (421): again later, without spending an attempt', () => {
    it('after DATA', async () => {
      sink.failNext(1, { type: 'reply', code: 421, message: '4.3.2 service not available, closing channel' });
      const error = await failureAt(sink.url);
      expect(error).toMatchObject({ responseCode: 421, command: 'DATA' });
      expect(meaning(error)).toEqual(['retry', 'defer']);
    });

    it('at RCPT TO', async () => {
      sink.failRecipient('busy@example.org', { type: 'reply', code: 421, message: '4.7.0 try again later' });
      expect(meaning(await failureAt(sink.url, message('busy@example.org')))).toEqual(['retry', 'defer']);
    });
  });

  it('a 5xx for the recipient is final', async () => {
    sink.failRecipient('gone@example.org', { type: 'reply', code: 550, message: '5.1.1 no such user' });
    expect(classifySendFailure(await failureAt(sink.url, message('gone@example.org')))).toBe('hard-bounce');
    sink.failNext(1, { type: 'reply', code: 552, message: '5.2.2 mailbox full' });
    expect(classifySendFailure(await failureAt(sink.url))).toBe('rejected');
  });

  it('a message that cannot be built is final: it would fail the same way on every attempt', async () => {
    const failure = await failureAt(sink.url, { ...message(), subject: 'Two\r\nBcc: lines' });
    expect(failure).toBeInstanceOf(MailHeaderError);
    expect(classifySendFailure(failure)).toBe('rejected');
    expect(sink.messages).toEqual([]);
  });
});
