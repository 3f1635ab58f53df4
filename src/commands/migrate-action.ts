import type { Database } from '../db/connection.js';
import { MigrationInterrupted } from '../db/errors.js';
import { listMigrations, migrate } from '../db/migrations.js';
import { before } from '../deadline.js';
import { createLogger } from '../logger.js';
import { redactSecrets } from '../redact.js';
import { withDatabase } from './database.js';
import { CommandFailed, EXIT_INTERRUPTED } from './errors.js';
import { gredisCommand } from './invocation.js';
import type { MigrateFlags } from './migrate.js';
import { listLines, migratePlanLines, writeLines } from './migration-listing.js';
import { cancelledByCtrlC } from './prompt.js';
import { readMigrations } from './read-migrations.js';

/** The action of `gredis migrate`, loaded only when it runs: its modules are the heavy ones. */
export async function runMigrate(flags: MigrateFlags): Promise<void> {
  const logger = createLogger({ verbosity: flags.verbosity, name: 'migrate' });
  const write = (line: string): boolean => process.stdout.write(`${line}\n`);
  // Progress is info: -v 0 (warnings only) applies them in silence, as Django's migrate -v 0.
  const progress = (line: string): boolean => flags.verbosity > 0 && write(line);
  // showmigrations' list without its heading, and Django's plan, whatever
  // the verbosity (Django's migrate --plan -v 0 prints it too).
  if (flags.list || flags.plan) {
    const migrations = await readMigrations(flags.database, logger);
    writeLines(flags.plan ? migratePlanLines(migrations) : listLines(migrations, flags.verbosity));
    return;
  }
  // Ctrl-C stops it, the migration under way rolled back, and says what stands
  // (exit 130, as for a process the signal ended): changing from the start,
  // as migrate() may already be applying one when the Ctrl-C comes.
  await cancelledByCtrlC(
    (ctrlC) => {
      ctrlC.changing();
      return withDatabase(
        flags.database,
        logger,
        async (db) => {
          // The heading waits for the first answer from the database, so an unreachable
          // server gives one error line and nothing else.
          let count = 0;
          try {
            await migrate(db, {
              logger,
              signal: ctrlC.signal,
              onApplied: (name) => {
                if (count++ === 0) progress('Running migrations:');
                progress(`  Applying ${name}... OK`);
              },
            });
          } catch (error) {
            if (error instanceof MigrationInterrupted) throw await interrupted(db, error);
            throw error;
          }
          if (count === 0) progress('Running migrations:\n  No migrations to apply.');
        },
        // No query timeout, whatever DATABASE_URL's query_timeout= says (it is the
        // app's): a migration may rightly run for minutes (an index on a large table).
        { queryTimeoutMs: 0, migrating: true },
      );
    },
    {
      leftUndone: `a migration under way is rolled back by the database once it sees the connection gone; "${gredisCommand('migrate --list')}" says which are applied, and "${gredisCommand('migrate')}" continues`,
    },
  );
}

/**
 * How long the database has to say which migrations it has, after an
 * interruption: a Ctrl-C may have been pressed because it stopped answering.
 */
const STATE_WAIT_MS = 2000;

/**
 * What an interrupted migrate says: what became of the migration under way,
 * which migrations the database has (asked afresh: one may have committed just
 * before the Ctrl-C), and that running migrate again continues from there.
 * Interrupted before it had connected (a server that never answers), nothing
 * reached the database, and it is not asked again: that would wait for it.
 */
async function interrupted(db: Database, error: MigrationInterrupted): Promise<CommandFailed> {
  if (!db.connected())
    return interruptedBecause(
      `while connecting to the database ${redactSecrets(db.url)}: nothing was changed.`,
      error,
    );
  const what = error.migration
    ? `while applying ${error.migration}, which was rolled back: nothing of it is applied`
    : 'with no migration under way: none is half-applied';
  const listing = listMigrations(db).catch(() => undefined);
  const migrations = (await before(performance.now() + STATE_WAIT_MS, listing))
    ? await listing
    : undefined;
  const again = `Run "${gredisCommand('migrate')}" again to continue.`;
  let state: string;
  if (migrations === undefined)
    state = `Run "${gredisCommand('migrate --list')}" to see which migrations are applied, and "${gredisCommand('migrate')}" to continue.`;
  else {
    const names = (applied: boolean): string =>
      migrations
        .filter((m) => m.applied === applied)
        .map((m) => m.name)
        .join(', ') || 'none';
    state = migrations.every((m) => m.applied)
      ? `Every migration is applied (${names(true)}).`
      : `Applied: ${names(true)}. Not applied: ${names(false)}. ${again}`;
  }
  return interruptedBecause(`${what}. ${state}`, error);
}

/** migrate's one line for a Ctrl-C (exit 130), its cause kept for --verbosity 2. */
function interruptedBecause(said: string, error: MigrationInterrupted): CommandFailed {
  const failure = new CommandFailed(`migrate interrupted (Ctrl-C) ${said}`, EXIT_INTERRUPTED);
  failure.stack = `${failure.stack ?? failure.message}\nCaused by: ${error.stack}`;
  return failure;
}
