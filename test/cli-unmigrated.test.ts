/**
 * Every command on a database it cannot use: not migrated yet (every command
 * but `migrate`), or not a database at all. One line saying why and what to
 * run, exit 1, and nothing left behind. No SQLite file (or secret key
 * file beside it) created, nor written into when it is empty (`migrate --list`
 * writes nothing either), no table created in an empty one or in an empty
 * PostgreSQL schema: a failed command changes nothing.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { knownMigrations } from '../src/db/migrations.js';
import { runGredisWithKey, type CliResult } from './helpers/cli.js';
import { postgresBackend, sqliteBackend } from './helpers/databases.js';
import { SHARED_REDIS_URL } from './helpers/redis-server.js';
import { testPrefix } from './helpers/layers.js';
import { suite } from './helpers/suite.js';

/** Each command that opens the database without migrating it, as a user would run it. */
const COMMANDS: { name: string; args: string[] }[] = [
  { name: 'createsuperuser', args: ['createsuperuser', '--noinput', '--username', 'admin'] },
  { name: 'changepassword', args: ['changepassword', 'admin'] },
  { name: 'clearsessions', args: ['clearsessions'] },
  { name: 'thyme (embedded)', args: ['thyme', 'multichat', '--port', '0'] },
  {
    name: 'runworker',
    args: ['runworker', 'multichat', '--layer', `${SHARED_REDIS_URL}?prefix=${testPrefix()}`],
  },
];

/** Runs one of COMMANDS on `url`, without SECRET_KEY: a SQLite database would make one. */
function run(args: string[], url: string, cwd?: string): Promise<CliResult> {
  return runGredisWithKey([...args, '--database', url], {
    cwd,
    env: { SECRET_KEY: url.startsWith('sqlite') ? undefined : 'k'.repeat(50), ...password },
    timeoutMs: 20_000,
  });
}
const password = { GREDIS_SUPERUSER_PASSWORD: 'Tr0ub4dor&3' };

/** How many migrations there are: on a database without tables, all are pending. */
const MIGRATIONS = (await knownMigrations()).length;
const NOT_MIGRATED = new RegExp(
  `^gredis: ${MIGRATIONS} database migration\\(s\\) are not applied yet: `,
);

const hint = /run "node (\S+\/)?bin\/gredis\.js migrate" first\n$/;

const sqlite = suite('unmigrated SQLite');
const backend = sqliteBackend();
sqlite.before(() => backend.setup());
sqlite.after(() => backend.teardown());

sqlite(
  'a file that does not exist: each command says to migrate, and creates no file',
  async () => {
    for (const { name, args } of COMMANDS) {
      const result = await run(args, backend.url, backend.dir);
      assert.is(result.code, 1, `${name}: ${result.stderr}`);
      assert.equal(readdirSync(backend.dir!), [], `${name} left files behind`);
      assert.match(
        result.stderr,
        /^gredis: the database sqlite:\/\/\S+ does not exist yet: /,
        name,
      );
      assert.match(result.stderr, hint, name);
    }
  },
);

sqlite(
  'migrate --list on a file that does not exist, then on a 0-byte one: every migration pending, no file made or written',
  async () => {
    const file = join(backend.dir!, 'test.sqlite3');
    const missing = await run(['migrate', '--list'], backend.url, backend.dir);
    assert.is(missing.code, 0, missing.stderr);
    assert.match(missing.stdout, new RegExp(`^( \\[ \\] \\d+_\\w+\\n){${MIGRATIONS}}$`));
    assert.match(
      missing.stderr,
      /^Note: the database sqlite:\/\/\S+ does not exist yet, so no migration is applied; "node (\S+\/)?bin\/gredis\.js migrate" creates it\.\n$/,
    );
    assert.equal(readdirSync(backend.dir!), [], 'the listing made files');
    writeFileSync(file, '');
    const empty = await run(['migrate', '--list'], backend.url, backend.dir);
    assert.is(empty.code, 0, empty.stderr);
    assert.is(empty.stdout, missing.stdout);
    assert.is(empty.stderr, '');
    assert.equal(readdirSync(backend.dir!), ['test.sqlite3'], 'the listing made files');
    assert.is(statSync(file).size, 0, 'the listing wrote into the file');
  },
);

sqlite(
  'a 0-byte file (as touch makes it): each command says to migrate, and leaves it 0 bytes',
  async () => {
    const file = join(backend.dir!, 'test.sqlite3');
    writeFileSync(file, '');
    for (const { name, args } of COMMANDS) {
      const result = await run(args, backend.url, backend.dir);
      assert.is(result.code, 1, `${name}: ${result.stderr}`);
      assert.match(result.stderr, NOT_MIGRATED, name);
      assert.match(result.stderr, hint, name);
      assert.equal(readdirSync(backend.dir!), ['test.sqlite3'], `${name} left files behind`);
      assert.is(statSync(file).size, 0, `${name} wrote into the file`);
    }
  },
);

sqlite(
  'a database with no tables: each command says to migrate, creating no table and no key file',
  async () => {
    const file = join(backend.dir!, 'test.sqlite3');
    writeFileSync(file, '');
    const db = backend.open();
    // A SQLite database now (its header written), with nothing in it.
    await db.knex.raw('select 1');
    for (const { name, args } of COMMANDS) {
      const result = await run(args, backend.url, backend.dir);
      assert.is(result.code, 1, `${name}: ${result.stderr}`);
      assert.not.ok(existsSync(`${file}.secret_key`), `${name} made a secret key file`);
      const tables = await db.knex('sqlite_master').where({ type: 'table' }).pluck('name');
      assert.equal(tables, [], `${name} created tables`);
      assert.match(result.stderr, NOT_MIGRATED, name);
      assert.match(result.stderr, hint, name);
    }
  },
);

sqlite(
  'a file that is not a SQLite database: each command, migrate too, names it and leaves it be',
  async () => {
    const file = join(backend.dir!, 'test.sqlite3');
    writeFileSync(file, 'not a database\n');
    for (const { name, args } of [...COMMANDS, { name: 'migrate', args: ['migrate'] }]) {
      const result = await run(args, backend.url, backend.dir);
      assert.is(result.code, 1, `${name}: ${result.stderr}`);
      assert.is(
        result.stderr,
        `gredis: the database ${backend.url} is not a SQLite database: file is not a database\n`,
        name,
      );
      assert.is(readFileSync(file, 'utf8'), 'not a database\n', name);
    }
  },
);

sqlite.run();

const postgres = suite('unmigrated PostgreSQL');
const schema = postgresBackend();
postgres.before(() => schema.setup());
postgres.after(() => schema.teardown());

postgres('an empty schema: each command says to migrate, creating no table', async () => {
  const db = schema.open();
  for (const { name, args } of COMMANDS) {
    const result = await run(args, schema.url);
    assert.is(result.code, 1, `${name}: ${result.stderr}`);
    const tables = await db
      .knex('information_schema.tables')
      .whereRaw('table_schema = current_schema()')
      .pluck('table_name');
    assert.equal(tables, [], `${name} created tables`);
    assert.match(result.stderr, NOT_MIGRATED, name);
    assert.match(result.stderr, hint, name);
  }
});

postgres.run();
