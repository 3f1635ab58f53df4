import type { Database } from './connection.js';
import { PreparedQuery } from './prepared.js';

/** The SQL of a BatchedLookup, with `?` placeholders. */
export interface BatchedLookupSql {
  /** One lookup, given the parameters `get` was given. */
  one: string;
  /**
   * Many: the keys as an array (`unnest(?)`, `= any(?)`) first, then the values
   * of `values()`; each row says which key it answers as `lookup_key`.
   */
  many: string;
}

interface Waiter<Row> {
  resolve(row: Row | undefined): void;
  reject(error: unknown): void;
}

interface Pending<Row> {
  oneParams: readonly unknown[];
  waiters: Waiter<Row>[];
}

/** Keys asked for in one query at most; more wait for the next. */
const MAX_KEYS = 1000;

/**
 * Looks rows up by a string key. On PostgreSQL, the lookups made in the same
 * turn of the event loop share one prepared query: a burst of WebSocket
 * handshakes, each looking up its session, costs the worker one write and the
 * database one execution instead of one each, and both share the two cores with
 * everything else. A lone lookup still runs the `one` query, which is cheaper
 * for the database than `many` with one key. On SQLite each lookup runs on its
 * own: its driver is synchronous, so a batch would save nothing. A key is a
 * string that says everything the lookup needs (the `many` query takes it
 * apart); `values()` gives the batch's other values (e.g. "now") when it runs.
 */
export class BatchedLookup<Row> {
  private readonly one: PreparedQuery<Row>;
  private readonly many: PreparedQuery<Row & { lookup_key: string }> | undefined;
  private pending = new Map<string, Pending<Row>>();
  private scheduled = false;

  constructor(
    db: Database,
    name: string,
    sql: BatchedLookupSql,
    private readonly values: () => unknown[],
  ) {
    this.one = new PreparedQuery(db, name, sql.one);
    if (db.kind === 'postgres') this.many = new PreparedQuery(db, `${name}_many`, sql.many);
  }

  /** The row for `key` (the `one` query with `oneParams` when it runs alone). At most one row per key. */
  get(key: string, oneParams: readonly unknown[]): Promise<Row | undefined> {
    if (!this.many) return this.runOne(oneParams);
    return new Promise((resolve, reject) => {
      let pending = this.pending.get(key);
      if (!pending) {
        if (this.pending.size >= MAX_KEYS) this.run();
        this.pending.set(key, (pending = { oneParams, waiters: [] }));
      }
      pending.waiters.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After every I/O callback of this turn, as the layer's batches: the
        // handshakes that arrived together ask together.
        setImmediate(this.run);
      }
    });
  }

  private runOne(params: readonly unknown[]): Promise<Row | undefined> {
    return this.one.rows([...params]).then(([row]) => row);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const pending = this.pending;
    if (pending.size === 0) return;
    this.pending = new Map();
    const answer = (rowOf: (key: string) => Row | undefined): void => {
      for (const [key, { waiters }] of pending) {
        const row = rowOf(key);
        for (const waiter of waiters) waiter.resolve(row);
      }
    };
    const fail = (error: unknown): void => {
      for (const { waiters } of pending.values())
        for (const waiter of waiters) waiter.reject(error);
    };
    if (pending.size === 1) {
      const [only] = pending.values();
      this.runOne(only!.oneParams).then((row) => answer(() => row), fail);
      return;
    }
    this.many!.rows([[...pending.keys()], ...this.values()]).then((rows) => {
      const byKey = new Map(rows.map((row) => [row.lookup_key, row]));
      answer((key) => byKey.get(key));
    }, fail);
  };
}
