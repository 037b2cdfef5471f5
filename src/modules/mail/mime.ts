// Builds an email as one finished RFC 5322 / MIME message, so the SMTP pool sends bytes instead of composing them.
import { randomUUID } from 'node:crypto';

/** What Paperboy sends: one reader, a text and an HTML version of the same email, a few extra headers. */
export interface MailMessage {
  /** `<id@host>`; deterministic per delivery, so a retry reuses it. */
  messageId: string;
  /** `Name <address>` or `address` (MAIL_FROM). */
  from: string;
  replyTo?: string;
  /** One plain address: the reader. */
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Extra header fields (List-Unsubscribe, Auto-Submitted, …), printable ASCII. */
  headers?: Record<string, string>;
}

export interface BuiltMessage {
  raw: Buffer;
  envelope: { from: string; to: string[] };
  messageId: string;
}

/** A message that cannot be written safely: a line break in a header, an address that is not one. */
export class MailHeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MailHeaderError';
  }
}

// RFC 5322 asks for lines of at most 78 characters (and forbids more than 998).
const LINE = 78;
const HARD_LINE = 998;
// Base64 bodies are wrapped at 76 columns (RFC 2045 6.8).
const BASE64_LINE = 76;
// A 60-character encoded word (=?UTF-8?B?…?= around 48 base64 characters, 36 bytes) fits after "Subject: ".
const WORD_BYTES = 36;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
// A plain ASCII addr-spec: dot-atom local part and a host name. No quoting, comments or IP literals.
const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const MESSAGE_ID = /^<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>$/;
const FIELD_NAME = /^[A-Za-z0-9-]+$/;
// Names a display name can carry as it is (atext and spaces); anything else is quoted or encoded.
const ATEXT_PHRASE = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+$/;
// Fields the builder writes itself; an extra header may not add a second one.
const OWN_FIELDS = new Set([
  'date',
  'from',
  'reply-to',
  'to',
  'cc',
  'bcc',
  'subject',
  'message-id',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
]);

function refuseControls(name: string, value: string) {
  // A CR or LF would end the field and start one an attacker chose; no other control belongs in a header.
  if (CONTROL.test(value)) throw new MailHeaderError(`${name} contains a line break or control character`);
}

function address(name: string, value: string): string {
  refuseControls(name, value);
  const trimmed = value.trim();
  if (!ADDRESS.test(trimmed) || trimmed.length > 254) throw new MailHeaderError(`${name} is not a plain email address`);
  return trimmed;
}

/**
 * A field folded at its spaces so lines stay within 78 characters. Folding only where the value already
 * has a space keeps unfolding exact (a URL is never split); a longer word keeps a line of its own.
 */
function field(name: string, value: string): string {
  const words = value.split(' ');
  let out = `${name}: ${words[0]}`;
  let lineLength = out.length;
  for (const word of words.slice(1)) {
    // Never fold right after a fold: a line of nothing but whitespace is not allowed.
    if (lineLength + 1 + word.length > LINE && lineLength > 1) {
      out += `\r\n ${word}`;
      lineLength = 1 + word.length;
    } else {
      out += ` ${word}`;
      lineLength += 1 + word.length;
    }
    if (lineLength > HARD_LINE) break;
  }
  if (lineLength > HARD_LINE) throw new MailHeaderError(`${name} has a word too long for one line`);
  return `${out}\r\n`;
}

/**
 * RFC 2047 encoded words (UTF-8, base64), space-separated so `field` folds between them. Each holds whole
 * characters: a word never ends inside a multi-byte sequence, and decoders join adjacent words.
 */
function encodedWords(text: string): string {
  const words: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const char of text.toWellFormed()) {
    const size = Buffer.byteLength(char);
    if (bytes + size > WORD_BYTES && chunk) {
      words.push(`=?UTF-8?B?${Buffer.from(chunk).toString('base64')}?=`);
      chunk = '';
      bytes = 0;
    }
    chunk += char;
    bytes += size;
  }
  if (chunk || words.length === 0) words.push(`=?UTF-8?B?${Buffer.from(chunk).toString('base64')}?=`);
  return words.join(' ');
}

/** Unstructured text (Subject): as it is when plain ASCII, encoded words otherwise. */
function unstructured(text: string): string {
  // Text that merely looks like an encoded word ("=?utf-8?q?=0D=0A…?=") is encoded too, so no reader decodes it.
  // Leading, trailing and repeated spaces would be lost to unfolding and trimming; encoded, they arrive.
  const plain = PRINTABLE_ASCII.test(text) && !text.includes('=?') && !/^ | $| {2}/.test(text);
  return plain ? text : encodedWords(text);
}

/** A display name as a phrase: atext as it is, other ASCII quoted, anything else as encoded words. */
function phrase(name: string): string {
  if (ATEXT_PHRASE.test(name) && !name.includes('=?')) return name;
  if (PRINTABLE_ASCII.test(name) && !name.includes('=?')) return `"${name.replace(/["\\]/g, '\\$&')}"`;
  return encodedWords(name);
}

/** `Name <address>` or `address` → the header value and the bare address for the envelope. */
function mailbox(name: string, value: string): { header: string; address: string } {
  refuseControls(name, value);
  const named = /^\s*(.*?)\s*<([^<>]*)>\s*$/.exec(value);
  if (!named) {
    const bare = address(name, value);
    return { header: bare, address: bare };
  }
  const bare = address(name, named[2]!);
  // MAIL_FROM may quote its name ("Paperboy, daily" <…>): the quotes are syntax, not part of the name.
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(named[1]!);
  const display = quoted ? quoted[1]!.replace(/\\(.)/g, '$1') : named[1]!;
  return { header: display ? `${phrase(display)} <${bare}>` : bare, address: bare };
}

/** RFC 5322 date in UTC: "Thu, 04 Dec 2026 09:30:00 +0000". */
function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/** Base64 of the text's UTF-8, wrapped at 76 columns with CRLF. */
function base64Body(text: string): string {
  // Written into room for the worst case: Buffer.from would first count the bytes, a second pass as long.
  const utf8 = Buffer.allocUnsafe(text.length * 3);
  const encoded = utf8.toString('base64', 0, utf8.write(text, 'utf8'));
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += BASE64_LINE) lines.push(encoded.slice(i, i + BASE64_LINE));
  return lines.join('\r\n');
}

/**
 * A boundary that base64 bodies cannot contain: they use only A-Z a-z 0-9 + / =, and a boundary line starts
 * with "--". Random, so a message quoted inside another cannot close it either.
 */
export function newBoundary(): string {
  // randomUUID draws from a cache: a tenth of the CPU of randomBytes for each message.
  return `paperboy-${randomUUID()}`;
}

/**
 * The message as bytes: headers (folded, non-ASCII text as encoded words), then multipart/alternative with
 * text/plain before text/html (clients show the last part they can), both UTF-8 in base64: base64 keeps
 * long MJML lines intact and is cheaper to encode than quoted-printable. No line of the result starts with a
 * dot (header lines start with a name or a space, body lines with base64 or "--"), so SMTP's dot-stuffing
 * never changes a byte of it. Throws MailHeaderError rather than write a header that could carry a line break.
 */
export function buildMessage(message: MailMessage, now: Date = new Date(), boundary = newBoundary()): BuiltMessage {
  const from = mailbox('From', message.from);
  const replyTo = message.replyTo ? mailbox('Reply-To', message.replyTo) : undefined;
  const to = address('To', message.to);
  refuseControls('Subject', message.subject);
  refuseControls('Message-ID', message.messageId);
  const messageId = message.messageId.startsWith('<') ? message.messageId : `<${message.messageId}>`;
  if (!MESSAGE_ID.test(messageId)) throw new MailHeaderError('Message-ID is not <local@domain>');

  let head =
    field('Date', rfc5322Date(now)) +
    field('From', from.header) +
    (replyTo ? field('Reply-To', replyTo.header) : '') +
    field('To', to) +
    field('Subject', unstructured(message.subject)) +
    field('Message-ID', messageId) +
    'MIME-Version: 1.0\r\n';
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (!FIELD_NAME.test(name)) throw new MailHeaderError(`${JSON.stringify(name)} is not a header field name`);
    if (OWN_FIELDS.has(name.toLowerCase())) throw new MailHeaderError(`${name} is set by the message builder`);
    refuseControls(name, value);
    if (!PRINTABLE_ASCII.test(value)) throw new MailHeaderError(`${name} must be printable ASCII`);
    head += field(name, value);
  }
  head += field('Content-Type', `multipart/alternative; boundary="${boundary}"`);

  const part = (type: string, body: string) =>
    `--${boundary}\r\nContent-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Body(body)}\r\n`;
  // Text parts travel with CRLF line breaks, their canonical form (RFC 2046 4.1.1).
  const body = part('text/plain', message.text.replace(/\r?\n|\r/g, '\r\n')) + part('text/html', message.html);
  const raw = Buffer.from(`${head}\r\n${body}--${boundary}--\r\n`, 'latin1');
  return { raw, envelope: { from: from.address, to: [to] }, messageId };
}
