// Every zone name anyone could send — Intl's list, every alias in the CLDR data ICU is built from, every
// name Postgres lists — is refused or stored under a name that Postgres and Intl both accept as that zone.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import {
  catalogueOf,
  reloadTimeZoneCatalogue,
  timeZoneCatalogue,
  type TimeZoneCatalogue,
} from '../../src/modules/subscribers/time-zones.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

/** CLDR's bcp47/timezone.json: keyword.u.tz maps a short id to `_alias`, its space-separated zone names. */
function cldrAliases(): string[] {
  const path = createRequire(import.meta.url).resolve('cldr-bcp47/bcp47/timezone.json');
  const data = JSON.parse(readFileSync(path, 'utf8')) as { keyword: { u: { tz: Record<string, unknown> } } };
  return Object.entries(data.keyword.u.tz).flatMap(([key, entry]) =>
    // `_description` and `_alias` at this level describe the keyword itself; deprecated ids have no `_alias`.
    !key.startsWith('_') && typeof entry === 'object' && entry && '_alias' in entry
      ? String(entry._alias).split(' ')
      : [],
  );
}

function icuZone(zone: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

describe('the time zone catalogue', () => {
  let database: TestDatabase & { db: Database; close: () => Promise<void> };
  let catalogue: TimeZoneCatalogue;
  let postgresNames: string[];
  beforeAll(async () => {
    database = await openTestDatabase();
    catalogue = await timeZoneCatalogue(database.db);
    postgresNames = (await database.db.$queryRaw<{ name: string }[]>`SELECT name FROM pg_timezone_names`).map(
      (row) => row.name,
    );
  });
  afterAll(async () => {
    await database.close();
  });

  it('reads CLDR aliases ICU knows and Intl does not list', () => {
    const aliases = cldrAliases();
    expect(aliases.length).toBeGreaterThan(500);
    expect(aliases).toContain('US/Pacific-New');
    expect(Intl.supportedValuesOf('timeZone')).not.toContain('US/Pacific-New');
  });

  it('refuses every name, or stores it as a name Postgres and Intl both accept for the same zone', async () => {
    const names = [
      ...new Set([
        ...Intl.supportedValuesOf('timeZone'),
        ...cldrAliases(),
        ...postgresNames,
        ...['UTC', 'utc', 'america/new_york', 'EUROPE/VIENNA', 'PST', '+05:00', 'Etc/GMT+13', 'Mars/Olympus_Mons'],
      ]),
    ];
    const postgresIcuZones = new Set(postgresNames.flatMap((name) => icuZone(name) ?? []));
    const stored = new Map<string, string>();
    for (const name of names) {
      const canonical = catalogue.canonical(name);
      const icu = icuZone(name);
      if (!canonical) {
        // Refused only when Intl does not know it, or no name Postgres lists is that zone (or only one
        // Postgres would read as a fixed-offset abbreviation, such as CET).
        expect(!icu || !postgresIcuZones.has(icu) || ['CET', 'EET', 'MET', 'WET'].includes(icu), name).toBe(true);
        continue;
      }
      stored.set(name, canonical);
      expect(icu, name).toBeDefined();
      expect(icuZone(canonical), `${name} → ${canonical}`).toBe(icu);
      expect(catalogue.canonical(canonical), `${name} → ${canonical}`).toBe(canonical);
      expect(postgresNames, `${name} → ${canonical}`).toContain(canonical);
    }
    expect(stored.get('US/Pacific-New')).toBe('America/Los_Angeles');
    expect(stored.get('utc')).toBe('UTC');
    expect(stored.get('EUROPE/VIENNA')).toBe('Europe/Vienna');
    for (const refused of ['+05:00', 'Etc/GMT+13', 'Mars/Olympus_Mons', 'Factory', 'localtime', 'posixrules']) {
      expect(stored.has(refused), refused).toBe(false);
    }

    // Postgres accepts each stored name where scheduling uses it (one statement: it names a zone it
    // refuses), and reads it with the offsets Intl gives the name the reader sent, in winter and summer.
    const zones = [...new Set(stored.values())];
    for (const at of ['2025-01-15T12:00:00Z', '2025-07-15T12:00:00Z']) {
      const rows = await database.db.$queryRaw<{ zone: string; seconds: number }[]>`
        SELECT z AS zone,
               extract(epoch FROM (${at}::timestamptz AT TIME ZONE z) - (${at}::timestamptz AT TIME ZONE 'UTC'))::int AS seconds
          FROM unnest(${zones}::text[]) AS z`;
      const postgresOffset = new Map(rows.map((row) => [row.zone, row.seconds]));
      const mismatches = [...stored].filter(
        ([name, zone]) => intlOffset(name, new Date(at)) !== postgresOffset.get(zone),
      );
      expect(mismatches, at).toEqual([]);
    }
  });

  it('offers only names it stores as they are', () => {
    expect(catalogue.offered).toContain('UTC');
    expect(catalogue.offered).toContain('Europe/Vienna');
    for (const zone of catalogue.offered) expect(catalogue.canonical(zone), zone).toBe(zone);
  });

  it('maps to the names a Postgres without the legacy links has (Debian 13 without tzdata-legacy)', () => {
    const legacy = new Set(['US/Pacific', 'US/Pacific-New', 'Asia/Calcutta', 'Asia/Katmandu', 'Europe/Kiev']);
    const slim = catalogueOf(postgresNames.filter((name) => !legacy.has(name)));
    expect(slim.canonical('US/Pacific-New')).toBe('America/Los_Angeles');
    expect(slim.canonical('US/Pacific')).toBe('America/Los_Angeles');
    expect(slim.canonical('Asia/Calcutta')).toBe('Asia/Kolkata');
    expect(slim.canonical('Asia/Katmandu')).toBe('Asia/Kathmandu');
    expect(slim.canonical('Europe/Kiev')).toBe('Europe/Kyiv');
    expect(slim.offered).toContain('Asia/Kolkata');
    expect(slim.offered).not.toContain('Asia/Calcutta');
    // No name for the zone at all: refused, and not offered.
    const losAngeles = postgresNames.filter((name) => icuZone(name) !== 'America/Los_Angeles');
    expect(catalogueOf(losAngeles).canonical('US/Pacific-New')).toBeUndefined();
    expect(catalogueOf(losAngeles).offered).not.toContain('America/Los_Angeles');
  });

  it('reads the list once, and again after a failed read', async () => {
    let reads = 0;
    const flaky = {
      $queryRaw: async () => {
        reads++;
        if (reads === 1) throw new Error('Postgres is away');
        return reads === 2 ? [{ name: 'UTC' }] : [];
      },
    } as unknown as Database;
    await expect(timeZoneCatalogue(flaky)).rejects.toThrow('Postgres is away');
    const catalogue = await timeZoneCatalogue(flaky);
    expect(catalogue.canonical('Etc/UTC')).toBe('UTC');
    expect(await timeZoneCatalogue(flaky)).toBe(catalogue);
    expect(reads).toBe(3); // the failed read, then the names and the abbreviations once
    // Read again on request (the scheduler does, once a statement failed on a zone), and shared from then on.
    const reloaded = await reloadTimeZoneCatalogue(flaky);
    expect(reloaded).not.toBe(catalogue);
    expect(await timeZoneCatalogue(flaky)).toBe(reloaded);
    expect(reads).toBe(5);
  });
});

/** A zone's offset from UTC in seconds at an instant, as Intl sees it. */
function intlOffset(zone: string, at: Date): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
    .formatToParts(at)
    .find((part) => part.type === 'timeZoneName')!.value;
  const [, sign, hours, minutes] = /^GMT(?:([+-])(\d\d):(\d\d))?$/.exec(name)!;
  return sign ? (sign === '-' ? -1 : 1) * (Number(hours) * 3600 + Number(minutes) * 60) : 0;
}
