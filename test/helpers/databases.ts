import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import * as assert from 'uvu/assert';
import { openDatabase, type Database } from '../../src/db/connection.js';
import { isConnectionError, isDatabaseTimeout } from '../../src/db/errors.js';
import { listMigrations, migrate, type MigrationStatus } from '../../src/db/migrations.js';
import { toDbTimestamp } from '../../src/db/values.js';
import { failureCause } from '../../src/worker/failures.js';
import { TcpProxy } from './tcp-proxy.js';
import { waitFor } from './wait.js';

/**
 * A complete auth_user row as Django would insert it (columns in Django's names),
 * for tests that write the table directly rather than through UserRepository.
 */
export function djangoUserRow(
  db: Pick<Database, 'kind'>,
  username: string,
  password = '!',
): Record<string, unknown> {
  return {
    username,
    password,
    last_login: null,
    is_superuser: false,
    first_name: '',
    last_name: '',
    email: '',
    is_staff: false,
    is_active: true,
    // As text on SQLite, as Django writes it: knex would store a Date as epoch
    // milliseconds, an integer, which SQLite orders before every text.
    date_joined: toDbTimestamp(db, new Date()),
  };
}

/**
 * Asserts that a query's `error` is a database timeout (a lock waited for, a pool
 * too busy), the database's fault (its socket closed 1013, its page a 500), and
 * neither an unreachable database nor knex's bare acquire timeout.
 */
export function assertDatabaseTimeout(error: unknown): void {
  assert.not.match(String(error), /Timeout acquiring a connection/);
  assert.ok(isDatabaseTimeout(error), String(error));
  assert.not.ok(isConnectionError(error), String(error));
  assert.is(failureCause(error), 'database');
}

/** The shared PostgreSQL every test may use (trust auth, database `test`). */
export const SHARED_POSTGRES_URL =
  process.env.GREDIS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A TcpProxy in front of the shared PostgreSQL server, and `url` (of a
 * database there) through it: what a test stalls, freezes or cuts to make the
 * server stop answering one client while the test's own connections go on.
 */
export async function proxiedPostgres(url: string): Promise<{ proxy: TcpProxy; url: URL }> {
  const server = new URL(SHARED_POSTGRES_URL);
  const proxy = await TcpProxy.start({ host: server.hostname, port: Number(server.port || 5432) });
  const proxied = new URL(url);
  proxied.port = String(proxy.port);
  return { proxy, url: proxied };
}

/**
 * A private, empty database per suite, on one of the two backends. `url` is valid
 * after setup() and means the same database to openDatabase and to a `gredis`
 * subprocess (`--database url`): a SQLite file in a fresh temporary directory, or a
 * fresh PostgreSQL schema selected with `?search_path=`.
 */
export interface DatabaseBackend {
  name: 'sqlite' | 'postgres';
  url: string;
  /** The temporary directory (SQLite) holding the database file; undefined for PostgreSQL. */
  dir: string | undefined;
  setup(): Promise<void>;
  /** Closes every database opened through `open` and deletes the file or schema. */
  teardown(): Promise<void>;
  /** A new handle on this backend's database, closed by teardown. */
  open(): Database;
  /** open() then migrate(): a handle on an up-to-date schema. */
  openMigrated(): Promise<Database>;
  /** Empties the application tables (between tests of one suite). */
  truncate(db: Database): Promise<void>;
}

function tracked(backend: Omit<DatabaseBackend, 'open' | 'openMigrated' | 'truncate'>): {
  handles: Database[];
  backend: DatabaseBackend;
} {
  const handles: Database[] = [];
  const full: DatabaseBackend = {
    ...backend,
    open() {
      const db = openDatabase(full.url);
      handles.push(db);
      return db;
    },
    async openMigrated() {
      const db = full.open();
      await migrate(db);
      return db;
    },
    async truncate(db) {
      // Children first: sessions and admin log entries reference users.
      for (const table of ['gredis_session', 'gredis_admin_log', 'chat_room', 'auth_user'])
        await db.knex(table).delete();
    },
  };
  return { handles, backend: full };
}

export function sqliteBackend(): DatabaseBackend {
  const { handles, backend } = tracked({
    name: 'sqlite',
    url: '',
    dir: undefined,
    async setup() {
      backend.dir = mkdtempSync(join(tmpdir(), 'gredis-db-'));
      backend.url = `sqlite://${join(backend.dir, 'test.sqlite3')}`;
    },
    async teardown() {
      for (const db of handles.splice(0)) await db.close();
      if (backend.dir) rmSync(backend.dir, { recursive: true, force: true });
    },
  });
  return backend;
}

export function postgresBackend(): DatabaseBackend {
  let schema = '';
  const { handles, backend } = tracked({
    name: 'postgres',
    url: '',
    dir: undefined,
    async setup() {
      schema = `t_${randomBytes(6).toString('hex')}`;
      const admin = openDatabase(SHARED_POSTGRES_URL);
      try {
        await admin.knex.raw('create schema ??', [schema]);
      } finally {
        await admin.close();
      }
      backend.url = `${SHARED_POSTGRES_URL}?search_path=${schema}`;
    },
    async teardown() {
      for (const db of handles.splice(0)) await db.close();
      const admin = openDatabase(SHARED_POSTGRES_URL);
      try {
        await admin.knex.raw('drop schema if exists ?? cascade', [schema]);
      } finally {
        await admin.close();
      }
    },
  });
  return backend;
}

/**
 * listMigrations(db) without when each was applied, which differs from run to
 * run: which migrations the database has, to compare with a list.
 */
export async function appliedOrNot(
  db: Database,
): Promise<Pick<MigrationStatus, 'name' | 'applied'>[]> {
  return (await listMigrations(db)).map(({ name, applied }) => ({ name, applied }));
}

/** One of each backend: every database test runs against both. */
export function allDatabases(): DatabaseBackend[] {
  return [sqliteBackend(), postgresBackend()];
}

/**
 * Runs `work` and returns what it returned and how many queries it ran, counted
 * as connections taken: from the pool, or SQLite's for reads (every query
 * takes one, prepared or not).
 */
export async function countingQueries<T>(
  db: Database,
  work: () => Promise<T>,
): Promise<{ result: T; queries: number }> {
  type Taking = () => unknown;
  const client = db.knex.client as { acquireConnection: Taking; readConnection?: Taking };
  const originals = {
    acquireConnection: client.acquireConnection,
    readConnection: client.readConnection,
  };
  let queries = 0;
  for (const name of ['acquireConnection', 'readConnection'] as const) {
    const take = originals[name];
    if (take)
      client[name] = () => {
        const connection = take.call(client);
        if (connection !== undefined) queries++;
        return connection;
      };
  }
  try {
    return { result: await work(), queries };
  } finally {
    Object.assign(client, originals);
  }
}

const BETTER_SQLITE3 = createRequire(import.meta.url).resolve('better-sqlite3');

/**
 * Another process takes the file's write lock and holds it for `ms`, as a
 * `gredis migrate` or `createsuperuser` on the same file does: resolves once it
 * holds it. (A connection of this process could not release it while a
 * statement of Gredis's blocks the event loop.) `release()` ends it sooner,
 * once the process is gone: it is killed, and its transaction, uncommitted,
 * ends with it.
 */
export async function holdWriteLock(
  file: string,
  ms: number,
): Promise<{ released: Promise<void>; release(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const db = new (require(${JSON.stringify(BETTER_SQLITE3)}))(process.argv[1]);
      db.exec('begin immediate');
      console.log('locked');
      setTimeout(() => { db.exec('commit'); db.close(); }, Number(process.argv[2]));`,
      file,
      String(ms),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const released = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for await (const line of createInterface({ input: child.stdout })) if (line === 'locked') break;
  return {
    released,
    release: () => {
      child.kill('SIGKILL');
      return released;
    },
  };
}

/** A table locked in an open transaction of the test's own connection, and how to end it. */
export interface TableLock {
  /** The locking connection's server process, which the waiting statements are blocked by. */
  holder: number;
  /** The schema (the backend's search_path) and the table locked. */
  schema: string;
  table: string;
  release(): Promise<void>;
}

/**
 * Locks `table` of `backend`'s schema in access exclusive mode, in a transaction
 * of `locker` (a connection of the test's own), until release(): every
 * statement on the table waits, as behind a migration's ALTER TABLE. With
 * `rowsWhere` (an SQL condition), only the rows it selects are locked (FOR
 * UPDATE): a statement waits only once it comes to change one of them.
 */
export async function lockTable(
  locker: pg.Client,
  backend: DatabaseBackend,
  table: string,
  rowsWhere?: string,
): Promise<TableLock> {
  const schema = new URL(backend.url).searchParams.get('search_path')!;
  const holder = (await locker.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!
    .pid;
  await locker.query('begin');
  const release = async (): Promise<void> => {
    await locker.query('rollback');
  };
  try {
    await locker.query(
      rowsWhere === undefined
        ? `lock table ${schema}.${table} in access exclusive mode`
        : `select from ${schema}.${table} where ${rowsWhere} for update`,
    );
  } catch (error) {
    await release();
    throw error;
  }
  return { holder, schema, table, release };
}

/**
 * What a query queued behind a pool of ten connections all waiting for `lock`
 * fails with (DatabaseBusy), as the worker logs it and /healthz says it: its
 * holder sits idle in its transaction, as lockTable leaves it.
 */
export function lockedPoolError({ schema, table, holder }: TableLock): RegExp {
  return new RegExp(
    `^database is locked: waited \\d+ ms for a connection: 10 of the pool's 10 are waiting for a lock on (${schema}\\.)?${table} held by server process ${holder} \\(idle in a transaction for \\d+\\.\\d s\\)$`,
  );
}

/**
 * Waits until at least `count` server processes wait for a lock that server
 * process `holder` holds (pg_blocking_pids): statements queued behind a LOCK
 * TABLE, a migrator behind a transaction. Asks on a connection of its own, so
 * that every poll sees the server's present (a transaction's snapshot of
 * pg_stat_activity would not change).
 */
export async function waitUntilBlockedBy(
  holder: number,
  what: string,
  { count = 1, timeoutMs = 5000 }: { count?: number; timeoutMs?: number } = {},
): Promise<void> {
  const client = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
  await client.connect();
  try {
    await waitFor(async () => (await countBlockedBy(client, holder)) >= count, timeoutMs, what);
  } finally {
    await client.end();
  }
}

/**
 * How many server processes wait now for a lock that server process `holder`
 * holds: none once the statements that waited were cancelled, whether or not
 * the client that sent them is still there.
 */
export async function blockedBy(holder: number): Promise<number> {
  const client = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
  await client.connect();
  try {
    return await countBlockedBy(client, holder);
  } finally {
    await client.end();
  }
}

async function countBlockedBy(client: pg.Client, holder: number): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    'select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))',
    [holder],
  );
  return rows[0]!.n;
}

/**
 * Makes every change of a user's password fail in the database, as a UPDATE the
 * database refuses (a trigger on SQLite, a CHECK constraint on PostgreSQL, whose
 * error then shows the failing row): resolves with how to undo it.
 */
export async function refusePasswordChanges(db: Database): Promise<() => Promise<void>> {
  if (db.kind === 'sqlite') {
    await db.knex.raw(
      "create trigger refuse_password before update of password on auth_user begin select raise(abort, 'password changes refused'); end",
    );
    return async () => void (await db.knex.raw('drop trigger refuse_password'));
  }
  // NOT VALID: the rows there already keep their passwords; an UPDATE is checked.
  await db.knex.raw(
    "alter table auth_user add constraint refuse_password check (password not like 'pbkdf2%') not valid",
  );
  return async () =>
    void (await db.knex.raw('alter table auth_user drop constraint refuse_password'));
}
