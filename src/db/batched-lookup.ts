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

/** Keys asked for in one query at most; more wait for the next. */
const MAX_KEYS = 1000;

/**
 * Looks rows up by a string key. On PostgreSQL, the lookups made in the same
 * turn of the event loop share one prepared query: a burst of WebSocket
 * handshakes, each looking up its session, costs the worker one write and the
 * database one execution instead of one each, and both share the two cores with
 * everything else. On SQLite each lookup runs on its own: its driver is
 * synchronous, so a batch would save nothing. A key is a string that says
 * everything the lookup needs (the `many` query takes it apart); `values()`
 * gives the batch's other values (e.g. "now") when it runs.
 */
export class BatchedLookup<Row> {
  private readonly one: PreparedQuery<Row> | undefined;
  private readonly many: PreparedQuery<Row & { lookup_key: string }> | undefined;
  private waiting = new Map<string, Waiter<Row>[]>();
  private scheduled = false;

  constructor(
    db: Database,
    name: string,
    sql: BatchedLookupSql,
    private readonly values: () => unknown[],
  ) {
    if (db.kind === 'postgres') this.many = new PreparedQuery(db, `${name}_many`, sql.many);
    else this.one = new PreparedQuery(db, name, sql.one);
  }

  /** The row for `key`; on SQLite, the `one` query with `oneParams`. At most one row per key. */
  get(key: string, oneParams: readonly unknown[]): Promise<Row | undefined> {
    if (this.one) return this.one.rows([...oneParams]).then(([row]) => row);
    return new Promise((resolve, reject) => {
      let waiters = this.waiting.get(key);
      if (!waiters) {
        if (this.waiting.size >= MAX_KEYS) this.run();
        this.waiting.set(key, (waiters = []));
      }
      waiters.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After every I/O callback of this turn, as the layer's batches: the
        // handshakes that arrived together ask together.
        setImmediate(this.run);
      }
    });
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const waiting = this.waiting;
    if (waiting.size === 0) return;
    this.waiting = new Map();
    this.many!.rows([[...waiting.keys()], ...this.values()]).then(
      (rows) => {
        const byKey = new Map(rows.map((row) => [row.lookup_key, row]));
        for (const [key, waiters] of waiting) {
          const row = byKey.get(key);
          for (const waiter of waiters) waiter.resolve(row);
        }
      },
      (error: unknown) => {
        for (const waiters of waiting.values()) for (const waiter of waiters) waiter.reject(error);
      },
    );
  };
}
