// Time zones through the reader's own doors (JSON signup, signup form, manage page): a zone is stored under
// a name the running Postgres schedules in, or refused next to its field; a known alias is never refused.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { scheduleDueDigests } from '../../src/modules/digests/schedule.ts';
import { subscriberLink } from '../../src/modules/subscribers/emails.ts';
import { openMailingApp, type MailingApp } from '../helpers/app.ts';
import { linksIn, openForm, postForm, signUpWithForm } from '../helpers/subscriptions.ts';

const PUBLIC_URL = 'http://paperboy.test';
const REFUSED = 'Choose a time zone from the list.';
// Intl knows these, Postgres does not, and no name Postgres knows is the same zone (Intl resolves '+05:00'
// to itself, and Postgres would read it as the POSIX UTC-5).
const UNSCHEDULABLE = ['+05:00', 'Etc/Unknown', 'Mars/Olympus_Mons'];

describe('time zones a reader sends', () => {
  let t: MailingApp;

  beforeAll(async () => {
    t = await openMailingApp({ PUBLIC_URL });
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(() => t.sink.reset());

  const db = () => t.database.db;
  const signUpByApi = (email: string, timeZone: unknown) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      payload: { email, topics: ['model-merging'], sendHour: 7, timeZone },
    });

  it('stores US/Pacific-New (an alias ICU knows and Postgres dropped) as America/Los_Angeles, and schedules it', async () => {
    const response = await signUpByApi('pacific@example.org', 'US/Pacific-New');
    expect(response.statusCode, response.body).toBe(202);
    expect(await db().subscriber.findUniqueOrThrow({ where: { email: 'pacific@example.org' } })).toMatchObject({
      timeZone: 'America/Los_Angeles',
    });

    const [email] = await t.sink.waitForMessages(1);
    expect(email!.text).toContain('every day at 07:00 (America/Los_Angeles)');
    const [confirmPath] = linksIn(email!, PUBLIC_URL);
    const confirmed = await postForm(t.app, confirmPath!, await openForm(t.app, confirmPath!), {});
    expect(confirmed.body).toContain('You are subscribed');

    // 07:30 in Los Angeles on 8 December 2026 (PST, UTC-8).
    await scheduleDueDigests(db(), async () => {}, { now: new Date('2026-12-08T15:30:00Z'), cutoffHours: 12 });
    const reader = await db().subscriber.findUniqueOrThrow({ where: { email: 'pacific@example.org' } });
    const digests = await db().delivery.findMany({ where: { subscriberId: reader.id, kind: 'digest' } });
    expect(digests.map((d) => [d.digestKey, d.dueAt.toISOString()])).toEqual([
      ['2026-12-08', '2026-12-08T15:00:00.000Z'],
    ]);
  });

  it("stores Postgres's own spelling of a name it knows, whatever the case", async () => {
    const form = await signUpWithForm(t.app, t.config, {
      email: 'spelling@example.org',
      topics: 'model-merging',
      timeZone: 'america/new_york',
    });
    expect(form.statusCode).toBe(200);
    expect((await db().subscriber.findUniqueOrThrow({ where: { email: 'spelling@example.org' } })).timeZone).toBe(
      'America/New_York',
    );
  });

  it('refuses a zone Postgres cannot schedule in, naming the field, on the API, the form and the manage page', async () => {
    for (const zone of UNSCHEDULABLE) {
      const api = await signUpByApi('nowhere@example.org', zone);
      expect(api.statusCode, zone).toBe(400);
      expect(api.json<{ problems: Record<string, string> }>().problems, zone).toEqual({ timeZone: REFUSED });

      const form = await signUpWithForm(t.app, t.config, {
        email: 'nowhere@example.org',
        topics: 'model-merging',
        timeZone: zone,
      });
      expect(form.statusCode, zone).toBe(400);
      expect(form.body).toContain(`<p class="error">${REFUSED}</p>`);
    }
    expect(await db().subscriber.count({ where: { email: 'nowhere@example.org' } })).toBe(0);

    const reader = await db().subscriber.create({
      data: { email: 'manager@example.org', status: 'active', timeZone: 'Europe/Vienna' },
    });
    const managePath = new URL(subscriberLink(t.config, reader, 'manage')).pathname;
    const page = await openForm(t.app, managePath);
    const fields = { action: 'save', topics: ['model-merging'], frequency: 'daily', sendHour: '7', maxPapers: '10' };
    for (const zone of UNSCHEDULABLE) {
      const refused = await postForm(t.app, managePath, page, { ...fields, timeZone: zone });
      expect(refused.statusCode, zone).toBe(400);
      expect(refused.body).toContain(`<p class="error">${REFUSED}</p>`);
    }
    expect((await db().subscriber.findUniqueOrThrow({ where: { id: reader.id } })).timeZone).toBe('Europe/Vienna');

    const saved = await postForm(t.app, managePath, page, { ...fields, timeZone: 'US/Pacific-New' });
    expect(saved.statusCode).toBe(303);
    expect((await db().subscriber.findUniqueOrThrow({ where: { id: reader.id } })).timeZone).toBe(
      'America/Los_Angeles',
    );
  });

  it('offers on the form only zones that are stored as they are and that Postgres and Intl both accept', async () => {
    const page = await openForm(t.app, '/');
    const offered = [...page.body.matchAll(/<option value="([^"]+)"[^>]*>\1<\/option>/g)]
      .map((match) => match[1]!)
      .filter((value) => value.includes('/') || value === 'UTC');
    expect(offered.length).toBeGreaterThan(300);
    expect(offered).toContain('UTC');
    // One statement: Postgres fails it, naming the zone, if it does not know one of them.
    await db().$queryRaw`SELECT z, now() AT TIME ZONE z FROM unnest(${offered}::text[]) AS z`;
    for (const zone of offered) {
      expect(new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone, zone).toBeTruthy();
    }
    // Each is stored under exactly the name offered.
    for (const [i, zone] of offered.slice(0, 40).entries()) {
      expect((await signUpByApi(`offered${i}@example.org`, zone)).statusCode, zone).toBe(202);
      expect((await db().subscriber.findUniqueOrThrow({ where: { email: `offered${i}@example.org` } })).timeZone).toBe(
        zone,
      );
    }
  });
});
