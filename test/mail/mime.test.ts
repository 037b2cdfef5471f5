// The message builder: what it writes survives mailparser intact, stays within RFC 5322's lines, refuses
// header injection, and still goes out DKIM-signed (verified here against the public key) through the sink.
import { createHash, createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { composeDigests } from '../../src/modules/digests/compose.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { claimDelivery } from '../../src/modules/mail/deliveries.ts';
import { compileEmailTemplates } from '../../src/modules/mail/templates.ts';
import { buildMessage, MailHeaderError, type MailMessage } from '../../src/modules/mail/mime.ts';
import { createMailer } from '../../src/modules/mail/transport.ts';
import { testConfig } from '../helpers/config.ts';
import { openTestDatabase } from '../helpers/postgres.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const logger = createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'test' });
const NOW = new Date('2026-12-04T09:30:00Z');
const UNSUBSCRIBE = `https://papers.example.org/unsubscribe/v1.${'a1B2-c3_D4'.repeat(14)}`;

const digest = (overrides: Partial<MailMessage> = {}): MailMessage => ({
  messageId: '<0b9f2c54-6d8e-4f1a-9c3b-2e7d5a1f8c60@papers.example.org>',
  from: 'Paperboy <paperboy@papers.example.org>',
  replyTo: 'help@papers.example.org',
  to: 'ada@example.org',
  subject: '3 trending papers: Zürich’s 🧪 model merging, Большие языковые модели',
  text: 'Grüße, Ada!\nThree papers today 🧪👩‍🔬.\n\nUnsubscribe: ' + UNSUBSCRIBE + '\n',
  html: `<p>Grüße, Ada! 🧪👩‍🔬 — «naïve» 東京</p>${'<p>Model merging, again and again.</p>\n'.repeat(400)}`,
  headers: {
    'List-Unsubscribe': `<${UNSUBSCRIBE}>, <mailto:unsubscribe@papers.example.org?subject=unsubscribe>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    'List-Id': 'Paperboy digest <digest.papers.example.org>',
    'Auto-Submitted': 'auto-generated',
    Precedence: 'bulk',
  },
  ...overrides,
});

/** The header block and the body, split where the first empty line is. */
function split(raw: Buffer) {
  const text = raw.toString('latin1');
  const at = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, at + 2), body: text.slice(at + 4) };
}

/** Within 78 columns, unless the line is one word that cannot be split (a long URL), after the field name. */
const expectFoldedLine = (line: string) =>
  expect(line.length <= 78 || /^(?:[\w-]+: )?\S+$/.test(line.trimStart()), line).toBe(true);

/** Raw header fields, unfolded exactly as RFC 5322 says (drop CRLF before whitespace), by lower-cased name. */
function unfoldedHeaders(head: string) {
  const fields = head
    .replace(/\r\n(?=[ \t])/g, '')
    .split('\r\n')
    .filter(Boolean);
  return fields.map((line) => {
    const colon = line.indexOf(':');
    return { name: line.slice(0, colon).toLowerCase(), value: line.slice(colon + 1).trim() };
  });
}

describe('buildMessage', () => {
  it('round-trips text, HTML, subject, addresses and headers through mailparser', async () => {
    const message = digest();
    const built = buildMessage(message, NOW);
    expect(built.envelope).toEqual({ from: 'paperboy@papers.example.org', to: ['ada@example.org'] });
    expect(built.messageId).toBe(message.messageId);
    const parsed = await simpleParser(built.raw);
    expect(parsed.subject).toBe(message.subject);
    expect(parsed.text).toBe(message.text);
    expect(parsed.html).toBe(message.html);
    expect(parsed.messageId).toBe(message.messageId);
    expect(parsed.date?.toISOString()).toBe(NOW.toISOString());
    expect(parsed.from?.value).toEqual([{ address: 'paperboy@papers.example.org', name: 'Paperboy' }]);
    expect(parsed.to).toMatchObject({ value: [{ address: 'ada@example.org', name: '' }] });
    expect(parsed.replyTo?.value).toEqual([{ address: 'help@papers.example.org', name: '' }]);
    const headers = unfoldedHeaders(split(built.raw).head);
    expect(headers.map((h) => h.name)).toEqual([
      'date',
      'from',
      'reply-to',
      'to',
      'subject',
      'message-id',
      'mime-version',
      'list-unsubscribe',
      'list-unsubscribe-post',
      'list-id',
      'auto-submitted',
      'precedence',
      'content-type',
    ]);
    for (const [name, value] of Object.entries(message.headers!)) {
      expect(headers.find((h) => h.name === name.toLowerCase())?.value).toBe(value);
    }
    // multipart/alternative: the plain text first, the HTML last (the part a client prefers).
    const types = [...built.raw.toString('latin1').matchAll(/^Content-Type: ([^;\r\n]+)(;[^\r\n]*)?/gm)];
    expect(types.map((m) => m[1])).toEqual(['multipart/alternative', 'text/plain', 'text/html']);
    expect(types.slice(1).every((m) => m[2] === '; charset=utf-8')).toBe(true);
  });

  it('uses CRLF line endings only, base64 lines of 76 columns, and header lines within 78', () => {
    const built = buildMessage(digest(), NOW);
    const raw = built.raw.toString('latin1');
    expect(raw).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
    expect(raw.endsWith('\r\n')).toBe(true);
    const { head, body } = split(built.raw);
    for (const line of head.split('\r\n')) expectFoldedLine(line);
    const boundary = /boundary="([^"]+)"/.exec(head)![1]!;
    const parts = body.split(`--${boundary}`).slice(1, -1);
    expect(parts).toHaveLength(2);
    for (const part of parts) {
      const lines = split(Buffer.from(part.replace(/^\r\n/, ''), 'latin1'))
        .body.split('\r\n')
        .slice(0, -1);
      expect(lines.length).toBeGreaterThan(1);
      for (const line of lines.slice(0, -1)) expect(line).toMatch(/^[A-Za-z0-9+/]{76}$/);
      expect(lines.at(-1)!).toMatch(/^[A-Za-z0-9+/]{1,76}={0,2}$/);
    }
    // The boundary cannot be mistaken for base64, and each message has its own.
    expect(boundary).toMatch(/-/);
    expect(/boundary="([^"]+)"/.exec(split(buildMessage(digest(), NOW).raw).head)![1]).not.toBe(boundary);
  });

  it('folds a long List-Unsubscribe at its comma, never inside a URL', () => {
    const { head } = split(buildMessage(digest(), NOW).raw);
    expect(head).toContain(`List-Unsubscribe: <${UNSUBSCRIBE}>,\r\n <mailto:unsubscribe@papers.example.org`);
    // An ASCII subject longer than a line folds at its spaces and unfolds to itself.
    const subject = `10 trending papers: ${'Large language models, '.repeat(6)}Model merging`;
    const built = buildMessage(digest({ subject }), NOW);
    const folded = /^Subject: (.*(?:\r\n .*)*)/m.exec(split(built.raw).head)![1]!;
    expect(folded).toContain('\r\n ');
    expect(folded.replace(/\r\n/g, '')).toBe(subject);
  });

  it('keeps any subject and HTML exactly, with header lines within 78 columns', async () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 200 }).filter((s) => !/\p{Cc}/u.test(s));
    await fc.assert(
      fc.asyncProperty(text, text, async (subject, html) => {
        const built = buildMessage(digest({ subject, html }), NOW);
        const parsed = await simpleParser(built.raw);
        expect(parsed.subject ?? '').toBe(subject);
        expect(parsed.html === false ? '' : parsed.html).toBe(html);
        for (const line of split(built.raw).head.split('\r\n')) expectFoldedLine(line);
      }),
      { numRuns: 200, seed: 20261204 },
    );
  });

  it('encodes text that only looks like an encoded word, so no reader decodes a line break out of it', async () => {
    for (const subject of [
      '=?utf-8?q?=0D=0ABcc:_evil@attacker.example?=',
      'Papers =?utf-8?b?DQpCY2M6IGV2aWxAYXR0YWNrZXIuZXhhbXBsZQ==?= today',
    ]) {
      const built = buildMessage(digest({ subject }), NOW);
      expect(split(built.raw).head).not.toContain(subject);
      expect((await simpleParser(built.raw)).subject).toBe(subject);
    }
    const built = buildMessage(digest({ from: '=?utf-8?q?evil=0D=0A?= <paperboy@papers.example.org>' }), NOW);
    expect((await simpleParser(built.raw)).from?.value[0]?.name).toBe('=?utf-8?q?evil=0D=0A?=');
  });

  it('writes display names that need it quoted or encoded', async () => {
    for (const name of ['Paperboy, daily', 'Paperboy "the digest"', 'Zoë’s Paperboy 📰']) {
      const built = buildMessage(digest({ from: `${name} <paperboy@papers.example.org>` }), NOW);
      expect((await simpleParser(built.raw)).from?.value).toEqual([{ address: 'paperboy@papers.example.org', name }]);
    }
    // A name already quoted in MAIL_FROM is the name inside the quotes.
    const built = buildMessage(digest({ from: '"Paperboy, daily" <paperboy@papers.example.org>' }), NOW);
    expect((await simpleParser(built.raw)).from?.value[0]?.name).toBe('Paperboy, daily');
  });

  it('refuses a line break or control character in any header, and anything that is not one address', () => {
    const breaks = ['\r\nBcc: evil@attacker.example', '\nBcc: evil@attacker.example', '\rX: y', '\u0000', '\t'];
    const refused = (overrides: Partial<MailMessage>) => () => buildMessage(digest(overrides), NOW);
    for (const inj of breaks) {
      expect(refused({ subject: `Papers${inj}` })).toThrow(MailHeaderError);
      expect(refused({ to: `ada@example.org${inj}` })).toThrow(MailHeaderError);
      expect(refused({ from: `Paperboy${inj} <paperboy@papers.example.org>` })).toThrow(MailHeaderError);
      expect(refused({ replyTo: `help@papers.example.org${inj}` })).toThrow(MailHeaderError);
      expect(refused({ messageId: `<x@papers.example.org>${inj}` })).toThrow(MailHeaderError);
      expect(refused({ headers: { 'List-Id': `Paperboy${inj}` } })).toThrow(MailHeaderError);
      expect(refused({ headers: { [`X-Evil${inj}`]: 'y' } })).toThrow(MailHeaderError);
    }
    for (const to of [
      'ada@example.org, evil@attacker.example',
      'Ada <ada@example.org>',
      '"a b"@example.org',
      'ada@[127.0.0.1]',
      'ada@exämple.org',
      'ada',
    ]) {
      expect(refused({ to })).toThrow(MailHeaderError);
    }
    // Extra headers may not replace or repeat the ones the builder writes.
    for (const name of ['Bcc', 'To', 'subject', 'Content-Type', 'Message-ID']) {
      expect(refused({ headers: { [name]: 'x@example.org' } })).toThrow(MailHeaderError);
    }
    expect(refused({ headers: { 'List-Id': 'Päperboy' } })).toThrow(MailHeaderError);
    expect(refused({ headers: { 'List-Id': `<${'x'.repeat(1000)}>` } })).toThrow(MailHeaderError);
    expect(refused({ messageId: '<no-at-sign>' })).toThrow(MailHeaderError);
  });
});

/** RFC 6376 relaxed body canonicalisation. */
function relaxedBody(body: string): string {
  const lines = body
    .split('\r\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').replace(/ $/, ''))
    .join('\r\n')
    .replace(/(\r\n)*$/, '');
  return lines ? `${lines}\r\n` : '';
}

/** RFC 6376 relaxed header canonicalisation of one field ("name:value"). */
const relaxedField = (name: string, value: string) =>
  `${name.toLowerCase()}:${value
    .replace(/\r\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .trim()}`;

/**
 * Verifies the message's DKIM-Signature (rsa-sha256, relaxed/relaxed) with the public key: the body hash
 * against the body as received, the signature against the signed header fields. Returns its tags.
 */
function verifyDkim(raw: Buffer, publicKey: KeyObject) {
  const { head, body } = split(raw);
  // Fields with their raw (folded) values, in order.
  const fields = head
    .split(/\r\n(?![ \t])/)
    .filter(Boolean)
    .map((field) => ({ name: field.slice(0, field.indexOf(':')), value: field.slice(field.indexOf(':') + 1) }));
  const signature = fields.find((f) => f.name.toLowerCase() === 'dkim-signature');
  if (!signature) throw new Error('no DKIM-Signature');
  const tags = Object.fromEntries(
    signature.value
      .replace(/\s+/g, '')
      .split(';')
      .filter(Boolean)
      .map((tag) => [tag.slice(0, tag.indexOf('=')), tag.slice(tag.indexOf('=') + 1)]),
  ) as Record<string, string>;
  expect(tags).toMatchObject({ v: '1', a: 'rsa-sha256', c: 'relaxed/relaxed' });
  const bodyHash = createHash('sha256').update(relaxedBody(body), 'latin1').digest('base64');
  if (bodyHash !== tags.bh) throw new Error(`body hash mismatch: bh=${tags.bh}, body hashes to ${bodyHash}`);
  // Each name in h= takes the next instance of that field from the bottom up (RFC 6376 5.4.2).
  const used = new Set<number>();
  let signed = '';
  for (const name of tags.h!.split(':')) {
    for (let i = fields.length - 1; i >= 0; i--) {
      if (used.has(i) || fields[i]!.name.toLowerCase() !== name.toLowerCase()) continue;
      used.add(i);
      signed += `${relaxedField(fields[i]!.name, fields[i]!.value)}\r\n`;
      break;
    }
  }
  signed += relaxedField('dkim-signature', signature.value.replace(/(^|;)(\s*b\s*=)[^;]*/, '$1$2'));
  const ok = verify('sha256', Buffer.from(signed, 'latin1'), publicKey, Buffer.from(tags.b!, 'base64'));
  if (!ok) throw new Error('DKIM signature does not verify');
  return tags;
}

describe('sending built messages', () => {
  let sink: SmtpSink;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dkim = {
    DKIM_DOMAIN: 'papers.example.org',
    DKIM_SELECTOR: 'pb1',
    DKIM_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };

  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(() => sink.close());
  beforeEach(() => sink.reset());

  it('hands the pool the raw message: the sink gets exactly that message and envelope', async () => {
    const mailer = createMailer({ SMTP_URL: sink.url, OUTBOX_DIR: 'unused' }, logger);
    const message = digest();
    await mailer.send(message);
    mailer.close();
    const [received] = await sink.waitForMessages(1);
    expect(received!.envelope).toEqual({ from: 'paperboy@papers.example.org', to: ['ada@example.org'] });
    expect(received!.messageId).toBe(message.messageId);
    expect(received!.subject).toBe(message.subject);
    expect(received!.text).toBe(message.text);
    expect(received!.html).toBe(message.html);
    expect(received!.header('list-unsubscribe')).toBe(message.headers!['List-Unsubscribe']);
    expect(Object.keys(received!.headers)).toEqual(unfoldedHeaders(split(received!.raw).head).map((h) => h.name));
    // Nothing of nodemailer's own was added on the way.
    expect(received!.headers['x-mailer']).toBeUndefined();
    expect(received!.raw.toString('latin1')).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
  });

  it('still signs with DKIM, and the signature verifies against the public key', async () => {
    const mailer = createMailer({ SMTP_URL: sink.url, OUTBOX_DIR: 'unused', ...dkim }, logger);
    await mailer.send(digest());
    mailer.close();
    const [received] = await sink.waitForMessages(1);
    const tags = verifyDkim(received!.raw, publicKey);
    expect(tags).toMatchObject({ d: 'papers.example.org', s: 'pb1' });
    // RFC 8058: one-click unsubscribe needs both List-Unsubscribe fields under the signature.
    const signedFields = tags.h!.toLowerCase().split(':');
    for (const name of ['from', 'to', 'subject', 'date', 'message-id', 'list-unsubscribe', 'list-unsubscribe-post']) {
      expect(signedFields).toContain(name);
    }
    // The verifier is not a rubber stamp: a changed body or header fails it.
    const raw = received!.raw.toString('latin1');
    expect(() =>
      verifyDkim(Buffer.from(raw.replace(/\r\n--paperboy-[0-9a-f-]+--\r\n/, 'x$&'), 'latin1'), publicKey),
    ).toThrow(/body hash/);
    expect(() => verifyDkim(Buffer.from(raw.replace('Subject: ', 'Subject: Re: '), 'latin1'), publicKey)).toThrow(
      /does not verify/,
    );
    const other = createPublicKey(
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }),
    );
    expect(() => verifyDkim(received!.raw, other)).toThrow(/does not verify/);
  });

  it('writes the same message, signed, to the outbox when no SMTP server is configured', async () => {
    const outbox = await mkdtemp(path.join(os.tmpdir(), 'paperboy-outbox-'));
    const mailer = createMailer({ SMTP_URL: undefined, OUTBOX_DIR: outbox, ...dkim }, logger);
    const message = digest();
    await mailer.send(message);
    mailer.close();
    const [file] = await readdir(outbox);
    expect(file).toBe('0b9f2c54-6d8e-4f1a-9c3b-2e7d5a1f8c60@papers.example.org.eml');
    const raw = await readFile(path.join(outbox, file!));
    verifyDkim(raw, publicKey);
    const parsed = await simpleParser(raw);
    expect(parsed.subject).toBe(message.subject);
    expect(parsed.text).toBe(message.text);
    expect(parsed.html).toBe(message.html);
    expect(parsed.messageId).toBe(message.messageId);
  });
});

describe('digests the builder refuses nothing of', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(() => database.close());

  it('puts a keyword stored with a line break into the subject on one line', async () => {
    // The API refuses such a keyword; a row written some other way may still hold one.
    const keyword = 'merging\r\nBcc: evil@attacker.example';
    await ingestFeed(database.db, [
      {
        paper: { id: '2612.00001', title: 'Merging, Bcc: evil@attacker.example', summary: 'Merging.' },
        publishedAt: new Date(Date.now() - 3_600_000).toISOString(),
      },
    ]);
    const reader = await database.db.subscriber.create({
      data: {
        email: 'keywords@example.org',
        status: 'active',
        includeKeywords: [keyword],
        deliveries: { create: { kind: 'digest', digestKey: '2026-12-04', dueAt: new Date() } },
      },
      include: { deliveries: true },
    });
    const config = testConfig({ DATABASE_URL: database.url, PUBLIC_URL: 'https://papers.example.org' });
    const claim = await claimDelivery(database.db, reader.deliveries[0]!.id);
    const composed = (await composeDigests(database.db, config, await compileEmailTemplates(), [claim!]))[0]!;
    if (!('message' in composed)) throw new Error(`expected a digest, got: ${JSON.stringify(composed)}`);
    expect(composed.message.subject).toBe('1 trending paper: merging Bcc: evil@attacker.example');
    const parsed = await simpleParser(buildMessage(composed.message).raw);
    expect(parsed.subject).toBe(composed.message.subject);
    expect(parsed.headers.has('bcc')).toBe(false);
  });
});
