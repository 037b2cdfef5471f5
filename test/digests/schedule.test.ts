// The scheduler, driven by a fixed clock minute by minute through 2026's DST changes: one digest per
// reader per local day, at the reader's own hour, whatever the offset or the season.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleDueDigests } from '../../src/modules/digests/schedule.ts';
import { skipLateDigests } from '../../src/modules/mail/outbox.ts';
import { openTestDatabase } from '../helpers/postgres.ts';

type TestDb = Awaited<ReturnType<typeof openTestDatabase>>;
const ZONES = ['America/New_York', 'Asia/Kathmandu', 'Pacific/Kiritimati', 'Australia/Lord_Howe'];

const formats = new Map<string, Intl.DateTimeFormat>();
/** The local date (YYYY-MM-DD) and hour of an instant in a zone, as Node's own time zone data sees it. */
function local(instant: Date, zone: string) {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      hourCycle: 'h23',
    });
    formats.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(instant).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, hour: Number(parts.hour) };
}

describe('digest scheduling', () => {
  let database: TestDb;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(async () => {
    await database.close();
  });

  it(
    'creates exactly one digest per reader per local day across the DST changes of 2026',
    async () => {
      const db = database.db;
      const readers = await Promise.all(
        ZONES.map((timeZone) =>
          db.subscriber.create({
            data: {
              email: `${timeZone.replace('/', '.').toLowerCase()}@example.org`,
              status: 'active',
              timeZone,
              sendHour: 7,
            },
          }),
        ),
      );
      // Around US spring-forward and fall-back, and Lord Howe's half-hour changes (April and October).
      const windows = [
        ['2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z'],
        ['2026-04-03T12:00:00Z', '2026-04-06T12:00:00Z'],
        ['2026-10-02T12:00:00Z', '2026-10-05T12:00:00Z'],
        ['2026-10-31T00:00:00Z', '2026-11-03T00:00:00Z'],
      ];
      const expected = new Map<string, Set<string>>(readers.map((r) => [r.id, new Set()]));
      // The windows are independent, so they run side by side; within one, the clock moves a minute a tick.
      await Promise.all(
        windows.map(async ([from, to]) => {
          for (let t = Date.parse(from!); t < Date.parse(to!); t += 60_000) {
            const now = new Date(t);
            await scheduleDueDigests(db, async () => {}, { now, cutoffHours: 12 });
            // What a person expects: a digest for each local date whose 07:00 passed (within the cut-off).
            for (const reader of readers) {
              const { date, hour } = local(now, reader.timeZone);
              if (hour >= 7 && hour < 19) expected.get(reader.id)!.add(date);
            }
          }
        }),
      );
      const deliveries = await db.delivery.findMany({ where: { kind: 'digest' } });
      for (const reader of readers) {
        const keys = deliveries.filter((d) => d.subscriberId === reader.id).map((d) => d.digestKey);
        expect(keys.length, reader.timeZone).toBe(new Set(keys).size);
        expect(new Set(keys), reader.timeZone).toEqual(expected.get(reader.id));
        // Due exactly at 07:00 local time, whatever the offset that day.
        for (const delivery of deliveries.filter((d) => d.subscriberId === reader.id)) {
          expect(local(delivery.dueAt, reader.timeZone).hour, `${reader.timeZone} ${delivery.digestKey}`).toBe(7);
        }
      }
    },
    5 * 60_000,
  );

  it('honours weekdays, weekly ISO weeks, pauses, catch-up after downtime and the cut-off', async () => {
    const db = database.db;
    const make = (email: string, data: object) =>
      db.subscriber.create({ data: { email, status: 'active', timeZone: 'Europe/Vienna', sendHour: 7, ...data } });
    const weekdays = await make('weekdays@example.org', { frequency: 'weekdays' });
    const weekly = await make('weekly@example.org', { frequency: 'weekly', weeklyDay: 3 });
    const paused = await make('paused@example.org', { pausedAt: new Date() });
    const keysOf = async (id: string) =>
      (await db.delivery.findMany({ where: { subscriberId: id }, orderBy: { digestKey: 'asc' } })).map(
        (d) => d.digestKey,
      );
    const tick = (iso: string) => scheduleDueDigests(db, async () => {}, { now: new Date(iso), cutoffHours: 12 });

    // Saturday 2026-12-05 to Thursday 2026-12-10, once a day at 08:00 Vienna (07:00 UTC).
    for (const day of ['05', '06', '07', '08', '09', '10']) await tick(`2026-12-${day}T07:00:00Z`);
    expect(await keysOf(weekdays.id)).toEqual(['2026-12-07', '2026-12-08', '2026-12-09', '2026-12-10']);
    expect(await keysOf(weekly.id)).toEqual(['2026-W50']);
    expect(await keysOf(paused.id)).toEqual([]);

    // Down at 07:00 on Friday: the tick at 15:00 local catches up; one at 20:00 (13 h late) does not.
    const late = await make('late@example.org', {});
    const tooLate = await make('toolate@example.org', {});
    await tick('2026-12-11T14:00:00Z');
    expect(await keysOf(late.id)).toEqual(['2026-12-11']);
    await tick('2026-12-12T19:00:00Z');
    expect(await keysOf(tooLate.id)).toEqual(['2026-12-11']);
    expect(await keysOf(late.id)).toEqual(['2026-12-11']);

    // A 22:00 reader whose tick is missed until 00:30 the next day still gets that day's digest.
    const night = await make('night@example.org', { sendHour: 22 });
    await tick('2026-12-13T20:59:00Z');
    expect(await keysOf(night.id)).toEqual([]);
    await tick('2026-12-13T23:30:00Z');
    expect(await keysOf(night.id)).toEqual(['2026-12-13']);

    // Send hours inside the DST gap and the repeated hour (Vienna, 29 March and 25 October 2026): one each.
    const gap = await make('gap@example.org', { sendHour: 2 });
    for (let t = Date.parse('2026-03-28T22:00:00Z'); t < Date.parse('2026-03-29T06:00:00Z'); t += 60_000) {
      await scheduleDueDigests(db, async () => {}, { now: new Date(t), cutoffHours: 12 });
    }
    for (let t = Date.parse('2026-10-24T22:00:00Z'); t < Date.parse('2026-10-25T06:00:00Z'); t += 60_000) {
      await scheduleDueDigests(db, async () => {}, { now: new Date(t), cutoffHours: 12 });
    }
    expect(await keysOf(gap.id)).toEqual(['2026-03-29', '2026-10-25']);

    // Digests nobody sent in time are marked skipped, not left pending or sent late.
    const stale = await db.delivery.findFirstOrThrow({ where: { subscriberId: night.id } });
    expect(stale.status).toBe('pending');
    expect(await skipLateDigests(db, 12, new Date('2026-12-14T10:30:00Z'))).toBeGreaterThan(0);
    expect(await db.delivery.findUniqueOrThrow({ where: { id: stale.id } })).toMatchObject({ status: 'skipped' });
  });
});

describe('digest scheduling with a time zone Postgres does not know', () => {
  let database: TestDb;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(async () => {
    await database.close();
  });

  /** Rows as an older release (or a Postgres upgrade that dropped a name) leaves them: no validation. */
  const insertReader = (n: number, timeZone: string) =>
    database.db.$executeRaw`
      INSERT INTO subscriber (id, email, status, time_zone, send_hour, updated_at)
      VALUES (${`00000000-0000-0000-0000-${String(n).padStart(12, '0')}`}::uuid, ${`reader${n}@example.org`},
              'active', ${timeZone}, 7, now())`;

  it('repairs a dropped alias, skips and reports a zone nobody knows, and schedules everyone else', async () => {
    const db = database.db;
    // Pages of two: the bad rows share the first page with a good one, and more pages follow.
    const zones = ['UTC', 'US/Pacific-New', 'Mars/Olympus_Mons', 'UTC', 'Europe/Vienna', 'UTC', 'us/pacific-new'];
    for (const [i, zone] of zones.entries()) await insertReader(i + 1, zone);
    // 07:30 in Los Angeles, and past 07:00 in UTC and Vienna, on Tuesday 8 December 2026.
    const pass = () =>
      scheduleDueDigests(db, async () => {}, { now: new Date('2026-12-08T15:30:00Z'), cutoffHours: 12, pageSize: 2 });

    const first = await pass();
    expect(first).toEqual({
      created: 6,
      repaired: [
        { from: 'US/Pacific-New', to: 'America/Los_Angeles', readers: 1 },
        { from: 'us/pacific-new', to: 'America/Los_Angeles', readers: 1 },
      ],
      skipped: [{ zone: 'Mars/Olympus_Mons', readers: 1 }],
    });
    const scheduled = await db.delivery.findMany({ where: { kind: 'digest' }, include: { subscriber: true } });
    expect(scheduled.map((d) => d.subscriber.email).sort()).toEqual(
      [1, 2, 4, 5, 6, 7].map((n) => `reader${n}@example.org`),
    );
    const repaired = await db.subscriber.findMany({ where: { timeZone: 'America/Los_Angeles' } });
    expect(repaired.map((r) => r.email).sort()).toEqual(['reader2@example.org', 'reader7@example.org']);
    const events = await db.event.findMany({ where: { type: 'time_zone_repaired' } });
    expect(events.map((e) => e.data)).toEqual(
      expect.arrayContaining([
        { from: 'US/Pacific-New', to: 'America/Los_Angeles' },
        { from: 'us/pacific-new', to: 'America/Los_Angeles' },
      ]),
    );

    // The next pass has nothing to repair, still reports the reader it cannot schedule, and adds nothing.
    expect(await pass()).toEqual({ created: 0, repaired: [], skipped: [{ zone: 'Mars/Olympus_Mons', readers: 1 }] });
    expect(await db.delivery.count({ where: { kind: 'digest' } })).toBe(6);
  });
});
