// In-process SMTP server for integration tests: captures what Paperboy sends and can play a misbehaving relay.
import type { Socket } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { setTimeout as delay } from 'node:timers/promises';
import { simpleParser } from 'mailparser';
import type { ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerError, SMTPServerSession } from 'smtp-server';

export type SinkFailure =
  // Answer with this SMTP code; the message is sent verbatim, so include any enhanced status ('5.1.1 ...').
  | { type: 'reply'; code: number; message?: string }
  // Destroy the TCP connection without replying.
  | { type: 'drop' }
  // Wait, then carry on normally (a stalled message is still accepted even if the client gave up meanwhile).
  // (`onStall` runs as the wait begins: after DATA, the moment the message is the server's but not yet
  // acknowledged.)
  | { type: 'stall'; ms: number; onStall?: () => void };

export interface CapturedMessage {
  envelope: { from: string; to: string[] };
  messageId: string | undefined;
  subject: string | undefined;
  text: string | undefined;
  html: string | undefined;
  /** Raw header values (unfolded, not decoded) by lower-cased name, in message order. */
  headers: Record<string, string[]>;
  /** First raw value of a header, case-insensitive. Raw because mailparser reshapes some headers (List-*, addresses). */
  header(name: string): string | undefined;
  raw: Buffer;
}

export interface SmtpSink {
  port: number;
  url: string;
  /** Accepted messages in acceptance order; reset() empties this same array. */
  messages: CapturedMessage[];
  /** Recipients refused with an injected reply (failRecipient), in the order the replies were written. */
  refused: { address: string; code: number }[];
  waitForMessages(count: number, timeoutMs?: number): Promise<CapturedMessage[]>;
  /** Applies to every RCPT TO for the address (case-insensitive) until clearFailures(), or to the next `times`. */
  failRecipient(address: string, failure: SinkFailure, times?: number): void;
  /** Applies to the next `count` messages, decided once their DATA has been fully received. */
  failNext(count: number, failure: SinkFailure): void;
  clearFailures(): void;
  /** Called after a message is recorded and its 250 reply written; returns an unsubscribe function. */
  onAccepted(listener: (message: CapturedMessage) => void): () => void;
  reset(): void;
  close(): Promise<void>;
}

export interface SmtpSinkOptions {
  /** Defaults to 0, a free port. */
  port?: number;
  /** Log the SMTP conversation to the console. */
  logger?: boolean;
}

// Returned by a failure when no reply must be sent: the connection is gone or the sink is closing.
const NO_REPLY = Symbol('no reply');

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: CapturedMessage[] = [];
  const refused: { address: string; code: number }[] = [];
  const recipientFailures = new Map<string, { failure: SinkFailure; times: number }>();
  const pendingFailures: SinkFailure[] = [];
  const listeners = new Set<(message: CapturedMessage) => void>();
  // smtp-server does not expose a session's socket, so 'drop' finds it by the client's port.
  const sockets = new Map<number, Socket>();
  // Aborted by close() so that stalls end at once instead of holding the test run open.
  const shutdown = new AbortController();

  async function apply(failure: SinkFailure | undefined, session: SMTPServerSession) {
    if (!failure) return null;
    switch (failure.type) {
      case 'reply': {
        // smtp-server answers a handler error with err.responseCode and err.message, verbatim.
        const error: SMTPServerError = new Error(failure.message ?? 'Injected failure');
        error.responseCode = failure.code;
        return error;
      }
      case 'drop': {
        const socket = sockets.get(session.remotePort);
        if (!socket) throw new Error(`SMTP sink: no socket for client port ${session.remotePort} to drop`);
        socket.destroy();
        return NO_REPLY;
      }
      case 'stall':
        failure.onStall?.();
        await delay(failure.ms, undefined, { signal: shutdown.signal }).catch(() => {});
        return shutdown.signal.aborted ? NO_REPLY : null;
    }
  }

  async function receive(stream: SMTPServerDataStream, session: SMTPServerSession) {
    // Read the whole message first, so a refusal comes after the client has transmitted everything.
    const raw = await buffer(stream);
    const outcome = await apply(pendingFailures.shift(), session);
    if (outcome !== null) return outcome;
    const { mailFrom, rcptTo } = session.envelope;
    return capture(raw, await simpleParser(raw), {
      from: mailFrom ? mailFrom.address : '',
      to: rcptTo.map((recipient) => recipient.address),
    });
  }

  const server = new SMTPServer({
    logger: options.logger ?? false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    // Without TLS, smtp-server refuses AUTH unless this is set; Paperboy may be configured with credentials.
    allowInsecureAuth: true,
    disableReverseLookup: true,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onRcptTo(address, session, callback) {
      const key = address.address.toLowerCase();
      const entry = recipientFailures.get(key);
      if (entry && --entry.times <= 0) recipientFailures.delete(key);
      apply(entry?.failure, session).then((outcome) => {
        if (outcome === NO_REPLY) return;
        if (outcome && entry?.failure.type === 'reply') refused.push({ address: key, code: entry.failure.code });
        callback(outcome);
      }, callback);
    },
    onData(stream, session, callback) {
      receive(stream, session).then(
        (outcome) => {
          if (outcome === NO_REPLY) return;
          if (outcome instanceof Error) return callback(outcome);
          messages.push(outcome);
          callback(null); // queues the 250 on the socket synchronously, so listeners run once it is on its way
          for (const listener of [...listeners]) listener(outcome);
        },
        (error: Error) => callback(error),
      );
    },
  });
  // Clients resetting connections is routine here (drops, timeouts); without a listener the error would throw.
  server.on('error', () => {});
  server.server.on('connection', (socket: Socket) => {
    const port = socket.remotePort;
    if (port === undefined) return;
    sockets.set(port, socket);
    socket.once('close', () => {
      if (sockets.get(port) === socket) sockets.delete(port);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('SMTP sink is not listening on a TCP port');

  function onAccepted(listener: (message: CapturedMessage) => void) {
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }

  function clearFailures() {
    recipientFailures.clear();
    pendingFailures.length = 0;
  }

  let closing: Promise<void> | undefined;

  return {
    port: address.port,
    url: `smtp://127.0.0.1:${address.port}`,
    messages,
    refused,
    waitForMessages(count, timeoutMs = 10_000) {
      if (messages.length >= count) return Promise.resolve([...messages]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          unsubscribe();
          reject(new Error(`SMTP sink: waited ${timeoutMs} ms for ${count} message(s), ${messages.length} arrived`));
        }, timeoutMs);
        const unsubscribe = onAccepted(() => {
          if (messages.length < count) return;
          clearTimeout(timer);
          unsubscribe();
          resolve([...messages]);
        });
      });
    },
    failRecipient(address, failure, times = Infinity) {
      recipientFailures.set(address.toLowerCase(), { failure, times });
    },
    failNext(count, failure) {
      for (let i = 0; i < count; i++) pendingFailures.push(failure);
    },
    clearFailures,
    onAccepted,
    reset() {
      messages.length = 0;
      refused.length = 0;
      clearFailures();
    },
    close() {
      closing ??= new Promise((resolve) => {
        shutdown.abort();
        // smtp-server's close() waits up to 30 s for clients to leave; destroying their sockets ends that at once.
        server.close(() => resolve());
        for (const socket of sockets.values()) socket.destroy();
      });
      return closing;
    },
  };
}

function capture(raw: Buffer, parsed: ParsedMail, envelope: CapturedMessage['envelope']): CapturedMessage {
  const headers = Object.create(null) as Record<string, string[]>;
  for (const { key, line } of parsed.headerLines) {
    // Unfold (drop CRLF before continuation whitespace) and strip the "Name:" prefix.
    const value = line
      .slice(line.indexOf(':') + 1)
      .replace(/\r?\n(?=[ \t])/g, '')
      .trim();
    (headers[key] ??= []).push(value);
  }
  return {
    envelope,
    messageId: parsed.messageId,
    subject: parsed.subject,
    text: parsed.text,
    html: parsed.html === false ? undefined : parsed.html,
    headers,
    header: (name) => headers[name.toLowerCase()]?.[0],
    raw,
  };
}
