// `npm run bench -- <name> [options]`: runs one benchmark, or all of them with no name.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = ['ingest', 'digest', 'schedule', 'signup', 'mime'];
const [name, ...args] = process.argv.slice(2);
const selected = name ? [name] : BENCHMARKS;
for (const benchmark of selected) {
  if (!BENCHMARKS.includes(benchmark)) {
    console.error(`Unknown benchmark "${benchmark}". Known: ${BENCHMARKS.join(', ')}`);
    process.exit(2);
  }
  const script = fileURLToPath(new URL(`./${benchmark}.ts`, import.meta.url));
  const { status } = spawnSync(process.execPath, [script, ...(name ? args : [])], { stdio: 'inherit' });
  if (status !== 0) process.exit(status ?? 1);
}
