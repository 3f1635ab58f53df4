// Knex ships its dialects untyped; pg-busy-pool.ts extends this one.
declare module 'knex/lib/dialects/postgres/index.js' {
  import type { Knex } from 'knex';

  /** Knex's PostgreSQL client. */
  export default class Client_PG extends Knex.Client {}
}
