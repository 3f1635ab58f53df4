/**
 * Queries that wait behind statements waiting for a lock another connection
 * holds: on PostgreSQL, those queued for one of the pool's connections fail as
 * the lock's (DatabaseBusy), naming the lock and whether its holder sits idle
 * in a transaction, not as a database that cannot be reached, and as the
 * database being busy behind statements that are only slow or transactions
 * left open; a pool stuck on a server that stopped answering still fails as one.
 * /healthz's probe, queued behind them, says the same of the database.
 * On SQLite, reads go on while a write waits for another process's lock, and
 * cancelQueries stops that wait.
 */
import pg from 'pg';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { openDatabase, type Database } from '../src/db/connection.js';
import { DatabaseProbe } from '../src/db/probe.js';
import { sqliteFileOf } from '../src/db/url.js';
import { PreparedQuery } from '../src/db/prepared.js';
import { DatabaseBusy, isConnectionError, isDatabaseTimeout } from '../src/db/errors.js';
import { failureCause } from '../src/worker/failures.js';
import {
  assertDatabaseTimeout,
  holdWriteLock,
  lockedPoolError,
  lockTable,
  postgresBackend,
  proxiedPostgres,
  SHARED_POSTGRES_URL,
  sqliteBackend,
  waitUntilBlockedBy,
} from './helpers/databases.js';
import { settledWithin, sleep, waitFor, within } from './helpers/wait.js';

/** The pool's size (connection.ts), and two more queries queued behind it. */
const QUERIES = 12;

const postgres = suite('PostgreSQL: queries queued behind lock waits');
const database = postgresBackend();
const locker = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
postgres.before(async () => {
  await database.setup();
  await locker.connect();
});
postgres.after(async () => {
  await locker.end();
  await database.teardown();
});

/** A query that failed, and how long after it was made. */
interface Failure {
  error: unknown;
  afterMs: number;
}

/**
 * Makes QUERIES queries at once, more than the pool has connections; `failures`
 * fills as they fail. `queries` settle when they do, failed or not.
 */
function queued(query: () => Promise<unknown>): {
  failures: Failure[];
  queries: Promise<unknown>[];
} {
  const failures: Failure[] = [];
  const started = Date.now();
  const queries = Array.from({ length: QUERIES }, () =>
    query().catch((error: unknown) => failures.push({ error, afterMs: Date.now() - started })),
  );
  return { failures, queries };
}

/**
 * Asserts that a query queued for a connection gave up as DatabaseBusy, a
 * database timeout, once its acquire timeout (1 s) was past and before the
 * statements ahead of it could end; returns its error.
 */
function gaveUpQueueing({ error, afterMs }: Failure): DatabaseBusy {
  assert.instance(error, DatabaseBusy);
  assert.is((error as DatabaseBusy).code, 'GREDIS_DATABASE_BUSY');
  assertDatabaseTimeout(error);
  assert.ok(afterMs >= 1000 && afterMs < 2500, `failed after ${afterMs} ms`);
  return error as DatabaseBusy;
}

postgres(
  "queries queued for a connection while the pool's wait for a table another session locked fail as the lock's, naming it and its holder, not as an unreachable database",
  async () => {
    // The statements wait up to 5 s for the lock; a queued query, 1 s for a connection.
    const db = openDatabase(`${database.url}&query_timeout=5000`, { acquireTimeoutMs: 1000 });
    try {
      await db.knex.schema.createTable('locked', (t) => t.integer('x'));
      const lock = await lockTable(locker, database, 'locked');
      const { failures, queries } = queued(() => db.knex('locked').select());
      // The queued ones give up while the lock is still held.
      await waitFor(() => failures.length >= QUERIES - 10, 4000, 'the queued queries to fail');
      await lock.release();
      await Promise.all(queries);
      assert.is(failures.length, QUERIES - 10, 'the queued ones failed, the waiting ones ran');
      for (const failure of failures)
        assert.match(gaveUpQueueing(failure).message, lockedPoolError(lock));
    } finally {
      await locker.query('rollback').catch(() => undefined);
      await db.close();
    }
  },
);

postgres(
  "queries queued for a connection while the pool's run slow statements fail as the database being busy, saying how long the longest has run, not as an unreachable database",
  async () => {
    const db = openDatabase(database.url, { acquireTimeoutMs: 1000 });
    try {
      const { failures, queries } = queued(() => db.knex.raw('select pg_sleep(2.5)'));
      await Promise.all(queries);
      assert.is(failures.length, QUERIES - 10, 'the queued ones failed, the slow ones ran');
      for (const failure of failures) {
        const error = gaveUpQueueing(failure);
        const [, seconds] =
          /^database is busy: waited \d+ ms for a connection: 10 of the pool's 10 are running statements, the longest for (\d+\.\d) s \(server process \d+\)$/.exec(
            error.message,
          ) ?? [undefined, 'no match'];
        assert.ok(Number(seconds) >= 0.9 && Number(seconds) < 2.5, String(error));
        assert.not.match(String(error), /locked/);
      }
    } finally {
      await db.close();
    }
  },
);

/** Transactions of the pool's sitting idle, and how to let them finish. */
interface IdleTransactions {
  /** Their server processes. */
  pids: number[];
  /** Lets them commit, and resolves once they have; idempotent. */
  finish(): Promise<void>;
}

/**
 * Opens `count` transactions on `db`'s pool, each running a statement then
 * awaiting something else before it finishes, as a handler may inside one:
 * resolves once they all sit idle in their transactions.
 */
async function idleTransactions(db: Database, count: number): Promise<IdleTransactions> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const opened: Promise<number>[] = [];
  const transactions = Array.from({ length: count }, () => {
    let open!: (pid: number) => void;
    opened.push(new Promise((resolve) => (open = resolve)));
    return db.knex.transaction(async (trx) => {
      const { rows } = await trx.raw<{ rows: { pid: number }[] }>('select pg_backend_pid() as pid');
      open(rows[0]!.pid);
      await released;
    });
  });
  const finish = async (): Promise<void> => {
    release();
    await Promise.all(transactions);
  };
  try {
    return { pids: await within(Promise.all(opened), 4000, 'the transactions to open'), finish };
  } catch (error) {
    await finish();
    throw error;
  }
}

postgres(
  "a query queued for a connection while the pool's all sit idle in transactions fails as the database being busy, saying how long the longest has sat, not as an unreachable database; /healthz's probe says the same",
  async () => {
    const db = openDatabase(database.url, { acquireTimeoutMs: 1000 });
    const open = await idleTransactions(db, 10);
    try {
      const started = Date.now();
      const error = await db.knex.raw('select 1').then(
        () => undefined,
        (failure: unknown) => failure,
      );
      const afterMs = Date.now() - started;
      assert.instance(error, DatabaseBusy);
      const busy = error as DatabaseBusy;
      assert.is(busy.code, 'GREDIS_DATABASE_BUSY');
      assert.is(busy.state, 'busy');
      const [, seconds, pid] =
        /^database is busy: waited \d+ ms for a connection: 10 of the pool's 10 are idle in a transaction, the longest for (\d+\.\d) s \(server process (\d+)\)$/.exec(
          busy.message,
        ) ?? [];
      // Idle since before the query was queued, which waited 1 s.
      assert.ok(Number(seconds) >= 0.9 && Number(seconds) < 2.5, busy.message);
      assert.ok(open.pids.includes(Number(pid)), `${busy.message} names one of ${open.pids}`);
      assert.ok(isDatabaseTimeout(error), busy.message);
      assert.not.ok(isConnectionError(error), busy.message);
      assert.is(failureCause(error), 'database');
      assert.ok(afterMs >= 1000 && afterMs < 2500, `failed after ${afterMs} ms`);
      const readiness = await new DatabaseProbe(db).check();
      assert.is(readiness.ok, false);
      assert.match(
        readiness.error!,
        /^database is busy: waited \d+ ms for a connection: 10 of the pool's 10 are idle in a transaction, the longest for \d+\.\d s \(server process \d+\)$/,
      );
      await open.finish();
      assert.equal((await db.knex.raw<{ rows: unknown[] }>('select 1 as x')).rows, [{ x: 1 }]);
    } finally {
      await open.finish();
      await db.close();
    }
  },
);

postgres(
  "a query queued for a connection while some of the pool's run slow statements and the others sit idle in transactions: the error says both",
  async () => {
    const db = openDatabase(database.url, { acquireTimeoutMs: 1000 });
    const open = await idleTransactions(db, 5);
    try {
      const slow = Array.from({ length: 5 }, () => db.knex.raw('select pg_sleep(2.5)').then());
      const error = await db.knex.raw('select 1').then(
        () => undefined,
        (failure: unknown) => failure,
      );
      assert.instance(error, DatabaseBusy);
      assert.is((error as DatabaseBusy).state, 'busy');
      assert.match(
        (error as Error).message,
        /^database is busy: waited \d+ ms for a connection: 5 of the pool's 10 are running statements, the longest for \d+\.\d s \(server process \d+\); 5 of the pool's 10 are idle in a transaction, the longest for \d+\.\d s \(server process \d+\)$/,
      );
      await Promise.all(slow);
    } finally {
      await open.finish();
      await db.close();
    }
  },
);

postgres(
  "a lock's holder that is running a statement, not idle in its transaction, is named without saying it is idle",
  async () => {
    const db = openDatabase(database.url, { acquireTimeoutMs: 1000 });
    try {
      await db.knex.schema.createTable('held_running', (t) => t.integer('x'));
      const lock = await lockTable(locker, database, 'held_running');
      const running = locker.query('select pg_sleep(2)');
      const queries = Array.from({ length: 11 }, () =>
        db
          .knex('held_running')
          .select()
          .then(
            () => undefined,
            (error: unknown) => error,
          ),
      );
      const queued = await within(queries[10]!, 4000, 'the queued query to fail');
      assert.instance(queued, DatabaseBusy);
      assert.match(
        (queued as Error).message,
        new RegExp(
          `^database is locked: waited \\d+ ms for a connection: 10 of the pool's 10 are waiting for a lock on (${lock.schema}\\.)?held_running held by server process ${lock.holder}$`,
        ),
      );
      await running;
      await lock.release();
      await Promise.all(queries);
    } finally {
      await locker.query('rollback').catch(() => undefined);
      await db.close();
    }
  },
);

postgres(
  "/healthz's probe while the pool's connections all wait for a table another session locked: not ready, saying the database is locked, on what and whose, within a second",
  async () => {
    const db = openDatabase(database.url);
    const probe = new DatabaseProbe(db);
    try {
      assert.equal(await probe.check(), { ok: true });
      await db.knex.schema.createTable('probed', (t) => t.integer('x'));
      const lock = await lockTable(locker, database, 'probed');
      // then(): a builder runs only once awaited.
      const queries = Array.from({ length: 10 }, () => db.knex('probed').select().then());
      await waitUntilBlockedBy(lock.holder, "the pool's ten statements to wait for the lock", {
        count: 10,
      });
      await sleep(1000); // the first check's answer no longer stands
      const started = performance.now();
      const readiness = await probe.check();
      const took = performance.now() - started;
      assert.is(readiness.ok, false);
      assert.match(readiness.error!, lockedPoolError(lock));
      assert.ok(took < 1000, `answered in ${Math.round(took)} ms`);
      await lock.release();
      await Promise.all(queries);
      await sleep(1000);
      assert.equal(await probe.check(), { ok: true }, 'ready once the lock is released');
    } finally {
      await locker.query('rollback').catch(() => undefined);
      await db.close();
    }
  },
);

postgres(
  "/healthz's probe while the pool's connections all run slow statements: not ready, saying the database is busy and for how long the longest has run",
  async () => {
    const db = openDatabase(database.url);
    const probe = new DatabaseProbe(db);
    try {
      const queries = Array.from({ length: 10 }, () => db.knex.raw('select pg_sleep(2)').then());
      await sleep(300);
      const readiness = await probe.check();
      assert.is(readiness.ok, false);
      assert.match(
        readiness.error!,
        /^database is busy: waited \d+ ms for a connection: 10 of the pool's 10 are running statements, the longest for \d+\.\d s \(server process \d+\)$/,
      );
      await Promise.all(queries);
    } finally {
      await db.close();
    }
  },
);

postgres(
  "a pool full of statements a server that stopped answering holds: a queued query still fails as the database being unreachable, and /healthz's probe says it has no answer",
  async () => {
    const { proxy, url } = await proxiedPostgres(database.url);
    const db = openDatabase(`${url.toString()}&query_timeout=1500`, { acquireTimeoutMs: 1000 });
    try {
      // Ten connections open, then silenced: the statements sent on them hear
      // nothing, and a connection to ask the server what they wait for is refused.
      await Promise.all(Array.from({ length: 10 }, () => db.knex.raw('select pg_sleep(0.2)')));
      proxy.freeze();
      const started = Date.now();
      const queries = Array.from({ length: QUERIES }, () =>
        db.knex.raw('select 1').then(
          () => undefined,
          (error: unknown) => ({ error, afterMs: Date.now() - started }),
        ),
      );
      const [queued] = await within(
        Promise.all(queries.slice(10)),
        4000,
        'the queued queries to fail',
      );
      assert.ok(queued, 'the queued query ran');
      assert.not.instance(queued.error, DatabaseBusy);
      assert.match(String(queued.error), /Timeout acquiring a connection/);
      assert.ok(isConnectionError(queued.error), String(queued.error));
      assert.ok(queued.afterMs < 2500, `failed after ${queued.afterMs} ms`);
      // /healthz's probe queued behind the frozen ones: away, not busy.
      assert.equal(await new DatabaseProbe(db).check(), {
        ok: false,
        error: 'no answer within 500 ms',
      });
      await Promise.all(queries); // the frozen ones give up at their query timeout
    } finally {
      proxy.stop();
      await db.close();
    }
  },
);

postgres.run();

const sqlite = suite("SQLite: reads while a write waits for another process's lock");
const file = sqliteBackend();
sqlite.before(() => file.setup());
sqlite.after(() => file.teardown());

sqlite(
  "reads outside a transaction are answered at once while a write waits for another process's write lock, and see the write once it is in",
  async () => {
    const db = file.open();
    await db.knex.schema.createTable('notes', (t) => t.integer('x'));
    await db.knex('notes').insert({ x: 1 });
    assert.equal(await db.knex.raw('pragma journal_mode'), [{ journal_mode: 'wal' }]);
    const prepared = new PreparedQuery<{ x: number }>(db, 'notes', 'select x from notes');
    const { released } = await holdWriteLock(sqliteFileOf(file.url)!, 1500);
    const write = db.knex('notes').insert({ x: 2 });
    const written = write.then(() => Date.now());
    await sleep(100); // the write has the connection, and waits for the lock
    const started = Date.now();
    // A query builder's select, a raw one, and a prepared one (handshakes, chat commands).
    const reads = await within(
      Promise.all([
        db.knex('notes').select('x'),
        db.knex.raw('select count(*) as n from notes'),
        prepared.rows([]),
      ]),
      5000,
      'the reads',
    );
    const took = Date.now() - started;
    assert.equal(reads, [[{ x: 1 }], [{ n: 1 }], [{ x: 1 }]]);
    assert.ok(took < 300, `the reads took ${took} ms`);
    assert.is(await settledWithin(written, 0), 'pending', 'the write still waits for the lock');
    await released;
    const at = await written;
    assert.ok(at - started >= 1000, 'the write went through once the lock was released');
    assert.equal(await db.knex('notes').select('x').orderBy('x'), [{ x: 1 }, { x: 2 }]);
    assert.equal(await prepared.rows([]), [{ x: 1 }, { x: 2 }]);
  },
);

sqlite(
  "cancelQueries stops a write's wait for another process's lock: it fails at once, SQLITE_BUSY, not at the end of its 5 s wait, and wrote nothing",
  async () => {
    const db = file.open();
    await db.knex.schema.createTable('cancelled', (t) => t.integer('x'));
    const holder = await holdWriteLock(sqliteFileOf(file.url)!, 30_000);
    try {
      const started = performance.now();
      const write = db
        .knex('cancelled')
        .insert({ x: 1 })
        .then(
          () => 'written',
          (error: unknown) => error,
        );
      let settled = false;
      void write.then(() => (settled = true));
      // Until the write is found waiting, and stopped: cancelQueries says so.
      await waitFor(
        async () => settled || (await db.cancelQueries(0)) > 0,
        10_000,
        'the write to be found waiting',
      );
      const error = await within(write, 1000, 'the stopped write to fail');
      assert.is((error as { code?: unknown }).code, 'SQLITE_BUSY');
      const took = performance.now() - started;
      assert.ok(took < 2000, `the write failed after ${Math.round(took)} ms`);
    } finally {
      await holder.release();
    }
    assert.equal(await db.knex('cancelled').select('x'), []);
  },
);

sqlite.run();
