import { cancelQueriesOnAbort } from '../db/cancel-on-abort.js';
import type { Database } from '../db/connection.js';
import { isCancelledOnRequest } from '../db/errors.js';
import { CommandCancelled } from './errors.js';
import type { CtrlC } from './prompt.js';

/**
 * Starts a command's change (ctrlC.changing()) and runs it: one statement, or
 * one transaction, so that a failed one wrote nothing. A Ctrl-C while it waits
 * (for a lock another session holds, up to the query timeout: 15 s) has the
 * server cancel it, and the command ends as cancelled before it: "Operation
 * cancelled.", nothing written. A change the server had finished when the
 * cancel came stands (an idle connection is sent none), and the command says
 * it as usual.
 */
export async function changeUnlessCancelled<T>(
  db: Database,
  ctrlC: CtrlC,
  change: () => Promise<T>,
): Promise<T> {
  ctrlC.changing();
  const cancelling = cancelQueriesOnAbort(db, ctrlC.signal);
  try {
    return await change();
  } catch (error) {
    if (ctrlC.signal.aborted && isCancelledOnRequest(error)) throw new CommandCancelled();
    throw error;
  } finally {
    await cancelling.stop();
  }
}
