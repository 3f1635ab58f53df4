import { clearExpiredSessions } from '../auth/sessions.js';
import { createLogger } from '../logger.js';
import type { ClearSessionsFlags } from './clearsessions.js';
import { withDatabase } from './database.js';

/**
 * The action of `gredis clearsessions`. Silent on success, as Django's (cron
 * mails whatever a job prints); -v 2 says how many rows it deleted, Django's
 * verbosity for details.
 */
export async function runClearSessions(flags: ClearSessionsFlags): Promise<void> {
  const logger = createLogger({ verbosity: flags.verbosity, name: 'clearsessions' });
  const deleted = await withDatabase(flags.database, logger, (db) =>
    clearExpiredSessions(db, new Date()),
  );
  if (flags.verbosity > 1) process.stdout.write(`Deleted ${deleted} expired session(s).\n`);
}
