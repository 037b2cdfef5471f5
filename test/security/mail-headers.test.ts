// Header and CRLF injection: hostile text in every field that reaches an email (addresses, keywords, topic
// names, paper titles and authors), then the real mail and digest workers against the SMTP sink. Every
// message must go to exactly its reader, with exactly the expected headers, once per delivery.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { messageIdFor } from '../../src/modules/mail/deliveries.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { createDigestWorker } from '../../workers/digest.worker.ts';
import { createMailWorker } from '../../workers/mail.worker.ts';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { startSmtpSink, type CapturedMessage, type SmtpSink } from '../helpers/smtp-sink.ts';
import { expectWellFormed, fcOptions, hostileString } from './arbitraries.ts';

const PUBLIC_URL = 'https://paperboy.test';
const ADDRESS_RUNS = 150;
const TOPIC_RUNS = 60;
const PAPERS = 40;

/** What an attacker appends to, or hides in, a value that may end up in a header. */
const INJECTIONS = [
  '\r\nBcc: evil@attacker.example',
  '\nBcc: evil@attacker.example',
  '\rBcc: evil@attacker.example',
  '\r\n\r\n<html>body takeover',
  '\r\n X-Continued: folded',
  '\u2028Bcc: evil@attacker.example',
  '\u2029To: evil@attacker.example',
  '\u0085Cc: evil@attacker.example',
  ', evil@attacker.example',
  '>, <evil@attacker.example>',
  '=?utf-8?q?=0D=0ABcc:_evil@attacker.example?=',
  '=?utf-8?b?DQpCY2M6IGV2aWxAYXR0YWNrZXIuZXhhbXBsZQ==?=',
  '%0d%0aBcc:%20evil@attacker.example',
  '\u0000Bcc: evil@attacker.example',
] as const;

const injection = fc.constantFrom(...INJECTIONS);

/** Ordinary addresses (fc.emailAddress covers RFC corners the signup form rightly refuses). */
const plainAddress = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,15}$/),
    fc.constantFrom('example.org', 'Example.NET', 'mail.example.com'),
  )
  .map(([local, domain]) => `${local}@${domain}`);
const address = fc.oneof(plainAddress, fc.emailAddress());

/** Addresses with injections before, inside or after them, plus plain valid ones. */
const hostileAddress = fc.oneof(
  { weight: 3, arbitrary: address },
  fc.tuple(address, injection).map(([address, inj]) => address + inj),
  fc.tuple(address, injection).map(([address, inj]) => inj + address),
  fc.tuple(address, injection).map(([address, inj]) => address.replace('@', `${inj}@`)),
  fc.constantFrom(
    '"a\r\nBcc: evil@attacker.example"@example.org',
    '"evil@attacker.example"@example.org',
    'Ada <ada@example.org>',
    'ada@example.org, evil@attacker.example',
    'ada@example.org;evil@attacker.example',
    'ada@[127.0.0.1]',
    '  ada@EXAMPLE.org  ',
  ),
);

/** Text for a name or keyword: hostile strings with an injection somewhere in them. */
const hostileText = fc.oneof(
  fc.tuple(fc.string({ maxLength: 12 }), injection).map(([text, inj]) => `Injection ${text}${inj}`),
  fc.tuple(hostileString, injection).map(([text, inj]) => `${inj}${text} injection`),
  hostileString.map((text) => `injection ${text}`),
);

/** Header names a digest and a subscription email carry; nothing else may appear, and each once. */
const COMMON_HEADERS = [
  'from',
  'to',
  'subject',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'auto-submitted',
];
const DIGEST_HEADERS = [...COMMON_HEADERS, 'list-unsubscribe', 'list-unsubscribe-post', 'list-id', 'precedence'];

describe('no header injection through anything that reaches an email', () => {
  let sink: SmtpSink;
  let t: TestApp;
  let workers: RunningWorkers;
  const prefix = uniqueQueuePrefix();
  const db = () => t.database.db;

  beforeAll(async () => {
    sink = await startSmtpSink();
    t = await openTestApp({
      SMTP_URL: sink.url,
      QUEUE_PREFIX: prefix,
      PUBLIC_URL,
      SIGNUP_RATE_PER_IP: '1000000',
      SIGNUP_RATE_PER_ADDRESS: '1000000',
      SEND_RATE_PER_SECOND: '1000',
    });
    workers = await startWorkers(t.config, createLogger(t.config), db(), [
      createMailWorker({ reconcileEveryMs: 200 }),
      createDigestWorker({ reconcileEveryMs: 200 }),
    ]);
  });
  afterAll(async () => {
    await workers.close();
    await t.close();
    await sink.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  /** Waits until every delivery has been sent or given up, then returns the messages the sink got. */
  async function settle(kind: 'confirm' | 'digest') {
    await expect
      .poll(() => db().delivery.count({ where: { kind, status: { in: ['pending', 'sending'] } } }), {
        timeout: 30_000,
        interval: 200,
      })
      .toBe(0);
    const sent = await db().delivery.findMany({ where: { kind, status: 'sent' }, include: { subscriber: true } });
    // The sink records a message a moment before the worker marks it sent; by now all are in.
    await sink.waitForMessages(sent.length);
    return sent;
  }

  /** One message per sent delivery, to its reader alone, with exactly the expected headers. */
  function expectExactMessages(sent: Awaited<ReturnType<typeof settle>>, headers: string[]) {
    expect(sink.messages).toHaveLength(sent.length);
    const byMessageId = new Map(sink.messages.map((message) => [message.messageId, message]));
    expect(byMessageId.size).toBe(sent.length);
    for (const delivery of sent) {
      const message = byMessageId.get(messageIdFor(delivery.id, PUBLIC_URL)) as CapturedMessage;
      const what = `${delivery.kind} to ${JSON.stringify(delivery.subscriber.email)}: ${JSON.stringify(message?.headers)}`;
      expect(message, what).toBeDefined();
      expect(message.envelope.to, what).toEqual([delivery.subscriber.email]);
      expect(Object.keys(message.headers).sort(), what).toEqual([...headers].sort());
      for (const [name, values] of Object.entries(message.headers)) expect(values, `${what}: ${name}`).toHaveLength(1);
      expect(message.header('to'), what).toBe(delivery.subscriber.email);
      expect(message.subject, what).not.toMatch(/[\r\n]/);
      // Nothing in the raw header block starts a line that is not one of ours or a folded continuation.
      const head = message.raw.toString('latin1').split('\r\n\r\n')[0]!;
      for (const line of head.split('\r\n')) expect(line, what).toMatch(/^(?:[ \t]|[A-Za-z-]+:)/);
    }
  }

  it('sends confirmations for hostile addresses only to the one valid address each, with no extra headers', async () => {
    const accepted = new Set<string>();
    await fc.assert(
      fc.asyncProperty(hostileAddress, fc.array(hostileText, { maxLength: 3 }), async (email, keywords) => {
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/v1/subscriptions',
          payload: { email, topics: ['model-merging'], keywords },
        });
        expectWellFormed(response, `signup ${JSON.stringify(email)}`);
        expect([202, 400]).toContain(response.statusCode);
        if (response.statusCode === 202) accepted.add(email);
      }),
      fcOptions(ADDRESS_RUNS),
    );
    // Whatever was accepted is stored as one plain address: no whitespace, separators or angle brackets.
    const stored = await db().subscriber.findMany();
    expect(stored.length).toBeGreaterThan(10);
    for (const { email } of stored) {
      expect(email).toMatch(/^[^\s,;<>"]+@[a-z0-9.-]+$/);
      expect(email).not.toMatch(/[\p{Cc}\u0085\u2028\u2029]/u);
    }
    const sent = await settle('confirm');
    expect(sent.length).toBe(stored.length);
    expectExactMessages(sent, COMMON_HEADERS);
    sink.reset();
  }, 90_000);

  it('sends digests with hostile topic names, keywords, titles and authors without an injected header', async () => {
    // Topic names through the admin API; the ones it accepts become readers' topics.
    await fc.assert(
      fc.asyncProperty(hostileText, hostileText, fc.nat(), async (name, description, n) => {
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/v1/admin/topics',
          headers: adminHeaders,
          payload: { slug: `injection-${n}`, name, description, query: 'injection' },
        });
        expectWellFormed(response, `topic ${JSON.stringify(name)}`);
      }),
      fcOptions(TOPIC_RUNS),
    );
    const topics = await db().topic.findMany({ where: { slug: { startsWith: 'injection-' } } });
    expect(topics.length).toBeGreaterThan(5);

    // Papers through the admin ingest API, every text field hostile (and "injection" so the topics match).
    const items = fc.sample(
      fc.record({ title: hostileText, author: hostileText, summary: hostileText, keyword: hostileText }),
      { numRuns: PAPERS, seed: 7 },
    );
    const ingest = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/papers',
      headers: adminHeaders,
      payload: items.map((item, i) => ({
        paper: {
          id: `2611.${String(10_000 + i)}`,
          title: item.title,
          summary: `${item.summary} injection`,
          authors: [{ name: item.author }, { name: '\r\nBcc: evil@attacker.example' }],
          ai_summary: item.summary,
          ai_keywords: [item.keyword],
          githubRepo: `https://github.com/x/y\r\nBcc: evil@attacker.example`,
        },
        publishedAt: new Date().toISOString(),
      })),
    });
    expect(ingest.statusCode, ingest.body).toBe(200);

    // Readers: each with some hostile topics, hostile keywords of their own, and a digest due now.
    sink.reset();
    const keywordSets = fc.sample(fc.array(hostileText, { minLength: 1, maxLength: 3 }), { numRuns: 12, seed: 11 });
    for (const [i, keywords] of keywordSets.entries()) {
      await db().subscriber.create({
        data: {
          email: `digest-reader-${i}@example.org`,
          status: 'active',
          // Plain text kept as stored: the API strips control characters, a direct write need not.
          includeKeywords: keywords.map((k) => k.toWellFormed().replaceAll('\u0000', '')).slice(0, 20),
          topics: {
            create: i % 3 === 2 ? [] : topics.filter((_, j) => j % 4 === i % 4).map((topic) => ({ topicId: topic.id })),
          },
          deliveries: { create: { kind: 'digest', digestKey: '2026-11-28', dueAt: new Date() } },
        },
      });
    }
    const sent = await settle('digest');
    expect(sent.length).toBeGreaterThan(4);
    expectExactMessages(sent, DIGEST_HEADERS);
    for (const message of sink.messages) {
      expect(message.subject).toMatch(/^\d+ trending papers?: /);
      expect(message.header('list-unsubscribe')).toMatch(
        /^<https:\/\/paperboy\.test\/unsubscribe\/[\w.-]+>, <mailto:unsubscribe@paperboy\.test\?subject=unsubscribe>$/,
      );
      expect(message.header('list-id')).toBe('Paperboy digest <digest.paperboy.test>');
    }
  }, 90_000);
});
