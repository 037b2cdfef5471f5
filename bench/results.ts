// Appends a benchmark run to bench/RESULTS.md with its date, machine and the command that reproduces it.
import { appendFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const RESULTS = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

export interface BenchResult {
  benchmark: string;
  command: string;
  table: string[];
  notes?: string;
}

export async function recordResult(result: BenchResult): Promise<void> {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const machine = `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const section = [
    `## ${result.benchmark} — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${machine}  `,
    `Command: \`${result.command}\``,
    '',
    ...result.table,
    '',
    ...(result.notes ? [result.notes, ''] : []),
  ].join('\n');
  await appendFile(RESULTS, `\n${section}`);
}
