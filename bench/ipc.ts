// Talking to the benchmarks' child processes (SMTP sink, workers, app) over Node's IPC channel.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

type Message = { type: string } & Record<string, unknown>;

/** Forks a script beside this file and waits for its first message of type `ready`. */
export async function forkReady(
  script: string,
  env: Record<string, string> = {},
  execArgv: string[] = [],
): Promise<{ child: ChildProcess; ready: Message }> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    env: { ...process.env, ...env },
    execArgv: [...process.execArgv, ...execArgv],
  });
  const ready = await next(child, 'ready');
  return { child, ready };
}

/** The child's next message of this type; rejects if it exits first. */
export function next(child: ChildProcess, type: string): Promise<Message> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Message) => {
      if (message.type !== type) return;
      child.off('exit', onExit);
      child.off('message', onMessage);
      resolve(message);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`child process exited (${code}) before sending "${type}"`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Sends `{ type }` and resolves with the child's answer of the same type. */
export function ask<T extends Message = Message>(child: ChildProcess, type: string): Promise<T> {
  const answer = next(child, type);
  child.send({ type });
  return answer as Promise<T>;
}

/** Asks a child to stop (or disconnects it) and waits for it to exit. */
export async function stop(child: ChildProcess, message?: string): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (message) child.send({ type: message });
  else child.disconnect();
  await exited;
}
