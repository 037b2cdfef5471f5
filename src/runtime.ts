// Process plumbing shared by every entry point: configuration errors and graceful shutdown.
import { ConfigError } from './config.ts';
import type { Logger } from './logger.ts';

/** Loads the configuration, or prints the list of problems (no stack trace) and exits. */
export function loadConfigOrExit<C>(load: () => C): C {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

/** A start-up failure with a message that says what to do; no stack trace needed. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** For `.catch()` on start-up: a StartupError is logged as one line, then the process exits 1. */
export function exitOnStartupError(logger: Logger) {
  return (error: unknown): never => {
    if (!(error instanceof StartupError)) throw error;
    logger.fatal(error.message);
    logger.flush();
    process.exit(1);
  };
}

/**
 * On SIGTERM or SIGINT runs `close` once (stop accepting, finish in-flight work, close connections) and
 * exits 0. A second signal, or `close` outliving `timeoutMs`, exits 1 at once: an orchestrator that
 * asks twice wants the process gone.
 */
export function exitGracefullyOnSignal(logger: Logger, timeoutMs: number, close: () => Promise<void>): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests and jobs');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown took too long: exiting');
      process.exit(1);
    }, timeoutMs);
    close().then(
      () => {
        clearTimeout(timer);
        logger.info('shutdown complete');
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
