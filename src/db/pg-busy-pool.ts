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
  /** Whether its statement waits for a heavyweight lock (a table's, a row's). */
  locked: boolean;
  /** The tables it waits to lock (none for a row's or a transaction's lock). */
  relations: string[];
  /** The server processes holding what it waits for (pg_blocking_pids). */
  holders: number[];
  /** How long its statement has been running (or waiting), in ms. */
  running_ms: number;
}

/** What the pool's connections are busy with, as DatabaseBusy says it. */
interface BusyConnections {
  state: DatabaseBusy['state'];
  waitedFor: string;
}

/**
 * Asks the server, on a connection of its own, what the pool's connections are
 * doing when a query has waited too long for one: waiting for a lock, or
 * running statements (slow ones: a pg_sleep, a heavy query, many requests at
 * once). Either way the server answers, so knex's "Timeout acquiring a
 * connection", which reads as a database that cannot be reached, would send
 * the operator looking for an outage. Nothing when the server does not answer
 * (down, frozen: the timeout then says what is true), or when the pool's
 * connections are not busy on the server (held by the process itself).
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
        `select a.pid, wait_event_type = 'Lock' as locked,
                array(select distinct l.relation::regclass::text from pg_locks l
                      where l.pid = a.pid and not l.granted and l.relation is not null) as relations,
                pg_blocking_pids(a.pid) as holders,
                (extract(epoch from clock_timestamp() - a.query_start) * 1000)::float8 as running_ms
         from pg_stat_activity a where a.pid = any($1::int[]) and a.state = 'active'`,
        [pids],
      );
      return describeLockWaits(rows, pids.length) ?? describeRunning(rows, pids.length);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** The pool's connections waiting for a lock, on what and whose; or none. */
function describeLockWaits(rows: BackendRow[], poolSize: number): BusyConnections | undefined {
  const locked = rows.filter((row) => row.locked);
  if (locked.length === 0) return undefined;
  const relations = [...new Set(locked.flatMap((row) => row.relations))];
  const holders = [...new Set(locked.flatMap((row) => row.holders))];
  return {
    state: 'locked',
    waitedFor: [
      `a connection: ${locked.length} of the pool's ${poolSize} are waiting for a lock`,
      relations.length > 0 ? ` on ${relations.join(', ')}` : '',
      holders.length > 0 ? ` held by server process ${holders.join(', ')}` : '',
    ].join(''),
  };
}

/** The pool's connections running statements, and the longest-running one; or none. */
function describeRunning(rows: BackendRow[], poolSize: number): BusyConnections | undefined {
  const longest = rows.reduce<BackendRow | undefined>(
    (found, row) => (found && found.running_ms >= row.running_ms ? found : row),
    undefined,
  );
  if (!longest) return undefined;
  const seconds = (Math.max(0, longest.running_ms) / 1000).toFixed(1);
  return {
    state: 'busy',
    waitedFor: `a connection: ${rows.length} of the pool's ${poolSize} are running statements, the longest for ${seconds} s (server process ${longest.pid})`,
  };
}

/**
 * Knex's PostgreSQL client, whose queries that give up waiting for a
 * connection fail as the database being busy (DatabaseBusy) when the server
 * says the pool's connections are waiting for a lock or running statements.
 * Their statements may run or wait up to the statement timeout (15 s), longer
 * than a query waits for a connection (10 s), so a table locked by another
 * session (a migration's ALTER TABLE, a LOCK TABLE by hand), or ten slow
 * statements at once, failed every query queued behind them with knex's
 * "Timeout acquiring a connection", which reads as a database that cannot be
 * reached (isConnectionError): the operator looked for an outage while the
 * server answered. A server that does not answer leaves the timeout as it is.
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
