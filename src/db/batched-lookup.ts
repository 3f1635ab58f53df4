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
 * Queries of one lookup running at once, at most (a third of the pool's ten
 * connections); lookups asked meanwhile wait, and go together in the next. When
 * a table a lookup reads is locked (a migration's ALTER TABLE, a LOCK TABLE by
 * hand), its queries wait for the statement timeout: unbounded, every chat
 * command arriving then took a connection of its own, until none was left and
 * logins, pages and handshakes failed at the pool's acquire timeout, though the
 * tables they need were free.
 */
const MAX_RUNNING = 3;

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
 * At most MAX_RUNNING of its queries run at once.
 */
export class BatchedLookup<Row> {
  private readonly one: PreparedQuery<Row>;
  private readonly many: PreparedQuery<Row & { lookup_key: string }> | undefined;
  /** The batch being filled; full ones wait in `full` for their turn. */
  private pending = new Map<string, Pending<Row>>();
  private readonly full: Map<string, Pending<Row>>[] = [];
  private running = 0;
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
        if (this.pending.size >= MAX_KEYS) {
          this.full.push(this.pending);
          this.pending = new Map();
        }
        this.pending.set(key, (pending = { oneParams, waiters: [] }));
      }
      pending.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  private runOne(params: readonly unknown[]): Promise<Row | undefined> {
    return this.one.rows([...params]).then(([row]) => row);
  }

  /**
   * Runs what waits, after every I/O callback of this turn, as the layer's
   * batches: the handshakes that arrived together ask together.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    while (this.running < MAX_RUNNING) {
      const batch = this.full.shift() ?? this.takePending();
      if (!batch) return;
      this.running++;
      void this.ask(batch).finally(() => {
        this.running--;
        if (this.full.length > 0 || this.pending.size > 0) this.schedule();
      });
    }
  };

  private takePending(): Map<string, Pending<Row>> | undefined {
    if (this.pending.size === 0) return undefined;
    const batch = this.pending;
    this.pending = new Map();
    return batch;
  }

  /** One query for the batch; settles every waiter, and never rejects. */
  private ask(batch: Map<string, Pending<Row>>): Promise<void> {
    const answer = (rowOf: (key: string) => Row | undefined): void => {
      for (const [key, { waiters }] of batch) {
        const row = rowOf(key);
        for (const waiter of waiters) waiter.resolve(row);
      }
    };
    const fail = (error: unknown): void => {
      for (const { waiters } of batch.values()) for (const waiter of waiters) waiter.reject(error);
    };
    if (batch.size === 1) {
      const [only] = batch.values();
      return this.runOne(only!.oneParams).then((row) => answer(() => row), fail);
    }
    return this.many!.rows([[...batch.keys()], ...this.values()]).then((rows) => {
      const byKey = new Map(rows.map((row) => [row.lookup_key, row]));
      answer((key) => byKey.get(key));
    }, fail);
  }
}
