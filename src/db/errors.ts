/**
 * Errors of the database layer, each with a stable `code` (docs/errors.md), and
 * the predicates that recognise driver errors the same way on SQLite and PostgreSQL.
 */

export type DatabaseErrorCode =
  | 'GREDIS_INVALID_DATABASE_URL'
  | 'GREDIS_MIGRATION_FAILED'
  | 'GREDIS_MIGRATION_INTERRUPTED'
  | 'GREDIS_DATABASE_BUSY';

/** A database URL that cannot be understood; thrown before any I/O. */
export class InvalidDatabaseUrl extends TypeError {
  readonly code = 'GREDIS_INVALID_DATABASE_URL' as const;
  constructor(
    /** The URL with any password replaced by "***". */
    readonly url: string,
    reason: string,
  ) {
    super(
      `invalid database URL ${JSON.stringify(url)}: ${reason} (expected sqlite://./relative.sqlite3, sqlite:///absolute/path.sqlite3, sqlite://:memory: or postgres://user@host:port/dbname; set DATABASE_URL or --database)`,
    );
    this.name = 'InvalidDatabaseUrl';
  }
}

/** A migration (or the migration bookkeeping) failed; `migration` names it when known. */
export class MigrationFailed extends Error {
  readonly code = 'GREDIS_MIGRATION_FAILED' as const;
  constructor(
    readonly migration: string | undefined,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      migration ? `migration ${migration} failed: ${reason}` : `migrations failed: ${reason}`,
      options,
    );
    this.name = 'MigrationFailed';
  }
}

/**
 * migrate() stopped by its AbortSignal (Ctrl-C): no migration starts after it.
 * `migration` names the one it was applying, which failed and was rolled back
 * (each runs in its own transaction, and none commits after the abort);
 * undefined when none was under way (waiting for the migration lock, between
 * two). Those applied before stand.
 */
export class MigrationInterrupted extends Error {
  readonly code = 'GREDIS_MIGRATION_INTERRUPTED' as const;
  constructor(
    readonly migration: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      migration
        ? `migration ${migration} interrupted, and rolled back`
        : 'migrations interrupted, none under way',
      options,
    );
    this.name = 'MigrationInterrupted';
  }
}

/**
 * A query that waited for a connection of the pool until its acquire timeout
 * while the connections it waited for were busy on the database: on SQLite
 * the process's one, waiting for another process's lock on the file; on
 * PostgreSQL every one the pool may open, waiting for a lock another session
 * holds ("database is locked") or running statements (slow ones, or many at
 * once) or sitting idle in transactions their code has not finished ("database
 * is busy"). The database's error, for a query that never got to run (knex's
 * "Timeout acquiring a connection" reads as a database that cannot be
 * reached). Nothing was run; the same query works once the lock is released
 * or the statements or transactions ahead are done.
 */
export class DatabaseBusy extends Error {
  readonly code = 'GREDIS_DATABASE_BUSY' as const;
  constructor(
    readonly waitedMs: number,
    /** What the query waited for, and what that does ("the connection, which …"). */
    readonly waitedFor: string,
    /** Whether the connections wait for a lock, or run statements or sit in transactions. */
    readonly state: 'locked' | 'busy' = 'locked',
  ) {
    // No cause: knex's timeout it stands for says "Are you missing a
    // .transacting(trx) call?", and the log line, which gives the cause's
    // message too, would point at a bug.
    super(`database is ${state}: waited ${waitedMs} ms for ${waitedFor}`);
    this.name = 'DatabaseBusy';
  }
}

interface DriverError {
  code?: unknown;
  message?: unknown;
  constraint?: unknown;
}

function driverCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as DriverError).code;
  return typeof code === 'string' ? code : undefined;
}

function driverMessage(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const message = (error as DriverError).message;
  return typeof message === 'string' ? message : '';
}

/** A UNIQUE or PRIMARY KEY violation: SQLite's extended codes, PostgreSQL's SQLSTATE 23505. */
export function isUniqueViolation(error: unknown): boolean {
  const code = driverCode(error);
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/**
 * The SQLite file is something else (a text file, an encrypted database): the
 * driver's "file is not a database" names no file, so the caller must.
 */
export function isNotSqliteDatabase(error: unknown): boolean {
  return driverCode(error) === 'SQLITE_NOTADB';
}

/**
 * PostgreSQL has no schema to create a table in: the search_path (the URL's,
 * or the role's or database's setting) names none that exists (SQLSTATE 3F000).
 */
export function isMissingSchema(error: unknown): boolean {
  return driverCode(error) === '3F000';
}

/** A query on a table that does not exist yet: usually "run gredis migrate first". */
export function isMissingTable(error: unknown): boolean {
  const code = driverCode(error);
  if (code === '42P01') return true;
  return code === 'SQLITE_ERROR' && /no such table/i.test(driverMessage(error));
}

/** Another writer holds the database (SQLite) or a serialisation conflict (PostgreSQL). */
export function isBusy(error: unknown): boolean {
  const code = driverCode(error) ?? '';
  return code.startsWith('SQLITE_BUSY') || code === '40001' || code === '40P01';
}

/**
 * The database gave up on a statement that waited too long: PostgreSQL's
 * statement or lock timeout (a table locked by another session), SQLite's
 * busy timeout (another process holding the file's write lock), and a query
 * queued behind statements waiting for a lock or running (DatabaseBusy). Like the
 * database being away, it says nothing about the code that ran the statement.
 */
export function isDatabaseTimeout(error: unknown): boolean {
  if (error instanceof DatabaseBusy) return true;
  const code = driverCode(error) ?? '';
  if (code === '57014') return /statement timeout/.test(driverMessage(error));
  return code === '55P03' || code.startsWith('SQLITE_BUSY');
}

/**
 * PostgreSQL cancelled the statement because a cancel request asked it to
 * (Database.cancelQueries), not at its statement timeout: it ran to no effect,
 * and its transaction, if any, can only roll back.
 */
export function isCancelledOnRequest(error: unknown): boolean {
  return driverCode(error) === '57014' && /user request/.test(driverMessage(error));
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EACCES',
  'ENOENT',
  '28000', // invalid authorization
  '28P01', // wrong password
  '3D000', // no such database
  '57P03', // server starting up
  // A database closed to new connections (ALTER DATABASE … ALLOW_CONNECTIONS
  // false, as for maintenance). PostgreSQL uses the code for a few query errors
  // too (a sequence's currval before its nextval, a replication slot in use),
  // none of which Gredis's queries can meet.
  '55000',
  'SQLITE_CANTOPEN',
]);

/**
 * Knex gave up waiting for one of its pool's connections (its acquire timeout).
 * By name: knex's ESM entry does not export the class.
 */
export function isAcquireTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === 'KnexTimeoutError';
}

/** The database could not be reached or opened at all (as opposed to a failing query). */
export function isConnectionError(error: unknown): boolean {
  if (isAcquireTimeout(error)) return true;
  // node-postgres's connect timeout says so in words, without a code (the
  // client's "timeout expired", the pool's "…due to connection timeout").
  if (
    /^timeout expired$|Connection terminated due to connection timeout/i.test(driverMessage(error))
  )
    return true;
  // Its query_timeout: connected, but the server stopped answering (connection.ts
  // then drops that connection). Not a lost connection: the query may still run
  // when the server wakes, so it must not be sent again. (Knex puts the SQL
  // before pg's message.)
  if (/(^| - )Query read timeout$/.test(driverMessage(error))) return true;
  // better-sqlite3 reports a missing directory as a plain TypeError without a code.
  if (error instanceof TypeError && /cannot open database/i.test(error.message)) return true;
  return CONNECTION_CODES.has(driverCode(error) ?? '');
}

const LOST_CODES = new Set([
  '57P01', // terminated by an administrator (pg_terminate_backend)
  '57P02', // the server crashed
  '08000', // connection exception
  '08003', // connection does not exist
  '08006', // connection failure
  'ECONNRESET',
  'EPIPE',
]);

/**
 * A connection that was working broke under a query (a backend terminated, a
 * proxy restarted): another connection may well work.
 */
export function isLostConnection(error: unknown): boolean {
  if (LOST_CODES.has(driverCode(error) ?? '')) return true;
  // node-postgres says so in words, without a code.
  // (Not "Connection terminated due to connection timeout": that one never connected.)
  return /Connection terminated unexpectedly|not queryable/i.test(driverMessage(error));
}

/** A one-line description of a driver error (Node's AggregateError has an empty message). */
export function describeDriverError(error: unknown): string {
  const message = driverMessage(error).split('\n')[0]!.trim();
  return message || driverCode(error) || String(error);
}
