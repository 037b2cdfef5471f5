// What a signup leaves in the logs: request and job ids, but never the reader's address or a token.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { createMailWorker } from '../../workers/mail.worker.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { linksIn, openForm, postForm, signUpWithForm } from '../helpers/subscriptions.ts';

const PUBLIC_URL = 'http://paperboy.test';

describe('logs during a signup', () => {
  const prefix = uniqueQueuePrefix();
  const lines: string[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  let t: TestApp;
  let sink: SmtpSink;
  let workers: RunningWorkers;

  beforeAll(async () => {
    sink = await startSmtpSink();
    // The most verbose level: whatever any level would write is checked.
    const overrides = {
      SMTP_URL: sink.url,
      QUEUE_PREFIX: prefix,
      PUBLIC_URL,
      LOG_LEVEL: 'trace',
      DELIVERY_RETRY_DELAY_MS: '200',
    };
    t = await openTestApp(overrides, logs);
    workers = await startWorkers(t.config, createLogger(t.config, 'paperboy-worker', logs), t.database.db, [
      createMailWorker(),
    ]);
  });
  afterAll(async () => {
    await workers.close();
    await t.close();
    await sink.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  it('carry request and job ids, and no address or token', async () => {
    const apiAddress = 'Ada.Lovelace+papers@Example.org';
    const formAddress = 'grace.hopper@example.net';
    const api = await t.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      headers: { 'x-request-id': 'signup-req-1' },
      payload: { email: apiAddress, topics: ['model-merging'] },
    });
    expect(api.statusCode).toBe(202);
    expect((await signUpWithForm(t.app, t.config, { email: formAddress, topics: 'model-merging' })).statusCode).toBe(
      200,
    );
    // A mistyped address is echoed to nobody's logs either.
    await t.app.inject({ method: 'POST', url: '/api/v1/subscriptions', payload: { email: 'typo@@example.org' } });

    const emails = await sink.waitForMessages(2);
    const tokens: string[] = [];
    for (const email of emails) {
      const [confirmPath] = linksIn(email, PUBLIC_URL).filter((link) => link.startsWith('/confirm/'));
      tokens.push(confirmPath!.split('/')[2]!);
      const page = await openForm(t.app, confirmPath!);
      expect((await postForm(t.app, confirmPath!, page, {})).statusCode).toBe(200);
    }
    await expect.poll(() => lines.some((line) => line.includes('"job completed"'))).toBe(true);

    const text = lines.join('\n').toLowerCase();
    for (const secret of [apiAddress, formAddress, 'typo@@example.org', 'ada.lovelace', 'grace.hopper', ...tokens]) {
      expect(text).not.toContain(secret.toLowerCase());
    }
    expect(text).not.toMatch(/[a-z0-9.+-]+@example\.(org|net)/);

    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.some((entry) => entry.requestId === 'signup-req-1')).toBe(true);
    expect(entries.filter((entry) => entry.msg === 'job completed').every((entry) => entry.jobId)).toBe(true);
    expect(
      entries.some((entry) => String((entry.req as { url?: string } | undefined)?.url).startsWith('/confirm/[token]')),
    ).toBe(true);
  });

  it('keep the address out when the server refuses a recipient for now (it quotes the address)', async () => {
    const address = 'full.mailbox@example.org';
    sink.failRecipient(address, { type: 'reply', code: 452, message: `4.2.2 <${address}>: mailbox full` }, 1);
    await signUpWithForm(t.app, t.config, { email: address, topics: 'model-merging' }, '203.0.113.77');
    await expect.poll(() => lines.some((line) => line.includes('"job failed'))).toBe(true);
    await expect.poll(() => sink.messages.filter((m) => m.envelope.to[0] === address).length).toBe(1);
    expect(lines.join('\n').toLowerCase()).not.toContain('full.mailbox');
    const delivery = await t.database.db.delivery.findFirstOrThrow({ where: { subscriber: { email: address } } });
    expect(delivery.attempts).toBe(2);
  });
});
