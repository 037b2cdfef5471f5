// The reader's whole journey against real Postgres, Redis and SMTP: signup, double opt-in, manage,
// unsubscribe (including RFC 8058 one-click), export and forget-me; and the abuse protections.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { subscriberLink } from '../../src/modules/subscribers/emails.ts';
import { formStamp } from '../../src/routes/forms.ts';
import { signToken } from '../../src/modules/subscribers/tokens.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { createMailWorker } from '../../workers/mail.worker.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { linksIn, openForm, postForm, signUpWithForm } from '../helpers/subscriptions.ts';

const PUBLIC_URL = 'http://paperboy.test';

describe('subscription flow', () => {
  let sink: SmtpSink;
  let t: TestApp;
  let workers: RunningWorkers;
  const prefix = uniqueQueuePrefix();

  beforeAll(async () => {
    sink = await startSmtpSink();
    t = await openTestApp({ SMTP_URL: sink.url, QUEUE_PREFIX: prefix, PUBLIC_URL, SIGNUP_RATE_PER_IP: '1000' });
    workers = await startWorkers(t.config, createLogger(t.config), t.database.db, [
      createMailWorker({ reconcileEveryMs: 200 }),
    ]);
  });
  afterAll(async () => {
    await workers.close();
    await t.close();
    await sink.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });
  beforeEach(() => sink.reset());

  const db = () => t.database.db;
  const subscriberOf = (email: string) =>
    db().subscriber.findUniqueOrThrow({ where: { email }, include: { topics: { include: { topic: true } } } });

  it('signs up through the form, confirms through the emailed link, and records consent', async () => {
    const response = await signUpWithForm(t.app, t.config, {
      email: '  Ada@EXAMPLE.org ',
      topics: ['model-merging', 'large-language-models'],
      keywords: '"mixture of experts", <script>alert(1)</script>',
      frequency: 'weekly',
      weeklyDay: '3',
      sendHour: '8',
      timeZone: 'Europe/Vienna',
      maxPapers: '5',
    });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('Check your inbox');

    const pending = await subscriberOf('ada@example.org');
    expect(pending).toMatchObject({
      status: 'pending',
      frequency: 'weekly',
      weeklyDay: 3,
      sendHour: 8,
      timeZone: 'Europe/Vienna',
      maxPapers: 5,
    });
    expect(pending.consentIp).toBe('198.51.100.7');
    expect(pending.topics.map((s) => s.topic.slug).sort()).toEqual(['large-language-models', 'model-merging']);

    const [email] = await sink.waitForMessages(1);
    // One address whatever its spelling, as mailbox providers deliver it (issue 11: this used to keep the
    // local part's case and mail 'Ada@example.org', so 'ADA@' made a second subscription).
    expect(email!.envelope.to).toEqual(['ada@example.org']);
    expect(email!.subject).toBe('Confirm your Paperboy subscription');
    expect(email!.text).toContain('Large language models, Model merging, keywords of your own');
    expect(email!.text).toContain('every Wednesday at 08:00 (Europe/Vienna)');
    // Nothing the person typed is echoed into the email.
    expect(`${email!.html}${email!.text}`).not.toContain('alert(1)');
    expect(email!.header('auto-submitted')).toBe('auto-generated');
    const [confirmPath] = linksIn(email!, PUBLIC_URL);
    expect(confirmPath).toMatch(/^\/confirm\/[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(confirmPath).not.toContain('example');

    // GET only shows a button; the POST confirms.
    const page = await openForm(t.app, confirmPath!);
    expect(page.body).toContain('Confirm my subscription');
    expect((await subscriberOf('ada@example.org')).status).toBe('pending');
    const confirmed = await postForm(t.app, confirmPath!, page, {}, '203.0.113.9');
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.body).toContain('You are subscribed');
    expect(await subscriberOf('ada@example.org')).toMatchObject({ status: 'active', confirmedIp: '203.0.113.9' });
    const events = await db().event.findMany({
      where: { subscriber: { email: 'ada@example.org' } },
      orderBy: { id: 'asc' },
    });
    expect(events.map((e) => e.type)).toEqual(['signup', 'confirm']);
  });

  it('answers a new, a pending, an active and a suppressed address with the same bytes', async () => {
    await db().suppression.create({ data: { addressHash: addressHash('gone@example.org'), reason: 'hard_bounce' } });
    await signUpWithForm(t.app, t.config, { email: 'pending@example.org', topics: 'model-merging' });
    await db().subscriber.create({ data: { email: 'left@example.org', status: 'unsubscribed' } });
    const bodies: string[] = [];
    const json: string[] = [];
    for (const email of [
      'new@example.org',
      'pending@example.org',
      'Ada@example.org',
      'gone@example.org',
      'left@example.org',
    ]) {
      const form = await signUpWithForm(t.app, t.config, { email, topics: 'model-merging' });
      expect(form.statusCode).toBe(200);
      bodies.push(form.body);
      const api = await t.app.inject({
        method: 'POST',
        url: '/api/v1/subscriptions',
        payload: { email, topics: ['model-merging'] },
      });
      expect(api.statusCode).toBe(202);
      json.push(api.body);
    }
    expect(new Set(bodies).size).toBe(1);
    expect(new Set(json).size).toBe(1);

    // What happened differs: confirmations for the new and pending ones, a manage link for the active one,
    // nothing for the suppressed one; and one email per address per window, however often they ask.
    const messages = await sink.waitForMessages(4);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const byRecipient = Object.fromEntries(
      sink.messages.map((m): [string, string | undefined] => [m.envelope.to[0]!, m.subject]),
    );
    expect(byRecipient).toEqual({
      'pending@example.org': 'Confirm your Paperboy subscription',
      'new@example.org': 'Confirm your Paperboy subscription',
      'ada@example.org': 'Your Paperboy settings link',
      'left@example.org': 'Confirm your Paperboy subscription',
    });
    expect(messages).toHaveLength(4);
    expect(await db().subscriber.count({ where: { email: 'gone@example.org' } })).toBe(0);
  });

  it('re-shows the form with the values entered and each error next to its field', async () => {
    const response = await signUpWithForm(t.app, t.config, {
      email: 'not-an-address',
      keywords: 'lora',
      sendHour: '25',
    });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('That does not look like an email address');
    expect(response.body).toContain('Choose an hour from 0 to 23.');
    expect(response.body).toContain('value="not-an-address"');
    expect(response.body).toContain('value="lora"');
    expect(await db().subscriber.count({ where: { email: 'not-an-address' } })).toBe(0);
  });

  it('refuses unknown topics next to the field, and JSON that is not JSON', async () => {
    const form = await signUpWithForm(t.app, t.config, { email: 'typo@example.org', topics: 'no-such-topic' });
    expect(form.statusCode).toBe(400);
    expect(form.body).toContain('Unknown topic: no-such-topic.');
    const api = await t.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      payload: { email: 'typo@example.org', topics: ['nope'] },
    });
    expect(api.statusCode).toBe(400);
    const urlencoded = await t.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'email=typo%40example.org&topics=model-merging',
    });
    expect(urlencoded.statusCode).toBe(415);
    expect(await db().subscriber.count({ where: { email: 'typo@example.org' } })).toBe(0);
  });

  it('ignores bots: a filled honeypot or a form posted at once gets the usual answer and creates nothing', async () => {
    const trap = await signUpWithForm(t.app, t.config, {
      email: 'bot1@example.org',
      topics: 'model-merging',
      website: 'http://spam',
    });
    const session = await openForm(t.app, '/');
    const instant = await postForm(t.app, '/subscribe', session, {
      email: 'bot2@example.org',
      topics: 'model-merging',
      started: formStamp(t.config),
    });
    expect(trap.body).toContain('Check your inbox');
    expect(instant.body).toBe(trap.body);
    expect(await db().subscriber.count({ where: { email: { startsWith: 'bot' } } })).toBe(0);
  });

  it('asks a person whose form stamp is missing, forged or a day old to send it again', async () => {
    const session = await openForm(t.app, '/');
    for (const started of ['', 'forged.stamp', formStamp(t.config, Date.now() - 25 * 3_600_000)]) {
      const response = await postForm(t.app, '/subscribe', session, {
        email: 'slow@example.org',
        topics: 'model-merging',
        started,
      });
      expect(response.statusCode).toBe(400);
      expect(response.body).toContain('please send it again');
      expect(response.body).toContain('value="slow@example.org"');
    }
  });

  it('refuses a form post without its CSRF token', async () => {
    const response = await postForm(t.app, '/subscribe', undefined, {
      email: 'csrf@example.org',
      topics: 'model-merging',
    });
    expect(response.statusCode).toBe(403);
    expect(await db().subscriber.count({ where: { email: 'csrf@example.org' } })).toBe(0);
  });

  it('lets the reader change topics on the manage page, pause, and export their data', async () => {
    const ada = await subscriberOf('ada@example.org');
    const managePath = new URL(subscriberLink(t.config, ada, 'manage')).pathname;
    const page = await openForm(t.app, managePath);
    expect(page.body).toContain('value="model-merging" checked');
    const saved = await postForm(t.app, managePath, page, {
      action: 'save',
      topics: ['computer-vision'],
      keywords: 'diffusion',
      excludeKeywords: 'survey',
      frequency: 'daily',
      sendHour: '6',
      timeZone: 'Asia/Kathmandu',
      maxPapers: '12',
    });
    expect(saved.statusCode, saved.body.match(/class="error"[^<]*</g)?.join()).toBe(303);
    const after = await subscriberOf('ada@example.org');
    expect(after.topics.map((s) => s.topic.slug)).toEqual(['computer-vision']);
    expect(after).toMatchObject({
      includeKeywords: ['diffusion'],
      excludeKeywords: ['survey'],
      sendHour: 6,
      timeZone: 'Asia/Kathmandu',
      maxPapers: 12,
    });
    expect((await t.app.inject(saved.headers.location!)).body).toContain('Saved.');

    await postForm(t.app, managePath, page, { action: 'pause' });
    expect((await subscriberOf('ada@example.org')).pausedAt).toBeInstanceOf(Date);

    const exported = await t.app.inject(`${managePath}/export`);
    expect(exported.headers['content-disposition']).toContain('attachment');
    const data = exported.json<{ consent: { ip: string; confirmedIp: string }; events: { type: string }[] }>();
    expect(data.consent).toMatchObject({ ip: '198.51.100.7', confirmedIp: '203.0.113.9' });
    expect(data.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['signup', 'confirm', 'preferences', 'pause']),
    );
  });

  it('unsubscribes with a one-click POST exactly as Gmail sends it, twice, answering 200 both times', async () => {
    const ada = await subscriberOf('ada@example.org');
    const url = new URL(subscriberLink(t.config, ada, 'unsubscribe')).pathname;
    const boundary = '----gmail-boundary-7MA4YWxkTrZu0gW';
    const payload = `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`;
    for (let i = 0; i < 2; i++) {
      const response = await t.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        payload,
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers.location).toBeUndefined();
    }
    expect((await subscriberOf('ada@example.org')).status).toBe('unsubscribed');
    const unsubscribes = await db().event.count({ where: { subscriberId: ada.id, type: 'unsubscribe' } });
    expect(unsubscribes).toBe(1);
  });

  it('removes one topic with a per-topic unsubscribe link, keeping the rest', async () => {
    const sub = await subscriberOf('pending@example.org');
    await db().subscriberTopic.create({
      data: {
        subscriberId: sub.id,
        topicId: (await db().topic.findUniqueOrThrow({ where: { slug: 'computer-vision' } })).id,
      },
    });
    const topic = await db().topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    const url = new URL(subscriberLink(t.config, sub, 'unsubscribe', { topicId: topic.id })).pathname;
    const page = await openForm(t.app, url);
    expect(page.body).toContain('Stop &quot;Model merging&quot;?');
    const done = await postForm(t.app, url, page, {});
    expect(done.body).toContain('That topic is gone from your digest.');
    const after = await subscriberOf('pending@example.org');
    expect(after.topics.map((s) => s.topic.slug)).toEqual(['computer-vision']);
    expect(after.status).toBe('pending');
  });

  it('signs out every link on request and emails a fresh one', async () => {
    const sub = await subscriberOf('pending@example.org');
    await db().subscriber.update({ where: { id: sub.id }, data: { status: 'active' } });
    // The usual path: ask for a link, open it, sign out. The fresh email must go out all the same.
    const ask = await openForm(t.app, '/manage-link');
    await postForm(t.app, '/manage-link', ask, { email: 'pending@example.org' });
    const [linkEmail] = await sink.waitForMessages(1);
    sink.reset();
    const managePath = linksIn(linkEmail!, PUBLIC_URL)[0]!;
    const page = await openForm(t.app, managePath);
    const done = await postForm(t.app, managePath, page, { action: 'revoke-links' });
    expect(done.body).toContain('Every link signed out');
    expect((await t.app.inject(managePath)).statusCode).toBe(410);
    const [fresh] = await sink.waitForMessages(1);
    expect(fresh!.subject).toBe('Your Paperboy settings link');
    const [freshPath] = linksIn(fresh!, PUBLIC_URL);
    expect((await t.app.inject(freshPath!)).statusCode).toBe(200);
    await db().subscriber.update({ where: { id: sub.id }, data: { status: 'pending' } });
  });

  it('takes the one-click POST urlencoded too, without a cookie', async () => {
    const sub = await subscriberOf('pending@example.org');
    const url = new URL(subscriberLink(t.config, sub, 'unsubscribe')).pathname;
    const response = await t.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(response.statusCode).toBe(200);
    expect((await subscriberOf('pending@example.org')).status).toBe('unsubscribed');
    await db().subscriber.update({ where: { id: sub.id }, data: { status: 'pending', unsubscribedAt: null } });
  });

  it('answers a malformed multipart body with a 400, not a 500', async () => {
    const sub = await subscriberOf('pending@example.org');
    const url = new URL(subscriberLink(t.config, sub, 'unsubscribe')).pathname;
    for (const [type, payload] of [
      ['multipart/form-data', 'x'],
      [
        'multipart/form-data; boundary=abc',
        '--abc\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-',
      ],
    ]) {
      const response = await t.app.inject({ method: 'POST', url, headers: { 'content-type': type! }, payload });
      expect(response.statusCode, type).toBe(400);
    }
    expect((await subscriberOf('pending@example.org')).status).toBe('pending');
  });

  it('resubscribing works and revokes every link from before', async () => {
    const before = await subscriberOf('ada@example.org');
    const oldManage = new URL(subscriberLink(t.config, before, 'manage')).pathname;
    await signUpWithForm(t.app, t.config, { email: 'ada@example.org', topics: 'model-merging' });
    const after = await subscriberOf('ada@example.org');
    expect(after).toMatchObject({ status: 'pending', tokenVersion: before.tokenVersion + 1 });
    const refused = await t.app.inject(oldManage);
    expect(refused.statusCode).toBe(410);
    expect(refused.body).toContain('a newer email has replaced it');
    // A new confirmation goes out even within the window of the earlier emails, whose links no longer work.
    const [confirmation] = await sink.waitForMessages(1);
    expect(confirmation!.subject).toBe('Confirm your Paperboy subscription');
    expect((await t.app.inject(linksIn(confirmation!, PUBLIC_URL)[0]!)).statusCode).toBe(200);
  });

  it('refuses tampered, expired, wrong-purpose, revoked and unknown links with a clear page, never a 500', async () => {
    const sub = await subscriberOf('pending@example.org');
    const manage = subscriberLink(t.config, sub, 'manage').slice(PUBLIC_URL.length);
    const token = manage.split('/')[2]!;
    const expired = signToken(t.config.TOKEN_KEYS, {
      subscriberId: sub.id,
      purpose: 'confirm',
      version: sub.tokenVersion,
      expiresAt: 1,
    });
    const cases: [string, number, string][] = [
      [`/manage/${token.slice(0, -2)}xx`, 400, 'not one of ours'],
      [`/manage/${token.replace(/\.(.)/, '.A$1')}`, 400, 'not one of ours'],
      ['/manage/garbage', 400, 'incomplete'],
      [`/unsubscribe/${token}`, 400, 'meant for another page'],
      [`/confirm/${expired}`, 410, 'has expired'],
      [
        `/manage/${signToken(t.config.TOKEN_KEYS, { subscriberId: sub.id, purpose: 'manage', version: 99, expiresAt: 2e9 })}`,
        410,
        'replaced',
      ],
      [
        `/manage/${signToken(t.config.TOKEN_KEYS, { subscriberId: '00000000-0000-4000-8000-000000000000', purpose: 'manage', version: 1, expiresAt: 2e9 })}`,
        410,
        'no longer exists',
      ],
    ];
    for (const [url, status, text] of cases) {
      const response = await t.app.inject(url);
      expect(response.statusCode, url).toBe(status);
      expect(response.body, url).toContain(text);
    }
    // An expired confirmation offers a new one, which arrives.
    const page = await openForm(t.app, `/confirm/${expired}`);
    expect(page.body).toContain('Email me a new link');
    sink.reset();
    await db().delivery.deleteMany({ where: { subscriberId: sub.id } });
    await postForm(t.app, `/confirm/${expired}/resend`, page, {});
    const [fresh] = await sink.waitForMessages(1);
    expect(fresh!.envelope.to).toEqual(['pending@example.org']);
  });

  it('forgets a reader: the subscriber and history go, a hash stays, and the address is not mailed again', async () => {
    const sub = await subscriberOf('new@example.org');
    const managePath = new URL(subscriberLink(t.config, sub, 'manage')).pathname;
    const page = await openForm(t.app, managePath);
    const done = await postForm(t.app, managePath, page, { action: 'delete', really: 'yes' });
    expect(done.body).toContain('Deleted');
    expect(await db().subscriber.count({ where: { email: 'new@example.org' } })).toBe(0);
    expect(await db().event.count({ where: { subscriberId: sub.id } })).toBe(0);
    expect(await db().suppression.findUnique({ where: { addressHash: addressHash('new@example.org') } })).toMatchObject(
      { reason: 'forgotten' },
    );
    sink.reset();
    await signUpWithForm(t.app, t.config, { email: 'new@example.org', topics: 'model-merging' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(sink.messages).toEqual([]);
  });

  it('sends a delivery left unfinished even when its queue job already completed (the reconciler replaces it)', async () => {
    sink.reset();
    await signUpWithForm(t.app, t.config, { email: 'stuck@example.org', topics: 'model-merging' });
    await sink.waitForMessages(1);
    const delivery = await db().delivery.findFirstOrThrow({ where: { subscriber: { email: 'stuck@example.org' } } });
    // Its job is completed in Redis; now the row says it still has to go (as after a lease ran out).
    await db().delivery.update({ where: { id: delivery.id }, data: { status: 'pending', messageId: null } });
    const [again] = await sink.waitForMessages(2);
    expect(again!.envelope.to).toEqual(['stuck@example.org']);
    await expect
      .poll(async () => (await db().delivery.findUniqueOrThrow({ where: { id: delivery.id } })).status)
      .toBe('sent');
  });

  it('never changes anything on GET: every link in every email and page', async () => {
    sink.reset();
    await signUpWithForm(t.app, t.config, { email: 'crawler@example.org', topics: 'model-merging' });
    const [confirmEmail] = await sink.waitForMessages(1);
    // The sink has the message a moment before the worker records it as sent: let that settle first.
    await expect.poll(() => db().delivery.count({ where: { status: { in: ['pending', 'sending'] } } })).toBe(0);
    const crawler = await subscriberOf('crawler@example.org');
    const links = new Set([
      ...linksIn(confirmEmail!, PUBLIC_URL),
      new URL(subscriberLink(t.config, crawler, 'manage')).pathname,
      new URL(subscriberLink(t.config, crawler, 'unsubscribe')).pathname,
      new URL(subscriberLink(t.config, crawler, 'unsubscribe', { topicId: crawler.topics[0]!.topicId })).pathname,
      '/',
      '/manage-link',
    ]);
    const snapshot = async () =>
      JSON.stringify(
        await Promise.all([
          db().subscriber.findMany({ orderBy: { id: 'asc' } }),
          db().delivery.findMany({ orderBy: { id: 'asc' } }),
          db().subscriberTopic.count(),
          db().event.count(),
          db().suppression.count(),
        ]),
      );
    const before = await snapshot();
    const seen = new Set<string>();
    const queue = [...links];
    while (queue.length) {
      const url = queue.shift()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const response = await t.app.inject(url);
      expect(response.statusCode, url).toBeLessThan(500);
      for (const [, href] of response.body.matchAll(/href="(\/[^"]*)"/g))
        if (!href!.startsWith('/assets')) queue.push(href!);
    }
    expect(seen.size).toBeGreaterThan(6);
    expect(await snapshot()).toBe(before);
  });
});
