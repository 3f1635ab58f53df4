/**
 * Migrations on SQLite and PostgreSQL, through the API and through `gredis migrate`:
 * Django's columns, idempotence, --list, rollback, and several migrators at once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import { isUniqueViolation, MigrationFailed } from '../src/db/errors.js';
import { toDbTimestamp } from '../src/db/values.js';
import type { Knex } from 'knex';
import {
  listMigrations,
  migrate,
  MIGRATIONS_DIR,
  MIGRATIONS_TABLE,
  rollback,
} from '../src/db/migrations.js';
import { runGredis, type CliResult } from './helpers/cli.js';
import {
  allDatabases,
  appliedOrNot,
  djangoUserRow,
  SHARED_POSTGRES_URL,
  waitUntilBlockedBy,
} from './helpers/databases.js';
import { captureLogs, WARN } from './helpers/log-capture.js';
import { startSilentServer } from './helpers/silent-server.js';
import { sleep, within } from './helpers/wait.js';

const INITIAL = '20261128000001_initial';
const SESSION_AUTH_HASH = '20261129000001_session_auth_hash';
const ADMIN_LOG = '20261201000001_admin_log';
const TIMESTAMP_TEXT = '20261202000001_sqlite_timestamp_text';
const LOCK_TABLE = `${MIGRATIONS_TABLE}_lock`;
/** Every migration, oldest first. */
const ALL = [INITIAL, SESSION_AUTH_HASH, ADMIN_LOG, TIMESTAMP_TEXT];

/** Django's auth_user: column → [type family, max length, nullable]. */
const AUTH_USER: Record<string, [string, number | undefined, boolean]> = {
  id: ['integer', undefined, false],
  password: ['varchar', 128, false],
  last_login: ['timestamp', undefined, true],
  is_superuser: ['boolean', undefined, false],
  username: ['varchar', 150, false],
  first_name: ['varchar', 150, false],
  last_name: ['varchar', 150, false],
  email: ['varchar', 254, false],
  is_staff: ['boolean', undefined, false],
  is_active: ['boolean', undefined, false],
  date_joined: ['timestamp', undefined, false],
};

/**
 * Runs `gredis migrate --database url` while `db` holds a lock on gredis_session,
 * so that the ALTER TABLE of SESSION_AUTH_HASH (pending) waits for it 1.6 s:
 * past a statement timeout of 300 ms, and pg's own a second after that.
 */
async function migrateBehindLock(db: Database, url: string): Promise<CliResult> {
  const holder = await db.knex.transaction();
  try {
    await holder.raw('lock table gredis_session in access share mode');
    const { rows } = (await holder.raw('select pg_backend_pid() as pid')) as {
      rows: { pid: number }[];
    };
    const migrating = runGredis(['migrate', '--database', url]);
    await waitUntilBlockedBy(rows[0]!.pid, 'the migration to wait for the table', {
      timeoutMs: 10_000,
    });
    await sleep(1600);
    await holder.commit();
    return await within(migrating, 10_000, 'gredis migrate');
  } finally {
    if (!holder.isCompleted()) await holder.rollback();
  }
}

/** Rolls back the latest migrations until `name` (included) is pending. */
async function rollbackTo(db: Database, name: string): Promise<void> {
  while (!(await rollback(db)).includes(name));
}

/** What `gredis migrate` says applying SESSION_AUTH_HASH and every migration after it. */
const APPLYING_FROM_SESSION_AUTH_HASH = `Running migrations:\n${ALL.slice(
  ALL.indexOf(SESSION_AUTH_HASH),
)
  .map((name) => `  Applying ${name}... OK\n`)
  .join('')}`;

/** Maps each dialect's reported type to one family name. */
function family(type: string): string {
  if (/^(character varying|varchar)/.test(type)) return 'varchar';
  if (/^(timestamp with time zone|datetime)/.test(type)) return 'timestamp';
  if (/^(character|char)\b/.test(type)) return 'char';
  return type;
}

for (const backend of allDatabases()) {
  const test = suite(`migrations (${backend.name})`);
  let db: Database;

  test.before.each(async () => {
    await backend.setup();
    db = backend.open();
  });
  test.after.each(() => backend.teardown());

  test('an empty database lists every migration as pending, and is left empty', async () => {
    assert.equal(
      await appliedOrNot(db),
      ALL.map((name) => ({ name, applied: false })),
    );
    // A command refusing to start on it (not migrated) must not have changed it.
    const tables =
      db.kind === 'sqlite'
        ? await db.knex('sqlite_master').where({ type: 'table' }).pluck('name')
        : await db
            .knex('information_schema.tables')
            .whereRaw('table_schema = current_schema()')
            .pluck('table_name');
    assert.equal(tables, []);
  });

  test('migrate applies each migration once and reports it; a second run is a no-op', async () => {
    const progress: string[] = [];
    assert.equal(await migrate(db, { onApplied: (name) => progress.push(name) }), ALL);
    assert.equal(progress, ALL);
    assert.equal(
      await appliedOrNot(db),
      ALL.map((name) => ({ name, applied: true })),
    );
    assert.ok(
      (await listMigrations(db)).every(({ appliedAt }) => appliedAt instanceof Date),
      'each says when it was applied',
    );
    assert.equal(await migrate(db), []);
    const rows = await db.knex(MIGRATIONS_TABLE).select('name').orderBy('id');
    assert.equal(
      rows.map((r: { name: string }) => r.name),
      ALL,
    );
    assert.ok(await db.knex.schema.hasTable(`${MIGRATIONS_TABLE}_lock`));
    assert.not.ok(await db.knex.schema.hasTable('knex_migrations'));
  });

  test("auth_user has exactly Django's columns, types, lengths and nullability", async () => {
    await migrate(db);
    const info = await db.knex('auth_user').columnInfo();
    assert.equal(Object.keys(info).sort(), Object.keys(AUTH_USER).sort());
    for (const [column, [type, length, nullable]] of Object.entries(AUTH_USER)) {
      const actual = info[column]!;
      assert.is(family(actual.type), type, `${column} type ${actual.type}`);
      if (length !== undefined) assert.is(Number(actual.maxLength), length, `${column} length`);
      assert.is(actual.nullable, nullable, `${column} nullable`);
    }
  });

  test('chat_room and gredis_session have their columns', async () => {
    await migrate(db);
    const room = await db.knex('chat_room').columnInfo();
    assert.equal(Object.keys(room).sort(), ['id', 'staff_only', 'title']);
    assert.is(family(room.title!.type), 'varchar');
    assert.is(Number(room.title!.maxLength), 255);
    assert.is(room.title!.nullable, false);
    const session = await db.knex('gredis_session').columnInfo();
    assert.equal(Object.keys(session).sort(), [
      'auth_hash',
      'data',
      'expire_date',
      'session_key_hash',
      'user_id',
    ]);
    assert.is(family(session.session_key_hash!.type), 'char');
    assert.is(Number(session.session_key_hash!.maxLength), 64);
    assert.is(session.user_id!.nullable, true);
    assert.is(family(session.expire_date!.type), 'timestamp');
    assert.is(family(session.auth_hash!.type), 'char');
    assert.is(Number(session.auth_hash!.maxLength), 64);
    assert.is(session.auth_hash!.nullable, true);
  });

  test('the auth hash migration keeps the sessions already stored, without a hash; down drops it', async () => {
    await migrate(db);
    await rollbackTo(db, SESSION_AUTH_HASH);
    assert.not.ok(await db.knex.schema.hasColumn('gredis_session', 'auth_hash'));
    const [user] = (await db
      .knex('auth_user')
      .insert(djangoUserRow(db, 'before'))
      .returning('id')) as {
      id: number;
    }[];
    await db.knex('gredis_session').insert({
      session_key_hash: 'c'.repeat(64),
      user_id: user!.id,
      data: '{"kept":1}',
      expire_date: toDbTimestamp(db, new Date(Date.now() + 60_000)),
    });
    assert.equal(await migrate(db), [SESSION_AUTH_HASH, ADMIN_LOG, TIMESTAMP_TEXT]);
    const rows = (await db.knex('gredis_session').select('data', 'auth_hash')) as unknown[];
    assert.equal(rows, [{ data: '{"kept":1}', auth_hash: null }]);
    // The foreign key survived the round trip (SQLite rebuilds the table to drop a column).
    await db.knex('auth_user').where('id', user!.id).delete();
    assert.is((await db.knex('gredis_session').select()).length, 0, 'cascaded');
  });

  test('constraints: unique usernames, staff_only defaults to false, sessions cascade with their user', async () => {
    await migrate(db);
    const user = djangoUserRow(db, 'dup');
    await db.knex('auth_user').insert(user);
    try {
      await db.knex('auth_user').insert(user);
      assert.unreachable('a second "dup" was accepted');
    } catch (error) {
      assert.ok(isUniqueViolation(error), String(error));
    }
    await db.knex('chat_room').insert({ title: 'Lobby' });
    const room = (await db.knex('chat_room').first()) as { staff_only: unknown };
    assert.ok(room.staff_only === false || room.staff_only === 0, String(room.staff_only));
    const { id } = (await db.knex('auth_user').first('id')) as { id: number };
    await db.knex('gredis_session').insert({
      session_key_hash: 'a'.repeat(64),
      user_id: id,
      data: '{}',
      expire_date: toDbTimestamp(db, new Date()),
    });
    await db.knex('auth_user').where({ id }).delete();
    assert.is((await db.knex('gredis_session').select()).length, 0);
    try {
      await db.knex('gredis_session').insert({
        session_key_hash: 'b'.repeat(64),
        user_id: 424242,
        data: '{}',
        expire_date: toDbTimestamp(db, new Date()),
      });
      assert.unreachable('a session of a missing user was accepted');
    } catch (error) {
      assert.match(String(error), /foreign key/i);
    }
  });

  test("gredis_admin_log: Django's LogEntry with its model's natural key for a content type; its entries go with their user, not with their object", async () => {
    await migrate(db);
    const log = await db.knex('gredis_admin_log').columnInfo();
    assert.equal(Object.keys(log).sort(), [
      'action_flag',
      'action_time',
      'change_message',
      'id',
      'model',
      'object_id',
      'object_repr',
      'user_id',
    ]);
    assert.is(family(log.action_time!.type), 'timestamp');
    assert.is(Number(log.object_repr!.maxLength), 200);
    for (const column of Object.values(log)) assert.is(column.nullable, false);
    const [user] = (await db
      .knex('auth_user')
      .insert({ ...djangoUserRow(db, 'root'), is_superuser: true, is_staff: true })
      .returning('id')) as { id: number }[];
    const entry = {
      action_time: toDbTimestamp(db, new Date()),
      user_id: user!.id,
      model: 'chat.room',
      object_id: '424242',
      object_repr: 'Gone',
      action_flag: 3,
      change_message: '',
    };
    // Of an object no longer there: no foreign key, as Django's object_id.
    await db.knex('gredis_admin_log').insert(entry);
    try {
      await db.knex('gredis_admin_log').insert({ ...entry, user_id: user!.id + 1 });
      assert.unreachable('an entry of a missing user was accepted');
    } catch (error) {
      assert.match(String(error), /foreign key/i);
    }
    await db.knex('auth_user').where('id', user!.id).delete();
    assert.is((await db.knex('gredis_admin_log').select()).length, 0, 'cascaded');
    await rollbackTo(db, ADMIN_LOG);
    assert.not.ok(await db.knex.schema.hasTable('gredis_admin_log'));
  });

  test("the timestamp text migration writes SQLite's whole seconds in Django's form, without `.000000`, and down adds it back; PostgreSQL's are left alone", async () => {
    await migrate(db);
    await rollbackTo(db, TIMESTAMP_TEXT);
    // As the Gredis before it wrote them, and as Django writes them.
    const written = (utc: string) => (db.kind === 'sqlite' ? utc : `${utc}+00`);
    const [user] = (await db
      .knex('auth_user')
      .insert({
        ...djangoUserRow(db, 'old'),
        date_joined: written('2026-01-01 00:00:00.000000'),
        last_login: written('2026-03-01 12:00:00.500000'),
      })
      .returning('id')) as { id: number }[];
    await db.knex('auth_user').insert({
      ...djangoUserRow(db, 'django'),
      date_joined: written('2026-01-02 00:00:00'),
    });
    await db.knex('gredis_session').insert({
      session_key_hash: 'd'.repeat(64),
      user_id: user!.id,
      data: '{}',
      expire_date: written('2026-01-15 00:00:00.000000'),
    });
    await db.knex('gredis_admin_log').insert({
      action_time: written('2026-01-03 04:05:06.000000'),
      user_id: user!.id,
      model: 'chat.room',
      object_id: '1',
      object_repr: 'Lobby',
      action_flag: 1,
      change_message: '',
    });
    const stored = async () => {
      const text = (value: unknown) =>
        value instanceof Date ? value.toISOString() : (value as string | null);
      const users = (await db
        .knex('auth_user')
        .orderBy('id')
        .select('date_joined', 'last_login')) as Record<string, unknown>[];
      const [session] = (await db.knex('gredis_session').select('expire_date')) as {
        expire_date: unknown;
      }[];
      const [entry] = (await db.knex('gredis_admin_log').select('action_time')) as {
        action_time: unknown;
      }[];
      return [
        ...users.flatMap((row) => [text(row.date_joined), text(row.last_login)]),
        text(session!.expire_date),
        text(entry!.action_time),
      ];
    };
    const before = await stored();
    assert.equal(await migrate(db), [TIMESTAMP_TEXT]);
    if (db.kind === 'postgres') {
      assert.equal(await stored(), before);
      assert.equal(await rollback(db), [TIMESTAMP_TEXT]);
      assert.equal(await stored(), before);
      return;
    }
    assert.equal(await stored(), [
      '2026-01-01 00:00:00',
      '2026-03-01 12:00:00.500000',
      '2026-01-02 00:00:00',
      null,
      '2026-01-15 00:00:00',
      '2026-01-03 04:05:06',
    ]);
    assert.equal(await rollback(db), [TIMESTAMP_TEXT]);
    assert.equal(await stored(), [
      '2026-01-01 00:00:00.000000',
      '2026-03-01 12:00:00.500000',
      '2026-01-02 00:00:00.000000',
      null,
      '2026-01-15 00:00:00.000000',
      '2026-01-03 04:05:06.000000',
    ]);
  });

  test('a database migrated by a newer Gredis is refused, and said to be so', async () => {
    await migrate(db);
    await db.knex(MIGRATIONS_TABLE).insert({
      name: '20991231000001_future',
      batch: 2,
      migration_time: new Date(),
    });
    for (const run of [() => migrate(db), () => listMigrations(db)]) {
      const error = await run().catch((caught: unknown) => caught);
      assert.instance(error, MigrationFailed);
      assert.match(
        (error as Error).message,
        /does not know \(20991231000001_future\): a newer Gredis migrated it/,
      );
    }
    await db.knex(MIGRATIONS_TABLE).where({ name: '20991231000001_future' }).delete();
  });

  test('rollback reverts the latest migration (down), one at a time; migrate reapplies them', async () => {
    await migrate(db);
    assert.equal(await rollback(db), [TIMESTAMP_TEXT]);
    assert.equal(await rollback(db), [ADMIN_LOG]);
    assert.not.ok(await db.knex.schema.hasTable('gredis_admin_log'));
    assert.equal(await rollback(db), [SESSION_AUTH_HASH]);
    assert.equal(await rollback(db), [INITIAL]);
    assert.not.ok(await db.knex.schema.hasTable('auth_user'));
    assert.not.ok(await db.knex.schema.hasTable('gredis_session'));
    assert.equal(
      await appliedOrNot(db),
      ALL.map((name) => ({ name, applied: false })),
    );
    assert.equal(await migrate(db), ALL);
    assert.ok(await db.knex.schema.hasTable('auth_user'));
  });

  test('a migration lock left taken: migrate says it waits, then gives up naming the lock and how to release it', async () => {
    await migrate(db);
    await db.knex(`${MIGRATIONS_TABLE}_lock`).update({ is_locked: 1 });
    const { logger, lines } = captureLogs('info');
    const error = await migrate(db, { logger, lockTimeoutMs: 300 }).catch((e: unknown) => e);
    assert.instance(error, MigrationFailed);
    assert.match(
      (error as Error).message,
      'the migration lock (gredis_migrations_lock) was still taken after 0.3 s',
    );
    assert.match((error as Error).message, 'UPDATE gredis_migrations_lock SET is_locked = 0');
    assert.equal(
      lines.map((line) => [line.level, line.msg]),
      [
        [
          WARN,
          'the migration lock (gredis_migrations_lock) is taken; waiting for it to be released',
        ],
      ],
    );
    await db.knex(`${MIGRATIONS_TABLE}_lock`).update({ is_locked: 0 });
    assert.equal(await migrate(db), []);
  });

  test('four migrators on separate connections at once: all succeed, each migration runs once', async () => {
    const handles = [db, backend.open(), backend.open(), backend.open()];
    // Each returns only once every migration is applied, by it or by another.
    const results = await Promise.all(
      handles.map(async (handle) => {
        const applied = await migrate(handle);
        assert.ok((await listMigrations(handle)).every((status) => status.applied));
        return applied;
      }),
    );
    // Which migrator applied which is down to timing: flat() is in handle order.
    assert.equal(results.flat().sort(), ALL);
    assert.is((await db.knex(MIGRATIONS_TABLE).select()).length, ALL.length);
  });

  // Knex picks the next migration before waiting for the lock: this migrator picked
  // the first, and got the lock only once another process had applied it.
  if (backend.name === 'postgres')
    test('a migrator that waited for the lock while another applied the first migration applies the rest', async () => {
      // The bookkeeping tables and the lock row, and no migration applied.
      await migrate(db);
      await rollbackTo(db, INITIAL);
      const holder = await db.knex.transaction();
      try {
        await holder(LOCK_TABLE).update({ is_locked: 1 });
        const { rows } = (await holder.raw('select pg_backend_pid() as pid')) as {
          rows: { pid: number }[];
        };
        const migrating = migrate(backend.open());
        await waitUntilBlockedBy(rows[0]!.pid, 'the migrator to wait for the lock');
        // As a migrating process does, under the lock: apply, record, release.
        const initial = (await import(
          pathToFileURL(join(MIGRATIONS_DIR, `${INITIAL}.js`)).href
        )) as { up(knex: Knex): Promise<void> };
        await initial.up(holder);
        await holder(MIGRATIONS_TABLE).insert({
          name: INITIAL,
          batch: 1,
          migration_time: new Date(),
        });
        await holder(LOCK_TABLE).update({ is_locked: 0 });
        await holder.commit();
        assert.equal(await within(migrating, 5000, 'migrate'), ALL.slice(1));
      } finally {
        if (!holder.isCompleted()) await holder.rollback();
      }
      assert.equal(
        await appliedOrNot(db),
        ALL.map((name) => ({ name, applied: true })),
      );
    });

  // An index built on a large table, or an ALTER waiting for the sessions in
  // use to let go of the table: a statement as long as the migration takes.
  if (backend.name === 'postgres')
    test("gredis migrate lets a migration's statement run past DATABASE_URL's query_timeout", async () => {
      await migrate(db);
      await rollbackTo(db, SESSION_AUTH_HASH); // its ALTER TABLE is pending
      const run = await migrateBehindLock(db, `${backend.url}&query_timeout=300`);
      assert.is(run.code, 0, run.stderr);
      assert.is(run.stdout, APPLYING_FROM_SESSION_AUTH_HASH);
    });

  if (backend.name === 'postgres')
    test("gredis migrate lets a migration's statement run past a statement_timeout the server applies: the URL's options, the role's", async () => {
      // A superuser, so that it may alter the tables `db` made.
      const role = `gredis_t_${randomBytes(6).toString('hex')}`;
      await db.knex.raw('create role ?? login superuser', [role]);
      try {
        await db.knex.raw("alter role ?? set statement_timeout = '300ms'", [role]);
        const asRole = new URL(backend.url);
        asRole.username = role;
        const options = encodeURIComponent('-c statement_timeout=300');
        for (const url of [`${backend.url}&options=${options}`, asRole.href]) {
          await migrate(db);
          await rollbackTo(db, SESSION_AUTH_HASH); // its ALTER TABLE is pending
          const run = await migrateBehindLock(db, url);
          assert.is(run.code, 0, run.stderr);
          assert.is(run.stdout, APPLYING_FROM_SESSION_AUTH_HASH);
        }
      } finally {
        await db.knex.raw('drop owned by ??', [role]);
        await db.knex.raw('drop role ??', [role]);
      }
    });

  test('listMigrations from four connections at once on a fresh database all answer', async () => {
    const handles = [db, backend.open(), backend.open(), backend.open()];
    const lists = await Promise.all(handles.map((handle) => listMigrations(handle)));
    for (const list of lists)
      assert.equal(
        list,
        ALL.map((name) => ({ name, applied: false })),
      );
  });

  test('gredis migrate: progress lines, then "No migrations to apply.", and --list', async () => {
    const pending = await runGredis(['migrate', '--list', '--database', backend.url]);
    assert.is(pending.code, 0, pending.stderr);
    assert.is(pending.stdout, ALL.map((name) => ` [ ] ${name}\n`).join(''));
    const first = await runGredis(['migrate', '--database', backend.url]);
    assert.is(first.code, 0, first.stderr);
    assert.is(
      first.stdout,
      `Running migrations:\n${ALL.map((name) => `  Applying ${name}... OK\n`).join('')}`,
    );
    assert.is(first.stderr, '');
    const second = await runGredis(['migrate', '--database', backend.url]);
    assert.is(second.code, 0, second.stderr);
    assert.is(second.stdout, 'Running migrations:\n  No migrations to apply.\n');
    const listed = await runGredis(['migrate', '--list', '--database', backend.url]);
    assert.is(listed.stdout, ALL.map((name) => ` [X] ${name}\n`).join(''));
    assert.ok(await db.knex.schema.hasTable('auth_user'), 'the same database the test sees');
  });

  test('gredis migrate -v 0 applies them in silence (warnings only), as Django does', async () => {
    const quiet = await runGredis(['migrate', '-v', '0', '--database', backend.url]);
    assert.is(quiet.code, 0, quiet.stderr);
    assert.is(quiet.stdout, '');
    assert.is(quiet.stderr, '');
    assert.ok(await db.knex.schema.hasTable('auth_user'), 'migrated all the same');
  });

  test('gredis migrate reads DATABASE_URL; --database overrides it', async () => {
    const viaEnv = await runGredis(['migrate'], { env: { DATABASE_URL: backend.url } });
    assert.is(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /Applying/);
    const overridden = await runGredis(['migrate', '--database', backend.url], {
      env: { DATABASE_URL: 'nosuch://x' },
    });
    assert.is(overridden.code, 0, overridden.stderr);
    assert.match(overridden.stdout, /No migrations to apply/);
  });

  test('three gredis migrate processes at once all exit 0', async () => {
    const runs = await Promise.all(
      [1, 2, 3].map(() => runGredis(['migrate', '--database', backend.url])),
    );
    for (const run of runs) assert.is(run.code, 0, run.stderr);
    // Each migration is applied under its own lock (one migrate.up at a time, for
    // progress lines), so the processes may share the work: each exactly once.
    const applied = runs.flatMap((run) => run.stdout.match(/Applying \S+\.\.\. OK/g) ?? []);
    assert.equal(applied.sort(), ALL.map((name) => `Applying ${name}... OK`).sort());
    assert.is((await db.knex(MIGRATIONS_TABLE).select()).length, ALL.length);
  });

  test.run();
}

const cli = suite('gredis migrate: configuration and failures');

cli(
  'without --database or DATABASE_URL it uses ./gredis.sqlite3 in the working directory',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gredis-default-'));
    try {
      const run = await runGredis(['migrate'], { cwd: dir });
      assert.is(run.code, 0, run.stderr);
      assert.ok(existsSync(join(dir, 'gredis.sqlite3')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

cli('an unknown URL scheme is a usage error: exit 2, one line', async () => {
  const run = await runGredis(['migrate', '--database', 'mysql://root:hunter2@localhost/x']);
  assert.is(run.code, 2);
  assert.is(run.stdout, '');
  assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^gredis: invalid database URL .*unsupported scheme "mysql:"/);
  assert.not.match(run.stderr, /hunter2/, 'the password is not printed');
});

cli('a search_path naming no schema that exists: exit 1, one line saying so', async () => {
  const url = `${SHARED_POSTGRES_URL}?search_path=t_${randomBytes(6).toString('hex')}`;
  const run = await runGredis(['migrate', '--database', url]);
  assert.is(run.code, 1);
  assert.is(run.stdout, '');
  assert.is(
    run.stderr,
    `gredis: the database ${url} has no schema to create tables in: its search_path names none that exists (create the schema, or fix search_path in the URL or the role's settings)\n`,
  );
});

cli('an unreachable PostgreSQL: exit 1, one line naming it, no password, no stack', async () => {
  const run = await runGredis([
    'migrate',
    '--database',
    'postgres://postgres:hunter2@127.0.0.1:1/test',
  ]);
  assert.is(run.code, 1);
  assert.is(run.stdout, '');
  assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(
    run.stderr,
    /^gredis: cannot connect to the database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test: .*ECONNREFUSED/,
  );
  assert.not.match(run.stderr, /hunter2/);
});

cli(
  'a PostgreSQL that accepts connections and never answers: exit 1 in seconds, not a hang',
  async () => {
    const silent = await startSilentServer();
    try {
      const started = Date.now();
      const run = await within(
        runGredis([
          'migrate',
          '--database',
          `postgres://postgres:hunter2@127.0.0.1:${silent.port}/test`,
        ]),
        30_000,
        'gredis migrate to exit',
      );
      assert.is(run.code, 1);
      assert.match(run.stderr, /^gredis: cannot connect to the database .*timeout/);
      assert.not.match(run.stderr, /hunter2/);
      assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
    } finally {
      silent.close();
    }
  },
);

cli('a server that hangs up at once (not PostgreSQL): exit 1, one line naming it', async () => {
  // Reads the client's first message, then closes (FIN: destroying unread would reset).
  const hangUp = createServer((socket) => socket.once('data', () => socket.end()));
  await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
  const { port } = hangUp.address() as AddressInfo;
  try {
    const url = `postgres://postgres:hunter2@127.0.0.1:${port}/test`;
    for (const args of [['migrate'], ['runworker', '--layer', 'redis://127.0.0.1:1/0']]) {
      const run = await runGredis([...args, '--database', url]);
      assert.is(run.code, 1, run.stderr);
      assert.is(
        run.stderr,
        `gredis: the database postgres://postgres:***@127.0.0.1:${port}/test closed the connection: Connection terminated unexpectedly\n`,
      );
    }
  } finally {
    hangUp.close();
  }
});

cli('--verbosity 2 adds the stack trace, however it is spelt', async () => {
  for (const flag of [['-v', '2'], ['-v2'], ['--verbosity=2'], ['--verbosity', '02']]) {
    const run = await runGredis([
      'migrate',
      ...flag,
      '--database',
      'postgres://postgres@127.0.0.1:1/test',
    ]);
    assert.is(run.code, 1, flag.join(' '));
    assert.match(run.stderr, /\n\s+at /, flag.join(' '));
  }
});

cli('a missing PostgreSQL database and a missing SQLite directory: exit 1, one line', async () => {
  const missingDb = await runGredis([
    'migrate',
    '--database',
    'postgres://postgres@127.0.0.1:5432/gredis_no_such_database',
  ]);
  assert.is(missingDb.code, 1);
  assert.match(missingDb.stderr, /^gredis: cannot connect .*does not exist\n$/);
  const missingDir = await runGredis([
    'migrate',
    '--database',
    'sqlite:///nonexistent-dir/x.sqlite3',
  ]);
  assert.is(missingDir.code, 1);
  assert.match(missingDir.stderr, /^gredis: cannot connect .*directory does not exist\n$/);
});

cli.run();
