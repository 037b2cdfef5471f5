#!/usr/bin/env node
// The `paperboy` command: operator tasks that run once and exit.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig, loadConfigSubset } from './config.ts';
import { createDatabase, type Database } from './db/client.ts';
import { MigrationError, migrate } from './db/migrate.ts';
import { DomainError, InvalidInputError } from './errors.ts';
import { newAdminToken } from './modules/admin/auth.ts';
import { previewDigest } from './modules/digests/compose.ts';
import { scheduleDueDigests } from './modules/digests/schedule.ts';
import { resendLatestDigest } from './modules/mail/outbox.ts';
import { compileEmailTemplates } from './modules/mail/templates.ts';
import { createCommandConnection } from './queues/connection.ts';
import { createDigestQueue, enqueueDeliveries } from './queues/deliveries.ts';
import { ingestFeed, readFeedSource, type IngestReport } from './modules/papers/ingest.ts';
import { loadSamplePapers } from './modules/papers/sample.ts';
import { emailAddress } from './modules/subscribers/address.ts';
import { loadConfigOrExit } from './runtime.ts';

/** A reader's address as typed on the command line, normalised as every stored address is. */
function addressOf(email: string): string {
  const parsed = emailAddress.safeParse(email);
  if (!parsed.success) throw new InvalidInputError(`${email} is not an email address.`);
  return parsed.data;
}

const USAGE = `Usage: paperboy <command>

Commands:
  migrate              apply pending database migrations (safe to run twice or from several processes)
  ingest <file|url>    import a Hugging Face daily papers JSON or arXiv Atom feed
  papers:sample        load the sample papers shipped in data/sample, listed as of today
  digest:preview <email>   print the HTML of a reader's next digest (nothing is sent or recorded)
  digest:run --now         run one scheduling pass: create and queue the digests due now
  digest:run --now --force <email>   re-send that reader's latest digest (same papers, new Message-ID)
  keygen               print a new token signing key entry for TOKEN_KEYS
  admin-token          print a new admin token, and the hash line for ADMIN_TOKENS_FILE
`;

class UsageError extends Error {}

type Command = (args: string[]) => Promise<void>;

/** Runs work that needs the database with only DATABASE_URL configured, and always disconnects. */
async function withDatabase(work: (db: Database) => Promise<void>): Promise<void> {
  const { DATABASE_URL } = loadConfigOrExit(() => loadConfigSubset(['DATABASE_URL']));
  const db = createDatabase(DATABASE_URL);
  try {
    await work(db);
  } finally {
    await db.$disconnect();
  }
}

/** A progress bar on a terminal; nothing when output goes to a file or a pipe. */
function progressBar(label: string) {
  if (!process.stderr.isTTY) return () => {};
  return (done: number, total: number) => {
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`);
    if (done >= total) process.stderr.write('\n');
  };
}

function printReport(report: IngestReport): void {
  console.log(
    `${report.total} item(s) in the feed: ${report.added} added, ${report.updated} updated, ` +
      `${report.unchanged} unchanged, ${report.skipped.length} skipped.`,
  );
  for (const item of report.skipped) {
    console.log(`  skipped item ${item.index}${item.id ? ` (${item.id})` : ''}: ${item.reason}`);
  }
}

const commands: Record<string, Command> = {
  async migrate() {
    // Only the database is needed to migrate: don't ask for signing keys and the like.
    const config = loadConfigOrExit(() => loadConfigSubset(['DATABASE_URL']));
    const { applied, alreadyApplied } = await migrate(config.DATABASE_URL, { log: (line) => console.log(line) });
    console.log(
      applied.length
        ? `Applied ${applied.length} migration(s); ${alreadyApplied.length} were already applied.`
        : `Database is up to date (${alreadyApplied.length} migration(s) applied).`,
    );
  },
  async ingest([source]) {
    if (!source) throw new UsageError('paperboy ingest needs a file or an http(s) URL.');
    const body = await readFeedSource(source);
    await withDatabase(async (db) => printReport(await ingestFeed(db, body, { onProgress: progressBar('Storing') })));
  },
  async 'papers:sample'() {
    await withDatabase(async (db) => printReport(await loadSamplePapers(db)));
  },
  async 'digest:preview'([email]) {
    if (!email) throw new UsageError("paperboy digest:preview needs the reader's email address.");
    const config = loadConfigOrExit(loadConfig);
    await withDatabase(async (db) => {
      const reader = await db.subscriber.findUnique({ where: { email: addressOf(email) } });
      if (!reader) throw new InvalidInputError(`No subscriber has the address ${email}.`);
      const digest = await previewDigest(db, config, await compileEmailTemplates(), reader.id);
      if (!digest) console.error('No new papers match this reader: their next digest would be skipped.');
      else console.log(digest.html);
    });
  },
  async 'digest:run'([email]) {
    if (!process.argv.includes('--now'))
      throw new UsageError('paperboy digest:run needs --now (it runs one scheduling pass now).');
    const config = loadConfigOrExit(loadConfig);
    const connection = createCommandConnection(config.REDIS_URL);
    const queue = createDigestQueue({ connection, prefix: config.QUEUE_PREFIX });
    try {
      await withDatabase(async (db) => {
        // A date already scheduled is a no-op: the unique key lets each reader have one digest per date.
        if (process.argv.includes('--force')) {
          if (!email) throw new UsageError("paperboy digest:run --now --force needs the reader's email address.");
          const reader = await db.subscriber.findUnique({ where: { email: addressOf(email) } });
          if (!reader) throw new InvalidInputError(`No subscriber has the address ${email}.`);
          const id = await resendLatestDigest(db, reader.id);
          if (!id) throw new InvalidInputError(`${email} has not been sent a digest yet: there is nothing to re-send.`);
          await enqueueDeliveries(queue)([id]);
          console.log('The latest digest will be sent again.');
          return;
        }
        const { created, repaired, skipped } = await scheduleDueDigests(
          db,
          enqueueDeliveries(queue, config.DIGEST_PAGE_SIZE),
          {
            cutoffHours: config.DIGEST_CUTOFF_HOURS,
          },
        );
        console.log(`${created} digest(s) scheduled.`);
        for (const { from, to, readers } of repaired) {
          console.warn(`${readers} reader(s) moved from ${from} (unknown to Postgres) to ${to}.`);
        }
        for (const { zone, readers } of skipped) {
          console.warn(`${readers} reader(s) skipped: Postgres knows no name for the time zone ${zone}.`);
        }
      });
    } finally {
      await queue.close();
      connection.disconnect();
    }
  },
  async keygen() {
    // Date plus a random suffix: sortable, and two keys made on the same day still get different ids.
    const id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}${randomBytes(2).toString('hex')}`;
    console.log(`${id}:${randomBytes(32).toString('base64url')}`);
  },
  async 'admin-token'() {
    const { token, fileLine } = newAdminToken();
    console.log(`token (give it to the operator; it is not stored): ${token}`);
    console.log(`ADMIN_TOKENS_FILE line: ${fileLine}`);
  },
};

// Like the npm scripts, read .env when there is one (variables already set win).
if (existsSync('.env')) process.loadEnvFile('.env');

const { positionals } = parseArgs({ allowPositionals: true, strict: false });
const [name, ...rest] = positionals;
const command = name ? commands[name] : undefined;
if (!command) {
  process.stderr.write(name ? `Unknown command: ${name}\n\n${USAGE}` : USAGE);
  process.exit(name ? 2 : 0);
}
try {
  await command(rest);
} catch (error) {
  // Expected failures get their message alone; anything else is a bug and keeps its stack.
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (error instanceof MigrationError || error instanceof DomainError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  // The database could not be reached or used (wrong DATABASE_URL, missing database): the cause, in one line.
  if (error instanceof Error && /^Prisma/.test(error.name)) {
    process.stderr.write(`Database error: ${error.message.trim().split('\n').at(-1)?.trim()}\n`);
    process.exit(1);
  }
  throw error;
}
