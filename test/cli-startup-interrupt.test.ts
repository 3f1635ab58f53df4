/**
 * `gredis thyme` (embedded) and `gredis runworker` signalled while their
 * start-up check of the migrations waits for a lock on gredis_migrations (a
 * migration under way) on PostgreSQL: the check is cancelled on the server,
 * not left queued behind the lock, and the process exits at once with the
 * status a shell reports for one the signal killed, as anywhere else in its
 * start-up, saying so in its log; it never serves.
 */
import * as assert from 'uvu/assert';
import { MIGRATIONS_TABLE } from '../src/db/migrations.js';
import { startGredis } from './helpers/cli.js';
import { postgresBackend } from './helpers/databases.js';
import { interruptWhileLocked } from './helpers/locked-interrupt.js';
import { SHARED_REDIS_URL } from './helpers/redis-server.js';
import { suite } from './helpers/suite.js';

const test = suite('thyme and runworker signalled while their check of the migrations waits');
const backend = postgresBackend();
test.before.each(async () => {
  await backend.setup();
  await backend.openMigrated();
});
test.after.each(() => backend.teardown());

/** The messages of a command's JSON log lines. */
const logged = (stdout: string): string[] =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { msg: string }).msg);

const STOPPED = [
  'stopping while starting: cancelling its check of the database',
  'stopped before serving',
];

for (const [name, args] of [
  ['thyme', ['thyme', 'multichat', '--port', '0']],
  ['runworker', ['runworker', 'multichat', '--layer', SHARED_REDIS_URL]],
] as const)
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    test(`${name}: ${signal} while its check waits for a lock on gredis_migrations: the server cancels it, exit ${code} at once, never serving`, async () => {
      const run = await interruptWhileLocked(
        backend,
        () =>
          startGredis([...args, '--database', backend.url], {
            env: { GREDIS_LOG_LEVEL: 'info', GREDIS_LOG_FORMAT: 'json' },
          }),
        {
          table: MIGRATIONS_TABLE,
          waiting: `${name}'s check of the migrations to wait for the lock`,
          signal,
          code,
        },
      );
      assert.equal(logged(run.stdout), STOPPED);
      assert.is(run.stderr, '');
    });

test.run();
