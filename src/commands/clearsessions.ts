import { Command } from 'commander';
import { databaseOption, verbosityOption } from './options.js';

export interface ClearSessionsFlags {
  database: string;
  verbosity: number;
}

/** `gredis clearsessions`: Django's, for a cron job; silent unless -v 2. */
export function clearSessionsCommand(): Command {
  return new Command('clearsessions')
    .description(
      'delete expired sessions (run it from cron; safe while the servers run); prints nothing when it succeeds, unless -v 2 (how many it deleted)',
    )
    .addOption(databaseOption())
    .addOption(verbosityOption())
    .action(async (flags: ClearSessionsFlags) => {
      const { runClearSessions } = await import('./clearsessions-action.js');
      await runClearSessions(flags);
    });
}
