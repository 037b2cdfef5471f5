#!/usr/bin/env node
// The `paperboy` command: operator tasks that run once and exit.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfigSubset } from './config.ts';
import { MigrationError, migrate } from './db/migrate.ts';
import { loadConfigOrExit } from './runtime.ts';

const USAGE = `Usage: paperboy <command>

Commands:
  migrate   apply pending database migrations (safe to run twice or from several processes)
  keygen    print a new token signing key entry for TOKEN_KEYS
`;

type Command = (args: string[]) => Promise<void>;

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
  async keygen() {
    const id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
    console.log(`${id}:${randomBytes(32).toString('base64url')}`);
  },
};

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
  if (error instanceof MigrationError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
