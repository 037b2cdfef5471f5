// Shared fast-check generators for the security tests: hostile strings, bodies, query strings, headers,
// path parameters and requests, plus the checks every answer must pass.
import { expect } from 'vitest';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse as Response } from 'fastify';

/** Seeds and run counts: fixed by default so CI is reproducible; FC_SEED reruns another sequence. */
export const FC_SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 20261128;
/** FC_RUNS_SCALE=10 runs every property ten times as often (for a longer hunt than CI can afford). */
const RUNS_SCALE = Number(process.env.FC_RUNS_SCALE ?? 1);
export const fcOptions = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns: Math.max(1, Math.round(numRuns * RUNS_SCALE)),
  seed: FC_SEED,
  // Shrinking a failing HTTP request takes long; FC_SHRINK=1 asks for the smallest counterexample.
  endOnFailure: !process.env.FC_SHRINK,
});

/** Strings known to break naive code: encodings, injections, separators, surrogates, NUL. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\ufeff',
  '\u2028\u2029',
  '\r\nBcc: victim@example.org',
  '\nX-Injected: 1',
  '=?utf-8?q?evil=0D=0ABcc:_victim@example.org?=',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  'javascript:alert(1)',
  '<svg onload=alert(1)>',
  "' OR 1=1 --",
  '%00',
  '%',
  '%zz',
  '%E0%A4%A',
  '%uD800',
  '../../../../etc/passwd',
  '__proto__',
  'constructor',
  '{{constructor.constructor "alert(1)"}}',
  '${7*7}',
  'NaN',
  '-1',
  '1e309',
  '99999999999999999999999',
  'null',
  'true',
  '[]',
  '{}',
  '0x10',
  '0000-01-01',
  '0000-06-01T00:00:00Z',
  '0001-01-01T00:00:00+01:00',
  '9999-12-31T23:59:59-23:59',
  '2026-02-29',
  '🧪'.repeat(40),
  'a'.repeat(600),
  'A'.repeat(70_000),
] as const;

/** Any string a client could send, weighted towards the nasty ones. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  // Every code point, lone surrogates and control characters included.
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.emailAddress() },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...NASTY_STRINGS)).map(([a, b]) => a + b),
  },
);

/** Encodes a string for a URL, or deliberately does not (raw percent garbage, slashes, dots). */
export const urlPiece: fc.Arbitrary<string> = fc.oneof(
  hostileString.map((s) => encodeURIComponent(s.toWellFormed())),
  fc.constantFrom('%', '%zz', '%00', '%C0%80', '%ED%A0%80', '%E0%A4%A', '..', '.', '%2e%2e', 'a%2Fb', '%25', '%0d%0a'),
  fc.string({ unit: fc.constantFrom(...'abcXYZ019-_.~%'), maxLength: 30 }),
);

/** Values where a field expects a string: strings, numbers, arrays, objects, null. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null)) },
  { weight: 1, arbitrary: fc.dictionary(hostileString, hostileString, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** The field names the app reads, so generated bodies reach handlers instead of only failing validation. */
export const FIELD_NAMES = [
  'email',
  'topics',
  'keywords',
  'excludeKeywords',
  'frequency',
  'weeklyDay',
  'sendHour',
  'timeZone',
  'maxPapers',
  'action',
  'really',
  'website',
  'started',
  '_csrf',
  'List-Unsubscribe',
  'type',
  'address',
  'events',
  'status',
  'slug',
  'name',
  'description',
  'query',
  'detail',
  'reason',
  '__proto__',
  'constructor',
] as const;

const fieldName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FIELD_NAMES) },
  { weight: 1, arbitrary: hostileString },
);

/** A JSON object shaped like the app's bodies, with hostile values. */
export const hostileObject = fc.dictionary(fieldName, hostileValue, { maxKeys: 8 });

const nested = (depth: number, open: string, close: string) => open.repeat(depth) + close.repeat(depth);

export interface GeneratedBody {
  contentType?: string;
  payload?: string | Buffer;
  /** Fields to send in the form the content type implies; the CSRF token is added when asked. */
  fields?: Record<string, unknown>;
}

/** Content types, including broken ones and charset tricks. */
export const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16le',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json;;;',
  'application/jsonx',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=ISO-8859-1',
  'application/x-www-form-urlencoded; charset=utf-7',
  'multipart/form-data',
  'multipart/form-data; boundary=',
  'multipart/form-data; boundary=x',
  'text/plain',
  'text/html',
  'application/xml',
  'application/atom+xml',
  'application/octet-stream',
  '*/*',
  ';',
  '',
);

/** A request body: JSON of any shape, urlencoded or multipart fields, invalid JSON, huge or binary payloads. */
export const hostileBody: fc.Arbitrary<GeneratedBody> = fc.oneof(
  { weight: 4, arbitrary: hostileObject.map((fields) => ({ contentType: 'application/json', fields })) },
  {
    weight: 3,
    arbitrary: hostileObject.map((fields) => ({ contentType: 'application/x-www-form-urlencoded', fields })),
  },
  { weight: 2, arbitrary: hostileObject.map((fields) => ({ contentType: 'multipart/form-data', fields })) },
  {
    weight: 2,
    arbitrary: fc.record({
      contentType,
      payload: fc.oneof(
        fc.jsonValue().map((value) => JSON.stringify(value)),
        fc.constantFrom(
          '{',
          '{"email":',
          '{"a":1,}',
          "{'email':'x'}",
          '\u0000',
          '{"email":"\\u0000"}',
          '{"email":"\\ud800"}',
          '{"__proto__":{"polluted":1},"email":"a@b.c"}',
          '{"constructor":{"prototype":{"polluted":1}}}',
          nested(5_000, '[', ']'),
          nested(2_000, '{"a":', '}').replace(/}+$/, (end) => `1${end}`),
          `{"email":"${'x'.repeat(2_000_000)}"}`,
          `email=${'%'.repeat(70_000)}`,
          '--x\r\nContent-Disposition: form-data; name="email"\r\n\r\nA\r\n--x--',
          '--x\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nA\r\n--x--',
          '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><feed>&e;</feed>',
        ),
        fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
        hostileString,
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({}) },
);

/** A date-time string at and beyond the edges of what JavaScript, ISO 8601 and Postgres accept. */
export const hostileDate: fc.Arbitrary<string> = fc.oneof(
  // Around year 0 and year 10000, where JavaScript and Postgres disagree.
  fc
    .date({ min: new Date('-000001-01-01T00:00:00Z'), max: new Date('0002-01-01T00:00:00Z'), noInvalidDate: true })
    .map((date) => date.toISOString()),
  fc
    .date({ min: new Date('9999-06-01T00:00:00Z'), max: new Date('+010000-06-01T00:00:00Z'), noInvalidDate: true })
    .map((date) => date.toISOString()),
  fc
    .tuple(fc.integer({ min: 0, max: 1 }), fc.constantFrom('Z', '+01:00', '-23:59', '+23:59'))
    .map(([year, zone]) => `000${year}-01-01T00:30:00${zone}`),
  fc.constantFrom('0000-01-01', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59-23:59', '2026-11-28T07:00:00.123456789Z'),
  fc
    .date({ min: new Date('1900-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
    .map((d) => d.toISOString()),
);

/** A pagination cursor as the API encodes them (base64url JSON), with hostile contents. */
export const forgedCursor: fc.Arbitrary<string> = fc
  .record(
    {
      at: hostileDate,
      createdAt: hostileDate,
      score: fc.oneof(fc.double({ noNaN: true }), fc.constantFrom(1e308, -1e308, 0)),
      id: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('2611.00001', '00000000-0000-4000-8000-000000000000') },
        { weight: 1, arbitrary: hostileString },
      ),
    },
    { requiredKeys: ['at', 'createdAt', 'score', 'id'] },
  )
  .map((cursor) => Buffer.from(JSON.stringify(cursor)).toString('base64url'));

/** A query string: arbitrary keys and values, repeated keys, bracket syntax, raw percent garbage. */
export const hostileQuery: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          'topic',
          'since',
          'limit',
          'cursor',
          'saved',
          'email',
          'status',
          'q',
          'hidden',
          'a[b]',
          '__proto__',
        ),
        urlPiece,
      ),
      fc.oneof(urlPiece, hostileDate.map(encodeURIComponent), forgedCursor),
    ),
    { maxLength: 5 },
  )
  // The date and cursor parameters get well-shaped hostile values often, so they reach the database.
  .chain((pairs) =>
    fc
      .tuple(fc.option(hostileDate.map(encodeURIComponent), { freq: 2 }), fc.option(forgedCursor, { freq: 2 }))
      .map(([since, cursor]) => [
        ...pairs,
        ...(since === null ? [] : [['since', since] as [string, string]]),
        ...(cursor === null ? [] : [['cursor', cursor] as [string, string]]),
      ]),
  )
  .map((pairs) => pairs.map(([key, value]) => `${key}=${value}`).join('&'));

/** Headers a hostile client might send. */
export const hostileHeaders: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    'x-forwarded-for': fc.oneof(hostileString, fc.constantFrom('1.2.3.4, 5.6.7.8', '::1', '999.999.1.1', 'unknown')),
    'x-forwarded-host': hostileString,
    'x-forwarded-proto': fc.constantFrom('https', 'gopher', 'http,https', ''),
    cookie: fc.oneof(
      fc.constantFrom('_csrf=', '_csrf=x.y', `big=${'c'.repeat(8_000)}`, 'a=1; a=2; ;;', '=%zz', '_csrf=%00'),
      hostileString.map((s) => `_csrf=${encodeURIComponent(s.toWellFormed())}`),
    ),
    accept: fc.constantFrom('application/json', 'text/html', '*/*', 'image/png', '', 'x/y;q=abc'),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', '*;q=0', 'x'),
    'accept-language': hostileString,
    'user-agent': hostileString,
    'x-request-id': hostileString,
    origin: fc.constantFrom('https://evil.example', 'null', ''),
    authorization: fc.constantFrom('Bearer ', 'Bearer x', 'Basic !!!', 'Basic Og==', 'Digest x'),
    'x-paperboy-signature': fc.constantFrom(
      't=1,v1=00',
      't=,v1=',
      `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`,
    ),
  },
  { requiredKeys: [] },
);

const boundary = '----paperboy-fuzz';

function multipart(fields: Record<string, unknown>): string {
  const parts = Object.entries(fields).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map(
      (item) =>
        `--${boundary}\r\nContent-Disposition: form-data; name="${name.replace(/["\r\n]/g, '_')}"\r\n\r\n${
          typeof item === 'string' ? item : JSON.stringify(item)
        }\r\n`,
    ),
  );
  return `${parts.join('')}--${boundary}--\r\n`;
}

function urlencoded(fields: Record<string, unknown>): string {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      form.append(name.toWellFormed(), (typeof item === 'string' ? item : (JSON.stringify(item) ?? '')).toWellFormed());
    }
  }
  return form.toString();
}

/** The payload and content type to send for a generated body, with extra fields (e.g. a CSRF token). */
export function encodeBody(body: GeneratedBody, extra: Record<string, string> = {}) {
  if (body.payload !== undefined) return { contentType: body.contentType, payload: body.payload };
  if (!body.fields) return { contentType: body.contentType, payload: undefined };
  const fields = { ...body.fields, ...extra };
  switch (body.contentType) {
    case 'multipart/form-data':
      return { contentType: `multipart/form-data; boundary=${boundary}`, payload: multipart(fields) };
    case 'application/x-www-form-urlencoded':
      return { contentType: body.contentType, payload: urlencoded(fields) };
    default:
      // JSON.stringify turns lone surrogates into \ud800 escapes: the server sees them after parsing.
      return { contentType: 'application/json', payload: JSON.stringify(fields) };
  }
}

/** Fills a route pattern's :params and * with the given pieces (reused in turn). */
export function fillRoute(url: string, pieces: string[]): string {
  let i = 0;
  const next = () => pieces[i++ % Math.max(pieces.length, 1)] ?? 'x';
  return url.replace(/:[A-Za-z]+/g, () => next()).replace(/\*$/, () => next());
}

/**
 * The property every answer must have: no 5xx, and a body that matches its content type (JSON that parses;
 * no stack trace or internal error text anywhere).
 */
export function expectWellFormed(response: Pick<Response, 'statusCode' | 'body' | 'headers'>, what: string) {
  expect(response.statusCode, `${what} → ${response.statusCode}: ${response.body.slice(0, 500)}`).toBeLessThan(500);
  expect(response.statusCode, what).toBeGreaterThanOrEqual(200);
  const type = String(response.headers['content-type'] ?? '');
  if (/json/.test(type) && response.body.length > 0) {
    expect((): unknown => JSON.parse(response.body), `${what}: JSON body does not parse`).not.toThrow();
  }
  expect(response.body, what).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)|PrismaClient|node_modules/);
}

export const describeRequest = (options: InjectOptions) => {
  const headers = (options.headers ?? {}) as Record<string, string>;
  const payload = typeof options.payload === 'string' ? options.payload : JSON.stringify(options.payload ?? '');
  return `${options.method} ${JSON.stringify(options.url)} ${JSON.stringify(headers)} ${payload.slice(0, 300)}`;
};

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Every small way to change a signed token: a flipped bit or a substituted character anywhere, a cut, an
 * extension, or a segment swapped in from another genuine token. Never the token itself.
 */
export function tokenMutation(token: string, others: string[] = []): fc.Arbitrary<string> {
  const at = fc.nat({ max: token.length - 1 });
  const splice = (i: number, ch: string) => token.slice(0, i) + ch + token.slice(i + 1);
  const mutations: fc.Arbitrary<string>[] = [
    fc
      .tuple(at, fc.integer({ min: 0, max: 7 }))
      .map(([i, bit]) => splice(i, String.fromCharCode(token.charCodeAt(i) ^ (1 << bit)))),
    fc.tuple(at, fc.constantFrom(...BASE64URL)).map(([i, ch]) => splice(i, ch)),
    fc.tuple(at, fc.string({ unit: 'binary', minLength: 1, maxLength: 2 })).map(([i, ch]) => splice(i, ch)),
    fc.nat({ max: token.length - 1 }).map((length) => token.slice(0, length)),
    fc.string({ unit: fc.constantFrom(...`${BASE64URL}.=`), minLength: 1, maxLength: 12 }).map((tail) => token + tail),
    fc.constantFrom('=', '==', '%3D', '.', '..').map((tail) => token + tail),
  ];
  if (others.length) {
    mutations.push(
      fc.tuple(fc.constantFrom(...others), fc.constantFrom(0, 1, 2)).map(([other, part]) => {
        const mine = token.split('.');
        mine[part] = other.split('.')[part]!;
        return mine.join('.');
      }),
    );
  }
  return fc.oneof(...mutations).filter((mutated) => mutated !== token);
}

/** Markup that runs script if it reaches a page unescaped; each carries "alert" so a leak is easy to spot. */
export const XSS_PAYLOADS = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg onload=alert(1)>",
  '<svg><script>alert(1)</script></svg>',
  '<a href="javascript:alert(1)">click</a>',
  'javascript:alert(1)',
  ' JaVaScRiPt:alert(1)',
  '</textarea><script>alert(1)</script>',
  '</title><script>alert(1)</script>',
  '<iframe src="javascript:alert(1)"></iframe>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<body onload=alert(1)>',
  '" onmouseover="alert(1)',
  '{{constructor.constructor("alert(1)")()}}',
  ']]><script>alert(1)</script><![CDATA[',
  '&lt;script&gt;alert(1)&lt;/script&gt;',
  '<!--<script>alert(1)//-->',
  '<base href="javascript:alert(1)//">',
] as const;

/** Text with an XSS payload somewhere in it, and a word (`xss`) that topic queries can match on. */
export const xssText: fc.Arbitrary<string> = fc
  .tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...XSS_PAYLOADS), fc.string({ maxLength: 10 }))
  .map(([before, payload, after]) => `xss ${before}${payload}${after}`);

/** A link field's value: javascript:, data: and other schemes dressed up as links. */
export const hostileUrl = fc.constantFrom(
  'javascript:alert(1)',
  'JAVASCRIPT:alert(1)',
  ' javascript:alert(1)',
  'java\tscript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  'https://github.com/x/y"><script>alert(1)</script>',
  "https://github.com/x/y' onmouseover='alert(1)",
  '//evil.example/x',
);
