// Knex ships its dialects untyped; sqlite-busy.ts extends this one.
declare module 'knex/lib/dialects/better-sqlite3/index.js' {
  import type { Knex } from 'knex';

  /** Knex's better-sqlite3 client: `_query` runs one compiled statement on a connection. */
  export default class Client_BetterSQLite3 extends Knex.Client {
    _query(connection: unknown, query: unknown): Promise<unknown>;
    /** True on a transaction's client, which knex makes from the prototype. */
    transacting?: boolean;
  }
}
