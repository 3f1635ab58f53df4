import type { Database } from './connection.js';

/**
 * How long a cancel request may take to reach the server: one that cannot be
 * reached by then cannot run the statement on either.
 */
const CANCEL_WITHIN_MS = 1000;

/**
 * Once `signal` aborts (Ctrl-C), has the server cancel the statements `db`'s
 * connections are running (Database.cancelQueries): one waiting for a lock
 * another session holds then fails at once ("canceling statement due to user
 * request", isCancelledOnRequest) rather than at the statement timeout, or
 * never. SQLite's wait for another process's lock (its busy wait, at most 5 s)
 * is not cut short. `stop()` ends this, once a cancel on its way has landed:
 * sent for a statement that finished meanwhile, it must not cancel the next.
 */
export function cancelQueriesOnAbort(db: Database, signal: AbortSignal): { stop(): Promise<void> } {
  let cancelling: Promise<unknown> | undefined;
  const cancel = (): void => {
    cancelling = db.cancelQueries(CANCEL_WITHIN_MS).catch(() => 0);
  };
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  return {
    async stop() {
      signal.removeEventListener('abort', cancel);
      await cancelling;
    },
  };
}
