import type { Database } from '../db/connection.js';
import { interruptQueriesOnAbort } from '../db/interrupt-queries.js';
import { CommandCancelled } from './errors.js';
import type { CtrlC, LookupInterrupt } from './prompt.js';

/**
 * Starts a command's change (ctrlC.changing()) and runs it: one statement, or
 * one transaction, so that a failed one wrote nothing. A Ctrl-C before it ends
 * stops it (unlessCancelled): a statement waiting for a lock (another session's
 * on PostgreSQL, up to the query timeout of 15 s; another process's on the
 * SQLite file, up to 5 s) is cancelled, one not yet sent (the password still
 * hashing) is not sent, and the command ends as cancelled before it:
 * "Operation cancelled.", nothing written. A change the database had finished
 * when the Ctrl-C came stands, and the command says it as usual.
 */
export async function changeUnlessCancelled<T>(
  db: Database,
  ctrlC: CtrlC,
  change: () => Promise<T>,
): Promise<T> {
  ctrlC.changing();
  return unlessCancelled(db, ctrlC, change);
}

/**
 * Runs `work`'s statements so that a Ctrl-C stops them on the database
 * (interruptQueriesOnAbort), and the command ends "Operation cancelled.". For a
 * change (changeUnlessCancelled), and for a read before it, such as a user's
 * lookup: a Ctrl-C then still ends the command at once, but only once the
 * cancel has reached the server (up to 1 s), so that a read waiting for a lock
 * is not left queued there, to run once the lock goes, its client long gone.
 */
export async function unlessCancelled<T>(
  db: Database,
  ctrlC: LookupInterrupt,
  work: () => Promise<T>,
): Promise<T> {
  const interruption = interruptQueriesOnAbort(db, ctrlC.signal);
  const released = ctrlC.cancelledAfter(interruption.cancelled);
  try {
    return await work();
  } catch (error) {
    if (interruption.caused(error)) throw new CommandCancelled();
    throw error;
  } finally {
    released();
    await interruption.stop();
  }
}
