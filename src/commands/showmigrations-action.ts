import { escapeControls } from '../control-chars.js';
import { knownMigrations, listMigrations } from '../db/migrations.js';
import { createLogger, type Logger } from '../logger.js';
import { redactSecrets } from '../redact.js';
import { blankSqliteFile, commandDatabaseTarget, withDatabase } from './database.js';
import { gredisCommand } from './invocation.js';
import type { ShowMigrationsFlags } from './showmigrations.js';

/** The heading of showmigrations' one list, where Django names each app. */
export const MIGRATIONS_HEADING = 'gredis';

/** The action of `gredis showmigrations`. */
export async function runShowMigrations(flags: ShowMigrationsFlags): Promise<void> {
  const logger = createLogger({ verbosity: flags.verbosity, name: 'showmigrations' });
  await listMigrationsOf(flags.database, logger, MIGRATIONS_HEADING);
}

/**
 * Writes each migration as ` [X] name` (applied) or ` [ ] name`, Django's
 * form, after `heading` if given (showmigrations'; migrate --list has none).
 * It only reads: a SQLite file with nothing in it is not opened (that would
 * create it, or write SQLite's header into it), since every migration is
 * pending there. The heading waits for the database's answer, so an
 * unreachable server gives one error line and nothing else.
 */
export async function listMigrationsOf(
  url: string,
  logger: Logger,
  heading?: string,
): Promise<void> {
  const write = (lines: string[]): void => {
    process.stdout.write([...(heading === undefined ? [] : [heading]), ...lines, ''].join('\n'));
  };
  const target = commandDatabaseTarget(url);
  const blank = target.kind === 'sqlite' ? blankSqliteFile(target.filename) : undefined;
  if (blank !== undefined) {
    if (blank === 'missing')
      process.stderr.write(
        `Note: the database ${escapeControls(redactSecrets(url))} does not exist yet, so no migration is applied; "${gredisCommand('migrate')}" creates it.\n`,
      );
    write((await knownMigrations()).map((name) => ` [ ] ${name}`));
    return;
  }
  await withDatabase(
    url,
    logger,
    async (db) => {
      write(
        (await listMigrations(db)).map(({ name, applied }) => ` [${applied ? 'X' : ' '}] ${name}`),
      );
    },
    // Pending migrations are what it shows, not a reason to refuse.
    { queryTimeoutMs: 0, migrating: true },
  );
}
