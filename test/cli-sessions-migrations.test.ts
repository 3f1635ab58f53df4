/**
 * `gredis clearsessions` and `gredis showmigrations` on SQLite and PostgreSQL,
 * as a deployment runs them: clearsessions from cron while a server serves,
 * deleting the expired sessions alone; showmigrations before and after
 * `migrate`, in Django's form (its --plan and -v 2 too, and migrate --plan,
 * which applies nothing). Their refusals (an unmigrated database, an
 * unreachable one, a bad flag) are those of the other commands, and so is
 * Ctrl-C while they wait for a lock on PostgreSQL: cancelled on the server.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { SessionStore } from '../src/auth/sessions.js';
import type { Database } from '../src/db/connection.js';
import { knownMigrations, MIGRATIONS_TABLE } from '../src/db/migrations.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runGredis, startGredis } from './helpers/cli.js';
import { allDatabases, postgresBackend } from './helpers/databases.js';
import { interruptWhileLocked, type LockedStatement } from './helpers/locked-interrupt.js';
import { Fixtures, TEST_SECRET_KEY, useEmbeddedChat } from './helpers/deployment.js';
import { suite } from './helpers/suite.js';

const PASSWORD = 'correct horse';
const MIGRATIONS = await knownMigrations();
const DAY_MS = 86_400_000;

/** showmigrations' output when `applied` of the migrations are. */
function listing(applied: number): string {
  return `gredis\n${MIGRATIONS.map((name, i) => ` [${i < applied ? 'X' : ' '}] ${name}\n`).join('')}`;
}

/** showmigrations --plan's output when `applied` of the migrations are; `deps` as -v 2's. */
function plan(applied: number, deps = false): string {
  return MIGRATIONS.map((name, i) => {
    const after = deps && i > 0 ? ` ... (gredis.${MIGRATIONS[i - 1]})` : '';
    return `[${i < applied ? 'X' : ' '}]  gredis.${name}${after}\n`;
  }).join('');
}

for (const backend of allDatabases()) {
  const test = suite(`clearsessions (${backend.name})`);
  let db: Database;
  let fixtures: Fixtures;
  let port: number;
  useEmbeddedChat(test, backend, (state) => ({ db, fixtures, port } = state));

  /** The stored hashes of every session, sorted. */
  async function storedSessions(): Promise<string[]> {
    return (await db.knex('gredis_session').pluck('session_key_hash')).sort();
  }

  /** Sessions made `daysAgo` days ago, two weeks' lifetime: expired past 14. */
  function madeDaysAgo(daysAgo: number): SessionStore {
    return new SessionStore(db, {
      secret: TEST_SECRET_KEY,
      now: () => new Date(Date.now() - daysAgo * DAY_MS),
    });
  }

  test('deletes the expired sessions, says nothing, and a logged-in client stays logged in', async () => {
    const alice = await fixtures.user('alice', { password: PASSWORD });
    const client = new BrowserlessClient(port);
    assert.is((await client.login('alice', PASSWORD)).status, 302, 'alice logs in');
    const old = madeDaysAgo(15);
    for (let i = 0; i < 3; i++) await old.create(null);
    await old.create(alice.id);
    const recent = madeDaysAgo(13);
    const live = [await recent.create(null), await recent.create(alice.id)];
    const before = await storedSessions();
    assert.is(before.length, 7);

    const result = await runGredis(['clearsessions', '--database', backend.url]);
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout, '', "silent on success, as Django's");
    assert.is(result.stderr, '');

    const clientSession = fixtures.sessions.hashOf(client.cookies.get('sessionid')!)!;
    const kept = [clientSession, ...live.map((s) => fixtures.sessions.hashOf(s.key)!)].sort();
    assert.equal(await storedSessions(), kept, 'exactly the expired rows deleted');
    const page = await client.get('/');
    assert.is(page.status, 200, 'still logged in');
    assert.match(page.body.toString(), /alice/);
    if (backend.dir !== undefined)
      assert.not.ok(
        readdirSync(backend.dir).some((f) => f.endsWith('.secret_key')),
        'it needs no SECRET_KEY, and made none',
      );
  });

  test('-v 2 says how many it deleted; -v 0 and -v 1 nothing', async () => {
    const old = madeDaysAgo(20);
    for (let i = 0; i < 3; i++) await old.create(null);
    const quiet = await runGredis(['clearsessions', '-v', '0', '--database', backend.url]);
    assert.is(quiet.code, 0, quiet.stderr);
    assert.is(quiet.stdout + quiet.stderr, '');
    for (let i = 0; i < 2; i++) await old.create(null);
    const told = await runGredis(['clearsessions', '-v', '2', '--database', backend.url]);
    assert.is(told.code, 0, told.stderr);
    assert.is(told.stdout, 'Deleted 2 expired session(s).\n');
    const again = await runGredis(['clearsessions', '--verbosity', '2', '--database', backend.url]);
    assert.is(again.stdout, 'Deleted 0 expired session(s).\n');
  });

  test.run();

  const listed = suite(`showmigrations (${backend.name})`);
  // A fresh database for each test: each starts from one never migrated.
  listed.before.each(() => backend.setup());
  listed.after.each(() => backend.teardown());

  listed('every migration [ ] before migrate, [X] after, under one heading; exit 0', async () => {
    const before = await runGredis(['showmigrations', '--database', backend.url]);
    assert.is(before.code, 0, before.stderr);
    assert.is(before.stdout, listing(0));
    if (backend.dir !== undefined) {
      assert.match(before.stderr, /^Note: the database \S+ does not exist yet/);
      assert.not.ok(existsSync(join(backend.dir, 'test.sqlite3')), 'the listing made the file');
    } else assert.is(before.stderr, '');

    const migrated = await runGredis(['migrate', '-v', '0', '--database', backend.url]);
    assert.is(migrated.code, 0, migrated.stderr);
    const after = await runGredis(['showmigrations', '--database', backend.url]);
    assert.is(after.code, 0, after.stderr);
    assert.is(after.stderr, '');
    assert.is(after.stdout, listing(MIGRATIONS.length));
    // migrate --list is the same list, without the heading.
    const list = await runGredis(['migrate', '--list', '--database', backend.url]);
    assert.is(`gredis\n${list.stdout}`, after.stdout);
  });

  listed('one migration rolled back: it alone is [ ]', async () => {
    const db = await backend.openMigrated();
    const last = MIGRATIONS.at(-1)!;
    await db.knex('gredis_migrations').where('name', last).delete();
    const result = await runGredis(['showmigrations', '--database', backend.url]);
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout, listing(MIGRATIONS.length - 1));
  });

  listed(
    '--plan (-p): the order they apply in, app-qualified; -v 2 with what each depends on',
    async () => {
      const before = await runGredis(['showmigrations', '--plan', '--database', backend.url]);
      assert.is(before.code, 0, before.stderr);
      assert.is(before.stdout, plan(0));
      const db = await backend.openMigrated();
      await db.knex('gredis_migrations').where('name', MIGRATIONS.at(-1)!).delete();
      const short = await runGredis(['showmigrations', '-p', '--database', backend.url]);
      assert.is(short.code, 0, short.stderr);
      assert.is(short.stderr, '');
      assert.is(short.stdout, plan(MIGRATIONS.length - 1));
      const deps = await runGredis(['showmigrations', '-p', '-v', '2', '--database', backend.url]);
      assert.is(deps.code, 0, deps.stderr);
      assert.is(deps.stdout, plan(MIGRATIONS.length - 1, true));
      // --list is the default form, said outright.
      const list = await runGredis(['showmigrations', '-l', '--database', backend.url]);
      assert.is(list.stdout, listing(MIGRATIONS.length - 1));
    },
  );

  listed('-v 2: when each applied migration was, in UTC to the second', async () => {
    const started = new Date();
    const migrated = await runGredis(['migrate', '-v', '0', '--database', backend.url]);
    assert.is(migrated.code, 0, migrated.stderr);
    const db = backend.open();
    const [first, second, ...rest] = MIGRATIONS;
    await db
      .knex('gredis_migrations')
      .where('name', first!)
      .update({ migration_time: new Date('2026-11-28T09:15:30.750Z') });
    await db.knex('gredis_migrations').where('name', second!).delete();
    const shown = await runGredis(['showmigrations', '-v', '2', '--database', backend.url]);
    assert.is(shown.code, 0, shown.stderr);
    const lines = shown.stdout.split('\n');
    assert.is(lines[0], 'gredis');
    assert.is(lines[1], ` [X] ${first} (applied at 2026-11-28 09:15:30)`);
    assert.is(lines[2], ` [ ] ${second}`, 'a pending one has no time');
    const second0 = Math.floor(started.getTime() / 1000) * 1000;
    rest.forEach((name, i) => {
      const at = new RegExp(`^ \\[X\\] ${name} \\(applied at (\\S+ \\S+)\\)$`).exec(lines[3 + i]!);
      assert.ok(at, lines[3 + i]);
      const when = Date.parse(`${at[1]}Z`);
      assert.ok(when >= second0 && when <= Date.now(), `${at[1]} is when migrate ran`);
    });
    // migrate --list is the same list, without the heading.
    const list = await runGredis(['migrate', '--list', '-v', '2', '--database', backend.url]);
    assert.is(`gredis\n${list.stdout}`, shown.stdout);
  });

  listed('migrate --plan: the migrations it would apply, and applies none', async () => {
    const planned = await runGredis(['migrate', '--plan', '--database', backend.url]);
    assert.is(planned.code, 0, planned.stderr);
    assert.is(
      planned.stdout,
      `Planned operations:\n${MIGRATIONS.map((name) => `gredis.${name}\n`).join('')}`,
    );
    if (backend.dir !== undefined)
      assert.not.ok(existsSync(join(backend.dir, 'test.sqlite3')), 'the plan made the file');
    else assert.is(planned.stderr, '');
    const untouched = await runGredis(['showmigrations', '--database', backend.url]);
    assert.is(untouched.stdout, listing(0), 'nothing applied');

    const db = await backend.openMigrated();
    // Printed whatever the verbosity, as Django's.
    const none = await runGredis(['migrate', '--plan', '-v', '0', '--database', backend.url]);
    assert.is(none.code, 0, none.stderr);
    assert.is(none.stdout, 'Planned operations:\n  No planned migration operations.\n');

    const last = MIGRATIONS.at(-1)!;
    await db.knex('gredis_migrations').where('name', last).delete();
    const one = await runGredis(['migrate', '--plan', '--database', backend.url]);
    assert.is(one.stdout, `Planned operations:\ngredis.${last}\n`);
    assert.is(
      (await runGredis(['showmigrations', '--database', backend.url])).stdout,
      listing(MIGRATIONS.length - 1),
      'still not applied',
    );
  });

  listed.run();
}

const interrupted = suite('clearsessions and showmigrations interrupted (postgres)');
const postgres = postgresBackend();
let migrated: Database;
interrupted.before.each(async () => {
  await postgres.setup();
  migrated = await postgres.openMigrated();
});
interrupted.after.each(() => postgres.teardown());

/** `count` sessions expired a day ago, a second apart: keys md5('1') to md5('<count>'), oldest first. */
async function expiredSessions(count: number): Promise<void> {
  await migrated.knex.raw(
    `insert into gredis_session (session_key_hash, data, expire_date)
     select md5(i::text), '{}', now() - interval '1 day' + i * interval '1 second'
     from generate_series(1, ?) as i`,
    [count],
  );
}

const sessionsLeft = async (): Promise<number> =>
  Number((await migrated.knex('gredis_session').count({ n: '*' }))[0]!.n);

for (const command of [['showmigrations'], ['migrate', '--list'], ['migrate', '--plan']])
  interrupted(
    `${command.join(' ')}: Ctrl-C while it reads the migrations behind a lock on gredis_migrations: the server cancels the read, "Operation cancelled.", exit 130 at once`,
    async () => {
      const run = await interruptWhileLocked(
        postgres,
        () => startGredis([...command, '--database', postgres.url]),
        { table: MIGRATIONS_TABLE, waiting: 'its read of the migrations to wait', code: 130 },
      );
      assert.is(run.stderr, 'gredis: Operation cancelled.\n');
      // No listing, and no end of a "^C" line: stdout is no terminal.
      assert.is(run.stdout, '');
    },
  );

/**
 * `clearsessions`, Ctrl-C'd once `statement` waits for its lock on
 * gredis_session: asserts it exits 130 at once, cancelled on the server
 * (interruptWhileLocked), and resolves with what it says it had deleted.
 */
async function clearSessionsInterrupted(
  statement: Pick<LockedStatement, 'rowsWhere' | 'waiting'>,
): Promise<string> {
  const run = await interruptWhileLocked(
    postgres,
    () => startGredis(['clearsessions', '--database', postgres.url]),
    { table: 'gredis_session', code: 130, ...statement },
  );
  // Nothing, not even the end of a "^C" line: stdout is no terminal.
  assert.is(run.stdout, '');
  const said =
    /^gredis: clearsessions interrupted \(Ctrl-C\): (.*); the batch under way, if any, was cancelled, deleting nothing\. Run "[^"]* clearsessions" again to delete the rest\.\n$/.exec(
      run.stderr,
    );
  assert.ok(said, run.stderr);
  return said[1]!;
}

interrupted(
  'clearsessions: Ctrl-C while a batch waits for a row lock: the server cancels it, exit 130 at once, saying the batches deleted before stand',
  async () => {
    await expiredSessions(2500);
    const done = await clearSessionsInterrupted({
      // In the third batch of 1000: its DELETE waits; the two before are done.
      rowsWhere: "session_key_hash = md5('2100')",
      waiting: "the third batch's DELETE to wait for the row lock",
    });
    assert.is(done, '2000 expired session(s) were deleted, in 2 batch(es), each committed');
    assert.is(await sessionsLeft(), 500, 'the third batch rolled back, whole');
  },
);

interrupted(
  'clearsessions: Ctrl-C while its first batch waits for a lock on gredis_session: the server cancels it, exit 130 at once, saying nothing was deleted',
  async () => {
    await expiredSessions(10);
    const done = await clearSessionsInterrupted({
      waiting: 'its first batch to wait for the lock',
    });
    assert.is(done, 'no session was deleted');
    assert.is(await sessionsLeft(), 10);
  },
);

interrupted.run();

const refusals = suite('clearsessions and showmigrations refusals');

refusals(
  'an unreachable database: exit 1, one line naming it, no password, nothing on stdout',
  async () => {
    for (const command of ['clearsessions', 'showmigrations']) {
      const run = await runGredis([
        command,
        '--database',
        'postgres://postgres:hunter2@127.0.0.1:1/test',
      ]);
      assert.is(run.code, 1, `${command}: ${run.stderr}`);
      assert.is(run.stdout, '', command);
      assert.match(
        run.stderr,
        /^gredis: cannot connect to the database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test: [^\n]*ECONNREFUSED[^\n]*\n$/,
        command,
      );
    }
  },
);

refusals('a bad flag or argument: one usage line, exit 2', async () => {
  for (const [args, reason] of [
    [['clearsessions', '--bogus'], "unknown option '--bogus'"],
    [['clearsessions', 'extra'], 'too many arguments'],
    [['showmigrations', '--bogus'], "unknown option '--bogus'"],
    [['showmigrations', '-p', '-l'], "option '-p, --plan' cannot be used with option '-l, --list'"],
    [['migrate', '--list', '--plan'], "option '--plan' cannot be used with option '--list'"],
    [['clearsessions', '-v', '3'], 'Expected an integer from 0 to 2'],
  ] as [string[], string][]) {
    const run = await runGredis(args, { timeoutMs: 10_000 });
    const what = `${args.join(' ')}: ${run.stderr}`;
    assert.is(run.code, 2, what);
    assert.is(run.stdout, '', what);
    assert.match(run.stderr, /^gredis: [^\n]+\n$/, what);
    assert.ok(run.stderr.includes(reason), what);
  }
});

refusals.run();
