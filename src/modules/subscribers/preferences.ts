// What a reader can choose, validated the same way for the form, the JSON API and the manage page.
import { z } from 'zod';
import { isOneLine, isPlainText } from '../../text.ts';
import { icuZone } from './time-zones.ts';

export const FREQUENCIES = ['daily', 'weekdays', 'weekly'] as const;
export const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] as const;
export const TIME_ZONE_REFUSED = 'Choose a time zone from the list.';

/**
 * A zone Intl knows, aliases included. Only the first check: whether Postgres can schedule in it is
 * known only to the running server, so the handlers look the zone up in its catalogue (time-zones.ts) next.
 */
const isTimeZone = (zone: string) => icuZone(zone) !== undefined;

/** Form fields arrive as strings, one value or several; JSON arrives typed. Both are accepted. */
const many = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (value): unknown[] =>
      value === undefined || value === '' ? [] : Array.isArray(value) ? (value as unknown[]) : [value],
    z.array(item),
  );

/** Keywords as typed in one box: comma- or line-separated, or a list from JSON. */
const keywordList = z.preprocess(
  (value) => (typeof value === 'string' ? value.split(/[,\n]/) : (value ?? [])),
  z
    .array(z.string())
    .transform((items) => items.map((item) => item.trim()).filter(Boolean))
    .pipe(
      z
        .array(
          z
            .string()
            .max(100, { error: 'Each keyword may be 100 characters at most.' })
            .refine((keyword) => isPlainText(keyword) && isOneLine(keyword), {
              error: 'Keywords may not contain control characters or line breaks.',
            }),
        )
        .max(20, { error: 'Choose at most 20 keywords.' }),
    ),
);

/** A whole number in a range, from a form field or JSON, with one message for every way it can be wrong. */
const wholeNumber = (min: number, max: number, message: string) =>
  z.coerce.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message });

export const preferencesInput = z
  .object({
    topics: many(z.string().regex(/^[a-z0-9-]{1,60}$/, { error: 'Unknown topic.' })).pipe(z.array(z.string()).max(50)),
    keywords: keywordList,
    excludeKeywords: keywordList,
    frequency: z.enum(FREQUENCIES, { error: 'Choose daily, weekdays or weekly.' }).default('daily'),
    weeklyDay: wholeNumber(1, 7, 'Choose a day of the week.').default(1),
    sendHour: wholeNumber(0, 23, 'Choose an hour from 0 to 23.').default(7),
    timeZone: z.string().trim().default('UTC').refine(isTimeZone, { error: TIME_ZONE_REFUSED }),
    maxPapers: wholeNumber(1, 50, 'Choose between 1 and 50 papers.').default(10),
  })
  .refine((prefs) => prefs.topics.length > 0 || prefs.keywords.length > 0, {
    error: 'Choose at least one topic, or type a keyword of your own.',
    path: ['topics'],
  });
export type Preferences = z.infer<typeof preferencesInput>;

/** "every day at 07:00 (Europe/Vienna)" — for emails and pages. */
export function describeSchedule(
  prefs: Pick<Preferences, 'frequency' | 'weeklyDay' | 'sendHour' | 'timeZone'>,
): string {
  const hour = `${String(prefs.sendHour).padStart(2, '0')}:00 (${prefs.timeZone})`;
  if (prefs.frequency === 'weekly') return `every ${WEEKDAYS[prefs.weeklyDay - 1]} at ${hour}`;
  return prefs.frequency === 'weekdays' ? `every weekday at ${hour}` : `every day at ${hour}`;
}
