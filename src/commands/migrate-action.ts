import { knownMigrations, listMigrations, migrate } from '../db/migrations.js';
import { createLogger, type Logger } from '../logger.js';
import { redactSecrets } from '../redact.js';
import { blankSqliteFile, commandDatabaseTarget, withDatabase } from './database.js';
import { gredisCommand } from './invocation.js';
import type { MigrateFlags } from './migrate.js';

/** The action of `gredis migrate`, loaded only when it runs: its modules are the heavy ones. */
export async function runMigrate(flags: MigrateFlags): Promise<void> {
  const logger = createLogger({ verbosity: flags.verbosity, name: 'migrate' });
  const write = (line: string): boolean => process.stdout.write(`${line}\n`);
  // Progress is info: -v 0 (warnings only) applies them in silence, as Django's migrate -v 0.
  const progress = (line: string): boolean => flags.verbosity > 0 && write(line);
  if (flags.list) return listMigrationsOf(flags.database, logger, write);
  await withDatabase(
    flags.database,
    logger,
    async (db) => {
      // The heading waits for the first answer from the database, so an unreachable
      // server gives one error line and nothing else.
      let count = 0;
      await migrate(db, {
        logger,
        onApplied: (name) => {
          if (count++ === 0) progress('Running migrations:');
          progress(`  Applying ${name}... OK`);
        },
      });
      if (count === 0) progress('Running migrations:\n  No migrations to apply.');
    },
    // No query timeout, whatever DATABASE_URL's query_timeout= says (it is the
    // app's): a migration may rightly run for minutes (an index on a large table).
    { queryTimeoutMs: 0, migrating: true },
  );
}

/**
 * `migrate --list`, which only reads: a SQLite file with nothing in it is not
 * opened (that would create it, or write SQLite's header into it), since every
 * migration is pending there.
 */
async function listMigrationsOf(
  url: string,
  logger: Logger,
  write: (line: string) => void,
): Promise<void> {
  const target = commandDatabaseTarget(url);
  const blank = target.kind === 'sqlite' ? blankSqliteFile(target.filename) : undefined;
  if (blank !== undefined) {
    if (blank === 'missing')
      process.stderr.write(
        `Note: the database ${redactSecrets(url)} does not exist yet, so no migration is applied; "${gredisCommand('migrate')}" creates it.\n`,
      );
    for (const name of await knownMigrations()) write(` [ ] ${name}`);
    return;
  }
  await withDatabase(
    url,
    logger,
    async (db) => {
      for (const { name, applied } of await listMigrations(db))
        write(` [${applied ? 'X' : ' '}] ${name}`);
    },
    // Pending migrations are what it shows, not a reason to refuse.
    { queryTimeoutMs: 0, migrating: true },
  );
}
