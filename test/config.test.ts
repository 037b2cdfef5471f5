// Configuration: sensible local defaults, and one clear message listing every bad variable.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadConfigSubset } from '../src/config.ts';
import { parseRedisCluster } from '../src/queues/connection.ts';
import { runNode } from './helpers/processes.ts';

const KEY = 'k1:0123456789abcdef0123456789abcdef';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('loadConfig', () => {
  it('needs only a signing key for local use and defaults the rest to localhost', () => {
    const config = loadConfig({ TOKEN_KEYS: KEY });
    expect(config).toMatchObject({
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/paperboy',
      REDIS_URL: 'redis://127.0.0.1:6379',
      PUBLIC_URL: 'http://localhost:3000',
      HOST: '127.0.0.1',
      PORT: 3000,
      SMTP_URL: undefined,
      TOKEN_KEYS: [{ id: 'k1', secret: '0123456789abcdef0123456789abcdef' }],
      ADMIN_TOKENS: [],
      PAPER_FEEDS: ['https://huggingface.co/api/daily_papers'],
      LOG_LEVEL: 'info',
    });
  });

  it('parses lists, numbers and URLs', () => {
    const config = loadConfig({
      TOKEN_KEYS: `old:${'a'.repeat(32)}, new:${'b'.repeat(40)}`,
      ADMIN_TOKENS: `${'x'.repeat(24)},${'y'.repeat(30)}`,
      PAPER_FEEDS: 'none',
      PORT: '8080',
      PUBLIC_URL: 'https://papers.example.org/',
      SMTP_URL: 'smtps://user:pass@mail.example.org:465',
      WORKER_CONCURRENCY: '4',
    });
    expect(config.TOKEN_KEYS.map((k) => k.id)).toEqual(['old', 'new']);
    expect(config.ADMIN_TOKENS).toHaveLength(2);
    expect(config.PAPER_FEEDS).toEqual([]);
    expect(config.PORT).toBe(8080);
    expect(config.PUBLIC_URL).toBe('https://papers.example.org');
    expect(config.SMTP_URL).toBe('smtps://user:pass@mail.example.org:465');
    expect(config.WORKER_CONCURRENCY).toBe(4);
  });

  it('reads TRUST_PROXY as a flag or a list of proxies', () => {
    expect(loadConfig({ TOKEN_KEYS: KEY }).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TOKEN_KEYS: KEY, TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ TOKEN_KEYS: KEY, TRUST_PROXY: '10.0.0.0/8, 127.0.0.1, ::1' }).TRUST_PROXY).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
    ]);
    expect(problemsOf({ TOKEN_KEYS: KEY, TRUST_PROXY: 'yes, 10.0.0.0/33' })).toEqual([
      'TRUST_PROXY: must be true, false or IP addresses/CIDRs; not yes, 10.0.0.0/33',
    ]);
  });

  it('takes a Redis Cluster as redis-cluster://host:port,… and then needs a hash-tagged queue prefix', () => {
    const cluster = 'redis-cluster://127.0.0.1:7001,127.0.0.1:7002,[::1]:7003';
    expect(loadConfig({ TOKEN_KEYS: KEY, REDIS_URL: cluster, QUEUE_PREFIX: '{paperboy}' })).toMatchObject({
      REDIS_URL: cluster,
      QUEUE_PREFIX: '{paperboy}',
    });
    expect(parseRedisCluster('redis-cluster://app:s%40cret@10.0.0.5:6379,redis-2.internal:6380')).toEqual({
      nodes: [
        { host: '10.0.0.5', port: 6379 },
        { host: 'redis-2.internal', port: 6380 },
      ],
      username: 'app',
      password: 's@cret',
    });
    expect(problemsOf({ TOKEN_KEYS: KEY, REDIS_URL: cluster })).toEqual([
      'QUEUE_PREFIX: must contain a {hash tag} on a Redis Cluster (e.g. {paperboy}), so that each queue is in one slot',
    ]);
    expect(problemsOf({ TOKEN_KEYS: KEY, REDIS_URL: 'redis-cluster://127.0.0.1', QUEUE_PREFIX: '{p}' })).toEqual([
      expect.stringMatching(/^REDIS_URL: must list the cluster nodes as redis-cluster:\/\/host:port,host:port/),
    ]);
    expect(problemsOf({ TOKEN_KEYS: KEY, QUEUE_PREFIX: '{a}{b}' })).toEqual([
      'QUEUE_PREFIX: may only contain letters, digits, ":", "_" and "-", and one {hash tag}',
    ]);
    // A tag is allowed on a single Redis too, where it is just part of the name.
    expect(loadConfig({ TOKEN_KEYS: KEY, QUEUE_PREFIX: '{paperboy}' }).QUEUE_PREFIX).toBe('{paperboy}');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ TOKEN_KEYS: KEY, SMTP_URL: '', PORT: '' })).toMatchObject({ SMTP_URL: undefined, PORT: 3000 });
  });

  it('lists every problem at once, naming each variable, without echoing secrets', () => {
    const problems = problemsOf({
      DATABASE_URL: 'mysql://root@localhost/db',
      REDIS_URL: 'not a url',
      PORT: '99999',
      TOKEN_KEYS: 'k1:tooshort-secret',
      LOG_LEVEL: 'loud',
      MAIL_FROM: 'nobody',
    });
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'DATABASE_URL',
      'REDIS_URL',
      'PORT',
      'MAIL_FROM',
      'TOKEN_KEYS',
      'LOG_LEVEL',
    ]);
    expect(problems.join('\n')).not.toContain('tooshort-secret');
  });

  it('refuses a missing signing key with a hint how to make one', () => {
    expect(problemsOf({})).toEqual([expect.stringMatching(/^TOKEN_KEYS: is required.*keygen/)]);
  });

  it('refuses duplicate key ids and short admin tokens', () => {
    const problems = problemsOf({ TOKEN_KEYS: `a:${'x'.repeat(32)},a:${'y'.repeat(32)}`, ADMIN_TOKENS: 'short' });
    expect(problems).toEqual([
      'TOKEN_KEYS: key ids must be unique',
      'ADMIN_TOKENS: each admin token must be at least 24 characters',
    ]);
  });

  it('leaves the bounce webhook off by default and refuses a short secret', () => {
    const config = loadConfig({ TOKEN_KEYS: KEY });
    expect(config.BOUNCE_WEBHOOK_SECRET).toBeUndefined();
    expect(config).toMatchObject({ SOFT_BOUNCE_LIMIT: 3, SOFT_BOUNCE_WINDOW_DAYS: 7 });
    expect(problemsOf({ TOKEN_KEYS: KEY, BOUNCE_WEBHOOK_SECRET: 'short', SOFT_BOUNCE_LIMIT: '0' })).toEqual([
      expect.stringMatching(/^BOUNCE_WEBHOOK_SECRET: must be at least 24 characters/),
      expect.stringMatching(/^SOFT_BOUNCE_LIMIT: /),
    ]);
  });

  it('reads admin token hashes from ADMIN_TOKENS_FILE, naming a bad line but not its content', async () => {
    const run = await runNode('src/cli.ts', ['admin-token'], {});
    const line = /ADMIN_TOKENS_FILE line: (sha256:[0-9a-f]{64})/.exec(run.stdout)?.[1];
    const dir = mkdtempSync(path.join(tmpdir(), 'paperboy-'));
    const file = path.join(dir, 'tokens');
    writeFileSync(file, `# ops\n${line}\n\nsecret-token-by-mistake\n`);
    expect(problemsOf({ TOKEN_KEYS: KEY, ADMIN_TOKENS_FILE: file })).toEqual([
      `ADMIN_TOKENS_FILE: line 4 of ${file} is not sha256:<64 hex digits>`,
    ]);
    writeFileSync(file, `${line}\n`);
    expect(loadConfig({ TOKEN_KEYS: KEY, ADMIN_TOKENS_FILE: file }).ADMIN_TOKENS_FILE).toEqual([line!.slice(7)]);
    expect(problemsOf({ TOKEN_KEYS: KEY, ADMIN_TOKENS_FILE: path.join(dir, 'missing') })).toEqual([
      `ADMIN_TOKENS_FILE: cannot read ${path.join(dir, 'missing')} (ENOENT)`,
    ]);
  });

  it('can read only the variables a command needs', () => {
    expect(loadConfigSubset(['DATABASE_URL'], {})).toEqual({
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/paperboy',
    });
    expect(() => loadConfigSubset(['DATABASE_URL'], { DATABASE_URL: 'x' })).toThrow(ConfigError);
  });
});

describe('keygen', () => {
  it('prints a valid key entry with a different id each time', async () => {
    const [a, b] = await Promise.all([1, 2].map(() => runNode('src/cli.ts', ['keygen'], {})));
    const keys = loadConfig({ TOKEN_KEYS: `${a!.stdout.trim()},${b!.stdout.trim()}` }).TOKEN_KEYS;
    expect(keys).toHaveLength(2);
    expect(keys[0]!.id).not.toBe(keys[1]!.id);
  });
});

describe('start-up with a bad configuration', () => {
  for (const script of ['src/main.ts', 'src/server.ts', 'workers/index.ts']) {
    it(`${script} stops with one clear message, not a stack trace`, async () => {
      const run = await runNode(script, [], { DATABASE_URL: 'postgres//localhost/paperboy' });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('Paperboy cannot start: the configuration is invalid.');
      expect(run.stderr).toContain('  - DATABASE_URL: must be a URL starting with postgres:// or postgresql://');
      expect(run.stderr).toContain('  - TOKEN_KEYS: is required');
      expect(run.stderr).not.toMatch(/\n\s+at /);
    });
  }
});
