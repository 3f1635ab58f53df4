import type BetterSqlite3 from 'better-sqlite3';
import type { Database } from './connection.js';
import { isLostConnection } from './errors.js';
import { BusyWaitingSqliteClient, retryWhileBusy } from './sqlite-busy.js';

/** What the pg driver's client offers that a prepared query needs. */
interface PgClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/** Runs of a query whose connection broke: each on another connection of the pool. */
const ATTEMPTS = 3;

/** SQLite statements by connection, then SQL: kept as long as the connection lives. */
const sqliteStatements = new WeakMap<
  BetterSqlite3.Database,
  Map<string, BetterSqlite3.Statement>
>();

/**
 * A read-only query that runs for every chat command or handshake, as a prepared statement:
 * PostgreSQL parses and plans it once per connection (a named statement) rather
 * than on every call, and SQLite compiles it once. Both would otherwise redo that
 * work each time, and on PostgreSQL it is most of the query's cost. The SQL uses
 * `?` placeholders, as knex.raw does; values must already be in the database's
 * form (see values.ts). A PostgreSQL connection keeps its plan until it closes:
 * after a migration that changes the tables these queries read, restart the
 * processes (deployments restart them after `gredis migrate` anyway).
 */
export class PreparedQuery<Row> {
  private readonly text: string;

  constructor(
    private readonly db: Database,
    private readonly name: string,
    private readonly sql: string,
  ) {
    let n = 0;
    this.text = db.kind === 'postgres' ? sql.replace(/\?/g, () => `$${++n}`) : sql;
  }

  async rows(values: unknown[]): Promise<Row[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.rowsOnce(values);
      } catch (error) {
        // These queries only read, so one whose connection broke under it runs
        // again on another: one terminated backend would otherwise fail every
        // command of a batch. A database that is down fails again at once (the
        // pool cannot connect), and that error goes up.
        if (attempt >= ATTEMPTS || !isLostConnection(error)) throw error;
      }
    }
  }

  private async rowsOnce(values: unknown[]): Promise<Row[]> {
    // knex's own pool, so that these connections are the ones it sets up and closes.
    const client = this.db.knex.client;
    // SQLite's connection for reads, which does not wait for a write (sqlite-busy.ts).
    const reader = client instanceof BusyWaitingSqliteClient ? client.readConnection() : undefined;
    if (reader) return this.sqliteRows(await reader, values);
    const connection: unknown = await client.acquireConnection();
    try {
      if (this.db.kind === 'postgres') {
        const result = await (connection as PgClient).query({
          name: this.name,
          text: this.text,
          values,
        });
        return result.rows as Row[];
      }
      return await this.sqliteRows(connection as BetterSqlite3.Database, values);
    } finally {
      await client.releaseConnection(connection);
    }
  }

  private sqliteRows(sqlite: BetterSqlite3.Database, values: unknown[]): Promise<Row[]> {
    return retryWhileBusy(sqlite, () => {
      let statements = sqliteStatements.get(sqlite);
      if (!statements) sqliteStatements.set(sqlite, (statements = new Map()));
      let statement = statements.get(this.sql);
      if (!statement) statements.set(this.sql, (statement = sqlite.prepare(this.sql)));
      return statement.all(...values) as Row[];
    });
  }
}
