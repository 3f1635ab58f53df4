/**
 * `gredis migrate` interrupted with Ctrl-C (SIGINT to the real process), on
 * SQLite and PostgreSQL: it stops at once, the migration under way rolled
 * back, says which migrations the database has and that running it again
 * continues, and exits 130. And migrate() interrupted through its AbortSignal
 * in the middle of a migration's statements.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import { MigrationInterrupted } from '../src/db/errors.js';
import { knownMigrations, migrate, MIGRATIONS_TABLE, rollback } from '../src/db/migrations.js';
import { runGredis, startGredis } from './helpers/cli.js';
import { waitUntilOpen } from './helpers/processes.js';
import {
  allDatabases,
  appliedOrNot,
  holdWriteLock,
  waitUntilBlockedBy,
} from './helpers/databases.js';
import { interruptWhileConnecting } from './helpers/connecting-interrupt.js';
import { interruptWhileLocked, withProxiedDatabase } from './helpers/locked-interrupt.js';
import { settledWithin, waitFor } from './helpers/wait.js';

const INITIAL = '20261128000001_initial';
/** The migration the tests interrupt: its ALTER TABLE waits for a lock on gredis_session. */
const SESSION_AUTH_HASH = '20261129000001_session_auth_hash';
const LOCK_TABLE = `${MIGRATIONS_TABLE}_lock`;
/** SESSION_AUTH_HASH and every migration after it: pending in each test. */
const PENDING = (await knownMigrations()).slice(1);
assert.is(PENDING[0], SESSION_AUTH_HASH);

/** What an interrupted migrate says after its first sentence, the first migration applied. */
const STATE = ` Applied: ${INITIAL}. Not applied: ${PENDING.join(', ')}. Run "\\S+(?: \\S+)* migrate" again to continue.`;

/** What migrate says when interrupted before any migration began (waiting for a lock). */
const NOTHING_UNDER_WAY = new RegExp(
  `^gredis: migrate interrupted \\(Ctrl-C\\) with no migration under way: none is half-applied\\.${STATE}\\n$`,
);

for (const backend of allDatabases()) {
  const test = suite(`gredis migrate interrupted (${backend.name})`);
  let db: Database;
  const migrateArgs = (): string[] => ['migrate', '--database', backend.url];

  test.before.each(async () => {
    await backend.setup();
    db = backend.open();
    // The first migration applied, the rest pending.
    await migrate(db);
    while (!(await rollback(db)).includes(SESSION_AUTH_HASH));
  });
  test.after.each(() => backend.teardown());

  /** The state a second migrate must find, and that it applies the rest. */
  const assertResumable = async (): Promise<void> => {
    assert.equal(await appliedOrNot(db), [
      { name: INITIAL, applied: true },
      ...PENDING.map((name) => ({ name, applied: false })),
    ]);
    assert.not.ok(await db.knex.schema.hasColumn('gredis_session', 'auth_hash'));
    const again = await runGredis(migrateArgs());
    assert.is(again.code, 0, again.stderr);
    assert.is(
      again.stdout,
      `Running migrations:\n${PENDING.map((name) => `  Applying ${name}... OK\n`).join('')}`,
    );
  };

  test('Ctrl-C while it waits for the migration lock: exit 130 at once, says none was under way, what is applied, and to run it again', async () => {
    // As a migrate that stopped without releasing it leaves it.
    await db.knex(LOCK_TABLE).update({ is_locked: 1 });
    const run = startGredis(migrateArgs(), { env: { GREDIS_LOG_LEVEL: 'warn' } });
    try {
      await waitFor(
        () => run.stdout().includes('waiting for it to be released'),
        10_000,
        'migrate to wait for the lock',
      );
      // Not at the end of its 30 s wait for the lock.
      assert.equal(await run.interrupt(2000, 'migrate to end'), { code: 130, signal: null });
      assert.match(run.stderr(), NOTHING_UNDER_WAY);
    } finally {
      run.child.kill('SIGKILL');
    }
    await db.knex(LOCK_TABLE).update({ is_locked: 0 });
    await assertResumable();
  });

  if (backend.name === 'sqlite')
    test("Ctrl-C while it waits for another process's write lock on the file: exit 130 at once, nothing applied", async () => {
      const file = backend.url.slice('sqlite://'.length);
      const holder = await holdWriteLock(file, 30_000);
      const run = startGredis(migrateArgs());
      try {
        // Both its connections open (the pool's, then the reader's): next is
        // the migration's transaction, which the lock fails and migrate retries.
        await waitUntilOpen(run.child.pid!, file, 2, 'migrate to open the database');
        // Not at the end of its 30 s wait for the lock.
        assert.equal(await run.interrupt(1500, 'migrate to end'), {
          code: 130,
          signal: null,
        });
        assert.match(run.stderr(), NOTHING_UNDER_WAY);
      } finally {
        run.child.kill('SIGKILL');
        await holder.release();
      }
      await assertResumable();
    });

  if (backend.name === 'postgres')
    test("Ctrl-C while a migration's ALTER TABLE waits for a lock on its table: the server cancels it, rolled back, exit 130 at once", async () => {
      const run = await interruptWhileLocked(backend, () => startGredis(migrateArgs()), {
        table: 'gredis_session',
        waiting: "the migration's ALTER TABLE to wait for the lock",
        code: 130,
      });
      assert.match(
        run.stderr,
        new RegExp(
          `^gredis: migrate interrupted \\(Ctrl-C\\) while applying ${SESSION_AUTH_HASH}, which was rolled back: nothing of it is applied\\.${STATE}\\n$`,
        ),
      );
      // Nothing applied, so no progress heading; and no end of a "^C" line: stdout is no terminal.
      assert.is(run.stdout, '');
      assert.equal(await db.knex(LOCK_TABLE).select('is_locked'), [{ is_locked: 0 }]);
      await assertResumable();
    });

  if (backend.name === 'postgres')
    test('Ctrl-C while it connects to a server that never answers: exit 130 at once, one line saying it was connecting and nothing changed', async () => {
      const run = await interruptWhileConnecting(
        (port) =>
          startGredis([
            'migrate',
            '--database',
            `postgres://postgres:hunter2@127.0.0.1:${port}/test`,
          ]),
        // Not when its connection attempt gives up (8 s), nor after a second one for the listing.
        { reaching: 'the server', code: 130, withinMs: 1000 },
      );
      assert.is(
        run.stderr,
        `gredis: migrate interrupted (Ctrl-C) while connecting to the database postgres://postgres:***@127.0.0.1:${run.port}/test: nothing was changed.\n`,
      );
      // Nothing, not even the end of a "^C" line: stdout is no terminal.
      assert.is(run.stdout, '');
    });

  if (backend.name === 'postgres')
    test('a second Ctrl-C while the first waits on a database that stopped answering: exit 130 at once, saying what is left', async () => {
      await withProxiedDatabase(backend, async ({ url, proxy, lock }) => {
        const run = startGredis(['migrate', '--database', url]);
        try {
          const { holder } = await lock('gredis_session');
          await waitUntilBlockedBy(holder, "the migration's ALTER TABLE to wait for the lock", {
            timeoutMs: 10_000,
          });
          // The database stops answering: the cancel cannot reach it, nor the ALTER's answer come.
          proxy.freeze();
          run.child.kill('SIGINT');
          assert.is(await settledWithin(run.exited, 1500), 'pending', 'the first waits');
          assert.equal(await run.interrupt(1000, 'migrate to end'), {
            code: 130,
            signal: null,
          });
          assert.match(
            run.stderr(),
            /^gredis: Ctrl-C again: exiting without waiting; a migration under way is rolled back by the database once it sees the connection gone; "\S+(?: \S+)* migrate --list" says which are applied, and "\S+(?: \S+)* migrate" continues\.\n$/,
          );
        } finally {
          run.child.kill('SIGKILL');
        }
      });
      await assertResumable();
    });

  test.run();

  // A database of its own: the migrations here are not Gredis's.
  const api = suite(`migrate() interrupted (${backend.name})`);
  api.before.each(async () => {
    await backend.setup();
    db = backend.open();
  });
  api.after.each(() => backend.teardown());

  api(
    'migrate() aborted between two statements of a migration: the statements after are refused, the migration rolled back, MigrationInterrupted names it; those before stand',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gredis-migrations-'));
      const controller = new AbortController();
      // What the migration calls between its statements: the Ctrl-C comes there.
      const hook = globalThis as { midMigration?: () => void };
      hook.midMigration = () => controller.abort();
      try {
        writeFileSync(
          join(dir, '20990101000001_before.js'),
          `export async function up(knex) { await knex.schema.createTable('before_abort', (t) => t.increments('id')); }
        export async function down() {}`,
        );
        writeFileSync(
          join(dir, '20990101000002_halves.js'),
          `export async function up(knex) {
          await knex.schema.createTable('first_half', (t) => t.increments('id'));
          globalThis.midMigration?.();
          await knex.schema.createTable('second_half', (t) => t.increments('id'));
        }
        export async function down() {}`,
        );
        const applied: string[] = [];
        const error = await migrate(db, {
          directory: dir,
          signal: controller.signal,
          onApplied: (name) => applied.push(name),
        }).catch((e: unknown) => e);
        assert.instance(error, MigrationInterrupted);
        assert.is((error as MigrationInterrupted).migration, '20990101000002_halves');
        assert.equal(applied, ['20990101000001_before']);
        assert.ok(await db.knex.schema.hasTable('before_abort'));
        assert.not.ok(await db.knex.schema.hasTable('first_half'), 'rolled back');
        assert.not.ok(await db.knex.schema.hasTable('second_half'), 'never run');
        assert.equal(await db.knex(LOCK_TABLE).select('is_locked'), [{ is_locked: 0 }]);
        // The same migrate again, not interrupted, applies it.
        delete hook.midMigration;
        assert.equal(await migrate(db, { directory: dir }), ['20990101000002_halves']);
        assert.ok(await db.knex.schema.hasTable('second_half'));
      } finally {
        delete hook.midMigration;
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  api.run();
}
