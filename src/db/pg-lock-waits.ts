import Client_PG from 'knex/lib/dialects/postgres/index.js';
import pg from 'pg';
import type { PostgresBackends } from './cancel.js';
import { DatabaseBusy } from './errors.js';

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
  /** Whether its statement waits for a heavyweight lock (a table's, a row's). */
  locked: boolean;
  /** The tables it waits to lock (none for a row's or a transaction's lock). */
  relations: string[];
  /** The server processes holding what it waits for (pg_blocking_pids). */
  holders: number[];
}

/**
 * Asks the server, on a connection of its own, whether the pool's connections
 * are waiting for a lock; describes the wait, or undefined when none is (or
 * the server does not answer): the pool is full of statements that are only
 * slow, or the server or the path to it has stalled.
 */
export class PoolLockWaits {
  private asked: { at: number; answer: Promise<string | undefined> } | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly backends: PostgresBackends,
  ) {}

  describe(): Promise<string | undefined> {
    if (this.asked && performance.now() - this.asked.at < FRESH_MS) return this.asked.answer;
    const answer = this.ask().catch(() => undefined);
    this.asked = { at: performance.now(), answer };
    return answer;
  }

  private async ask(): Promise<string | undefined> {
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
        `select wait_event_type = 'Lock' as locked,
                array(select distinct l.relation::regclass::text from pg_locks l
                      where l.pid = a.pid and not l.granted and l.relation is not null) as relations,
                pg_blocking_pids(a.pid) as holders
         from pg_stat_activity a where a.pid = any($1::int[]) and a.state = 'active'`,
        [pids],
      );
      const locked = rows.filter((row) => row.locked);
      if (locked.length === 0) return undefined;
      const relations = [...new Set(locked.flatMap((row) => row.relations))];
      const holders = [...new Set(locked.flatMap((row) => row.holders))];
      return [
        `a connection: ${locked.length} of the pool's ${pids.length} are waiting for a lock`,
        relations.length > 0 ? ` on ${relations.join(', ')}` : '',
        holders.length > 0 ? ` held by server process ${holders.join(', ')}` : '',
      ].join('');
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * Knex's PostgreSQL client, whose queries that give up waiting for a
 * connection fail as the lock's (DatabaseBusy) when the pool's connections are
 * waiting for one. Their statements wait up to the statement timeout (15 s),
 * longer than a query waits for a connection (10 s), so a table locked by
 * another session (a migration's ALTER TABLE, a LOCK TABLE by hand) failed
 * every query queued behind them with knex's "Timeout acquiring a connection",
 * which reads as a database that cannot be reached (isConnectionError): the
 * operator looked for an outage while the server answered, and a session held
 * the lock. A server that does not answer leaves the timeout as it is.
 */
export function lockAwarePgClient(lockWaits: PoolLockWaits): typeof Client_PG {
  return class LockAwarePgClient extends Client_PG {
    override async acquireConnection(): Promise<unknown> {
      const started = performance.now();
      try {
        return (await super.acquireConnection()) as unknown;
      } catch (error) {
        // By name, as errors.ts: knex's ESM entry does not export the class.
        if (!(error instanceof Error && error.name === 'KnexTimeoutError')) throw error;
        const waitedMs = Math.round(performance.now() - started);
        const waitedFor = await lockWaits.describe();
        if (waitedFor) throw new DatabaseBusy(waitedMs, waitedFor);
        throw error;
      }
    }
  };
}
