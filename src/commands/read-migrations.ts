import { escapeControls } from '../control-chars.js';
import { knownMigrations, listMigrations, type MigrationStatus } from '../db/migrations.js';
import type { Logger } from '../logger.js';
import { redactSecrets } from '../redact.js';
import { blankSqliteFile, commandDatabaseTarget, withDatabase } from './database.js';
import { gredisCommand } from './invocation.js';

/**
 * Every migration and whether the database at `url` has it, for the commands
 * that list them (showmigrations, migrate --list and --plan). It only reads: a
 * SQLite file with nothing in it is not opened (that would create it, or write
 * SQLite's header into it), since every migration is pending there. Callers
 * write nothing before it answers, so an unreachable server gives one error
 * line and nothing else.
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
  return withDatabase(url, logger, (db) => listMigrations(db), {
    // Pending migrations are what it shows, not a reason to refuse.
    queryTimeoutMs: 0,
    migrating: true,
  });
}
