import Client_PG from 'knex/lib/dialects/postgres/index.js';
import pg from 'pg';
import { before } from '../deadline.js';
import type { PostgresBackends } from './cancel.js';
import { DatabaseBusy, isAcquireTimeout } from './errors.js';

/**
 * How long the server has to say what the pool's connections are doing. A
 * server that cannot answer in this time is as good as away, and the query's
 * acquire timeout then stands for what it is.
 */
const ASK_MS = 1000;
/**
 * How long one answer stands: the queries queued behind a lock give up one
 * after another, and one look at the server serves them all.
 */
const FRESH_MS = 1000;

interface BackendRow {
  pid: number;
  /**
   * Whether it runs a statement ('active', waiting for a lock or not) or sits
   * in a transaction between statements ('idle in transaction', also when the
   * transaction has failed and awaits its rollback).
   */
  idle_in_transaction: boolean;
  /** Whether its statement waits for a heavyweight lock (a table's, a row's). */
  locked: boolean;
  /** The tables it waits to lock (none for a row's or a transaction's lock). */
  relations: string[];
  /** The server processes holding what it waits for (pg_blocking_pids). */
  holders: number[];
  /** How long its statement has been running (or waiting), or it idle in its transaction, in ms. */
  for_ms: number;
}

/** A lock holder sitting in a transaction between statements, and for how long. */
interface IdleHolderRow {
  pid: number;
  for_ms: number;
}

/** What the pool's connections are busy with, as DatabaseBusy says it. */
interface BusyConnections {
  state: DatabaseBusy['state'];
  waitedFor: string;
}

/**
 * Asks the server, on a connection of its own, what the pool's connections are
 * doing when a query has waited too long for one: waiting for a lock, running
 * statements (slow ones: a pg_sleep, a heavy query, many requests at once), or
 * sitting idle in a transaction (code that opened one and awaits something
 * else before finishing it, as a handler may, or a query that needs a second
 * connection). In each case the server answers, so knex's "Timeout acquiring a
 * connection", which reads as a database that cannot be reached, would send
 * the operator looking for an outage. Nothing when the server does not answer
 * (down, frozen: the timeout then says what is true), or when the pool's
 * connections are idle on the server (handed out, but nothing sent yet).
 */
export class BusyPool {
  private asked: { at: number; answer: Promise<BusyConnections | undefined> } | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly backends: PostgresBackends,
  ) {}

  /**
   * The error for a query that waited `waitedMs` for a connection, when the
   * server says within `withinMs` that the pool's are busy (see the class).
   */
  async explain(waitedMs: number, withinMs = ASK_MS): Promise<DatabaseBusy | undefined> {
    const answer = this.describe();
    if (!(await before(performance.now() + withinMs, answer))) return undefined;
    const busy = await answer;
    return busy && new DatabaseBusy(waitedMs, busy.waitedFor, busy.state);
  }

  private describe(): Promise<BusyConnections | undefined> {
    if (this.asked && performance.now() - this.asked.at < FRESH_MS) return this.asked.answer;
    const answer = this.ask().catch(() => undefined);
    this.asked = { at: performance.now(), answer };
    return answer;
  }

  private async ask(): Promise<BusyConnections | undefined> {
    const pids = this.backends.pids();
    if (pids.length === 0) return undefined;
    const client = new pg.Client({
      connectionString: this.connectionString,
      connectionTimeoutMillis: ASK_MS,
      statement_timeout: ASK_MS,
      query_timeout: ASK_MS,
    });
    client.on('error', () => undefined); // a server lost meanwhile: the query fails too
    try {
      await client.connect();
      const { rows } = await client.query<BackendRow>(
        `select a.pid, a.state <> 'active' as idle_in_transaction,
                wait_event_type = 'Lock' as locked,
                array(select distinct l.relation::regclass::text from pg_locks l
                      where l.pid = a.pid and not l.granted and l.relation is not null) as relations,
                pg_blocking_pids(a.pid) as holders,
                (extract(epoch from clock_timestamp() -
                   case a.state when 'active' then a.query_start else a.state_change end)
                 * 1000)::float8 as for_ms
         from pg_stat_activity a where a.pid = any($1::int[])
           and a.state in ('active', 'idle in transaction', 'idle in transaction (aborted)')`,
        [pids],
      );
      const holders = [...new Set(rows.filter((row) => row.locked).flatMap((row) => row.holders))];
      // Another session's state shows only to its own role, a superuser or
      // pg_read_all_stats: a holder not seen is named without one.
      const idleHolders =
        holders.length === 0
          ? []
          : (
              await client.query<IdleHolderRow>(
                `select pid, (extract(epoch from clock_timestamp() - state_change) * 1000)::float8 as for_ms
                 from pg_stat_activity
                 where pid = any($1::int[]) and state like 'idle in transaction%'`,
                [holders],
              )
            ).rows;
      return describeBusy(rows, pids.length, idleHolders);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * What the pool's connections are doing: waiting for a lock, running
 * statements, idle in a transaction, each that some are doing, in that order;
 * or nothing when none is doing any.
 */
function describeBusy(
  rows: BackendRow[],
  poolSize: number,
  idleHolders: IdleHolderRow[],
): BusyConnections | undefined {
  const locked = rows.filter((row) => row.locked);
  const parts = [
    describeLockWaits(locked, poolSize, idleHolders),
    describeLongest(
      rows.filter((row) => !row.locked && !row.idle_in_transaction),
      poolSize,
      'are running statements',
    ),
    describeLongest(
      rows.filter((row) => row.idle_in_transaction),
      poolSize,
      'are idle in a transaction',
    ),
  ].filter((part) => part !== undefined);
  if (parts.length === 0) return undefined;
  return {
    state: locked.length > 0 ? 'locked' : 'busy',
    waitedFor: `a connection: ${parts.join('; ')}`,
  };
}

/**
 * The pool's connections waiting for a lock, on what and whose; or none. A
 * holder idle in its transaction says so: the usual cause, a session that
 * opened a transaction and left it open (by hand in psql, or code awaiting
 * something else inside one), which only ending that session or its
 * transaction undoes.
 */
function describeLockWaits(
  locked: BackendRow[],
  poolSize: number,
  idleHolders: IdleHolderRow[],
): string | undefined {
  if (locked.length === 0) return undefined;
  const relations = [...new Set(locked.flatMap((row) => row.relations))];
  const holders = [...new Set(locked.flatMap((row) => row.holders))].map((pid) => {
    const idle = idleHolders.find((holder) => holder.pid === pid);
    return idle ? `${pid} (idle in a transaction for ${seconds(idle.for_ms)} s)` : String(pid);
  });
  return [
    `${locked.length} of the pool's ${poolSize} are waiting for a lock`,
    relations.length > 0 ? ` on ${relations.join(', ')}` : '',
    holders.length > 0 ? ` held by server process ${holders.join(', ')}` : '',
  ].join('');
}

/** How many of the pool's connections (`rows`) are `doing` one thing, and which for longest; or none. */
function describeLongest(rows: BackendRow[], poolSize: number, doing: string): string | undefined {
  const longest = rows.reduce<BackendRow | undefined>(
    (found, row) => (found && found.for_ms >= row.for_ms ? found : row),
    undefined,
  );
  if (!longest) return undefined;
  return `${rows.length} of the pool's ${poolSize} ${doing}, the longest for ${seconds(longest.for_ms)} s (server process ${longest.pid})`;
}

/** A duration the server measured, in seconds to a tenth (never negative: clocks differ). */
function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(1);
}

/**
 * Knex's PostgreSQL client, whose queries that give up waiting for a
 * connection fail as the database being busy (DatabaseBusy) when the server
 * says the pool's connections are waiting for a lock, running statements or
 * idle in a transaction. Their statements may run or wait up to the statement
 * timeout (15 s), longer than a query waits for a connection (10 s), and a
 * transaction between statements holds its connection for as long as the code
 * that opened it takes (no statement timeout applies), so a table locked by
 * another session (a migration's ALTER TABLE, a LOCK TABLE by hand), ten slow
 * statements at once, or ten transactions left open, failed every query queued
 * behind them with knex's "Timeout acquiring a connection", which reads as a
 * database that cannot be reached (isConnectionError): the operator looked for
 * an outage while the server answered. A server that does not answer leaves
 * the timeout as it is.
 */
export function busyAwarePgClient(busyPool: BusyPool): typeof Client_PG {
  return class BusyAwarePgClient extends Client_PG {
    override async acquireConnection(): Promise<unknown> {
      const started = performance.now();
      try {
        return (await super.acquireConnection()) as unknown;
      } catch (error) {
        if (!isAcquireTimeout(error)) throw error;
        throw (await busyPool.explain(Math.round(performance.now() - started))) ?? error;
      }
    }
  };
}
