// View models for the signup and manage forms: the catalogue, the reader's values, and errors by field.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import type { Config } from '../config.ts';
import type { TopicSummary } from '../modules/topics/topics.ts';
import { WEEKDAYS, type Preferences } from '../modules/subscribers/preferences.ts';

export type FormValues = Partial<Record<keyof Preferences | 'email', unknown>>;
export type FieldErrors = Partial<Record<string, string>>;

/** The first message per field, for showing next to it. */
export function fieldErrors(error: z.ZodError): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? 'form');
    errors[field] ??= issue.message;
  }
  return errors;
}

const asList = (value: unknown): string[] =>
  Array.isArray(value) ? value.map(String) : typeof value === 'string' && value ? [value] : [];

/** `zones`: the time zones to offer, each one the server accepts as it is (see time-zones.ts). */
export function formView(
  catalogue: TopicSummary[],
  zones: readonly string[],
  values: FormValues,
  errors: FieldErrors = {},
) {
  const chosen = new Set(asList(values.topics));
  const str = (value: unknown, fallback: string) => (typeof value === 'string' ? value : fallback);
  const frequency = str(values.frequency, 'daily');
  const weeklyDay = Number(values.weeklyDay ?? 1);
  const sendHour = Number(values.sendHour ?? 7);
  const timeZone = str(values.timeZone, 'UTC');
  const text = (value: unknown) => (Array.isArray(value) ? value.join(', ') : typeof value === 'string' ? value : '');
  return {
    topics: catalogue.map((topic) => ({ ...topic, checked: chosen.has(topic.slug) })),
    frequencies: [
      { value: 'daily', label: 'Every day' },
      { value: 'weekdays', label: 'Monday to Friday' },
      { value: 'weekly', label: 'Once a week' },
    ].map((option) => ({ ...option, checked: option.value === frequency })),
    weekdays: WEEKDAYS.map((label, i) => ({ value: i + 1, label, selected: i + 1 === weeklyDay })),
    hours: Array.from({ length: 24 }, (_, hour) => ({
      value: hour,
      label: `${String(hour).padStart(2, '0')}:00`,
      selected: hour === sendHour,
    })),
    // A saved alias (e.g. Asia/Kathmandu) is offered too, so the form shows what the reader has.
    timeZones: [...new Set([...zones, timeZone])].sort().map((zone) => ({ value: zone, selected: zone === timeZone })),
    // Only a fresh form takes the browser's zone; a re-shown or saved form keeps what the reader chose.
    prefillTimeZone: values.timeZone === undefined ? 'yes' : 'no',
    values: {
      email: typeof values.email === 'string' ? values.email : '',
      keywords: text(values.keywords),
      excludeKeywords: text(values.excludeKeywords),
      maxPapers: values.maxPapers ?? 10,
    },
    errors,
  };
}

/**
 * A signed "form shown at" stamp: a form posted back sooner than MIN_FILL_MS after it was shown was
 * filled by a machine. Signed, so a bot cannot simply send an old time.
 */
export const MIN_FILL_MS = 2_000;
const stampSignature = (config: Pick<Config, 'TOKEN_KEYS'>, time: string) =>
  createHmac('sha256', config.TOKEN_KEYS.at(-1)!.secret).update(`form-stamp:${time}`).digest('base64url');

export function formStamp(config: Pick<Config, 'TOKEN_KEYS'>, now = Date.now()): string {
  return `${now}.${stampSignature(config, String(now))}`;
}

/** How a form was filled: by a person, by a machine (too fast or forged), or from a page left open too long. */
export function formPace(
  config: Pick<Config, 'TOKEN_KEYS'>,
  stamp: unknown,
  now = Date.now(),
): 'ok' | 'too-fast' | 'stale' {
  if (typeof stamp !== 'string') return 'too-fast';
  const [time = '', signature = ''] = stamp.split('.');
  const expected = Buffer.from(stampSignature(config, time));
  const given = Buffer.from(signature);
  // Signed with a key since rotated away, or not signed at all: treat like a stale page, never as a bot.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'stale';
  const elapsed = now - Number(time);
  if (elapsed < MIN_FILL_MS) return 'too-fast';
  return elapsed < 24 * 3_600_000 ? 'ok' : 'stale';
}

/**
 * Runs `work` and resolves no sooner than `ms` after it started: the signup answer then takes the same
 * time whether the address was new, pending, active or suppressed (their work differs by a few ms).
 */
export const ANSWER_MS = 40;
export async function atLeast<T>(ms: number, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  const left = ms - (performance.now() - started);
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  return result;
}
