// Proves the SMTP sink captures real nodemailer traffic and injects each kind of failure as advertised.
import { describe, it, expect, afterEach, beforeEach } from 'vitest';
import nodemailer from 'nodemailer';
import type { SMTPTransportOptions } from 'nodemailer';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import type { CapturedMessage, SmtpSink } from '../helpers/smtp-sink.ts';

let sink: SmtpSink;

beforeEach(async () => {
  sink = await startSmtpSink();
});

afterEach(async () => {
  await sink.close();
});

function transport(options: Partial<SMTPTransportOptions> = {}) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true, ...options });
}

function send(to: string | string[], subject = 'Hello', options: Partial<SMTPTransportOptions> = {}) {
  return transport(options).sendMail({ from: 'digest@paperboy.test', to, subject, text: `Body of ${subject}` });
}

describe('smtp sink', () => {
  it('captures and parses a normal message', async () => {
    // Long enough that nodemailer folds it onto two lines, so this also proves header() unfolds.
    const listUnsubscribe =
      '<https://paperboy.test/unsubscribe/abc123>, <mailto:unsubscribe@paperboy.test?subject=abc123>';
    const info = await transport().sendMail({
      from: 'Paperboy <digest@paperboy.test>',
      to: 'Ada <ada@example.test>',
      bcc: 'audit@example.test',
      subject: 'Today’s papers: diffusion ✨',
      text: 'Three papers for you.',
      html: '<p>Three <b>papers</b> for you.</p>',
      headers: { 'List-Unsubscribe': listUnsubscribe, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    });

    expect(sink.url).toBe(`smtp://127.0.0.1:${sink.port}`);
    expect(sink.messages).toHaveLength(1);
    const [message] = sink.messages as [CapturedMessage];
    expect(message.envelope).toEqual({ from: 'digest@paperboy.test', to: ['ada@example.test', 'audit@example.test'] });
    expect(message.messageId).toBe(info.messageId);
    expect(message.subject).toBe('Today’s papers: diffusion ✨');
    expect(message.text?.trim()).toBe('Three papers for you.');
    expect(message.html).toBe('<p>Three <b>papers</b> for you.</p>');
    expect(message.header('list-unsubscribe')).toBe(listUnsubscribe);
    expect(message.header('List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    expect(message.headers['message-id']).toEqual([info.messageId]);
    expect(message.header('X-Not-There')).toBeUndefined();
    expect(message.raw.toString()).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
  });

  it('refuses a failing recipient with 451 while other recipients get through', async () => {
    sink.failRecipient('Busy@Example.test', { type: 'reply', code: 451, message: '4.2.1 mailbox busy, try later' });

    await expect(send('busy@example.test')).rejects.toMatchObject({ code: 'EENVELOPE', responseCode: 451 });

    const info = await send(['ok@example.test', 'BUSY@example.test']);
    expect(info.accepted).toEqual(['ok@example.test']);
    expect(info.rejected).toEqual(['BUSY@example.test']);
    expect(info.rejectedErrors?.[0]).toMatchObject({ responseCode: 451 });
    expect(info.rejectedErrors?.[0]?.response).toBe('451 4.2.1 mailbox busy, try later');
    expect(sink.messages.map((m) => m.envelope.to)).toEqual([['ok@example.test']]);

    sink.clearFailures();
    await send('busy@example.test');
    expect(sink.messages).toHaveLength(2);
  });

  it('refuses exactly the next message after DATA with failNext', async () => {
    sink.failNext(1, { type: 'reply', code: 550, message: '5.1.1 no such user' });

    const refused = send('nobody@example.test', 'first');
    await expect(refused).rejects.toMatchObject({ responseCode: 550, response: '550 5.1.1 no such user' });
    expect(sink.messages).toHaveLength(0);

    await send('nobody@example.test', 'second');
    expect(sink.messages.map((m) => m.subject)).toEqual(['second']);
  });

  it('drops the connection without a reply', async () => {
    sink.failNext(1, { type: 'drop' });
    await expect(send('ada@example.test')).rejects.toMatchObject({ code: 'ECONNECTION' });
    expect(sink.messages).toHaveLength(0);

    // Also at RCPT TO, and the sink keeps serving other clients afterwards.
    sink.failRecipient('gone@example.test', { type: 'drop' });
    await expect(send('gone@example.test')).rejects.toMatchObject({ code: 'ECONNECTION' });
    await send('ada@example.test', 'after the drops');
    expect(sink.messages.map((m) => m.subject)).toEqual(['after the drops']);
  });

  it('stalls past the client timeout, and close() still returns promptly', async () => {
    sink.failNext(1, { type: 'stall', ms: 3_000 });
    await expect(send('ada@example.test', 'Hello', { socketTimeout: 500 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
    });
    expect(sink.messages).toHaveLength(0);

    const started = performance.now();
    await sink.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(sink.messages).toHaveLength(0);
  });

  it('accepts a stalled message once the stall ends, even if the client gave up (like a slow real relay)', async () => {
    sink.failNext(1, { type: 'stall', ms: 600 });
    await expect(send('ada@example.test', 'late', { socketTimeout: 200 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const [message] = await sink.waitForMessages(1, 2_000);
    expect(message?.subject).toBe('late');

    sink.failNext(1, { type: 'stall', ms: 300 });
    const started = performance.now();
    await send('ada@example.test', 'slow');
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(sink.messages.map((m) => m.subject)).toEqual(['late', 'slow']);
  });

  it('waitForMessages resolves for concurrent sends and rejects with a useful message on timeout', async () => {
    const subjects = ['a', 'b', 'c', 'd', 'e'];
    const sending = Promise.all(subjects.map((subject) => send(`${subject}@example.test`, subject)));
    const received = await sink.waitForMessages(5);
    await sending;
    expect(received.map((m) => m.subject).sort()).toEqual(subjects);

    await expect(sink.waitForMessages(7, 200)).rejects.toThrow('waited 200 ms for 7 message(s), 5 arrived');
  });

  it('calls onAccepted once per accepted message, after it is recorded, until unsubscribed', async () => {
    const seen: CapturedMessage[] = [];
    const unsubscribe = sink.onAccepted((message) => {
      expect(sink.messages).toContain(message);
      seen.push(message);
    });
    sink.failNext(1, { type: 'reply', code: 554, message: '5.7.1 refused' });

    await expect(send('ada@example.test', 'refused')).rejects.toMatchObject({ responseCode: 554 });
    await send('ada@example.test', 'one');
    await send('ada@example.test', 'two');
    unsubscribe();
    await send('ada@example.test', 'three');

    expect(seen.map((m) => m.subject)).toEqual(['one', 'two']);
    expect(sink.messages).toHaveLength(3);
  });

  it('reset() clears messages and failures', async () => {
    sink.failRecipient('ada@example.test', { type: 'reply', code: 550 });
    sink.failNext(2, { type: 'reply', code: 451 });
    await send('bob@example.test').catch(() => {});
    sink.reset();

    await send('ada@example.test', 'fresh');
    expect(sink.messages.map((m) => m.subject)).toEqual(['fresh']);
  });
});
