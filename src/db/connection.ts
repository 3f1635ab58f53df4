import type BetterSqlite3 from 'better-sqlite3';
import knexFactory, { type Knex } from 'knex';
import { silentLogger, type Logger } from '../logger.js';
import { redactSecrets } from '../redact.js';
import { parseDatabaseUrl, type DatabaseTarget } from './url.js';

/** One process's handle on the database: a knex pool plus what kind of database it is. */
export interface Database {
  knex: Knex;
  kind: 'sqlite' | 'postgres';
  /** The URL as given (it may contain a password: log `redactSecrets(url)` instead). */
  url: string;
  /** Closes every pooled connection; idempotent. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Receives knex's own warnings and debug output (silent by default). */
  logger?: Logger;
}

/** Fail fast instead of knex's 60 s default when the server is unreachable. */
const ACQUIRE_TIMEOUT_MS = 10_000;
/**
 * A PostgreSQL connection attempt gives up after this (pg's default is never): a
 * server that accepts the connection and never answers would otherwise keep the
 * attempt, and the process, alive for ever. Shorter than the acquire timeout, so
 * that the error says why.
 */
const CONNECT_TIMEOUT_MS = 8000;
/** How long a SQLite writer waits for another connection's write lock. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (lazily: nothing connects until the first query) the database a URL names;
 * see parseDatabaseUrl for the forms. Throws InvalidDatabaseUrl for anything else.
 */
export function openDatabase(url: string, options: OpenDatabaseOptions = {}): Database {
  const target = parseDatabaseUrl(url);
  const logger = (options.logger ?? silentLogger()).child({
    database: redactSecrets(url),
  });
  const knex = knexFactory({
    ...clientConfig(target),
    acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS,
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
  };
}

function clientConfig(target: DatabaseTarget): Knex.Config {
  if (target.kind === 'postgres') {
    return {
      client: 'pg',
      connection: {
        connectionString: target.connectionString,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      },
      ...(target.searchPath ? { searchPath: target.searchPath } : {}),
      // min 0: idle connections are released rather than held for the process's life.
      pool: { min: 0, max: 10 },
    };
  }
  return {
    client: 'better-sqlite3',
    connection: { filename: target.filename },
    useNullAsDefault: true,
    // One connection per process: better-sqlite3 is synchronous, so more would only
    // add lock contention; several processes share the file through WAL.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (connection: BetterSqlite3.Database, done: (error?: Error) => void) => {
        try {
          if (!target.memory) connection.pragma('journal_mode = WAL');
          connection.pragma('foreign_keys = ON');
          connection.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
          done();
        } catch (error) {
          done(error as Error);
        }
      },
    },
  };
}
