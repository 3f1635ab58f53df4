/**
 * A command whose query finds the database's pool all taken: the line it prints
 * says what the server said the connections were doing (waiting for a lock, or
 * running statements), not a guess that another session holds a lock.
 */
import * as assert from 'uvu/assert';
import { withDatabase } from '../src/commands/database.js';
import { CommandFailed } from '../src/commands/errors.js';
import { createLogger } from '../src/logger.js';
import { postgresBackend } from './helpers/databases.js';
import { suite } from './helpers/suite.js';

const test = suite('command database busy (postgres)');
const backend = postgresBackend();

test.before(async () => {
  await backend.setup();
  await backend.openMigrated();
});
test.after(() => backend.teardown());

test("pool's connections all running slow statements: the line says the database is busy and with what, not that a lock may be held", async () => {
  const logger = createLogger({ verbosity: 0, name: 'test' });
  let failure: unknown;
  try {
    await withDatabase(backend.url, logger, async (db) => {
      // The pool's ten connections each run a statement longer than the
      // 10 s a query waits for one: the eleventh query gives up.
      const slow = Array.from({ length: 10 }, () => db.knex.raw('select pg_sleep(11)').then());
      try {
        await db.knex('auth_user').count({ n: '*' });
      } finally {
        await Promise.allSettled(slow);
      }
    });
  } catch (error) {
    failure = error;
  }
  assert.instance(failure, CommandFailed);
  assert.match(
    (failure as Error).message,
    /^the database \S+ is busy: waited \d+ ms for a connection: 10 of the pool's 10 are running statements, the longest for \d+\.\d s \(server process \d+\)$/,
  );
  assert.not.match((failure as Error).message, /lock/);
});

test.run();
