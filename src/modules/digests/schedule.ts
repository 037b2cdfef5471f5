// Which readers are due a digest now: Postgres does the time-zone and DST arithmetic; the outbox's part of
// the same statement creates the deliveries, where the unique key (subscriber, kind, digest key) makes a
// second digest for the same local date or ISO week impossible.
import { isInvalidTimeZone, type Database } from '../../db/client.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import { unschedulableReaders } from '../../metrics.ts';
import { CREATE_DUE_DIGESTS } from '../mail/outbox.ts';
import { settleRejectedTimeZones, type TimeZoneRepair } from '../subscribers/time-zones.ts';

export const SCHEDULE_PAGE_SIZE = 1_000;

export interface ScheduleOptions {
  now?: Date;
  /** A digest not sent within this many hours after the send hour is no longer created (nor sent late). */
  cutoffHours: number;
  pageSize?: number;
}

export interface ScheduleResult {
  /** Digest deliveries created. */
  created: number;
  /** Stored zones Postgres rejected that name a zone it knows under another name: those readers were moved. */
  repaired: TimeZoneRepair[];
  /** Stored zones Postgres rejects and no name it knows matches: their active readers got no digest. */
  skipped: { zone: string; readers: number }[];
}

/**
 * Creates the digest deliveries that are due at `now`, a page of readers at a time, handing each page's
 * new delivery ids to `enqueue` (which overlaps with finding the next page). Safe to run from several
 * schedulers at once: the outbox's `ON CONFLICT DO NOTHING` lets exactly one of them create each delivery. A reader
 * whose stored zone Postgres rejects (an alias an older release accepted, a name a Postgres upgrade
 * dropped) fails their whole page: that reader is repaired or skipped, the page retried, and the pass
 * goes on for everyone else.
 */
export async function scheduleDueDigests(
  db: Database,
  enqueue: (deliveryIds: string[]) => Promise<void>,
  { now = new Date(), cutoffHours, pageSize = SCHEDULE_PAGE_SIZE }: ScheduleOptions,
): Promise<ScheduleResult> {
  let created = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  const repaired: TimeZoneRepair[] = [];
  // Zones left out of this pass's pages. Empty in the normal case, and then the statement is unchanged.
  const skippedZones: string[] = [];
  let unexplained = false;
  const page = () => Prisma.sql`
        SELECT s.id, s.frequency, s.send_hour, s.weekly_day, s.time_zone
          FROM subscriber s
         WHERE s.status = 'active' AND s.paused_at IS NULL AND s.id > ${after}::uuid
               ${skippedZones.length ? Prisma.sql`AND s.time_zone <> ALL(${skippedZones}::text[])` : Prisma.empty}
         ORDER BY s.id
         LIMIT ${pageSize}`;
  // A page is queued while Postgres finds the next one; at most one page is in flight, so memory stays
  // flat. The no-op catch only marks the rejection as seen until it is awaited below.
  let queueing: Promise<void> = Promise.resolve();
  for (;;) {
    // One statement per page finds who is due and creates their deliveries: for each reader, today's and yesterday's local send slots (yesterday's
    // matters for a late evening hour caught up after midnight); a slot is due once its local send time
    // has passed (converted back with the zone's offset of that day, so DST is right) and until the
    // cut-off; the digest key is the slot's local date, or ISO week for weekly readers.
    let rows: { id: string | null; last: string | null }[];
    try {
      rows = await db.$queryRaw<{ id: string | null; last: string | null }[]>`
      WITH page AS (${page()}
      ), slots AS (
        SELECT p.id, p.frequency, p.weekly_day, d.day,
               ((d.day + make_interval(hours => p.send_hour)) AT TIME ZONE p.time_zone) AS due_at
          FROM page p
          CROSS JOIN LATERAL (
            SELECT date_trunc('day', ${now}::timestamptz AT TIME ZONE p.time_zone) - make_interval(days => back) AS day
              FROM generate_series(0, 1) AS back
          ) d
      ), due AS (
        SELECT id, due_at,
               CASE WHEN frequency = 'weekly' THEN to_char(day, 'IYYY-"W"IW') ELSE to_char(day, 'YYYY-MM-DD') END AS digest_key
          FROM slots
         WHERE due_at <= ${now}::timestamptz
           AND ${now}::timestamptz < due_at + make_interval(hours => ${cutoffHours})
           AND CASE frequency
                 WHEN 'daily' THEN true
                 WHEN 'weekdays' THEN extract(isodow FROM day) <= 5
                 ELSE extract(isodow FROM day) = coalesce(weekly_day, 1)
               END
      ), ${CREATE_DUE_DIGESTS}, last AS (SELECT id::text AS id FROM page ORDER BY id DESC LIMIT 1)
      SELECT inserted.id::text AS id, (SELECT id FROM last) AS last FROM inserted
      UNION ALL
      SELECT NULL, (SELECT id FROM last) WHERE NOT EXISTS (SELECT 1 FROM inserted)`;
    } catch (error) {
      // Only here, after a failure, does the pass look at zones: the normal page costs nothing extra.
      if (!isInvalidTimeZone(error)) throw error;
      const zones = await db.$queryRaw<{ zone: string }[]>`SELECT DISTINCT p.time_zone AS zone FROM (${page()}) p`;
      const settled = await settleRejectedTimeZones(
        db,
        zones.map((row) => row.zone),
      );
      // No zone of the page is bad now: another scheduler may have repaired it meanwhile, so the page is
      // tried once more; failing again, the fault is something else.
      const explained = settled.repaired.length > 0 || settled.unknown.length > 0;
      if (!explained && unexplained) throw error;
      unexplained = !explained;
      repaired.push(...settled.repaired.filter((repair) => repair.readers > 0));
      skippedZones.push(...settled.unknown);
      continue;
    }
    unexplained = false;
    await queueing;
    const ids = rows.flatMap((row) => (row.id ? [row.id] : []));
    queueing = ids.length ? enqueue(ids) : Promise.resolve();
    queueing.catch(() => {});
    created += ids.length;
    const last = rows[0]?.last;
    if (!last) {
      await queueing;
      const skipped = await countSkippedReaders(db, skippedZones);
      unschedulableReaders.set(skipped.reduce((sum, zone) => sum + zone.readers, 0));
      return { created, repaired, skipped };
    }
    after = last;
  }
}

/** How many active readers each skipped zone left without a digest: what the report says. */
async function countSkippedReaders(db: Database, zones: string[]): Promise<ScheduleResult['skipped']> {
  if (!zones.length) return [];
  const rows = await db.$queryRaw<{ zone: string; readers: number }[]>`
    SELECT time_zone AS zone, count(*)::int AS readers
      FROM subscriber
     WHERE status = 'active' AND paused_at IS NULL AND time_zone = ANY(${zones}::text[])
     GROUP BY time_zone ORDER BY time_zone`;
  return rows;
}
