/**
 * Queries that wait behind statements waiting for a lock another connection
 * holds: on PostgreSQL, those queued for one of the pool's connections fail as
 * the lock's (DatabaseBusy), naming the lock, not as a database that cannot be
 * reached, and as the database being busy behind statements that are only
 * slow; a pool stuck on a server that stopped answering still fails as one.
 * /healthz's probe, queued behind them, says the same of the database.
 * On SQLite, reads go on while a write waits for another process's lock.
 */
import pg from 'pg';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { openDatabase } from '../src/db/connection.js';
import { DatabaseProbe } from '../src/db/probe.js';
import { sqliteFileOf } from '../src/db/url.js';
import { PreparedQuery } from '../src/db/prepared.js';
import { DatabaseBusy, isConnectionError, isDatabaseTimeout } from '../src/db/errors.js';
import { failureCause } from '../src/worker/failures.js';
import {
  holdWriteLock,
  lockedPoolError,
  lockTable,
  postgresBackend,
  SHARED_POSTGRES_URL,
  sqliteBackend,
  waitUntilBlockedBy,
} from './helpers/databases.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
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

postgres(
  "queries queued for a connection while the pool's wait for a table another session locked fail as the lock's, naming it and its holder, not as an unreachable database",
  async () => {
    // The statements wait up to 5 s for the lock; a queued query, 1 s for a connection.
    const db = openDatabase(`${database.url}&query_timeout=5000`, { acquireTimeoutMs: 1000 });
    try {
      await db.knex.schema.createTable('locked', (t) => t.integer('x'));
      const lock = await lockTable(locker, database, 'locked');
      const failures: { error: unknown; afterMs: number }[] = [];
      const started = Date.now();
      const queries = Array.from({ length: QUERIES }, () =>
        db
          .knex('locked')
          .select()
          .catch((error: unknown) => failures.push({ error, afterMs: Date.now() - started })),
      );
      // The queued ones give up while the lock is still held.
      await waitFor(() => failures.length >= QUERIES - 10, 4000, 'the queued queries to fail');
      await lock.release();
      await Promise.all(queries);
      assert.is(failures.length, QUERIES - 10, 'the queued ones failed, the waiting ones ran');
      for (const { error, afterMs } of failures) {
        assert.instance(error, DatabaseBusy);
        assert.is((error as DatabaseBusy).code, 'GREDIS_DATABASE_BUSY');
        assert.match((error as Error).message, lockedPoolError(lock));
        assert.not.match(String(error), /Timeout acquiring a connection/);
        assert.ok(isDatabaseTimeout(error), String(error));
        assert.not.ok(isConnectionError(error), String(error));
        assert.is(failureCause(error), 'database');
        assert.ok(afterMs >= 1000 && afterMs < 2500, `failed after ${afterMs} ms`);
      }
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
      const failures: { error: unknown; afterMs: number }[] = [];
      const started = Date.now();
      const queries = Array.from({ length: QUERIES }, () =>
        db.knex
          .raw('select pg_sleep(2.5)')
          .catch((error: unknown) => failures.push({ error, afterMs: Date.now() - started })),
      );
      await Promise.all(queries);
      assert.is(failures.length, QUERIES - 10, 'the queued ones failed, the slow ones ran');
      for (const { error, afterMs } of failures) {
        assert.instance(error, DatabaseBusy);
        assert.is((error as DatabaseBusy).code, 'GREDIS_DATABASE_BUSY');
        const [, seconds] =
          /^database is busy: waited \d+ ms for a connection: 10 of the pool's 10 are running statements, the longest for (\d+\.\d) s \(server process \d+\)$/.exec(
            String((error as Error).message),
          ) ?? [undefined, 'no match'];
        assert.ok(Number(seconds) >= 0.9 && Number(seconds) < 2.5, String(error));
        assert.not.match(String(error), /Timeout acquiring a connection|locked/);
        assert.ok(isDatabaseTimeout(error), String(error));
        assert.not.ok(isConnectionError(error), String(error));
        assert.is(failureCause(error), 'database');
        assert.ok(afterMs >= 1000 && afterMs < 2500, `failed after ${afterMs} ms`);
      }
    } finally {
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
    const shared = new URL(SHARED_POSTGRES_URL);
    const proxy = await TcpProxy.start({
      host: shared.hostname,
      port: Number(shared.port || 5432),
    });
    const url = new URL(database.url);
    url.port = String(proxy.port);
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

sqlite.run();
