import type { Database } from './connection.js';
import { isBusy, isCancelledOnRequest } from './errors.js';

/**
 * How long a cancel request may take to reach the server: one that cannot be
 * reached by then cannot run the statement on either.
 */
const CANCEL_WITHIN_MS = 1000;

/**
 * A statement refused before it reached the database, because the signal it
 * was sent under had aborted (interruptQueriesOnAbort). Nothing of it ran.
 */
export class QueryInterrupted extends Error {
  constructor() {
    super('statement not sent: interrupted (Ctrl-C)');
    this.name = 'QueryInterrupted';
  }
}

/**
 * A connection attempt given up because the signal it was made under had
 * aborted (interruptQueriesOnAbort), before it logged in: nothing was sent on it.
 */
export class ConnectInterrupted extends Error {
  constructor() {
    super('connection attempt given up: interrupted (Ctrl-C)');
    this.name = 'ConnectInterrupted';
  }
}

/** What interruptQueriesOnAbort gives: how to tell its failures, and how to end it. */
export interface QueryInterruption {
  /**
   * Whether `error` is the interruption's doing (the signal aborted, and the
   * statement refused, cancelled by the server, its lock wait stopped, or its
   * connection attempt given up): the statement did nothing.
   */
  caused(error: unknown): boolean;
  /**
   * Resolves once the cancel the abort sent has landed, or could not reach the
   * server within CANCEL_WITHIN_MS; at once if the signal has not aborted.
   */
  cancelled(): Promise<void>;
  /** Ends the interruption, once a cancel on its way has landed. */
  stop(): Promise<void>;
}

/**
 * Once `signal` aborts (Ctrl-C), has what `db` runs stop at once rather than
 * when its statement ends: a statement running, or waiting for a lock another
 * session holds (PostgreSQL), or for another process's lock on the file
 * (SQLite), fails now (Database.cancelQueries) rather than at its timeout; a
 * query waiting for a connection still connecting (PostgreSQL: to a server that
 * takes it and never answers) fails now too, rather than at the connect
 * timeout (ConnectInterrupted: Database.interruptConnects); and every statement
 * sent after the abort fails before it reaches the database (QueryInterrupted,
 * or ConnectInterrupted for one that needs a new connection), but ROLLBACK. So
 * a transaction it interrupts can only end rolled back: its COMMIT is one of
 * the statements refused. `stop()` waits for a cancel on its way: sent for a
 * statement that finished meanwhile, it must not cancel the next one instead.
 */
export function interruptQueriesOnAbort(db: Database, signal: AbortSignal): QueryInterruption {
  // Knex emits 'query' synchronously before it sends any statement, the
  // pool's and every transaction's: an error thrown there fails that statement.
  const refuse = ({ sql }: { sql?: unknown }): void => {
    if (signal.aborted && !/^\s*rollback\b/i.test(String(sql))) throw new QueryInterrupted();
  };
  let cancelling: Promise<unknown> | undefined;
  const cancel = (): void => {
    cancelling = db.cancelQueries(CANCEL_WITHIN_MS).catch(() => 0);
  };
  const cancelled = async (): Promise<void> => {
    await cancelling;
  };
  db.knex.on('query', refuse);
  const stopConnects = db.interruptConnects(signal);
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  return {
    caused: (error) =>
      signal.aborted &&
      (error instanceof QueryInterrupted ||
        error instanceof ConnectInterrupted ||
        isCancelledOnRequest(error) ||
        isBusy(error)),
    cancelled,
    async stop() {
      db.knex.removeListener('query', refuse);
      stopConnects();
      signal.removeEventListener('abort', cancel);
      await cancelled();
    },
  };
}
