// Text hygiene shared by every boundary: what Postgres can store and what a reader should see.

// Postgres text cannot hold NUL, and no reader wants the other C0 control characters or DEL.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

/** Whether text is safe to store and show as it is: well-formed Unicode without control characters. */
export function isPlainText(text: string): boolean {
  return text.isWellFormed() && !new RegExp(CONTROL_CHARS.source).test(text);
}

/** No line breaks: names and keywords end up in email subjects, where a line break is an attack. */
export function isOneLine(text: string): boolean {
  return !/[\r\n\u2028\u2029]/.test(text);
}

/**
 * Whether a date survives the trip to Postgres: it has no year 0 and cannot read the six-digit years
 * JavaScript writes past 9999, so ISO dates such as 0000-01-01, 0001-01-01T00:00+01:00 or
 * 9999-12-31T23:59-23:59 (valid in ISO 8601 and JavaScript) must be refused at the boundary.
 */
export function isStorableDate(date: Date): boolean {
  const year = date.getUTCFullYear();
  return year >= 1 && year <= 9999;
}

/**
 * Text as Paperboy stores it: well-formed Unicode (lone surrogates replaced), no control characters,
 * whitespace runs collapsed (feeds wrap titles and abstracts at odd places), at most `maxLength` long.
 */
export function cleanText(text: string, maxLength = Number.POSITIVE_INFINITY): string {
  const clean = text.toWellFormed().replace(CONTROL_CHARS, ' ').replace(/\s+/g, ' ').trim();
  // Slicing may cut a surrogate pair in two; toWellFormed mends that.
  return clean.length > maxLength ? clean.slice(0, maxLength).toWellFormed().trimEnd() : clean;
}

// Address patterns must not be shaped like /C+@C+/: on a long run of C without an @, every start
// position rescans the rest of the run, which is quadratic (a 100 KB admin note froze the API for 18 s).
// The two below are linear: one takes each run once, whole; the other leaves a start position at once
// unless an @ follows it.

// Mail servers quote the recipient in their replies ("550 5.1.1 <ada@example.org>: no such user").
const ADDRESS_CHARS = /[^\s<>()[\]"',;:]+/g;

/** Text from outside (a server's reply, a provider's reason) with every address blanked: only a hash may be kept. */
export function withoutAddresses(text: string): string {
  // A run of address characters with an @ that has something on both sides is an address, whole.
  return text.replace(ADDRESS_CHARS, (run) => (run.slice(1, -1).includes('@') ? '[address]' : run));
}

// Only the character before the @ and the one after the dot decide; any longer run would match too.
const ADDRESS_WITH_DOMAIN = /[^\s@]@[^\s@]+\.[^\s@]/;

/** Whether text holds something shaped like an address with a dotted domain (e.g. in a free-text note). */
export function looksLikeAddress(text: string): boolean {
  return ADDRESS_WITH_DOMAIN.test(text);
}
