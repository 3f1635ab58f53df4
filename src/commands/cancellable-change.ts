import type { Database } from '../db/connection.js';
import { isCancelledOnRequest } from '../db/errors.js';
import { CommandCancelled } from './errors.js';
import type { CtrlC } from './prompt.js';

/**
 * How long the cancel request may take to reach the server: one that cannot be
 * reached by then cannot run the statement on either.
 */
const CANCEL_WITHIN_MS = 1000;

/**
 * Starts a command's change (ctrlC.changing()) and runs it: one statement, or
 * one transaction, so that a failed one wrote nothing. A Ctrl-C while it waits
 * (for a lock another session holds, up to the query timeout: 15 s) has the
 * server cancel it, and the command ends as cancelled before it: "Operation
 * cancelled.", nothing written. A change the server had finished when the
 * cancel came stands (an idle connection ignores the request), and the
 * command says it as usual. SQLite has no such wait to cancel (cancelQueries).
 */
export async function changeUnlessCancelled<T>(
  db: Database,
  ctrlC: CtrlC,
  change: () => Promise<T>,
): Promise<T> {
  ctrlC.changing();
  let cancelling: Promise<unknown> | undefined;
  const cancel = (): void => {
    cancelling = db.cancelQueries(CANCEL_WITHIN_MS).catch(() => 0);
  };
  ctrlC.signal.addEventListener('abort', cancel, { once: true });
  try {
    return await change();
  } catch (error) {
    if (ctrlC.signal.aborted && isCancelledOnRequest(error)) throw new CommandCancelled();
    throw error;
  } finally {
    ctrlC.signal.removeEventListener('abort', cancel);
    // A cancel still on its way when the change finished anyway must land
    // before the command's next statement does, not cancel that one instead.
    await cancelling;
  }
}
