import type BetterSqlite3 from 'better-sqlite3';
import knexFactory, { type Knex } from 'knex';
import { silentLogger, type Logger } from '../logger.js';
import { redactSecrets } from '../redact.js';
import { PostgresBackends } from './cancel.js';
import type { DatabaseBusy } from './errors.js';
import { busyAwarePgClient, BusyPool } from './pg-busy-pool.js';
import { PostgresConnects } from './pg-connects.js';
import { BusyWaitingSqliteClient, retryWhileBusy, setUpBusyWait } from './sqlite-busy.js';
import { registerRegexp } from './sqlite-regexp.js';
import { parseDatabaseUrl, type DatabaseTarget } from './url.js';

/** One process's handle on the database: a knex pool plus what kind of database it is. */
export interface Database {
  knex: Knex;
  kind: 'sqlite' | 'postgres';
  /** The URL as given (it may contain a password: log `redactSecrets(url)` instead). */
  url: string;
  /** Closes every pooled connection; idempotent. */
  close(): Promise<void>;
  /**
   * Has the server cancel the queries the pool's connections are running (for a
   * process leaving work it gave up on, before it exits, or a Ctrl-C); resolves
   * within `withinMs` with how many connections the server took a cancel for.
   * SQLite has no statement running: better-sqlite3 runs one synchronously,
   * so none is while this does; one waiting for another process's lock, between
   * its tries, gives up at its next (SQLITE_BUSY, nothing of it done), and an
   * open transaction ends with the process, rolled back. Resolves with how
   * many were waiting.
   */
  cancelQueries(withinMs: number): Promise<number>;
  /**
   * While `signal` is aborted, until the function returned is called: the
   * pool's connection attempts under way fail at once with ConnectInterrupted
   * (PostgreSQL: one to a server that takes the connection and never answers
   * would hold its query, and closing the pool, until the connect timeout),
   * and so do those begun after. SQLite opens its file at once: nothing to stop.
   * For interruptQueriesOnAbort.
   */
  interruptConnects(signal: AbortSignal): () => void;
  /**
   * Whether the pool has made a connection yet (PostgreSQL: logged in; SQLite:
   * opened the file). Until it has, nothing asked of it reached the database.
   */
  connected(): boolean;
  /**
   * Why queries are waiting for one of the pool's connections, if the server
   * says within `withinMs` that the pool's are all waiting for a lock, running
   * statements or idle in transactions: the error a query that waited `waitedMs` fails with
   * at the acquire timeout. Undefined when no query waits for a connection,
   * when the server does not answer in time, and on SQLite (whose reads do
   * not queue behind its busy writes). For /healthz (DatabaseProbe), whose
   * `select 1` cannot wait that long.
   */
  busyPool(waitedMs: number, withinMs: number): Promise<DatabaseBusy | undefined>;
}

export interface OpenDatabaseOptions {
  /** Receives knex's own warnings and debug output (silent by default). */
  logger?: Logger;
  /**
   * PostgreSQL: a statement that runs, or waits for a lock, longer than this
   * many ms is cancelled by the server, and a query with no answer
   * SERVER_CANCEL_GRACE_MS later fails (0: waits for ever, as a long migration
   * may need to, whatever statement_timeout the server would apply: see
   * withoutStatementTimeout). Given here, it wins over a `query_timeout=` in the URL, which
   * is for what sets none (the app's queries): the URL is the deployment's, the
   * same for every command, and `gredis migrate` must not be bounded by it.
   * Default: the URL's, else QUERY_TIMEOUT_MS.
   */
  queryTimeoutMs?: number;
  /**
   * SQLite: how long a statement waits in all for another connection's lock on
   * the file before it fails with SQLITE_BUSY, and, plus SQLITE_ACQUIRE_MARGIN_MS,
   * how long a query waits for the connection. Default SQLITE_BUSY_TIMEOUT_MS.
   */
  busyTimeoutMs?: number;
  /**
   * PostgreSQL: how long a query waits for one of the pool's connections
   * before it fails (DatabaseBusy when they are all waiting for a lock,
   * running statements or idle in transactions).
   * Default ACQUIRE_TIMEOUT_MS.
   */
  acquireTimeoutMs?: number;
}

/**
 * Fail fast instead of knex's 60 s default when the server is unreachable
 * (PostgreSQL). Shorter than the query timeout: a query queued behind
 * statements waiting for a lock, or running, gives up first, as the database
 * being busy (see busyAwarePgClient), as it does behind transactions left open.
 */
const ACQUIRE_TIMEOUT_MS = 10_000;
/**
 * A PostgreSQL connection attempt gives up after this (pg's default is never): a
 * server that accepts the connection and never answers would otherwise keep the
 * attempt, and the process, alive for ever. Shorter than the acquire timeout, so
 * that the error says why.
 */
const CONNECT_TIMEOUT_MS = 8000;
/**
 * A PostgreSQL statement still running or waiting after this is cancelled by
 * the server ("canceling statement due to statement timeout"), and a query
 * with no answer at all fails SERVER_CANCEL_GRACE_MS later with pg's "Query
 * read timeout" (the defaults of both are never). A server that stops
 * answering (stopped, its disk stalled, a network path broken without a
 * reset) would otherwise hold
 * every query sent to it, and the event or request waiting on it, until TCP
 * gives up (many minutes): pages would get Thyme's 504 after --http-timeout
 * (120 s) and sockets nothing, with no line in the worker's log. Well above any
 * query of the app's, well below --http-timeout.
 */
export const QUERY_TIMEOUT_MS = 15_000;
/**
 * The server cancels a statement at the query timeout (statement_timeout), and
 * pg's own timer waits this much longer: a server that answers gives its own
 * error first. Were pg's timer first, it would drop a connection whose
 * statement goes on in the server: one waiting for a lock (a table locked by a
 * migration or by hand) holds its backend, a connection slot of the server's,
 * until the lock is released, each timed-out command leaving one more, until
 * the server refuses every client; and a write then commits after its request
 * was answered 500.
 */
const SERVER_CANCEL_GRACE_MS = 1000;
/**
 * How long a SQLite statement waits in all for another connection's lock (a
 * `gredis migrate`, or another process's write, on the same file), without
 * blocking the event loop (see sqlite-busy.ts).
 */
const SQLITE_BUSY_TIMEOUT_MS = 5000;
/**
 * SQLite's acquire timeout is its busy wait plus this, not ACQUIRE_TIMEOUT_MS.
 * Its pool has one connection, and a statement waiting for another process's
 * lock holds it: every write and transaction behind it queues (reads outside
 * a transaction have a connection of their own), and fails at the acquire
 * timeout (as the lock's, DatabaseBusy) if the lock outlasts it. At 10 s a
 * queued query waited twice what the statement ahead of it was allowed to,
 * and the page or socket event behind it was answered 5 s after the same
 * lock had already been reported. The margin leaves room for the statements
 * ahead that do not wait (SQLite's run in ms) and for the first connection's
 * switch to WAL, which waits up to the busy wait too, inside its acquire:
 * its SQLITE_BUSY, which says why, comes first.
 */
const SQLITE_ACQUIRE_MARGIN_MS = 1000;

/**
 * Opens (lazily: nothing connects until the first query) the database a URL names;
 * see parseDatabaseUrl for the forms. Throws InvalidDatabaseUrl for anything else.
 */
export function openDatabase(url: string, options: OpenDatabaseOptions = {}): Database {
  const target = parseDatabaseUrl(url);
  const logger = (options.logger ?? silentLogger()).child({
    database: redactSecrets(url),
  });
  // Empty for SQLite, whose waits are stopped instead: see cancelQueries.
  const backends = new PostgresBackends();
  // PostgreSQL's only: see Database.busyPool and Database.interruptConnects.
  let busy: BusyPool | undefined;
  let connects: PostgresConnects | undefined;
  // SQLite's: PostgresConnects says it for PostgreSQL.
  let opened = false;
  let config: Knex.Config;
  if (target.kind === 'postgres') {
    busy = new BusyPool(target.connectionString, backends);
    connects = new PostgresConnects();
    config = postgresConfig(target, options, backends, busy, connects);
  } else config = sqliteConfig(target, options, () => (opened = true));
  const knex = knexFactory({
    ...config,
    // A failed statement's message is its SQL with placeholders, then the
    // database's error: knex's default writes the bound values into the SQL,
    // and a password UPDATE's value is the new hash, which would then be in
    // every log line and error message that quotes the error.
    compileSqlOnError: false,
    // Knex's own messages (e.g. a failed connection attempt) duplicate errors we
    // report anyway, so they are debug output here.
    log: {
      warn: (message: unknown) => logger.debug({ knex: message }, 'knex warning'),
      error: (message: unknown) => logger.debug({ knex: message }, 'knex error'),
      deprecate: (method: unknown, alternative: unknown) =>
        logger.debug({ method, alternative }, 'knex deprecation'),
      debug: (message: unknown) => logger.debug({ knex: message }, 'knex debug'),
    },
  });
  let closing: Promise<void> | undefined;
  return {
    knex,
    kind: target.kind,
    url,
    close: () => (closing ??= knex.destroy()),
    cancelQueries: async (withinMs) =>
      knex.client instanceof BusyWaitingSqliteClient
        ? knex.client.stopLockWaits()
        : backends.cancelAll(withinMs),
    interruptConnects: (signal) => connects?.interruptOn(signal) ?? (() => undefined),
    connected: () => connects?.connected ?? opened,
    busyPool: async (waitedMs, withinMs) =>
      busy && pendingAcquires(knex) > 0 ? busy.explain(waitedMs, withinMs) : undefined,
  };
}

/** How many queries are waiting for one of the pool's connections (tarn's count). */
function pendingAcquires(knex: Knex): number {
  const { pool } = knex.client as { pool?: { numPendingAcquires(): number } };
  return pool?.numPendingAcquires() ?? 0;
}

/** What the pool needs to see of a node-postgres client (pg's Client, narrowed). */
interface PgPooledClient {
  /** False while a query is outstanding: its answer, or the server's, is still awaited. */
  readyForQuery: boolean;
  connection?: { stream?: { destroy(): void } };
}

/**
 * Whether a pooled PostgreSQL client may be handed out again. A query that timed
 * out (query_timeout) leaves its client waiting for the answer pg gave up on,
 * ahead of anything sent after it: handed out again, it would fail every query
 * too, for as long as the server stays silent, and in a frozen pool for good.
 * Such a client is dropped, its socket destroyed at once (ending it politely
 * would wait on the same silence), and the pool opens a fresh connection.
 */
function reusable(client: PgPooledClient): boolean {
  if (client.readyForQuery) return true;
  client.connection?.stream?.destroy();
  return false;
}

/** A pool's afterCreate hook for PostgreSQL, as PostgresBackends tracks clients. */
type PgAfterCreate = PostgresBackends['track'];

/** pg's Client, as the pool hands it to afterCreate, narrowed to what is used. */
type PgCreated = Parameters<PgAfterCreate>[0] & {
  query(sql: string, callback: (error: Error | null) => void): unknown;
};

/**
 * For a caller that wants no statement timeout at all (queryTimeoutMs 0:
 * `gredis migrate`), sets none on each new connection before `then`. pg sends
 * no statement_timeout for 0, which leaves the server's in force: one set on
 * the role or the database (ALTER ROLE … SET statement_timeout, often set for
 * the app's queries) or in the URL's `options=-c statement_timeout=…` would
 * cancel a migration's long statement (an index build, an ALTER waiting for
 * the sessions using its table). A SET in the session wins over all of those.
 * A lock_timeout set there is left alone: it is how an operator chooses how
 * long a migration may wait for a lock, while the app's queries queue behind it.
 */
function withoutStatementTimeout(
  then: PgAfterCreate,
): (client: PgCreated, done: (error?: Error) => void) => void {
  return (client, done) => {
    client.query('set statement_timeout = 0', (error) => {
      if (error) done(error);
      else then(client, done);
    });
  };
}

function postgresConfig(
  target: Extract<DatabaseTarget, { kind: 'postgres' }>,
  options: OpenDatabaseOptions,
  backends: PostgresBackends,
  busy: BusyPool,
  connects: PostgresConnects,
): Knex.Config {
  const timeoutMs = options.queryTimeoutMs ?? target.queryTimeoutMs ?? QUERY_TIMEOUT_MS;
  return {
    client: connects.interruptible(busyAwarePgClient(busy)),
    acquireConnectionTimeout: options.acquireTimeoutMs ?? ACQUIRE_TIMEOUT_MS,
    connection: {
      connectionString: target.connectionString,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      // 0 sends none: the server's own setting applies, unless the caller
      // asked for none at all (withoutStatementTimeout).
      statement_timeout: timeoutMs,
      query_timeout: timeoutMs && timeoutMs + SERVER_CANCEL_GRACE_MS,
    },
    ...(target.searchPath ? { searchPath: target.searchPath } : {}),
    // min 0: idle connections are released rather than held for the process's life.
    pool: {
      min: 0,
      max: 10,
      validate: reusable,
      afterCreate:
        options.queryTimeoutMs === 0 ? withoutStatementTimeout(backends.track) : backends.track,
    },
  };
}

function sqliteConfig(
  target: Extract<DatabaseTarget, { kind: 'sqlite' }>,
  options: OpenDatabaseOptions,
  onOpened: () => void,
): Knex.Config {
  const busyTimeoutMs = options.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS;
  return {
    client: BusyWaitingSqliteClient,
    acquireConnectionTimeout: busyTimeoutMs + SQLITE_ACQUIRE_MARGIN_MS,
    connection: { filename: target.filename },
    useNullAsDefault: true,
    // One connection per process for writes (and one for reads, outside the
    // pool: see BusyWaitingSqliteClient): better-sqlite3 is synchronous, so more
    // would only add lock contention; several processes share the file through WAL.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (connection: BetterSqlite3.Database, done: (error?: Error) => void) => {
        onOpened();
        try {
          setUpBusyWait(connection, busyTimeoutMs);
          // The admin lists' `__regex` lookups: SQLite has no REGEXP of its own.
          registerRegexp(connection);
        } catch (error) {
          return done(error as Error);
        }
        // Switching a file to WAL takes its lock, which another process
        // starting on a new file at the same time may hold.
        retryWhileBusy(connection, () => {
          if (!target.memory) connection.pragma('journal_mode = WAL');
          connection.pragma('foreign_keys = ON');
        }).then(() => done(), done);
      },
    },
  };
}
