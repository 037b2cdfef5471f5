// The time zones a reader may have: names the running Postgres knows (it does the scheduling arithmetic)
// that Intl knows too (it formats the digest's date), and how a zone a reader sends maps to one of them.
import { isInvalidTimeZone, type Database } from '../../db/client.ts';

export interface TimeZoneCatalogue {
  /** The name to store for a zone a reader sent, or undefined when no name Postgres and Intl share is that zone. */
  canonical(zone: string): string | undefined;
  /** Whether Postgres lists the name (any case), whether or not Intl knows it. */
  postgresLists(zone: string): boolean;
  /** What the form offers: Intl's list of zones, each under the name it would be stored as. */
  offered: readonly string[];
}

/** ICU's canonical id for a zone (Asia/Kolkata → Asia/Calcutta, US/Pacific-New → America/Los_Angeles), if Intl knows it. */
export function icuZone(zone: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

// Intl's answers for the names Postgres lists (a bounded set), so that reading the list again is cheap:
// building a formatter for each of ~1,200 names takes a fifth of a second.
const icuZonesOfListed = new Map<string, string | undefined>();
function icuZoneOfListed(name: string): string | undefined {
  if (!icuZonesOfListed.has(name)) icuZonesOfListed.set(name, icuZone(name));
  return icuZonesOfListed.get(name);
}

/** The zone's offset from UTC in seconds at `at`, as Intl sees it. */
function icuOffset(zone: string, at: Date): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
    .formatToParts(at)
    .find((part) => part.type === 'timeZoneName')?.value;
  const [, sign, hours, minutes] = /^GMT(?:([+-])(\d\d):(\d\d))?$/.exec(name ?? '') ?? [];
  return sign ? (sign === '-' ? -1 : 1) * (Number(hours) * 3600 + Number(minutes) * 60) : 0;
}

/**
 * Postgres reads a name that is also an abbreviation as the abbreviation, a fixed offset: `AT TIME ZONE
 * 'CET'` is always +01:00, while Intl's CET (the zone) has summer time. Such a name is only usable when
 * the zone keeps that offset all year (EST, UTC), checked in January and July.
 */
function sameAsAbbreviation(name: string, abbreviationOffset: number, now = new Date()): boolean {
  const year = now.getUTCFullYear();
  return [0, 6].every((month) => icuOffset(name, new Date(Date.UTC(year, month, 15))) === abbreviationOffset);
}

/** Area/Location names (Europe/Kyiv) before legacy ones (US/Pacific, Etc/GMT+8, EST), then alphabetical. */
const preference = (name: string) => (name.includes('/') && !/^(Etc|US|SystemV)\//.test(name) ? 0 : 1);

/**
 * The catalogue for the names Postgres lists in pg_timezone_names. A zone is stored as Postgres spells it
 * when Postgres knows it; otherwise as the name Postgres knows for ICU's canonical zone: ICU's own id, or
 * another of the zone's names. Postgres installs differ (Debian 13 without tzdata-legacy has no US/Pacific
 * and no Asia/Calcutta), which is why the list is read from the running server rather than written here.
 */
export function catalogueOf(
  postgresNames: readonly string[],
  /** Postgres's time zone abbreviations, lower-case, with their offsets in seconds (pg_timezone_abbrevs). */
  abbreviations: ReadonlyMap<string, number> = new Map(),
): TimeZoneCatalogue {
  const listed = new Set(postgresNames.map((name) => name.toLowerCase()));
  // Only names Intl knows too: Postgres also lists Factory, localtime and posix/…, which Intl refuses.
  const byName = new Map<string, string>();
  const byIcuZone = new Map<string, string[]>();
  for (const name of postgresNames) {
    const icu = icuZoneOfListed(name);
    if (!icu) continue;
    const abbreviationOffset = abbreviations.get(name.toLowerCase());
    if (abbreviationOffset !== undefined && !sameAsAbbreviation(name, abbreviationOffset)) continue;
    byName.set(name.toLowerCase(), name);
    byIcuZone.set(icu, [...(byIcuZone.get(icu) ?? []), name]);
  }
  for (const names of byIcuZone.values()) names.sort((a, b) => preference(a) - preference(b) || a.localeCompare(b));

  const canonical = (zone: string) => {
    const known = byName.get(zone.toLowerCase());
    if (known) return known;
    const icu = icuZone(zone);
    if (!icu) return undefined;
    return byName.get(icu.toLowerCase()) ?? byIcuZone.get(icu)?.[0];
  };
  const offered = [...Intl.supportedValuesOf('timeZone'), 'UTC'].flatMap((zone) => canonical(zone) ?? []);
  return {
    canonical,
    postgresLists: (zone) => listed.has(zone.toLowerCase()),
    offered: [...new Set(offered)].sort(),
  };
}

async function readCatalogue(db: Database): Promise<TimeZoneCatalogue> {
  const names = await db.$queryRaw<{ name: string }[]>`SELECT name FROM pg_timezone_names`;
  const abbreviations = await db.$queryRaw<{ abbrev: string; seconds: number }[]>`
    SELECT abbrev, extract(epoch FROM utc_offset)::int AS seconds FROM pg_timezone_abbrevs`;
  return catalogueOf(
    names.map((row) => row.name),
    new Map(abbreviations.map((row) => [row.abbrev.toLowerCase(), row.seconds])),
  );
}

// Per client (so per Postgres server): reading pg_timezone_names takes ~50 ms, so once per process.
const catalogues = new WeakMap<Database, Promise<TimeZoneCatalogue>>();

function remember(db: Database, load: Promise<TimeZoneCatalogue>): Promise<TimeZoneCatalogue> {
  catalogues.set(db, load);
  // A failed read (Postgres away) is not remembered: the next caller tries again.
  load.catch(() => {
    if (catalogues.get(db) === load) catalogues.delete(db);
  });
  return load;
}

/** The catalogue of the server `db` talks to, read once and then shared. */
export function timeZoneCatalogue(db: Database): Promise<TimeZoneCatalogue> {
  return catalogues.get(db) ?? remember(db, readCatalogue(db));
}

/** Read again now: a Postgres upgrade under a running process can drop names the remembered list has. */
export function reloadTimeZoneCatalogue(db: Database): Promise<TimeZoneCatalogue> {
  return remember(db, readCatalogue(db));
}

/** Whether Postgres accepts the zone where scheduling uses it (it also takes abbreviations and POSIX rules). */
async function postgresAccepts(db: Database, zone: string): Promise<boolean> {
  try {
    await db.$queryRaw`SELECT now() AT TIME ZONE ${zone}`;
    return true;
  } catch (error) {
    if (isInvalidTimeZone(error)) return false;
    throw error;
  }
}

export interface TimeZoneRepair {
  from: string;
  to: string;
  /** Readers whose zone was changed (any status). */
  readers: number;
}

/**
 * Moves every reader stored with `from` to `to`, recording a `time_zone_repaired` event for each: one
 * statement, so a second scheduler doing the same at once finds nothing left to move.
 */
async function repairTimeZone(db: Database, from: string, to: string): Promise<TimeZoneRepair> {
  const [row] = await db.$queryRaw<{ readers: number }[]>`
    WITH moved AS (
      UPDATE subscriber SET time_zone = ${to}, updated_at = now() WHERE time_zone = ${from} RETURNING id
    ), recorded AS (
      INSERT INTO event (subscriber_id, type, data)
      SELECT id, 'time_zone_repaired', ${JSON.stringify({ from, to })}::jsonb FROM moved
    )
    SELECT count(*)::int AS readers FROM moved`;
  return { from, to, readers: row?.readers ?? 0 };
}

/**
 * For stored zones of which one made Postgres refuse a statement (SQLSTATE 22023): those it rejects are
 * repaired where the zone has a name Postgres knows, and returned as `unknown` where it has none.
 * Reads pg_timezone_names afresh, so only call it once a statement has failed.
 */
export async function settleRejectedTimeZones(
  db: Database,
  zones: readonly string[],
): Promise<{ repaired: TimeZoneRepair[]; unknown: string[] }> {
  const catalogue = await reloadTimeZoneCatalogue(db);
  const repaired: TimeZoneRepair[] = [];
  const unknown: string[] = [];
  // Postgres accepts more than it lists (abbreviations such as PST, POSIX rules): ask it about the rest.
  for (const zone of zones.filter((zone) => !catalogue.postgresLists(zone))) {
    if (await postgresAccepts(db, zone)) continue;
    const to = catalogue.canonical(zone);
    if (to) repaired.push(await repairTimeZone(db, zone, to));
    else unknown.push(zone);
  }
  return { repaired, unknown };
}
