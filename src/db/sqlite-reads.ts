import type BetterSqlite3 from 'better-sqlite3';
import Runner from 'knex/lib/execution/runner.js';

/** A client that may have a connection of its own for reads (BusyWaitingSqliteClient). */
export interface ReadConnections {
  /** The connection for reads outside transactions; undefined where there is none. */
  readConnection(): Promise<BetterSqlite3.Database> | undefined;
}

/**
 * Whether a builder compiles to one SELECT: it reads, whatever it reads, and
 * takes no lock that another connection could be waiting for.
 */
function onlyReads(builder: Runner['builder']): boolean {
  const compiled = builder.toSQL() as { sql?: unknown } | unknown[];
  return !Array.isArray(compiled) && /^\s*select\b/i.test(String(compiled.sql));
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
      this.builder._connection === undefined && onlyReads(this.builder)
        ? (this.client as ReadConnections).readConnection()
        : undefined;
    if (!reader) return super.ensureConnection(callback, params);
    this.connection = await reader;
    return callback(this, params);
  }
}
