import type { Database } from '../db/connection.js';
import type { ChannelLayer } from '../layer/types.js';
import type { Logger } from '../logger.js';

/**
 * The exit status of a process whose worker stopped with events still running at
 * --stop-timeout (abandoned): the CLI's status for a runtime failure (cli.md),
 * since work was lost; 0 says everything finished.
 */
export const EXIT_ABANDONED = 1;

/**
 * Ends a process whose worker abandoned events, by `deadline` (performance.now();
 * the worker's StopReport.windDownEnd). An abandoned handler may still hold a
 * database connection (a query waiting for a lock, or for a server that stopped
 * answering): closing the pool would wait for it, and the process exits
 * without; but the server would run the query on once its lock is free (a write
 * committed after the worker gave it up and said so), so it is cancelled first.
 * Both steps end by the deadline: a database or layer that stopped answering
 * cannot be reached, and the supervisor's SIGKILL is near.
 */
export async function exitAbandoned(
  layer: ChannelLayer,
  db: Database,
  logger: Logger,
  deadline: number,
): Promise<never> {
  // The layer is closed from the close's first step (its calls fail
  // LayerClosed), so the cancel need not wait for the rest of it: an abandoned
  // handler that its cancelled query fails cannot act on the socket it was given
  // up for (close it, say, or answer it), which other workers serve now.
  const closing = layer.close(deadline);
  const cancelled = await db
    .cancelQueries(Math.max(0, deadline - performance.now()))
    .catch((error: unknown) => {
      logger.warn({ err: error }, "could not cancel the abandoned events' database queries");
      return 0;
    });
  logger.info({ connections: cancelled }, 'cancelled the database queries of abandoned events');
  await closing;
  logger.warn(
    { status: EXIT_ABANDONED },
    `exiting with status ${EXIT_ABANDONED}: events were abandoned at --stop-timeout`,
  );
  process.exit(EXIT_ABANDONED);
}
