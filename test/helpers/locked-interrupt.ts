/**
 * Ctrl-C to a gredis command while one of its statements waits for a table
 * lock on PostgreSQL: the command must end at once, its statement cancelled on
 * the server rather than left queued to run once the lock goes.
 */
import pg from 'pg';
import * as assert from 'uvu/assert';
import type { RunningGredis } from './cli.js';
import type { TcpProxy } from './tcp-proxy.js';
import {
  blockedBy,
  lockTable,
  proxiedPostgres,
  SHARED_POSTGRES_URL,
  waitUntilBlockedBy,
  type DatabaseBackend,
  type TableLock,
} from './databases.js';

export interface LockedStatement {
  /** The table of `backend`'s schema whose lock the statement waits for. */
  table: string;
  /** Which statement waits, for the message if it never does. */
  waiting: string;
  /** Only its rows that this SQL condition selects are locked (FOR UPDATE), not the table. */
  rowsWhere?: string;
  /** What is sent to the command: Ctrl-C (SIGINT) by default. */
  signal?: NodeJS.Signals;
  /** The command's exit code on the signal. */
  code: number;
  /**
   * Resolves once the command is where the table is to be locked (its prompt,
   * past statements on the table that must not wait). Without it the table is
   * locked before the command starts.
   */
  lockWhen?: (run: RunningGredis) => Promise<unknown>;
  /** Once the table is locked: what takes the command on to its statement (the prompt's answers). */
  thenGo?: (run: RunningGredis) => void;
}

/**
 * Runs `start()`'s command with `statement.table` (or some of its rows)
 * locked until its statement waits, then presses Ctrl-C (or sends
 * `statement.signal`): asserts it exits with `statement.code` within 2 s
 * (well inside the 15 s statement timeout it would otherwise wait for) and that
 * nothing waits for the lock any more: each command runs its statements through
 * unlessCancelled, which cancels them on the server. Resolves with
 * the command's output, for the caller's own checks; the command is killed and
 * the lock released either way.
 */
export async function interruptWhileLocked(
  backend: DatabaseBackend,
  start: () => RunningGredis,
  { table, rowsWhere, signal, waiting, code, lockWhen, thenGo }: LockedStatement,
): Promise<{ stdout: string; stderr: string }> {
  const locker = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
  await locker.connect();
  let run: RunningGredis | undefined;
  let lock: TableLock | undefined;
  try {
    if (lockWhen === undefined) lock = await lockTable(locker, backend, table, rowsWhere);
    run = start();
    if (lockWhen !== undefined) {
      await lockWhen(run);
      lock = await lockTable(locker, backend, table, rowsWhere);
    }
    thenGo?.(run);
    await waitUntilBlockedBy(lock!.holder, waiting, { timeoutMs: 10_000 });
    assert.equal(await run.interrupt(2000, 'the command to end', signal), { code, signal: null });
    assert.is(await blockedBy(lock!.holder), 0, 'the statement was cancelled on the server');
    return { stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    run?.child.kill('SIGKILL');
    await lock?.release();
    await locker.end();
  }
}

/** `backend`'s database behind a proxy, and a connection of the test's own beside it. */
export interface ProxiedDatabase {
  /** `backend`'s URL through the proxy, for the command. */
  url: string;
  /** Between the command and the server: stall() or freeze() it to stop the server answering. */
  proxy: TcpProxy;
  /** Locks `table` of `backend`'s schema on the test's own connection, past the proxy. */
  lock(table: string): Promise<TableLock>;
}

/**
 * Runs `test` with `backend`'s database reached through a TcpProxy: a command
 * on `url` waits behind a lock the test takes, then loses the server (the
 * proxy stalled or frozen), as when a second Ctrl-C must not wait for the
 * first's cancel. The proxy stops, the lock is released and the test's
 * connection ended after `test`, whatever it did; it kills its own command.
 */
export async function withProxiedDatabase(
  backend: DatabaseBackend,
  test: (database: ProxiedDatabase) => Promise<void>,
): Promise<void> {
  const locker = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
  await locker.connect();
  const { proxy, url } = await proxiedPostgres(backend.url);
  let lock: TableLock | undefined;
  try {
    await test({
      url: url.href,
      proxy,
      lock: async (table) => (lock = await lockTable(locker, backend, table)),
    });
  } finally {
    // The command's connections closed: the server rolls their transactions back.
    proxy.stop();
    await lock?.release();
    await locker.end();
  }
}
