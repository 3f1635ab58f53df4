/**
 * `gredis changepassword USER` on SQLite and PostgreSQL: hidden prompts at a terminal,
 * piped input, Django's three tries, and the user's sessions ending with the change.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { SessionStore } from '../src/auth/sessions.js';
import { UserRepository } from '../src/auth/users.js';
import type { Database } from '../src/db/connection.js';
import { MIGRATIONS_TABLE } from '../src/db/migrations.js';
import { CLOSE_LOGGED_OUT, userGroup } from '../src/auth/socket-groups.js';
import { createLayer } from '../src/index.js';
import {
  type CliResult,
  runGredis,
  runGredisInPtyWithKey,
  runGredisWithKey,
  startGredis,
} from './helpers/cli.js';
import { TEST_SECRET_KEY } from './helpers/deployment.js';
import { allDatabases, refusePasswordChanges, waitUntilBlockedBy } from './helpers/databases.js';
import { interruptWhileConnecting } from './helpers/connecting-interrupt.js';
import { interruptWhileLocked, withProxiedDatabase } from './helpers/locked-interrupt.js';
import { testPrefix } from './helpers/layers.js';
import { freePort } from './helpers/ports.js';
import { SHARED_REDIS_URL } from './helpers/redis-server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { keysNotStartingWith, withAclUser } from './helpers/redis-acl.js';
import { sleep, waitFor, within } from './helpers/wait.js';

for (const backend of allDatabases()) {
  const test = suite(`changepassword (${backend.name})`);
  let db: Database;
  let users: UserRepository;
  const db_ = (): string[] => ['--database', backend.url];

  /**
   * `changepassword` for `username` to n3w-Secret, on a layer whose user may not
   * touch the socket groups of users: the close of their sockets never lands, and
   * the command gives up after `closeWait` seconds.
   */
  const changeWithCloseRefused = (username: string, closeWait: string): Promise<CliResult> =>
    withAclUser(['~*', '&*', '+@all'], async (acl) => {
      const prefix = testPrefix();
      await acl.set('resetkeys', ...keysNotStartingWith(`${prefix}:group:user-`));
      return runGredisWithKey(
        [
          'changepassword',
          username,
          ...db_(),
          '--layer',
          acl.url(`?prefix=${prefix}`),
          '--close-wait',
          closeWait,
        ],
        { input: 'n3w-Secret\nn3w-Secret\n' },
      );
    });

  test.before(async () => {
    await backend.setup();
    db = await backend.openMigrated();
    users = new UserRepository(db, { passwordIterations: 1000, secret: TEST_SECRET_KEY });
  });
  test.after(() => backend.teardown());
  test.before.each(() => backend.truncate(db));

  test("in a terminal: two hidden prompts; the new password works, the old one and the user's sessions do not", async () => {
    const alice = await users.create({ username: 'alice', password: 'old password' });
    const bob = await users.create({ username: 'bob', password: 'bob pw' });
    // The key runGredisInPtyWithKey gives the command: its sessions are the command's.
    const sessions = new SessionStore(db, { secret: TEST_SECRET_KEY });
    const aliceSession = await sessions.create(alice.id);
    const bobSession = await sessions.create(bob.id);
    const result = await runGredisInPtyWithKey(
      ['changepassword', 'alice', ...db_()],
      [
        { expect: 'Password: ', send: 'n3w-Secret\r' },
        { expect: 'Password (again): ', send: 'n3w-Secret\r' },
      ],
    );
    assert.is(result.status, 0, result.output);
    assert.match(result.output, /^Changing password for user 'alice'\r\n/);
    assert.match(result.output, /Password changed successfully for user 'alice'\r\n/);
    // No layer given: said plainly, since the user's open sockets were not closed.
    assert.match(result.output, /Note: no shared channel layer \(--layer or CHANNEL_LAYER_URL\)/);
    assert.not.ok(result.output.includes('n3w-Secret'), 'the password was echoed');
    assert.equal(result.echoOff, [true, true]);
    assert.is(await users.authenticate('alice', 'old password'), undefined);
    assert.is((await users.authenticate('alice', 'n3w-Secret'))?.id, alice.id);
    assert.is(await sessions.load(aliceSession.key), undefined, "alice's sessions ended");
    assert.ok(await sessions.load(bobSession.key), "bob's did not");
    assert.is((await users.authenticate('bob', 'bob pw'))?.id, bob.id);
  });

  test('stdin piped: a mismatch is asked again; then it succeeds', async () => {
    await users.create({ username: 'carol', password: 'old' });
    const result = await runGredisWithKey(['changepassword', 'carol', ...db_()], {
      input: 'a\nb\nnew one 2026\nnew one 2026\n',
    });
    assert.is(result.code, 0, result.stderr);
    assert.match(result.stderr, /^Passwords do not match\. Please try again\.\nNote: no shared/);
    assert.ok(await users.authenticate('carol', 'new one 2026'));
  });

  test("three failed tries (a mismatch, a blank, one Django's validators refuse) abort with exit 1 and leave the password alone", async () => {
    await users.create({ username: 'dave', password: 'keep me' });
    const result = await runGredisWithKey(['changepassword', 'dave', ...db_()], {
      input: 'a\nb\n \n \ndave\ndave\nnever mind it\nnever mind it\n',
    });
    assert.is(result.code, 1);
    assert.match(result.stderr, /Passwords do not match\. Please try again\.\n/);
    assert.match(result.stderr, /Error: Blank passwords aren't allowed\.\n/);
    assert.match(
      result.stderr,
      /The password is too similar to the username\.\nThis password is too short\. It must contain at least 8 characters\.\n/,
    );
    assert.match(
      result.stderr,
      /gredis: Aborting password change for user 'dave' after 3 attempts\n$/,
    );
    assert.ok(await users.authenticate('dave', 'keep me'));
    assert.is(await users.authenticate('dave', 'never mind it'), undefined);
  });

  test("an UPDATE the database refuses: exit 1 with the database's reason, and neither the new hash nor the password said, even at -v 2", async () => {
    await users.create({ username: 'frank', password: 'keep me' });
    const allow = await refusePasswordChanges(db);
    try {
      const result = await runGredisWithKey(['changepassword', 'frank', ...db_(), '-v', '2'], {
        input: 'n3w-Secret 2026\nn3w-Secret 2026\n',
      });
      assert.is(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /^gredis: update .auth_user. set .password. = (\?|\$1) .* - .*(password changes refused|violates check constraint "refuse_password")/,
      );
      assert.not.match(result.stderr, /pbkdf2_sha256/, 'the new hash');
      assert.not.match(result.stderr, /n3w-Secret/);
    } finally {
      await allow();
    }
    assert.ok(await users.authenticate('frank', 'keep me'));
  });

  test('an unknown user (including SQL metacharacters) is exit 1, one line, no prompt', async () => {
    await users.create({ username: 'erin', password: 'pw' });
    const [unknown, hostile] = await Promise.all(
      ['nobody', "erin' OR '1'='1"].map((name) =>
        runGredisWithKey(['changepassword', name, ...db_()], { input: 'x\nx\n' }),
      ),
    );
    assert.is(unknown!.code, 1);
    assert.is(unknown!.stderr, "gredis: user 'nobody' does not exist\n");
    assert.is(unknown!.stdout, '');
    assert.is(hostile!.code, 1);
    assert.ok(await users.authenticate('erin', 'pw'), 'erin untouched');
  });

  test("on a shared layer the user's open chat sockets are closed (4001), and nobody else's", async () => {
    const alice = await users.create({ username: 'alice', password: 'old password' });
    const bob = await users.create({ username: 'bob', password: 'bob pw' });
    const prefix = testPrefix();
    const layer = createLayer(SHARED_REDIS_URL, { prefix });
    try {
      // Stand-ins for two sockets, in the groups a consumer puts its sockets in.
      await layer.groupAdd(userGroup(alice.id), 'sockets.alice');
      await layer.groupAdd(userGroup(bob.id), 'sockets.bob');
      const result = await runGredisWithKey(
        ['changepassword', 'alice', ...db_(), '--layer', `${SHARED_REDIS_URL}?prefix=${prefix}`],
        { input: 'n3w-Secret\nn3w-Secret\n' },
      );
      assert.is(result.code, 0, result.stderr);
      assert.match(result.stdout, /Closed the chat sockets of user 'alice'\n$/);
      assert.not.match(result.stderr, /Note:/);
      assert.equal(await within(layer.receive('sockets.alice'), 3000), {
        close: CLOSE_LOGGED_OUT,
      });
      await layer.send('sockets.bob', { type: 'sentinel' });
      assert.equal(await within(layer.receive('sockets.bob'), 3000), { type: 'sentinel' });
    } finally {
      await layer.flush();
      await layer.close();
    }
  });

  test("a layer that does not take the close (refusing the user's group): tried again as the workers retry, each wait said; once it takes it, the sockets are closed (4001), exit 0", async () => {
    const alice = await users.create({ username: 'alice', password: 'old password' });
    await withAclUser(['~*', '&*', '+@all'], async (acl) => {
      const prefix = testPrefix();
      const layer = createLayer(`${acl.server.url}?prefix=${prefix}`);
      const run = startGredis([
        'changepassword',
        'alice',
        ...db_(),
        '--layer',
        acl.url(`?prefix=${prefix}`),
      ]);
      try {
        await layer.groupAdd(userGroup(alice.id), 'sockets.alice');
        await acl.set('resetkeys', ...keysNotStartingWith(`${prefix}:group:user-`));
        run.child.stdin!.end('n3w-Secret\nn3w-Secret\n');
        await waitFor(() => /trying again in 1 s/.test(run.stderr()), 10_000, 'two waits said');
        assert.match(
          run.stderr(),
          /^The channel layer did not take the close of the chat sockets of user 'alice' \(channel layer host [^\n]* is unavailable: refused for lack of permission\); trying again in 0\.5 s \(Ctrl-C to stop\)\n/,
        );
        await acl.set('allkeys');
        assert.equal(await within(run.exited, 10_000, 'the command to end'), {
          code: 0,
          signal: null,
        });
        assert.match(run.stdout(), /Closed the chat sockets of user 'alice'\n$/);
        assert.equal(await within(layer.receive('sockets.alice'), 3000), {
          close: CLOSE_LOGGED_OUT,
        });
      } finally {
        run.child.kill('SIGKILL');
        await layer.close();
      }
    });
    assert.ok(await users.authenticate('alice', 'n3w-Secret'));
  });

  // The layer's behaviour, whatever the database: run on one.
  if (backend.name === 'sqlite')
    test('Redis away after the prompt: each wait says it ends as soon as the layer is back, and it does: the close goes out then, not at the end of the wait', async () => {
      const dora = await users.create({ username: 'dora', password: 'old password' });
      const prefix = testPrefix();
      const layer = createLayer(SHARED_REDIS_URL, { prefix });
      const redis = new URL(SHARED_REDIS_URL);
      const proxy = await TcpProxy.start({ host: redis.hostname, port: Number(redis.port) });
      const run = startGredis([
        'changepassword',
        'dora',
        ...db_(),
        '--layer',
        `redis://127.0.0.1:${proxy.port}/0?prefix=${prefix}`,
      ]);
      try {
        await layer.groupAdd(userGroup(dora.id), 'sockets.dora');
        await waitFor(() => run.stdout().includes('Password: '), 10_000, 'the prompt');
        proxy.cut(); // Redis goes away once the command has found it reachable
        run.child.stdin!.write('n3w-Secret\nn3w-Secret\n');
        // Each try fails once the layer's reconnect has (1–5 s), then its wait.
        await waitFor(
          () => /trying again in 4 s, or as soon as the layer is back/.test(run.stderr()),
          40_000,
          'the waits to reach 4 s',
        );
        assert.match(
          run.stderr(),
          /^The channel layer did not take the close of the chat sockets of user 'dora' \([^\n]*unavailable[^\n]*\); trying again in 0\.5 s, or as soon as the layer is back \(Ctrl-C to stop\)\n/,
        );
        await proxy.restore();
        const back = Date.now();
        // Inside the 4 s wait: the layer reconnects within 2 s (its backoff's cap).
        assert.equal(await within(run.exited, 10_000, 'the command to end once Redis is back'), {
          code: 0,
          signal: null,
        });
        const took = Date.now() - back;
        assert.ok(took < 3500, `closed ${took} ms after Redis was back, not at the wait's end`);
        assert.match(run.stdout(), /Closed the chat sockets of user 'dora'\n$/);
        assert.equal(await within(layer.receive('sockets.dora'), 3000), {
          close: CLOSE_LOGGED_OUT,
        });
      } finally {
        run.child.kill('SIGKILL');
        proxy.stop();
        await layer.flush();
        await layer.close();
      }
    });

  test('a layer that never takes the close: after --close-wait, exit 3, saying the password changed, which sockets may be open, and that each is closed at its next command', async () => {
    const bob = await users.create({ username: 'bob', password: 'old password' });
    const sessions = new SessionStore(db, { secret: TEST_SECRET_KEY });
    const session = await sessions.create(bob.id);
    const result = await changeWithCloseRefused('bob', '2');
    assert.is(result.code, 3, result.stderr);
    assert.match(result.stdout, /Password changed successfully for user 'bob'\n$/);
    const lines = result.stderr.trimEnd().split('\n');
    assert.ok(lines.length >= 3, 'its waits said');
    assert.match(
      lines.at(-1)!,
      /^gredis: the password was changed and the sessions ended, but the chat sockets of user 'bob' open on a running server \(if any\) were not closed in 2 s \(channel layer host [^\n]* is unavailable: refused for lack of permission\); each is closed at its next command$/,
    );
    assert.ok(await users.authenticate('bob', 'n3w-Secret'), 'the change stands');
    assert.is(await sessions.load(session.key), undefined, 'the sessions ended');
  });

  test('a wait past what is left of --close-wait is said as the real one, ending it: no wait said is longer than --close-wait', async () => {
    await users.create({ username: 'carol', password: 'old password' });
    const result = await changeWithCloseRefused('carol', '1.2');
    assert.is(result.code, 3, result.stderr);
    // Waits of 0.5 s, then 1 s: past the 0.7 s or so left, the second is that.
    const waits = [...result.stderr.matchAll(/; (trying again|giving up) in ([\d.]+) s/g)];
    assert.equal(
      waits.map(([, what]) => what),
      ['trying again', 'giving up'],
      result.stderr,
    );
    assert.match(result.stderr, /trying again in 0\.5 s \(Ctrl-C to stop\)\n/);
    assert.match(result.stderr, /giving up in 0\.\d s, as --close-wait ends \(Ctrl-C to stop\)\n/);
    const said = waits.reduce((total, [, , seconds]) => total + Number(seconds), 0);
    assert.ok(said <= 1.2, `${said} s of waits said, over --close-wait`);
  });

  test("a layer it cannot reach: exit 1 before any prompt, one line with the host's reason (not the layer's retrying warning), nothing changed, and how to go on anyway", async () => {
    await users.create({ username: 'frank', password: 'old' });
    const closedPort = await freePort();
    const result = await runGredisWithKey(
      // A shard that answers beside one that does not: only the one is named.
      [
        'changepassword',
        'frank',
        ...db_(),
        '--layer',
        `redis://127.0.0.1:${closedPort}/0,${SHARED_REDIS_URL}`,
      ],
      // At the default log level, where the layer's warnings would show.
      { input: 'n3w-Secret\nn3w-Secret\n', env: { GREDIS_LOG_LEVEL: undefined } },
    );
    assert.is(result.code, 1, result.stderr);
    assert.is(
      result.stderr.split('\n')[0],
      `gredis: cannot connect to the channel layer (redis://127.0.0.1:${closedPort}/0: connect ECONNREFUSED 127.0.0.1:${closedPort}), so the user's open chat sockets could not be closed; nothing was changed. To change the password anyway, pass --layer memory:// (open sockets are then refused at their next command)`,
    );
    assert.is(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.not.match(result.stdout, /retrying|Password/, 'no warning, no prompt');
    assert.ok(await users.authenticate('frank', 'old'), 'the old password still works');
    const anyway = await runGredisWithKey(
      ['changepassword', 'frank', ...db_(), '--layer', 'memory://'],
      {
        input: 'n3w-Secret\nn3w-Secret\n',
      },
    );
    assert.is(anyway.code, 0, anyway.stderr);
    assert.ok(await users.authenticate('frank', 'n3w-Secret'));
  });

  test('Ctrl-C while it waits for the channel layer: "Operation cancelled.", exit 1, as at a prompt; nothing changed', async () => {
    await users.create({ username: 'hana', password: 'old' });
    // A layer host that takes the connection and never answers: the command waits for it.
    const run = await interruptWhileConnecting(
      (port) =>
        startGredis(['changepassword', 'hana', ...db_(), '--layer', `redis://127.0.0.1:${port}/0`]),
      {
        reaching: 'the layer host',
        code: 1,
        withinMs: 2000,
        // Well into its wait for the layer (LAYER_WAIT_MS, 5 s), past the user's lookup.
        waitMs: 1500,
      },
    );
    assert.is(run.stderr, 'gredis: Operation cancelled.\n');
    assert.ok(await users.authenticate('hana', 'old'), 'the old password still works');
  });

  if (backend.name === 'postgres')
    test('Ctrl-C while its lookup waits for a lock on auth_user: the server cancels it, "Operation cancelled.", exit 1 at once; nothing changed', async () => {
      await users.create({ username: 'ines', password: 'old' });
      const run = await interruptWhileLocked(
        backend,
        () => startGredis(['changepassword', 'ines', ...db_(), '--layer', 'memory://']),
        {
          table: 'auth_user',
          waiting: "the command's lookup to wait for the lock",
          code: 1,
        },
      );
      assert.is(run.stderr, 'gredis: Operation cancelled.\n');
      assert.not.match(run.stdout, /Password/, 'no prompt');
      assert.ok(await users.authenticate('ines', 'old'), 'the old password still works');
    });

  if (backend.name === 'postgres')
    test('Ctrl-C while its check of the migrations waits for a lock on gredis_migrations: the server cancels it, "Operation cancelled.", exit 1 at once; nothing changed', async () => {
      await users.create({ username: 'olga', password: 'old' });
      const run = await interruptWhileLocked(
        backend,
        () => startGredis(['changepassword', 'olga', ...db_(), '--layer', 'memory://']),
        {
          table: MIGRATIONS_TABLE,
          waiting: "the command's check of the migrations to wait for the lock",
          code: 1,
        },
      );
      assert.is(run.stderr, 'gredis: Operation cancelled.\n');
      assert.not.match(run.stdout, /Password/, 'no prompt');
      assert.ok(await users.authenticate('olga', 'old'), 'the old password still works');
    });

  if (backend.name === 'postgres')
    test('a second Ctrl-C while the first waits for the cancel of its lookup to reach the database: exit 130 at once, saying the lookup was abandoned and nothing changed', async () => {
      await users.create({ username: 'pia', password: 'old' });
      await withProxiedDatabase(backend, async ({ url, proxy, lock }) => {
        const { holder } = await lock('auth_user');
        const run = startGredis([
          'changepassword',
          'pia',
          '--database',
          url,
          '--layer',
          'memory://',
        ]);
        try {
          await waitUntilBlockedBy(holder, "the command's lookup to wait for the lock", {
            timeoutMs: 10_000,
          });
          // The server stops answering new connections: the cancel request,
          // sent on one of its own, goes unanswered, and the first Ctrl-C
          // waits for it (up to 1 s).
          proxy.stall();
          run.child.kill('SIGINT');
          // The first Ctrl-C is taken when its cancel request reaches the proxy.
          await waitFor(() => proxy.held === 1, 2000, 'the first Ctrl-C to be taken');
          // That wait is no longer than the 1 s in which a second SIGINT is
          // the first one again (DUPLICATE_SIGNAL_MS): the command is stopped
          // through it, and the second Ctrl-C is taken as it resumes, the
          // cancel's wait still unsettled (its timer's close of the request's
          // socket is seen only after the signal).
          run.child.kill('SIGSTOP');
          await sleep(1300);
          run.child.kill('SIGINT');
          run.child.kill('SIGCONT');
          assert.equal(await within(run.exited, 1000, 'the command to end'), {
            code: 130,
            signal: null,
          });
          assert.is(
            run.stderr(),
            'gredis: Ctrl-C again: exiting without waiting; the lookup under way was abandoned, and nothing was changed.\n',
          );
        } finally {
          run.child.kill('SIGKILL');
        }
      });
      assert.ok(await users.authenticate('pia', 'old'), 'the old password still works');
    });

  /**
   * Runs changepassword for `username` with `table` locked once it prompts, so
   * that its statement on `table` (`waiting` says which) waits for the lock, and
   * presses Ctrl-C: the command must end at once with "Operation cancelled.",
   * its statement cancelled on the server, not left to run once the lock goes.
   */
  async function interruptAnswered(
    username: string,
    table: string,
    waiting: string,
  ): Promise<void> {
    const run = await interruptWhileLocked(
      backend,
      () => startGredis(['changepassword', username, ...db_(), '--layer', 'memory://']),
      {
        table,
        waiting,
        code: 1,
        lockWhen: (prompting) =>
          waitFor(() => prompting.stdout().includes('Password: '), 10_000, 'the prompt'),
        thenGo: (prompted) => prompted.child.stdin!.write('n3w-Secret\nn3w-Secret\n'),
      },
    );
    assert.is(run.stderr, 'gredis: Operation cancelled.\n');
    assert.not.match(run.stdout, /changed successfully/);
  }

  if (backend.name === 'postgres')
    test('Ctrl-C while its UPDATE waits for a lock on auth_user: the server cancels it, "Operation cancelled.", exit 1 at once; nothing changed', async () => {
      await users.create({ username: 'kofi', password: 'old' });
      // Locked once the user is found: the password's UPDATE is what waits.
      await interruptAnswered('kofi', 'auth_user', "the command's UPDATE to wait for the lock");
      assert.ok(await users.authenticate('kofi', 'old'), 'the old password still works');
    });

  if (backend.name === 'postgres')
    test('Ctrl-C while ending the user\'s sessions waits for a lock on gredis_session: the server cancels it, the password change rolled back with it, "Operation cancelled.", exit 1 at once', async () => {
      const user = await users.create({ username: 'lars', password: 'old' });
      const sessions = new SessionStore(db, { secret: TEST_SECRET_KEY });
      const session = await sessions.create(user.id);
      // The password's UPDATE passes; the DELETE of the sessions after it waits.
      await interruptAnswered(
        'lars',
        'gredis_session',
        "the command's DELETE of the sessions to wait",
      );
      // All or nothing: not a new password with the sessions of the old one still there.
      assert.ok(await users.authenticate('lars', 'old'), 'the old password still works');
      assert.is(await users.authenticate('lars', 'n3w-Secret'), undefined);
      assert.ok(await sessions.load(session.key), 'the session still stands');
    });

  test('Ctrl-C after the password is saved, while the sockets are closed: says the change stands and what was left, exit 3', async () => {
    const user = await users.create({ username: 'jude', password: 'old' });
    const sessions = new SessionStore(db, { secret: TEST_SECRET_KEY });
    const session = await sessions.create(user.id);
    const redis = new URL(SHARED_REDIS_URL);
    const proxy = await TcpProxy.start({ host: redis.hostname, port: Number(redis.port) });
    const run = startGredis([
      'changepassword',
      'jude',
      ...db_(),
      '--layer',
      `redis://127.0.0.1:${proxy.port}/0?prefix=${testPrefix()}`,
    ]);
    try {
      await waitFor(() => run.stdout().includes('Password: '), 10_000, 'the prompt');
      // The layer stops answering once the command has found it reachable.
      proxy.freeze();
      run.child.stdin!.write('n3w-Secret\nn3w-Secret\n');
      await waitFor(
        () => run.stdout().includes("Password changed successfully for user 'jude'"),
        10_000,
        'the password to be changed',
      );
      await sleep(300); // in its close of the sockets, which the frozen layer holds up
      assert.equal(await run.interrupt(2000, 'the command to end'), { code: 3, signal: null });
      assert.is(
        run.stderr(),
        "gredis: the password was changed and the sessions ended, but the chat sockets of user 'jude' open on a running server (if any) were not closed: closing them was interrupted (Ctrl-C); each is closed at its next command\n",
      );
      assert.not.match(run.stderr(), /cancelled/);
    } finally {
      run.child.kill('SIGKILL');
      proxy.stop();
    }
    assert.ok(await users.authenticate('jude', 'n3w-Secret'), 'the new password stands');
    assert.is(await sessions.load(session.key), undefined, 'the sessions ended');
  });

  if (backend.name === 'postgres')
    test('without SECRET_KEY: refused before any prompt, as the server is; nothing changes', async () => {
      await users.create({ username: 'gina', password: 'old' });
      const result = await runGredis(['changepassword', 'gina', ...db_()], {
        input: 'n3w-Secret\nn3w-Secret\n',
      });
      assert.is(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /^gredis: SECRET_KEY is required when the database is PostgreSQL/,
      );
      assert.not.match(result.stdout, /Password/, 'no prompt');
      assert.ok(await users.authenticate('gina', 'old'), 'the old password still works');
    });

  test('a missing username argument is a usage error (exit 2)', async () => {
    const result = await runGredisWithKey(['changepassword', ...db_()]);
    assert.is(result.code, 2);
    assert.match(result.stderr, /missing required argument/);
  });

  test.run();
}
