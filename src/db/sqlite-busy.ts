import type BetterSqlite3 from 'better-sqlite3';
import Client_BetterSQLite3 from 'knex/lib/dialects/better-sqlite3/index.js';
import { DatabaseBusy, isAcquireTimeout } from './errors.js';
import { ReadRoutingRunner, type ReadConnections } from './sqlite-reads.js';

/**
 * How long SQLite itself waits for another connection's lock (busy_timeout)
 * before a statement fails with SQLITE_BUSY. better-sqlite3 runs statements
 * synchronously, so SQLite's busy handler sleeps on the event loop: with the
 * whole wait there (5 s), a `gredis migrate` or a second worker writing to the
 * file froze the process for as long as it held the lock, WebSocket pings and
 * all. A few ms covers the usual brief overlap of two writers; longer waits
 * are retryWhileBusy's, between turns of the event loop.
 */
export const SQLITE_BUSY_BLOCK_MS = 5;

/** Pauses between retries: doubling from the first, up to the last. */
const FIRST_PAUSE_MS = 5;
const LONGEST_PAUSE_MS = 50;

/** Each connection's total wait for a lock, as set by setUpBusyWait. */
const busyWaits = new WeakMap<BetterSqlite3.Database, number>();
/** Connections whose open transaction has run a statement since its BEGIN. */
const pastFirstStatement = new WeakSet<BetterSqlite3.Database>();
/** When each connection last waited for a lock (performance.now()): Infinity while it waits. */
const lastLockWait = new WeakMap<BetterSqlite3.Database, number>();
/** When each connection's waits were last stopped (stopLockWaits, performance.now()). */
const waitsStopped = new WeakMap<BetterSqlite3.Database, number>();

/** Has a new connection's statements wait up to `totalMs` in all for another connection's lock. */
export function setUpBusyWait(connection: BetterSqlite3.Database, totalMs: number): void {
  connection.pragma(`busy_timeout = ${SQLITE_BUSY_BLOCK_MS}`);
  busyWaits.set(connection, totalMs);
}

/**
 * Runs one statement on `connection`, running it again while it fails for
 * another connection's lock, until it succeeds or the connection's total wait
 * (setUpBusyWait) has passed; then its last error goes up, as SQLite's own
 * busy timeout gave it before.
 *
 * Retried only where SQLite's busy handler would itself have waited: a
 * statement outside a transaction, or the first one in a transaction (knex's
 * BEGIN is deferred and takes no lock; the first statement takes them). Such a
 * statement failed taking its lock, before changing anything, and left no
 * lock behind, so running it again is the handler's own retry, later. Later
 * in a transaction, SQLite fails at once and so do we: the transaction holds a
 * read lock (rollback-journal mode: the writer it waits for would be waiting
 * for it) or a snapshot that the other writer's commit makes stale
 * (SQLITE_BUSY_SNAPSHOT, never retried): only the whole transaction again
 * could succeed, which is its caller's to decide (migrate() does).
 */
export async function retryWhileBusy<T>(
  connection: BetterSqlite3.Database,
  run: () => T | Promise<T>,
): Promise<T> {
  const inTransaction = connection.inTransaction;
  if (!inTransaction) pastFirstStatement.delete(connection);
  const started = performance.now();
  const deadline = started + (busyWaits.get(connection) ?? 0);
  let waited = false;
  try {
    for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, LONGEST_PAUSE_MS)) {
      try {
        return await run();
      } catch (error) {
        const left = deadline - performance.now();
        const first = !inTransaction || !pastFirstStatement.has(connection);
        // The transaction's state changing under a failed statement (it never
        // does for SQLITE_BUSY) would make a retry something else.
        const unchanged = connection.inTransaction === inTransaction;
        const stopped = (waitsStopped.get(connection) ?? -Infinity) >= started;
        if (!isLockWait(error) || !first || !unchanged || left <= 0 || stopped) throw error;
        waited = true;
        lastLockWait.set(connection, Infinity);
        await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
      }
    }
  } finally {
    if (inTransaction) pastFirstStatement.add(connection);
    if (waited) lastLockWait.set(connection, performance.now());
  }
}

/** SQLITE_BUSY and its extended codes, but for a stale snapshot (see retryWhileBusy). */
function isLockWait(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_BUSY(?!_SNAPSHOT)/.test(code);
}

/**
 * Knex's better-sqlite3 client with every statement run through
 * retryWhileBusy: every knex query, schema change, migration and transaction
 * statement goes through `_query`. A class rather than a patched instance:
 * knex makes each transaction's client from the class's prototype.
 *
 * Its pool has one connection (connection.ts), for writes and transactions;
 * SELECTs outside a transaction, and prepared queries, run on a second
 * connection of its own (a file's; an in-memory database is one connection's
 * alone). A write waiting for another process's lock holds the pool's
 * connection for up to the busy wait (5 s), and every query behind it waited
 * as long, though in WAL mode a read goes on during another's write: page
 * loads, handshakes and chat commands that only read stalled on a `gredis
 * migrate` or another worker's write. The reader never writes (query_only)
 * and so never waits for a writer; autocommit reads each see what has been
 * committed, as a read on PostgreSQL does. Writes stay on one connection: two
 * would fail each other's transactions (a write after a read, in a snapshot
 * another's commit made stale, fails at once with SQLITE_BUSY_SNAPSHOT) where
 * one queues them.
 */
export class BusyWaitingSqliteClient extends Client_BetterSQLite3 implements ReadConnections {
  /** The pool's connections (one, as connection.ts sets it up). */
  private readonly connections = new Set<BetterSqlite3.Database>();
  private reader: Promise<BetterSqlite3.Database> | undefined;
  private destroyed = false;

  override async acquireRawConnection(): Promise<BetterSqlite3.Database> {
    const connection = (await super.acquireRawConnection()) as BetterSqlite3.Database;
    this.connections.add(connection);
    return connection;
  }

  override async destroyRawConnection(connection: BetterSqlite3.Database): Promise<void> {
    this.connections.delete(connection);
    await super.destroyRawConnection(connection);
  }

  override runner(builder: unknown): ReadRoutingRunner {
    return new ReadRoutingRunner(this, builder);
  }

  /** Undefined in a transaction (its client's), for an in-memory database, or once destroyed. */
  readConnection(): Promise<BetterSqlite3.Database> | undefined {
    const { filename } = this.connectionSettings as { filename: string };
    if (this.transacting || this.destroyed || filename === ':memory:') return undefined;
    return (this.reader ??= this.openReader().catch((error: unknown) => {
      this.reader = undefined; // the next read tries again
      throw error;
    }));
  }

  private async openReader(): Promise<BetterSqlite3.Database> {
    const reader = (await super.acquireRawConnection()) as BetterSqlite3.Database;
    try {
      // Set up as the pool's connection is (busy wait, WAL), then kept to reads.
      const { afterCreate } = (this.config.pool ?? {}) as {
        afterCreate?: (connection: unknown, done: (error?: Error) => void) => void;
      };
      if (afterCreate)
        await new Promise<void>((resolve, reject) =>
          afterCreate(reader, (error) => (error ? reject(error) : resolve())),
        );
      reader.pragma('query_only = ON');
      return reader;
    } catch (error) {
      reader.close();
      throw error;
    }
  }

  override async destroy(callback?: unknown): Promise<void> {
    this.destroyed = true;
    const reader = this.reader;
    this.reader = undefined;
    if (reader) (await reader.catch(() => undefined))?.close();
    return super.destroy(callback) as Promise<void>;
  }

  /**
   * A query queued for the connection while that connection waited for
   * another process's lock fails, at the pool's acquire timeout, as the lock's
   * (DatabaseBusy), not as knex's "Timeout acquiring a connection", which
   * reads as a database that cannot be reached: the file is right there, and
   * the queue is long because the statement ahead waits for the lock.
   */
  override async acquireConnection(): Promise<unknown> {
    const started = performance.now();
    try {
      return (await super.acquireConnection()) as unknown;
    } catch (error) {
      const lockWaited = [...this.connections].some(
        (connection) => (lastLockWait.get(connection) ?? -Infinity) >= started,
      );
      if (isAcquireTimeout(error) && lockWaited)
        throw new DatabaseBusy(
          Math.round(performance.now() - started),
          "the connection, which is waiting for another process's lock on the file",
        );
      throw error;
    }
  }

  /**
   * Has the statements of the pool's connection that wait for another
   * process's lock give up at their next try (within LONGEST_PAUSE_MS),
   * failing with SQLITE_BUSY as at the end of their wait: nothing of them
   * ran. Returns how many were waiting. Statements started later wait as usual.
   */
  stopLockWaits(): number {
    const now = performance.now();
    let waiting = 0;
    for (const connection of this.connections) {
      waitsStopped.set(connection, now);
      if (lastLockWait.get(connection) === Infinity) waiting++;
    }
    return waiting;
  }

  override _query(connection: unknown, query: unknown): Promise<unknown> {
    return retryWhileBusy(connection as BetterSqlite3.Database, () =>
      super._query(connection, query),
    );
  }
}
