import { escapeControls } from '../control-chars.js';
import { knownMigrations, listMigrations, type MigrationStatus } from '../db/migrations.js';
import type { Logger } from '../logger.js';
import { redactSecrets } from '../redact.js';
import { unlessCancelled } from './cancellable-change.js';
import { blankSqliteFile, commandDatabaseTarget, withDatabase } from './database.js';
import { EXIT_INTERRUPTED } from './errors.js';
import { gredisCommand } from './invocation.js';
import { cancelledByCtrlC } from './prompt.js';

/**
 * Every migration and whether the database at `url` has it, for the commands
 * that list them (showmigrations, migrate --list and --plan). It only reads: a
 * SQLite file with nothing in it is not opened (that would create it, or write
 * SQLite's header into it), since every migration is pending there. Callers
 * write nothing before it answers, so an unreachable server gives one error
 * line and nothing else. It waits as long as the database takes (a migration
 * holding the migrations table, say): a Ctrl-C cancels the read on the server,
 * not left queued behind the lock, and the command ends "Operation cancelled.",
 * exit 130, as Ctrl-C ended it before.
 */
export async function readMigrations(url: string, logger: Logger): Promise<MigrationStatus[]> {
  const target = commandDatabaseTarget(url);
  const blank = target.kind === 'sqlite' ? blankSqliteFile(target.filename) : undefined;
  if (blank !== undefined) {
    if (blank === 'missing')
      process.stderr.write(
        `Note: the database ${escapeControls(redactSecrets(url))} does not exist yet, so no migration is applied; "${gredisCommand('migrate')}" creates it.\n`,
      );
    return (await knownMigrations()).map((name) => ({ name, applied: false }));
  }
  return cancelledByCtrlC(
    (ctrlC) =>
      withDatabase(url, logger, (db) => unlessCancelled(db, ctrlC, () => listMigrations(db)), {
        // Pending migrations are what it shows, not a reason to refuse.
        queryTimeoutMs: 0,
        migrating: true,
      }),
    { cancelledStatus: EXIT_INTERRUPTED },
  );
}
