// Which readers are due a digest now: Postgres does the time-zone and DST arithmetic, and the unique key
// (subscriber, kind, digest key) makes a second digest for the same local date or ISO week impossible.
import type { Database } from '../../db/client.ts';

export const SCHEDULE_PAGE_SIZE = 1_000;

export interface ScheduleOptions {
  now?: Date;
  /** A digest not sent within this many hours after the send hour is no longer created (nor sent late). */
  cutoffHours: number;
  pageSize?: number;
}

/**
 * Creates the digest deliveries that are due at `now`, a page of readers at a time, handing each page's
 * new delivery ids to `enqueue` (which overlaps with finding the next page). Returns how many were created. Safe to run from several
 * schedulers at once: `ON CONFLICT DO NOTHING` lets exactly one of them create each delivery.
 */
export async function scheduleDueDigests(
  db: Database,
  enqueue: (deliveryIds: string[]) => Promise<void>,
  { now = new Date(), cutoffHours, pageSize = SCHEDULE_PAGE_SIZE }: ScheduleOptions,
): Promise<number> {
  let created = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  // A page is queued while Postgres finds the next one; at most one page is in flight, so memory stays
  // flat. The no-op catch only marks the rejection as seen until it is awaited below.
  let queueing: Promise<void> = Promise.resolve();
  for (;;) {
    // One statement per page: for each reader, today's and yesterday's local send slots (yesterday's
    // matters for a late evening hour caught up after midnight); a slot is due once its local send time
    // has passed (converted back with the zone's offset of that day, so DST is right) and until the
    // cut-off; the digest key is the slot's local date, or ISO week for weekly readers.
    const rows = await db.$queryRaw<{ id: string | null; last: string }[]>`
      WITH page AS (
        SELECT s.id, s.frequency, s.send_hour, s.weekly_day, s.time_zone
          FROM subscriber s
         WHERE s.status = 'active' AND s.paused_at IS NULL AND s.id > ${after}::uuid
         ORDER BY s.id
         LIMIT ${pageSize}
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
      ), inserted AS (
        INSERT INTO delivery (subscriber_id, kind, digest_key, due_at, updated_at)
        SELECT id, 'digest', digest_key, due_at, now() FROM due
        ON CONFLICT (subscriber_id, kind, digest_key) DO NOTHING
        RETURNING id
      ), last AS (SELECT id::text AS id FROM page ORDER BY id DESC LIMIT 1)
      SELECT inserted.id::text AS id, (SELECT id FROM last) AS last FROM inserted
      UNION ALL
      SELECT NULL, (SELECT id FROM last) WHERE NOT EXISTS (SELECT 1 FROM inserted)`;
    await queueing;
    const ids = rows.flatMap((row) => (row.id ? [row.id] : []));
    queueing = ids.length ? enqueue(ids) : Promise.resolve();
    queueing.catch(() => {});
    created += ids.length;
    const last = rows[0]?.last;
    if (!last) {
      await queueing;
      return created;
    }
    after = last;
  }
}

/**
 * A forced re-send of a reader's latest digest (`digest:run --now --force <email>`): a new delivery with
 * the same papers and a new Message-ID, so mail providers do not drop it as a duplicate. Null when the
 * reader has no sent digest.
 */
export async function forceResendLatestDigest(db: Database, subscriberId: string, now: Date = new Date()) {
  const latest = await db.delivery.findFirst({
    where: { subscriberId, kind: 'digest', status: 'sent' },
    orderBy: { sentAt: 'desc' },
  });
  if (!latest) return null;
  const resend = await db.delivery.create({
    data: {
      subscriberId,
      kind: 'digest',
      digestKey: `${latest.digestKey.split('#')[0]}#resent-${now.toISOString()}`,
      dueAt: now,
      paperIds: latest.paperIds,
    },
  });
  return resend.id;
}

/** Digests still waiting past the cut-off are marked skipped, so none is ever sent late or left pending. */
export async function skipLateDigests(db: Database, cutoffHours: number, now: Date = new Date()): Promise<number> {
  return db.$executeRaw`
    UPDATE delivery SET status = 'skipped', last_error = ${`not sent within ${cutoffHours} hours of the send hour`},
           lease_until = NULL, updated_at = now()
     WHERE kind = 'digest' AND status = 'pending' AND due_at + make_interval(hours => ${cutoffHours}) < ${now}`;
}
