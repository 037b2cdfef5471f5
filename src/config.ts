// Paperboy's whole configuration: one zod schema over the environment, checked once at start-up.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { isRedisClusterUrl, parseRedisCluster } from './queues/connection.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const url = (protocols: readonly string[], example: string) =>
  z
    .string()
    .trim()
    .refine((value) => URL.canParse(value) && protocols.includes(new URL(value).protocol), {
      message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')} (e.g. ${example})`,
    });

const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/** One signing key: `id:secret`. New links are signed with the last key; all keys still verify. */
const tokenKeys = z
  .string({ error: 'is required: add at least one signing key, e.g. run `node src/cli.ts keygen`' })
  .transform(list)
  .pipe(
    z
      .array(
        z.string().regex(/^[A-Za-z0-9_-]{1,16}:.{32,}$/, {
          message:
            'each entry must be `keyid:secret` with a key id of 1-16 letters/digits and a secret of 32+ characters',
        }),
      )
      .min(1, { message: 'is required: add at least one signing key, e.g. run `node src/cli.ts keygen`' }),
  )
  .transform((entries) =>
    entries.map((entry) => {
      const colon = entry.indexOf(':');
      return { id: entry.slice(0, colon), secret: entry.slice(colon + 1) };
    }),
  )
  .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, { message: 'key ids must be unique' });

function isIpOrCidr(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  const version = isIP(address);
  if (!version || rest.length) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128));
}

function isCronPattern(pattern: string): boolean {
  if (pattern.split(/\s+/).length !== 5) return false;
  try {
    CronExpressionParser.parse(pattern, { tz: 'UTC' });
    return true;
  } catch {
    return false;
  }
}

const TOKEN_HASH = /^sha256:([0-9a-f]{64})$/;

/** The hex hashes in an admin token file; each problem names its line, never its content. */
function readTokenHashes(path: string, ctx: z.RefinementCtx): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `cannot read ${path} (${(error as NodeJS.ErrnoException).code})` });
    return [];
  }
  const hashes: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const hash = TOKEN_HASH.exec(line.toLowerCase())?.[1];
    if (hash) hashes.push(hash);
    else ctx.addIssue({ code: 'custom', message: `line ${index + 1} of ${path} is not sha256:<64 hex digits>` });
  });
  return hashes;
}

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** When soft bounces (a full mailbox, a server having a bad day) add up to a suppression, unless configured. */
export const SOFT_BOUNCE_DEFAULTS = { SOFT_BOUNCE_LIMIT: 3, SOFT_BOUNCE_WINDOW_DAYS: 7 } as const;

/** DELIVERY_LEASE_SECONDS when unset; also the lease of code called without a configuration (tests, CLI). */
export const DEFAULT_LEASE_SECONDS = 120;

/** DIGEST_PAGE_SIZE when unset, and the most deliveries one job may carry. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;

const fields = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgresql://postgres@127.0.0.1:5432/paperboy').default(
    'postgresql://postgres@127.0.0.1:5432/paperboy',
  ),
  /** One Redis (redis://, rediss://) or a Redis Cluster (redis-cluster://host:port,host:port,…). */
  REDIS_URL: z
    .string()
    .trim()
    .superRefine((value, ctx) => {
      if (isRedisClusterUrl(value)) {
        if (!parseRedisCluster(value))
          ctx.addIssue({
            code: 'custom',
            message:
              'must list the cluster nodes as redis-cluster://host:port,host:port,… ' +
              '(e.g. redis-cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003)',
          });
      } else if (!URL.canParse(value) || !['redis:', 'rediss:'].includes(new URL(value).protocol)) {
        ctx.addIssue({
          code: 'custom',
          message:
            'must be a URL starting with redis:// or rediss:// (e.g. redis://127.0.0.1:6379), ' +
            'or redis-cluster://host:port,host:port,… for a Redis Cluster',
        });
      }
    })
    .default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]*(?:\{[A-Za-z0-9:_-]+\})?[A-Za-z0-9:_-]*$/, {
      message: 'may only contain letters, digits, ":", "_" and "-", and one {hash tag}',
    })
    .min(1)
    .default('paperboy'),
  SMTP_URL: z
    .union([z.literal(''), url(['smtp:', 'smtps:'], 'smtp://user:pass@mail.example.org:587')])
    .default('')
    .transform((value) => value || undefined),
  OUTBOX_DIR: z.string().min(1).default('outbox'),
  PUBLIC_URL: url(['http:', 'https:'], 'https://papers.example.org')
    .default('http://localhost:3000')
    .transform((value) => value.replace(/\/+$/, '')),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce
    .number({ error: 'must be a port number from 0 to 65535' })
    .int({ error: 'must be a port number from 0 to 65535' })
    .min(0, { error: 'must be a port number from 0 to 65535' })
    .max(65535, { error: 'must be a port number from 0 to 65535' })
    .default(3000),
  MAIL_FROM: z
    .string()
    .regex(/^(?:[^<>\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/, {
      message: 'must be an address such as `Paperboy <papers@example.org>` or `papers@example.org`',
    })
    .default('Paperboy <paperboy@localhost>'),
  MAIL_REPLY_TO: z
    .union([z.literal(''), z.email({ message: 'must be an email address' })])
    .default('')
    .transform((value) => value || undefined),
  TOKEN_KEYS: tokenKeys,
  ADMIN_TOKENS: z
    .string()
    .default('')
    .transform(list)
    .pipe(z.array(z.string().min(24, { message: 'each admin token must be at least 24 characters' }))),
  /**
   * A file of admin token hashes, one `sha256:<64 hex digits>` per line (`#` starts a comment), so the
   * tokens themselves need not be stored on the server; `node src/cli.ts admin-token` makes one.
   */
  ADMIN_TOKENS_FILE: z
    .string()
    .default('')
    .transform((path, ctx): string[] => (path ? readTokenHashes(path, ctx) : [])),
  /** Where the tokenless METRICS_PORT listens: loopback unless a scraper elsewhere must reach it. */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** A second port serving only /metrics without a token, for a scraper on a private network. */
  METRICS_PORT: z.coerce
    .number({ error: 'must be a port number from 1 to 65535' })
    .int({ error: 'must be a port number from 1 to 65535' })
    .min(1, { error: 'must be a port number from 1 to 65535' })
    .max(65535, { error: 'must be a port number from 1 to 65535' })
    .optional(),
  /**
   * Whether to believe X-Forwarded-For (client IPs feed rate limits and consent records): `false`, `true`
   * (trust every proxy), or comma-separated proxy addresses/CIDRs.
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((value, ctx): boolean | string[] => {
      const flag = value.trim().toLowerCase();
      if (flag === 'true' || flag === 'false') return flag === 'true';
      const proxies = list(value);
      const invalid = proxies.filter((entry) => !isIpOrCidr(entry));
      if (invalid.length) {
        ctx.addIssue({
          code: 'custom',
          message: `must be true, false or IP addresses/CIDRs; not ${invalid.join(', ')}`,
        });
      }
      return proxies;
    }),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** Feeds polled on a schedule; `none` turns polling off (an empty variable means "use the default"). */
  PAPER_FEEDS: z
    .string()
    .default('https://huggingface.co/api/daily_papers')
    .transform((value) => (value.trim().toLowerCase() === 'none' ? [] : list(value)))
    .pipe(z.array(url(['http:', 'https:'], 'https://huggingface.co/api/daily_papers'))),
  /** When to poll PAPER_FEEDS (cron, UTC). Hugging Face updates its list through the day. */
  PAPER_FEEDS_CRON: z
    .string()
    .trim()
    .refine(isCronPattern, { message: 'must be a five-field cron pattern such as "15 * * * *"' })
    .default('15 * * * *'),
  /** How long a confirmation link works. */
  CONFIRM_TOKEN_TTL_HOURS: positiveInt(168),
  /** At most one confirmation (or manage-link) email per address per this many minutes. */
  CONFIRM_EMAIL_WINDOW_MINUTES: positiveInt(10),
  /** Signups allowed per client IP per minute, and per address per hour. */
  SIGNUP_RATE_PER_IP: positiveInt(10),
  SIGNUP_RATE_PER_ADDRESS: positiveInt(5),
  /** Origins (e.g. https://blog.example.org) allowed to post the signup API from their own pages. */
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform(list)
    .pipe(z.array(url(['http:', 'https:'], 'https://blog.example.org').transform((value) => new URL(value).origin))),
  /** Optional DKIM signing of every email: the signing domain, the DNS selector and the PEM private key. */
  DKIM_DOMAIN: z.string().trim().default(''),
  DKIM_SELECTOR: z.string().trim().default(''),
  DKIM_PRIVATE_KEY: z
    .string()
    .default('')
    .transform((value) => value.replace(/\\n/g, '\n'))
    .refine((value) => value === '' || value.includes('PRIVATE KEY'), { message: 'must be a PEM private key' }),
  /**
   * Shared secret of the bounce webhook: a bearer token, or the key of the X-Paperboy-Signature HMAC.
   * Unset: the webhook refuses every request.
   */
  BOUNCE_WEBHOOK_SECRET: z
    .string()
    .min(24, { message: 'must be at least 24 characters (e.g. `openssl rand -hex 32`)' })
    .optional(),
  /** This many soft bounces of one address within SOFT_BOUNCE_WINDOW_DAYS suppress it. */
  SOFT_BOUNCE_LIMIT: positiveInt(SOFT_BOUNCE_DEFAULTS.SOFT_BOUNCE_LIMIT),
  SOFT_BOUNCE_WINDOW_DAYS: positiveInt(SOFT_BOUNCE_DEFAULTS.SOFT_BOUNCE_WINDOW_DAYS),
  /** A digest not sent within this many hours after the reader's send hour is skipped, not sent late. */
  DIGEST_CUTOFF_HOURS: positiveInt(12),
  /**
   * How long a worker may hold a delivery before another may take it over (after a crash). The SMTP
   * timeouts are derived from it, so a stalled mail server makes the holder give up before the lease ends.
   */
  DELIVERY_LEASE_SECONDS: z.coerce
    .number()
    .int()
    .min(3, { message: 'must be at least 3 (seconds)' })
    .max(3_600, { message: 'must be at most 3600 (seconds)' })
    .default(DEFAULT_LEASE_SECONDS),
  /** First retry delay of an email that could not be sent (4xx, network); it doubles with each attempt. */
  DELIVERY_RETRY_DELAY_MS: positiveInt(10_000),
  /** How long sending pauses when the mail service itself fails (bad credentials, server unreachable). */
  MAIL_OUTAGE_PAUSE_MS: positiveInt(60_000),
  /** How often each worker re-queues unsent deliveries from Postgres (Redis may have lost them). */
  RECONCILE_INTERVAL_MS: positiveInt(120_000),
  /** Digest messages one worker process has in conversation with the mail server at once (its SMTP connections). */
  WORKER_CONCURRENCY: positiveInt(8),
  /**
   * Digest deliveries per job: claimed, composed and started in one statement each, then sent and recorded
   * one by one. Bigger pages cost Postgres less per digest; a page is what one worker holds at a time.
   */
  DIGEST_PAGE_SIZE: z.coerce
    .number()
    .int()
    .min(1, { message: 'must be at least 1' })
    .max(MAX_PAGE_SIZE, { message: `must be at most ${MAX_PAGE_SIZE}` })
    .default(DEFAULT_PAGE_SIZE),
  SEND_RATE_PER_SECOND: positiveInt(50),
  SHUTDOWN_TIMEOUT_MS: positiveInt(25_000),
  /** The whole request, headers and body, must arrive within this; a client that trickles it gets a 408. */
  REQUEST_TIMEOUT_MS: positiveInt(30_000),
  /** A connection with nothing received or sent for this long is closed, even mid-request. */
  CONNECTION_TIMEOUT_MS: positiveInt(60_000),
});

const schema = fields.superRefine((config, ctx) => {
  // BullMQ's scripts touch several keys of a queue at once, and so does the send rate: on a cluster they
  // must all hash to one slot, which only a {hash tag} in the prefix ensures.
  if (isRedisClusterUrl(config.REDIS_URL) && !/\{[^}]+\}/.test(config.QUEUE_PREFIX)) {
    ctx.addIssue({
      code: 'custom',
      path: ['QUEUE_PREFIX'],
      message: 'must contain a {hash tag} on a Redis Cluster (e.g. {paperboy}), so that each queue is in one slot',
    });
  }
});

export type Config = z.infer<typeof schema>;

/** Thrown when the environment is invalid; its message lists every problem, one per line. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Paperboy cannot start: the configuration is invalid.\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Reads the configuration from an environment; empty variables count as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return parseEnv(schema, env);
}

/** Reads only some variables, for commands (like `migrate`) that need no signing keys or SMTP. */
export function loadConfigSubset<K extends keyof Config>(
  keys: K[],
  env: NodeJS.ProcessEnv = process.env,
): Pick<Config, K> {
  const subset = z.object(Object.fromEntries(keys.map((key) => [key, schema.shape[key]])));
  // zod cannot follow a generic key list through z.object; the shape is the same as the full schema.
  return parseEnv(subset, env) as unknown as Pick<Config, K>;
}

function parseEnv<S extends z.ZodType>(shape: S, env: NodeJS.ProcessEnv): z.output<S> {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = shape.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? 'environment');
      // Never echo a value back: some of these are secrets.
      return `${variable}: ${issue.message}`;
    }),
  );
}
