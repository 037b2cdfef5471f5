// Runs Paperboy's own entry points as child processes, the way an operator or orchestrator would.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  output: () => { stdout: string; stderr: string };
  /** Resolves once stdout or stderr contains the pattern; rejects if the process exits first. */
  waitForOutput: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
  finished: Promise<Finished>;
}

/** Starts `node <script> ...args` from the repository root with exactly the given environment. */
export function startNode(script: string, args: string[], env: Record<string, string>): Running {
  return startProcess(process.execPath, [script, ...args], env);
}

/** Starts a command (e.g. `npm start`) from the repository root with exactly the given environment. */
export function startProcess(command: string, args: string[], env: Record<string, string>): Running {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => ((stdout += chunk.toString()), listeners.forEach((l) => l())));
  child.stderr.on('data', (chunk: Buffer) => ((stderr += chunk.toString()), listeners.forEach((l) => l())));
  const finished = new Promise<Finished>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  const waitForOutput = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(stdout) || pattern.test(stderr)) done(resolve);
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no ${pattern} in output:\n${stdout}\n${stderr}`))),
        timeoutMs,
      );
      const onExit = () => done(() => reject(new Error(`process exited before ${pattern}:\n${stdout}\n${stderr}`)));
      const done = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('close', onExit);
        settle();
      };
      listeners.add(check);
      child.once('close', onExit);
      check();
    });
  return { child, output: () => ({ stdout, stderr }), waitForOutput, finished };
}

export function runNode(script: string, args: string[], env: Record<string, string>): Promise<Finished> {
  return startNode(script, args, env).finished;
}
