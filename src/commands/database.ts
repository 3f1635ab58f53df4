import { existsSync, statSync } from 'node:fs';
import { openDatabase, type Database, type OpenDatabaseOptions } from '../db/connection.js';
import {
  DatabaseBusy,
  describeDriverError,
  InvalidDatabaseUrl,
  isConnectionError,
  isDatabaseTimeout,
  isLostConnection,
  isMissingSchema,
  isMissingTable,
  isNotSqliteDatabase,
} from '../db/errors.js';
import { knownMigrations, listMigrations } from '../db/migrations.js';
import { parseDatabaseUrl, type DatabaseTarget } from '../db/url.js';
import { redactSecrets } from '../redact.js';
import type { Logger } from '../logger.js';
import { unlessCancelled } from './cancellable-change.js';
import { CommandFailed } from './errors.js';
import { gredisCommand } from './invocation.js';
import type { LookupInterrupt } from './prompt.js';

export interface CommandDatabaseOptions extends Pick<OpenDatabaseOptions, 'queryTimeoutMs'> {
  /**
   * For `migrate` alone: it creates a SQLite file that does not exist yet, and
   * is what applies the migrations every other command refuses to run without.
   */
  migrating?: boolean;
  /**
   * The Ctrl-C of a command run under cancelledByCtrlC (or a server's signals
   * while it starts: cancelledWhileStarting): its check that the database is
   * migrated is then a lookup like its own (unlessCancelled), cancelled on the
   * server at a Ctrl-C, rather than left waiting for a lock on the migrations
   * table, to run once the lock goes, its client long gone.
   */
  ctrlC?: LookupInterrupt;
}

/**
 * Opens the database for one command, runs `work`, and always closes the pool (else
 * the process would not exit). Driver errors become one actionable line; the
 * original stack is kept for --verbosity 2. Except for `migrate`, a database not
 * yet migrated is refused before `work` runs, and without a trace left in it: no
 * SQLite file created (nor SQLite's header written into an empty one), no
 * bookkeeping table, no secret key file beside it.
 */
export async function withDatabase<T>(
  url: string,
  logger: Logger,
  work: (db: Database) => Promise<T>,
  { migrating = false, ctrlC, ...options }: CommandDatabaseOptions = {},
): Promise<T> {
  const target = commandDatabaseTarget(url);
  // Opening a SQLite file with nothing in it writes to it: a command that then
  // fails must not.
  const blank =
    target.kind === 'sqlite' && !migrating ? blankSqliteFile(target.filename) : undefined;
  if (blank === 'missing')
    throw new CommandFailed(
      `the database ${redactSecrets(url)} does not exist yet: run "${gredisCommand('migrate')}" first`,
    );
  if (blank === 'empty') throw notMigrated((await knownMigrations()).length);
  const db = openDatabase(url, { ...options, logger });
  try {
    if (!migrating)
      await (ctrlC ? unlessCancelled(db, ctrlC, () => requireMigrated(db)) : requireMigrated(db));
    return await work(db);
  } catch (error) {
    throw describeFailure(error, url);
  } finally {
    await db.close();
  }
}

/**
 * The database a command's URL names, or a usage error (exit 2): a URL that names
 * none, or an in-memory SQLite database. Each command is its own process, so
 * that would be a fresh, empty one for each (migrate's tables and
 * createsuperuser's user gone).
 */
export function commandDatabaseTarget(url: string): DatabaseTarget {
  let target: DatabaseTarget;
  try {
    target = parseDatabaseUrl(url);
  } catch (error) {
    if (error instanceof InvalidDatabaseUrl) throw new CommandFailed(error.message, 2);
    throw error;
  }
  if (target.kind === 'sqlite' && target.memory)
    throw new CommandFailed(
      'sqlite://:memory: lasts only as long as one process, and each gredis command is its own: use a file, such as sqlite://./gredis.sqlite3',
      2,
    );
  return target;
}

/**
 * Whether a SQLite file holds nothing yet: 'missing', or 'empty' (0 bytes, as
 * `touch` leaves it, with no WAL file beside it that could hold pages). Opening
 * such a file writes to it, creating it or putting SQLite's header in (the
 * switch to WAL), so a command that only reads it, or refuses it, must not.
 */
export function blankSqliteFile(filename: string): 'missing' | 'empty' | undefined {
  const stat = statSync(filename, { throwIfNoEntry: false });
  if (stat === undefined) return 'missing';
  return stat.size === 0 && !existsSync(`${filename}-wal`) ? 'empty' : undefined;
}

/** Refuses a database with migrations still to apply: the error says what to run. */
async function requireMigrated(db: Database): Promise<void> {
  const pending = (await listMigrations(db)).filter((m) => !m.applied);
  if (pending.length > 0) throw notMigrated(pending.length);
}

function notMigrated(pending: number): CommandFailed {
  return new CommandFailed(
    `${pending} database migration(s) are not applied yet: run "${gredisCommand('migrate')}" first`,
  );
}

function describeFailure(error: unknown, url: string): unknown {
  if (error instanceof CommandFailed) return error;
  const root = rootCause(error);
  let message: string | undefined;
  if (isConnectionError(root))
    message = `cannot connect to the database ${redactSecrets(url)}: ${describeDriverError(root)}`;
  // A server that hangs up at once (not PostgreSQL, a proxy with nothing behind it)
  // as much as one that went away under a query.
  else if (isLostConnection(root))
    message = `the database ${redactSecrets(url)} closed the connection: ${describeDriverError(root)}`;
  // The pool's own account of its connections, waiting for a lock or running slow
  // statements: each is said as it is, not guessed at.
  else if (root instanceof DatabaseBusy)
    message = `the database ${redactSecrets(url)} ${root.message.replace(/^database /, '')}`;
  // Knex puts the statement before the driver's message: the reason alone is said.
  else if (isDatabaseTimeout(root))
    message = `the database ${redactSecrets(url)} gave up waiting (another session may hold a lock on its tables): ${describeDriverError(root).replace(/^.* - /, '')}`;
  else if (isNotSqliteDatabase(root))
    message = `the database ${redactSecrets(url)} is not a SQLite database: ${describeDriverError(root)}`;
  else if (isMissingSchema(root))
    message = `the database ${redactSecrets(url)} has no schema to create tables in: its search_path names none that exists (create the schema, or fix search_path in the URL or the role's settings)`;
  else if (isMissingTable(root))
    message = `the database ${redactSecrets(url)} has no tables yet: run "${gredisCommand('migrate')}" first`;
  if (message === undefined) return error;
  const failure = new CommandFailed(message);
  if (error instanceof Error)
    failure.stack = `${failure.stack ?? message}\nCaused by: ${error.stack}`;
  return failure;
}

/** Our wrappers (e.g. MigrationFailed) keep the driver's error as `cause`. */
function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 5 && current instanceof Error && current.cause !== undefined; depth++)
    current = current.cause;
  return current;
}
