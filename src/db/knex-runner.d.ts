// Knex ships its runner untyped; sqlite-reads.ts extends it.
declare module 'knex/lib/execution/runner.js' {
  /** Runs a builder's statements on a connection it takes from its client's pool. */
  export default class Runner {
    constructor(client: unknown, builder: unknown);
    client: unknown;
    builder: { _connection?: unknown };
    connection: unknown;
    ensureConnection(
      callback: (runner: Runner, params: unknown) => unknown,
      params?: unknown,
    ): Promise<unknown>;
  }
}
