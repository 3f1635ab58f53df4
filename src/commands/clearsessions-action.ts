import { clearExpiredSessions } from '../auth/sessions.js';
import { createLogger } from '../logger.js';
import { unlessCancelled } from './cancellable-change.js';
import type { ClearSessionsFlags } from './clearsessions.js';
import { withDatabase } from './database.js';
import { CommandCancelled, CommandFailed, EXIT_INTERRUPTED } from './errors.js';
import { gredisCommand } from './invocation.js';
import { cancelledByCtrlC } from './prompt.js';

/** How far a run got: its DELETEs that returned, each its own transaction, committed. */
interface Cleared {
  sessions: number;
  batches: number;
}

/**
 * The action of `gredis clearsessions`. Silent on success, as Django's (cron
 * mails whatever a job prints); -v 2 says how many rows it deleted, Django's
 * verbosity for details.
 */
export async function runClearSessions(flags: ClearSessionsFlags): Promise<void> {
  const logger = createLogger({ verbosity: flags.verbosity, name: 'clearsessions' });
  const cleared: Cleared = { sessions: 0, batches: 0 };
  // Ctrl-C stops it at once, whatever it waits for (the check of the
  // migrations, a batch's SELECT or DELETE behind a lock: each cancelled on
  // the server), and says what it deleted: each batch is its own
  // transaction, so those before stand and the one cancelled deleted nothing.
  // Changing from the start, as a batch may already be deleting at the Ctrl-C.
  const deleted = await cancelledByCtrlC(
    async (ctrlC) => {
      ctrlC.changing();
      try {
        return await withDatabase(
          flags.database,
          logger,
          (db) =>
            unlessCancelled(db, ctrlC, () =>
              clearExpiredSessions(db, new Date(), {
                onBatch: (sessions) => {
                  cleared.sessions += sessions;
                  cleared.batches++;
                },
              }),
            ),
          { ctrlC },
        );
      } catch (error) {
        if (error instanceof CommandCancelled) throw interrupted(cleared);
        throw error;
      }
    },
    {
      leftUndone: () =>
        `${clearedSoFar(cleared)}, and a batch it was deleting may still be deleted by the database`,
    },
  );
  if (flags.verbosity > 1) process.stdout.write(`Deleted ${deleted} expired session(s).\n`);
}

/** What clearsessions did before a Ctrl-C stopped it, and that a run again does the rest (exit 130). */
function interrupted(cleared: Cleared): CommandFailed {
  return new CommandFailed(
    `clearsessions interrupted (Ctrl-C): ${clearedSoFar(cleared)}; the batch under way, if any, was cancelled, deleting nothing. Run "${gredisCommand('clearsessions')}" again to delete the rest.`,
    EXIT_INTERRUPTED,
  );
}

function clearedSoFar({ sessions, batches }: Cleared): string {
  return batches === 0
    ? 'no session was deleted'
    : `${sessions} expired session(s) were deleted, in ${batches} batch(es), each committed`;
}
