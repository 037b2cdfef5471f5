// One mailbox, one subscription: every spelling of an address (Victim@, VICTIM@, victim@) is the same
// reader for signup, the settings-link request and suppression, as mailbox providers deliver them.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adminHeaders, openMailingApp, type MailingApp } from '../helpers/app.ts';
import { openForm, postForm, signUpWithForm } from '../helpers/subscriptions.ts';

describe('addresses in any case', () => {
  let t: MailingApp;
  const db = () => t.database.db;
  const signUpByApi = (email: string) =>
    t.app.inject({ method: 'POST', url: '/api/v1/subscriptions', payload: { email, topics: ['model-merging'] } });

  beforeAll(async () => {
    t = await openMailingApp();
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(() => t.sink.reset());

  it('makes one subscription of Victim@, VICTIM@ and victim@, and mails it once', async () => {
    expect((await signUpByApi('Victim@example.org')).statusCode).toBe(202);
    expect(
      (await signUpWithForm(t.app, t.config, { email: 'VICTIM@EXAMPLE.ORG', topics: 'model-merging' })).statusCode,
    ).toBe(200);
    expect((await signUpByApi(' victim@Example.org ')).statusCode).toBe(202);
    const readers = await db().subscriber.findMany({ where: { email: { contains: 'victim', mode: 'insensitive' } } });
    expect(readers.map((r) => r.email)).toEqual(['victim@example.org']);
    const [confirmation] = await t.sink.waitForMessages(1);
    expect(confirmation!.envelope.to).toEqual(['victim@example.org']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(t.sink.messages).toHaveLength(1);
  });

  it('sends the settings link of an active reader to whichever spelling asks', async () => {
    await db().subscriber.update({ where: { email: 'victim@example.org' }, data: { status: 'active' } });
    const form = await openForm(t.app, '/manage-link');
    expect((await postForm(t.app, '/manage-link', form, { email: 'VicTim@example.org' })).statusCode).toBe(200);
    const [link] = await t.sink.waitForMessages(1);
    expect(link).toMatchObject({ subject: 'Your Paperboy settings link', envelope: { to: ['victim@example.org'] } });
  });

  it('suppresses every spelling at once', async () => {
    const suppressed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/suppressions',
      headers: adminHeaders,
      payload: { email: 'Blocked@Example.org' },
    });
    expect(suppressed.statusCode, suppressed.body).toBe(201);
    expect((await signUpByApi('blocked@example.org')).statusCode).toBe(202);
    expect((await signUpByApi('BLOCKED@example.org')).statusCode).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(t.sink.messages).toEqual([]);
    expect(await db().subscriber.count({ where: { email: { contains: 'blocked', mode: 'insensitive' } } })).toBe(0);
  });
});
