// The `paperboy ingest` and `paperboy papers:sample` commands, as an operator runs them.
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../helpers/postgres.ts';
import { runNode } from '../helpers/processes.ts';

const sample = readFileSync(path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json'), 'utf8');

describe('paperboy CLI: papers', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let env: Record<string, string>;
  beforeAll(async () => {
    database = await openTestDatabase();
    env = { DATABASE_URL: database.url };
  });
  afterAll(async () => {
    await database.close();
  });

  it('ingests a file and prints what it added, updated and skipped, with reasons', async () => {
    const items = JSON.parse(sample) as unknown[];
    items.push({ paper: { id: 'not-an-id', title: 'Broken' } });
    const file = path.join(os.tmpdir(), `paperboy-feed-${process.pid}.json`);
    await writeFile(file, JSON.stringify(items));

    const first = await runNode('src/cli.ts', ['ingest', file], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('30 item(s) in the feed: 29 added, 0 updated, 0 unchanged, 1 skipped.');
    expect(first.stdout).toContain('skipped item 30 (not-an-id): paper.id "not-an-id" is not an arXiv id');

    const again = await runNode('src/cli.ts', ['ingest', file], env);
    expect(again.stdout).toContain('29 unchanged');
  });

  it('ingests from an http(s) URL', async () => {
    const server = http.createServer((_request, response) => response.end(sample));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const run = await runNode(
      'src/cli.ts',
      ['ingest', `http://127.0.0.1:${(server.address() as AddressInfo).port}/`],
      env,
    );
    server.close();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/29 item\(s\) in the feed/);
  });

  it('says clearly what is wrong with a missing file or a non-feed, and exits 1', async () => {
    const missing = await runNode('src/cli.ts', ['ingest', '/no/such/feed.json'], env);
    expect(missing).toMatchObject({ code: 1, stderr: 'Cannot read /no/such/feed.json: ENOENT\n' });
    const notFeed = path.join(os.tmpdir(), `paperboy-not-a-feed-${process.pid}.json`);
    await writeFile(notFeed, '{"hello": "world"}');
    const refused = await runNode('src/cli.ts', ['ingest', notFeed], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('The JSON is not a daily papers feed');
    const noDatabase = await runNode('src/cli.ts', ['papers:sample'], { DATABASE_URL: `${database.url}_missing` });
    expect(noDatabase.code).toBe(1);
    expect(noDatabase.stderr).toMatch(
      /^Database error: Database `[\w]+_missing` does not exist on the database server\n$/,
    );
    const usage = await runNode('src/cli.ts', ['ingest'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('paperboy ingest needs a file or an http(s) URL.');
  });

  it('loads the sample papers, and running it again changes nothing', async () => {
    await database.db.paper.deleteMany();
    const first = await runNode('src/cli.ts', ['papers:sample'], env);
    expect(first.stdout).toContain('29 added');
    const second = await runNode('src/cli.ts', ['papers:sample'], env);
    expect(second.stdout).toContain('0 added, 0 updated, 29 unchanged');
  });
});
