/**
 * Database URLs and connections: the accepted forms, SQLite's pragmas on every
 * connection, PostgreSQL's search_path, and values that read back the same on both.
 */
import BetterSqlite3 from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { openDatabase, type Database, type OpenDatabaseOptions } from '../src/db/connection.js';
import {
  DatabaseBusy,
  InvalidDatabaseUrl,
  isConnectionError,
  isDatabaseTimeout,
} from '../src/db/errors.js';
import { PreparedQuery } from '../src/db/prepared.js';
import { SQLITE_BUSY_BLOCK_MS } from '../src/db/sqlite-busy.js';
import { parseDatabaseUrl } from '../src/db/url.js';
import { InvalidLayerUrl } from '../src/layer/errors.js';
import { parseLayerUrl } from '../src/layer/url.js';
import { redactSecrets } from '../src/redact.js';
import {
  fromDbBoolean,
  fromDbInteger,
  fromDbTimestamp,
  toDbBoolean,
  toDbTimestamp,
} from '../src/db/values.js';
import { databaseUrlFromEnv, DEFAULTS } from '../src/settings.js';
import { failureCause } from '../src/worker/failures.js';
import {
  allDatabases,
  assertDatabaseTimeout,
  holdWriteLock,
  SHARED_POSTGRES_URL,
} from './helpers/databases.js';
import { sleep, waitFor } from './helpers/wait.js';

const urls = suite('database URLs');

urls('sqlite:// forms: relative to the working directory, absolute, and in-memory', () => {
  assert.equal(parseDatabaseUrl('sqlite://./gredis.sqlite3'), {
    kind: 'sqlite',
    filename: resolve(process.cwd(), 'gredis.sqlite3'),
    memory: false,
  });
  assert.equal(parseDatabaseUrl('sqlite://data/x.db'), {
    kind: 'sqlite',
    filename: resolve(process.cwd(), 'data/x.db'),
    memory: false,
  });
  assert.equal(parseDatabaseUrl('sqlite:///var/lib/gredis/db.sqlite3'), {
    kind: 'sqlite',
    filename: '/var/lib/gredis/db.sqlite3',
    memory: false,
  });
  assert.equal(parseDatabaseUrl('sqlite://:memory:'), {
    kind: 'sqlite',
    filename: ':memory:',
    memory: true,
  });
  // Percent-decoded, as in any URL (dj-database-url does the same).
  assert.equal(parseDatabaseUrl('sqlite:///srv/my%20data/chat%3F.sqlite3'), {
    kind: 'sqlite',
    filename: '/srv/my data/chat?.sqlite3',
    memory: false,
  });
});

urls(
  'postgres:// and postgresql:// go to pg; search_path and query_timeout are taken out and validated',
  () => {
    assert.equal(parseDatabaseUrl('postgres://u:p@db:5432/app'), {
      kind: 'postgres',
      connectionString: 'postgres://u:p@db:5432/app',
      searchPath: undefined,
      queryTimeoutMs: undefined,
    });
    assert.equal(parseDatabaseUrl('postgresql://u@db/app?search_path=t_1,public&sslmode=require'), {
      kind: 'postgres',
      connectionString: 'postgresql://u@db/app?sslmode=require',
      searchPath: ['t_1', 'public'],
      queryTimeoutMs: undefined,
    });
    // query_timeout sets the server's statement timeout too (openDatabase): taken out of pg's hands.
    assert.equal(parseDatabaseUrl('postgres://db/app?query_timeout=0&application_name=x'), {
      kind: 'postgres',
      connectionString: 'postgres://db/app?application_name=x',
      searchPath: undefined,
      queryTimeoutMs: 0,
    });
    for (const bad of ['', '1.5', '-1', '15s', '9999999999'])
      assert.throws(
        () => parseDatabaseUrl(`postgres://db/app?query_timeout=${bad}`),
        (error: unknown) =>
          error instanceof InvalidDatabaseUrl &&
          /query_timeout .* milliseconds/.test(error.message),
        `query_timeout ${JSON.stringify(bad)}`,
      );
    for (const bad of ["x'; drop table auth_user; --", 'a b', '', '1abc'])
      assert.throws(
        () => parseDatabaseUrl(`postgres://db/app?search_path=${encodeURIComponent(bad)}`),
        (error: unknown) => error instanceof InvalidDatabaseUrl,
        `search_path ${JSON.stringify(bad)}`,
      );
  },
);

urls('anything else throws InvalidDatabaseUrl (code, no password in the message)', () => {
  for (const url of [
    'mysql://root:hunter2@db/x',
    'redis://localhost',
    'gredis.sqlite3',
    '',
    'sqlite://',
    'sqlite:gredis.sqlite3',
    'sqlite:///tmp/',
    'sqlite:///tmp/x.sqlite3?mode=ro', // would have named the file "x.sqlite3?mode=ro"
    'sqlite:///tmp/x%ZZ.sqlite3',
    'postgres://:hunter2@[bad',
  ]) {
    try {
      parseDatabaseUrl(url);
      assert.unreachable(`${JSON.stringify(url)} accepted`);
    } catch (error) {
      assert.instance(error, InvalidDatabaseUrl, url);
      assert.is((error as InvalidDatabaseUrl).code, 'GREDIS_INVALID_DATABASE_URL');
      assert.not.match((error as Error).message, /hunter2/);
      assert.match((error as Error).message, /DATABASE_URL/);
    }
  }
  assert.throws(
    () => openDatabase('nosuch://'),
    (error: unknown) => error instanceof InvalidDatabaseUrl,
  );
});

urls('redactSecrets hides passwords, even in URLs that do not parse, and nothing else', () => {
  assert.is(redactSecrets('postgres://u:s3cr:et@db:5432/x'), 'postgres://u:***@db:5432/x');
  assert.is(redactSecrets('postgres://u@db/x'), 'postgres://u@db/x');
  assert.is(redactSecrets('sqlite://./a.sqlite3'), 'sqlite://./a.sqlite3');
  // Unescaped "/", "#", "?" or "@" in the password (what makes such a URL unparseable).
  for (const password of ['pa/ssWORD', 'pa#ss', 'pa?ss', 's3cr3t@PW'])
    assert.is(
      redactSecrets(`postgres://postgres:${password}@127.0.0.1:5432/db`),
      'postgres://postgres:***@127.0.0.1:5432/db',
    );
  assert.is(
    redactSecrets('postgres://u@db/x?sslmode=require&password=QSECRET'),
    'postgres://u@db/x?sslmode=require&password=***',
  );
  // Several URLs, and URLs inside a message.
  assert.is(
    redactSecrets('redis://:a/b@h1:6379/0,redis://:c@h2:6379/0?sentinel_password=d'),
    'redis://:***@h1:6379/0,redis://:***@h2:6379/0?sentinel_password=***',
  );
  assert.is(
    redactSecrets('"redis://:LAY#ERpw@127.0.0.1:99999/0" is not a URL'),
    '"redis://:***@127.0.0.1:99999/0" is not a URL',
  );
});

/** What `work` throws (undefined if nothing). */
function thrown(work: () => unknown): Error | undefined {
  try {
    work();
  } catch (caught) {
    return caught as Error;
  }
  return undefined;
}

urls('errors about a bad URL never show its password', () => {
  for (const url of [
    'postgres://postgres:pa/ssWORD@127.0.0.1:5432/db',
    'postgres://postgres:s3cr3t@PW@127.0.0.1:5432/db?search_path=bad name',
  ]) {
    const error = thrown(() => parseDatabaseUrl(url));
    assert.instance(error, InvalidDatabaseUrl);
    assert.not.match(error!.message, /ssWORD|s3cr3t|PW@/, error!.message);
  }
  for (const url of [
    'redis://:LAYERpw@127.0.0.1:99999/0',
    'redis://:LAY/ERpw@127.0.0.1:6379/0',
    'redis://127.0.0.1:6379/0?password=QPpw',
    'redis+sentinel://:SENTpw@h:26379/m?sentinel_password=SENT2pw',
  ]) {
    const error = thrown(() => parseLayerUrl(url));
    assert.instance(error, InvalidLayerUrl, url);
    assert.not.match(error!.message, /LAYERpw|ERpw|QPpw|SENTpw|SENT2pw/, error!.message);
  }
});

urls('a port out of range is named, not "not a URL"', () => {
  const layer = thrown(() => parseLayerUrl('redis://127.0.0.1:99999/0'));
  assert.instance(layer, InvalidLayerUrl);
  assert.match(layer!.message, 'port 99999 is out of range (0–65535)');
  const database = thrown(() => parseDatabaseUrl('postgres://u:pw@[::1]:70000/db'));
  assert.instance(database, InvalidDatabaseUrl);
  assert.match(database!.message, 'port 70000 is out of range (0–65535)');
  assert.match(thrown(() => parseLayerUrl('redis://a b:6379/0'))!.message, 'not a URL');
});

urls('DATABASE_URL overrides the default sqlite://./gredis.sqlite3', () => {
  const saved = process.env.DATABASE_URL;
  try {
    delete process.env.DATABASE_URL;
    assert.is(databaseUrlFromEnv(), DEFAULTS.databaseUrl);
    assert.is(DEFAULTS.databaseUrl, 'sqlite://./gredis.sqlite3');
    process.env.DATABASE_URL = ' postgres://db/x ';
    assert.is(databaseUrlFromEnv(), 'postgres://db/x');
    process.env.DATABASE_URL = '';
    assert.is(databaseUrlFromEnv(), DEFAULTS.databaseUrl);
  } finally {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  }
});

urls.run();

const sqlite = suite('SQLite connections');

/**
 * Runs `work`, and returns what it returned and the longest the event loop
 * stalled meanwhile: the widest gap between ticks of a 5 ms timer.
 * (perf_hooks' monitorEventLoopDelay did not show these stalls.)
 */
async function stallsDuring<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 5);
  try {
    const result = await work();
    await sleep(20); // a tick after the last stall, to see it
    return { result, stallMs };
  } finally {
    clearInterval(probe);
  }
}

/**
 * Runs `body` on a SQLite database in a file of its own, opened with `options`;
 * the handle is closed and the file's temporary directory removed after.
 */
async function withSqliteFile(
  options: OpenDatabaseOptions,
  body: (db: Database, file: string) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gredis-conn-'));
  const file = join(dir, 'db.sqlite3');
  const db = openDatabase(`sqlite://${file}`, options);
  try {
    await body(db, file);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

sqlite('a file database runs with WAL, foreign keys and a busy timeout of a few ms', async () => {
  await withSqliteFile({}, async (db) => {
    assert.is(db.kind, 'sqlite');
    const pragma = async (name: string): Promise<unknown> =>
      Object.values(((await db.knex.raw(`pragma ${name}`)) as Record<string, unknown>[])[0]!)[0];
    assert.is(await pragma('journal_mode'), 'wal');
    assert.is(await pragma('foreign_keys'), 1);
    // SQLite's own wait blocks the event loop: the rest of the wait is Gredis's (below).
    assert.is(await pragma('busy_timeout'), SQLITE_BUSY_BLOCK_MS);
    await db.close(); // and again after: a second close is harmless
  });
});

sqlite(
  "a write the file's lock holds past the busy timeout fails as a database timeout, not a bug",
  async () => {
    // A busy timeout of 300 ms, where it is 5 s by default.
    await withSqliteFile({ busyTimeoutMs: 300 }, async (db, file) => {
      // Another process's connection, as a second `gredis` on the same file has.
      const other = new BetterSqlite3(file);
      try {
        await db.knex.schema.createTable('t', (t) => t.integer('x'));
        other.exec('begin immediate');
        const started = Date.now();
        const error = await db
          .knex('t')
          .insert({ x: 1 })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        const waited = Date.now() - started;
        assert.ok(waited >= 290 && waited < 1000, `failed after ${waited} ms`);
        // The driver's own error, as when SQLite's busy timeout gave up.
        assert.is((error as { code?: unknown }).code, 'SQLITE_BUSY');
        assert.match(String(error), /insert into .* - database is locked$/);
        assert.ok(isDatabaseTimeout(error), String(error));
        assert.is(failureCause(error), 'database');
        other.exec('rollback');
        await db.knex('t').insert({ x: 1 });
      } finally {
        other.close();
      }
    });
  },
);

sqlite(
  "queries queued behind a write waiting for another process's lock fail as the lock's, soon after the busy timeout, not as an unreachable database",
  async () => {
    // The acquire timeout follows: 300 ms + SQLITE_ACQUIRE_MARGIN_MS (1 s).
    await withSqliteFile({ busyTimeoutMs: 300 }, async (db, file) => {
      await db.knex.schema.createTable('t', (t) => t.integer('x'));
      const { released } = await holdWriteLock(file, 3000);
      const started = Date.now();
      // One connection: each write waits 300 ms for the lock in turn, and
      // those still queued at the acquire timeout give up there.
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, x) =>
          db
            .knex('t')
            .insert({ x })
            .then(
              () => undefined,
              (error: unknown) => ({ error, afterMs: Date.now() - started }),
            ),
        ),
      );
      const failures = outcomes.filter((outcome) => outcome !== undefined);
      assert.is(failures.length, 10, 'a write went through: queued past the lock?');
      for (const { error, afterMs } of failures) {
        assert.match(String(error), /database is locked/);
        assertDatabaseTimeout(error);
        assert.ok(afterMs < 2500, `failed after ${afterMs} ms`);
      }
      const queued = failures.filter(({ error }) => error instanceof DatabaseBusy);
      assert.ok(queued.length > 0, 'no query timed out queueing: a longer lock?');
      for (const { error, afterMs } of queued) {
        assert.is((error as DatabaseBusy).code, 'GREDIS_DATABASE_BUSY');
        assert.ok(afterMs >= 1250, `gave up queueing after ${afterMs} ms`);
      }
      await released;
      await db.knex('t').insert({ x: 10 });
    });
  },
);

sqlite(
  "a write waiting for another process's write lock leaves the event loop running, and goes through once the lock is released",
  async () => {
    await withSqliteFile({}, async (db, file) => {
      await db.knex.schema.createTable('t', (t) => t.integer('x'));
      const { released } = await holdWriteLock(file, 1500);
      const started = Date.now();
      // A write on its own, and a transaction whose first statement writes.
      const { stallMs } = await stallsDuring(() =>
        Promise.all([
          db.knex('t').insert({ x: 1 }),
          db.knex.transaction(async (trx) => {
            await trx('t').insert({ x: 2 });
            await trx('t').insert({ x: 3 });
          }),
        ]),
      );
      const waited = Date.now() - started;
      await released;
      assert.ok(waited >= 1000, `written after ${waited} ms: while the lock was held?`);
      assert.ok(stallMs < 300, `the event loop stalled for ${Math.round(stallMs)} ms`);
      const rows = (await db.knex('t').orderBy('x')) as { x: number }[];
      assert.equal(
        rows.map((row) => row.x),
        [1, 2, 3],
      );
    });
  },
);

sqlite('an in-memory database has foreign keys on too (WAL does not apply)', async () => {
  const db = openDatabase('sqlite://:memory:');
  try {
    const [row] = (await db.knex.raw('pragma foreign_keys')) as { foreign_keys: number }[];
    assert.is(row!.foreign_keys, 1);
  } finally {
    await db.close();
  }
});

sqlite.run();

const pg = suite('PostgreSQL connections');

pg(
  "?search_path= puts every table in that schema; pg's options=-c search_path= works too",
  async () => {
    const admin = openDatabase(SHARED_POSTGRES_URL);
    const schema = `t_conn_${process.pid}`;
    await admin.knex.raw('create schema ??', [schema]);
    try {
      const viaParam = openDatabase(`${SHARED_POSTGRES_URL}?search_path=${schema}`);
      assert.is(viaParam.kind, 'postgres');
      await viaParam.knex.schema.createTable('probe', (t) => t.integer('x'));
      await viaParam.close();
      const { rows } = (await admin.knex.raw(
        'select table_schema from information_schema.tables where table_name = ?',
        ['probe'],
      )) as { rows: { table_schema: string }[] };
      assert.equal(
        rows.map((r) => r.table_schema),
        [schema],
      );
      const viaOptions = openDatabase(
        `${SHARED_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      );
      assert.ok(await viaOptions.knex.schema.hasTable('probe'));
      await viaOptions.close();
    } finally {
      await admin.knex.raw('drop schema ?? cascade', [schema]);
      await admin.close();
    }
  },
);

pg('a read whose backend is terminated under it runs again on another connection', async () => {
  const db = openDatabase(SHARED_POSTGRES_URL);
  const admin = openDatabase(SHARED_POSTGRES_URL);
  // A unique text, so that only this query's backend is found and terminated.
  const tag = `gredis_lost_${process.pid}_${Date.now()}`;
  const query = new PreparedQuery<{ tag: string }>(
    db,
    'gredis_test_lost',
    `select pg_sleep(2), ?::text as tag, '${tag}' as marker`,
  );
  try {
    const answer = query.rows([tag]);
    const killed = await waitFor(
      async () => {
        const { rows } = (await admin.knex.raw(
          `select pg_terminate_backend(pid) as done from pg_stat_activity
          where query like ? and state = 'active' and pid <> pg_backend_pid()`,
          [`%'${tag}' as marker%`],
        )) as { rows: { done: boolean }[] };
        return rows.some((row) => row.done);
      },
      5000,
      'the query to be running',
    );
    assert.ok(killed);
    assert.equal(await answer, [{ pg_sleep: '', tag, marker: tag }]);
  } finally {
    await db.close();
    await admin.close();
  }
});

pg(
  'a query left unanswered fails after queryTimeoutMs, once, and its connection is not used again',
  async () => {
    // pg_sleep, with no statement timeout of the server's, stands for a server
    // that stopped answering (worker-database-outage freezes a real connection instead).
    const db = openDatabase(`${SHARED_POSTGRES_URL}?statement_timeout=0`, {
      queryTimeoutMs: 500,
    });
    try {
      const unanswered = new PreparedQuery(
        db,
        'gredis_test_unanswered',
        'select pg_sleep(5), ?::int',
      );
      const started = Date.now();
      const error = await unanswered.rows([1]).then(
        () => undefined,
        (e: unknown) => e,
      );
      const waited = Date.now() - started;
      assert.ok(isConnectionError(error), String(error)); // logged in one line, as the database being away
      assert.ok(waited < 2400, `failed after ${waited} ms: once, not run again (it may yet run)`);
      const next = Date.now();
      const { rows } = (await db.knex.raw('select 1 as one')) as { rows: unknown[] };
      assert.equal(rows, [{ one: 1 }]);
      assert.ok(Date.now() - next < 400, 'answered on a fresh connection, not behind the sleep');
    } finally {
      await db.close();
    }
  },
);

pg(
  'a statement still running at queryTimeoutMs is cancelled by the server, once, and its connection serves on',
  async () => {
    const db = openDatabase(SHARED_POSTGRES_URL, { queryTimeoutMs: 500 });
    const admin = openDatabase(SHARED_POSTGRES_URL);
    const tag = `gredis_slow_${process.pid}_${Date.now()}`;
    try {
      const slow = new PreparedQuery(
        db,
        'gredis_test_slow',
        `select pg_sleep(5), '${tag}', ?::int`,
      );
      const started = Date.now();
      const error = await slow.rows([1]).then(
        () => undefined,
        (e: unknown) => e,
      );
      const waited = Date.now() - started;
      assert.ok(isDatabaseTimeout(error), String(error));
      assert.match(String(error), 'canceling statement due to statement timeout');
      assert.ok(waited < 1400, `failed after ${waited} ms: once, not run again`);
      const { rows: running } = (await admin.knex.raw(
        "select 1 from pg_stat_activity where state = 'active' and query like ?",
        [`%'${tag}'%`],
      )) as { rows: unknown[] };
      assert.is(running.length, 0, 'the statement no longer runs in the server');
      const next = Date.now();
      const { rows } = (await db.knex.raw('select 1 as one')) as { rows: unknown[] };
      assert.equal(rows, [{ one: 1 }]);
      assert.ok(Date.now() - next < 400, 'answered at once');
    } finally {
      await db.close();
      await admin.close();
    }
  },
);

pg.run();

for (const backend of allDatabases()) {
  const values = suite(`values (${backend.name})`);
  values.before(() => backend.setup());
  values.after(() => backend.teardown());

  values(
    'timestamps and booleans read back as Dates and booleans, to the millisecond',
    async () => {
      const db = backend.open();
      await db.knex.schema.createTable('v', (t) => {
        t.increments('id');
        t.timestamp('at', { useTz: true });
        t.boolean('flag');
      });
      const moments = [
        new Date('2024-02-29T23:59:59.999Z'),
        new Date(0),
        new Date('2099-01-01T00:00:00.001Z'),
      ];
      for (const [i, at] of moments.entries())
        await db
          .knex('v')
          .insert({ at: toDbTimestamp(db, at), flag: toDbBoolean(db, i % 2 === 0) });
      const rows = (await db.knex('v').orderBy('id')) as {
        id: unknown;
        at: unknown;
        flag: unknown;
      }[];
      assert.equal(
        rows.map((r) => fromDbTimestamp(r.at).toISOString()),
        moments.map((m) => m.toISOString()),
      );
      assert.equal(
        rows.map((r) => fromDbBoolean(r.flag)),
        [true, false, true],
      );
      assert.equal(
        rows.map((r) => fromDbInteger(r.id)),
        [1, 2, 3],
      );
      // Ordering in SQL agrees with time order (SQLite compares the stored text).
      const later = (await db
        .knex('v')
        .where('at', '>', toDbTimestamp(db, new Date('2024-01-01T00:00:00Z')))
        .orderBy('at')) as { id: number }[];
      assert.equal(
        later.map((r) => fromDbInteger(r.id)),
        [1, 3],
      );
    },
  );

  values.run();
}

const conversions = suite('value conversions');

conversions(
  'Django-style SQLite timestamps, epoch numbers and offsets parse; garbage throws',
  () => {
    assert.is(fromDbTimestamp('2024-01-02 03:04:05').toISOString(), '2024-01-02T03:04:05.000Z');
    assert.is(fromDbTimestamp('2024-01-02 03:04:05.5').toISOString(), '2024-01-02T03:04:05.500Z');
    assert.is(
      fromDbTimestamp('2024-01-02T03:04:05.123456+02:00').toISOString(),
      '2024-01-02T01:04:05.123Z',
    );
    assert.is(fromDbTimestamp(86_400_000).toISOString(), '1970-01-02T00:00:00.000Z');
    assert.is(
      toDbTimestamp({ kind: 'sqlite' }, new Date('2024-01-02T03:04:05.006Z')),
      '2024-01-02 03:04:05.006000',
    );
    // Django's str(datetime): no fraction at a whole second.
    assert.is(
      toDbTimestamp({ kind: 'sqlite' }, new Date('2024-01-02T03:04:05Z')),
      '2024-01-02 03:04:05',
    );
    for (const bad of ['yesterday', '', null, {}, '2024-01-02'])
      assert.throws(() => fromDbTimestamp(bad));
    assert.throws(() => fromDbInteger('1.5'));
    assert.is(fromDbInteger('42'), 42);
  },
);

conversions.run();
