import type { Database } from '../db/connection.js';
import { before } from '../deadline.js';
import type { ChannelLayer } from '../layer/types.js';
import type { Logger } from '../logger.js';

/**
 * The exit status of a process whose worker stopped with events still running at
 * --stop-timeout (abandoned): the CLI's status for a runtime failure (cli.md),
 * since work was lost; 0 says everything finished.
 */
export const EXIT_ABANDONED = 1;

/** How long the server gets to take the cancels of abandoned queries. */
const CANCEL_MS = 1000;
/** How long an abandoning worker gives the layer to close before it exits anyway. */
const LAYER_CLOSE_MS = 2000;

/**
 * Ends a process whose worker abandoned events. An abandoned handler may still
 * hold a database connection (a query waiting for a lock, or for a server that
 * stopped answering): closing the pool would wait for it, and the process exits
 * without; but the server would run the query on once its lock is free (a write
 * committed after the worker gave it up and said so), so it is cancelled first.
 * Each step is bounded: a database or layer that stopped answering cannot be
 * reached, and the supervisor's SIGKILL is near.
 */
export async function exitAbandoned(
  layer: ChannelLayer,
  db: Database,
  logger: Logger,
): Promise<never> {
  // The layer first: an abandoned handler that its cancelled query fails must not
  // act on the socket it was given up for (close it, say, or answer it), which
  // other workers serve now.
  await before(performance.now() + LAYER_CLOSE_MS, layer.close());
  const cancelled = await db.cancelQueries(CANCEL_MS).catch((error: unknown) => {
    logger.warn({ err: error }, "could not cancel the abandoned events' database queries");
    return 0;
  });
  logger.info({ connections: cancelled }, 'cancelled the database queries of abandoned events');
  logger.warn(
    { status: EXIT_ABANDONED },
    `exiting with status ${EXIT_ABANDONED}: events were abandoned at --stop-timeout`,
  );
  process.exit(EXIT_ABANDONED);
}
