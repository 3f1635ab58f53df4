import { constants } from 'node:os';
import type { Database } from '../db/connection.js';
import type { Logger } from '../logger.js';
import { withDatabase } from './database.js';
import { DUPLICATE_SIGNAL_MS, STOP_SIGNALS } from './lifecycle.js';
import { LookupAbort } from './lookup-abort.js';
import type { LookupInterrupt } from './prompt.js';

/**
 * withDatabase for a server (thyme, runworker), whose `work` serves until it
 * is stopped: a signal while the check of the migrations before it waits ends
 * the process at once, the check cancelled on the server (cancelledWhileStarting).
 */
export function withServerDatabase<T>(
  url: string,
  logger: Logger,
  work: (db: Database) => Promise<T>,
): Promise<T> {
  return cancelledWhileStarting(logger, (ctrlC, checked) =>
    withDatabase(
      url,
      logger,
      async (db) => {
        checked();
        return work(db);
      },
      { ctrlC },
    ),
  );
}

/**
 * A server's start-up up to its wait on the database: `start` runs with the
 * `ctrlC` to give withDatabase, whose check of the migrations then waits (for
 * a lock on gredis_migrations, say: a migration under way) only until SIGINT,
 * SIGTERM or SIGHUP. The check is cancelled on the server, not left queued
 * behind the lock to run once it goes, its client long gone, and the process
 * exits once the cancel has landed (up to 1 s) with 128 + the signal's number:
 * the status a shell reports for one the signal killed, as it kills one
 * signalled anywhere else in its start-up (130 for Ctrl-C, 143 for SIGTERM).
 * Unlike dying of it, the exit lets the log say so. `start` calls `checked()`
 * once past the wait: from then on the signals are its stop's (stopOnSignal).
 */
async function cancelledWhileStarting<T>(
  logger: Logger,
  start: (ctrlC: LookupInterrupt, checked: () => void) => Promise<T>,
): Promise<T> {
  const lookups = new LookupAbort();
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const exitAs = (signal: NodeJS.Signals): never => process.exit(128 + constants.signals[signal]);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (first) {
      // npm forwards the terminal's SIGINT to its child: the same one, twice.
      if (signal === first.signal && performance.now() - first.at < DUPLICATE_SIGNAL_MS) return;
      logger.warn({ signal }, 'second signal: exiting without waiting for the cancel');
      exitAs(signal);
    }
    first = { signal, at: performance.now() };
    logger.info({ signal }, 'stopping while starting: cancelling its check of the database');
    void lookups.abort().then(() => {
      logger.info({ signal }, 'stopped before serving');
      exitAs(signal);
    });
  };
  const stopListening = (): void => {
    for (const signal of STOP_SIGNALS) process.removeListener(signal, onSignal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  try {
    return await start(lookups, () => {
      // A check that answered as its cancel went out: the process stops all the same.
      if (lookups.signal.aborted) throw new StartInterrupted();
      stopListening();
    });
  } catch (error) {
    // The signal's doing (the check cancelled, or past it): the process exits
    // as the signal's, once the cancel has landed (onSignal), not as a failure.
    if (lookups.signal.aborted) await new Promise<never>(() => undefined);
    throw error;
  } finally {
    stopListening();
  }
}

/** A start-up past its check of the database, signalled meanwhile: it must not go on to serve. */
class StartInterrupted extends Error {
  constructor() {
    super('signalled while starting');
    this.name = 'StartInterrupted';
  }
}
