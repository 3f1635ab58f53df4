import type BetterSqlite3 from 'better-sqlite3';
import Runner from 'knex/lib/execution/runner.js';

/** A client that may have a connection of its own for reads (BusyWaitingSqliteClient). */
export interface ReadConnections {
  /** The connection for reads outside transactions; undefined where there is none. */
  readConnection(): Promise<BetterSqlite3.Database> | undefined;
}

/** What the runner is given: a query builder, a raw query, or a schema or view builder. */
interface AnyBuilder {
  /** A query builder's: whether it is a select, first or pluck. */
  _isSelectQuery?: () => boolean;
  /** A raw query's SQL. */
  sql?: unknown;
}

/**
 * Whether a builder runs one SELECT (it reads, whatever it reads), told
 * without compiling it (the runner compiles it once it has a connection).
 */
function onlyReads(builder: AnyBuilder): boolean {
  if (typeof builder._isSelectQuery === 'function') return builder._isSelectQuery();
  return typeof builder.sql === 'string' && /^\s*select\b/i.test(builder.sql);
}

/**
 * Knex's runner, but a SELECT outside a transaction runs on the client's read
 * connection rather than waiting for the pool's one (see BusyWaitingSqliteClient).
 */
export class ReadRoutingRunner extends Runner {
  override async ensureConnection(
    callback: (runner: Runner, params: unknown) => unknown,
    params?: unknown,
  ): Promise<unknown> {
    const reader =
      this.builder._connection === undefined && onlyReads(this.builder as AnyBuilder)
        ? (this.client as ReadConnections).readConnection()
        : undefined;
    if (!reader) return super.ensureConnection(callback, params);
    this.connection = await reader;
    return callback(this, params);
  }
}
