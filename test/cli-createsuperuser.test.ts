/**
 * `gredis createsuperuser` as people run it, on SQLite and PostgreSQL: typed at a
 * terminal (a real pseudo-terminal; the password must not be echoed), with stdin
 * piped, and with --noinput; Django's prompts, messages and re-prompts; exit codes.
 */
import { userInfo } from 'node:os';
import pg from 'pg';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { UserRepository } from '../src/auth/users.js';
import type { Database } from '../src/db/connection.js';
import { MIGRATIONS_TABLE } from '../src/db/migrations.js';
import {
  runGredis,
  runGredisInPtyWithKey,
  runGredisWithKey,
  runPython,
  startGredis,
} from './helpers/cli.js';
import { waitUntilOpen } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { TEST_SECRET_KEY } from './helpers/deployment.js';
import {
  allDatabases,
  holdWriteLock,
  lockTable,
  SHARED_POSTGRES_URL,
  type TableLock,
} from './helpers/databases.js';
import { interruptWhileConnecting } from './helpers/connecting-interrupt.js';
import { interruptWhileLocked } from './helpers/locked-interrupt.js';

const PASSWORD = 'Tr0ub4dor&3';

for (const backend of allDatabases()) {
  const test = suite(`createsuperuser (${backend.name})`);
  let db: Database;
  let users: UserRepository;

  const db_ = (): string[] => ['--database', backend.url];
  const count = async (): Promise<number> =>
    Number((await db.knex('auth_user').count({ n: '*' }))[0]!.n);

  test.before(async () => {
    await backend.setup();
    db = await backend.openMigrated();
    users = new UserRepository(db, { secret: TEST_SECRET_KEY });
  });
  test.after(() => backend.teardown());
  test.before.each(() => backend.truncate(db));

  test('in a terminal: prompts, hides the password (Backspace works), creates a staff superuser', async () => {
    const result = await runGredisInPtyWithKey(
      ['createsuperuser', ...db_()],
      [
        { expect: 'Username', send: 'alice\r' },
        { expect: 'Email address: ', send: 'alice@example.com\r' },
        { expect: 'Password: ', send: `${PASSWORD}x\x7f\r` },
        { expect: 'Password (again): ', send: `${PASSWORD}\r` },
      ],
    );
    assert.is(result.status, 0, result.output);
    assert.match(result.output, /Superuser created successfully\.\r\n$/);
    assert.match(result.output, /alice@example\.com/, 'visible answers are echoed');
    assert.not.ok(result.output.includes(PASSWORD), `password echoed: ${result.output}`);
    assert.not.ok(result.output.includes('Tr0ub'), 'not even partly');
    assert.equal(
      result.echoOff,
      [false, false, true, true],
      'echo is off exactly while typing passwords',
    );
    const user = (await users.findByUsername('alice'))!;
    assert.equal(
      [user.isStaff, user.isSuperuser, user.isActive, user.email],
      [true, true, true, 'alice@example.com'],
    );
    assert.is((await users.authenticate('alice', PASSWORD))?.id, user.id);
  });

  test("in a terminal: Django's errors and re-prompts for username, email and password", async () => {
    await users.create({ username: 'taken' });
    const result = await runGredisInPtyWithKey(
      ['createsuperuser', ...db_()],
      [
        { expect: 'Username', send: 'taken\r' },
        { expect: 'Error: That username is already taken.', send: '' },
        { expect: 'Username', send: 'bad name\r' },
        { expect: 'Error: Enter a valid username.', send: '' },
        { expect: 'Username', send: 'bob\r' },
        { expect: 'Email address: ', send: 'not-an-email\r' },
        { expect: 'Error: Enter a valid email address.', send: '' },
        { expect: 'Email address: ', send: '\r' },
        { expect: 'Password: ', send: 'one\r' },
        { expect: 'Password (again): ', send: 'two\r' },
        { expect: "Error: Your passwords didn't match.", send: '' },
        { expect: 'Password: ', send: '   \r' },
        { expect: 'Password (again): ', send: '   \r' },
        { expect: "Error: Blank passwords aren't allowed.", send: '' },
        // Django's validators, then its choice: N asks again, y keeps the password.
        { expect: 'Password: ', send: 'Bob\r' },
        { expect: 'Password (again): ', send: 'Bob\r' },
        { expect: 'The password is too similar to the username.', send: '' },
        { expect: 'This password is too short. It must contain at least 8 characters.', send: '' },
        { expect: 'Bypass password validation and create user anyway? [y/N]: ', send: '\r' },
        { expect: 'Password: ', send: '12345678\r' },
        { expect: 'Password (again): ', send: '12345678\r' },
        { expect: 'This password is entirely numeric.', send: '' },
        { expect: 'Bypass password validation and create user anyway? [y/N]: ', send: 'y\r' },
      ],
    );
    assert.is(result.status, 0, result.output);
    assert.match(result.output, /Superuser created successfully\./);
    const bob = (await users.findByUsername('bob'))!;
    assert.is(bob.email, '');
    assert.is((await users.authenticate('bob', '12345678'))?.id, bob.id, 'the bypassed password');
    assert.is(await count(), 2);
  });

  test("in a terminal: a blank username takes the offered default (the OS user's name)", async () => {
    const me = userInfo().username;
    const result = await runGredisInPtyWithKey(
      ['createsuperuser', ...db_()],
      [
        { expect: `Username (leave blank to use '${me}'): `, send: '\r' },
        { expect: 'Email address: ', send: '\r' },
        { expect: 'Password: ', send: 'a good passphrase\r' },
        { expect: 'Password (again): ', send: 'a good passphrase\r' },
      ],
    );
    assert.is(result.status, 0, result.output);
    assert.ok(await users.findByUsername(me));
  });

  test('in a terminal: Ctrl-C cancels with exit 1 and creates nothing', async () => {
    const [atPassword, atUsername] = await Promise.all([
      runGredisInPtyWithKey(
        ['createsuperuser', ...db_()],
        [
          { expect: 'Username', send: 'carol\r' },
          { expect: 'Email address: ', send: '\r' },
          { expect: 'Password: ', send: 'abc\x03' },
        ],
      ),
      runGredisInPtyWithKey(['createsuperuser', ...db_()], [{ expect: 'Username', send: '\x03' }]),
    ]);
    assert.is(atPassword.status, 1, atPassword.output);
    assert.match(atPassword.output, /Operation cancelled\./);
    assert.is(atUsername.status, 1, atUsername.output);
    assert.match(atUsername.output, /Operation cancelled\./);
    // The "^C" the terminal echoed has its line ended, so the message starts its own.
    assert.match(atUsername.output, /\^C\r?\n(gredis: )?Operation cancelled\./);
    assert.is(await count(), 0);
  });

  test('stdin piped: reads the answers line by line, re-prompting after errors', async () => {
    const result = await runGredisWithKey(['createsuperuser', ...db_()], {
      input: 'carol\ncarol@Example.COM\nx\ny\nsecret pw\r\nsecret pw\r\n',
    });
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stderr, "Error: Your passwords didn't match.\n");
    assert.match(result.stdout, /Username.*: Email address: Password: Password \(again\): /);
    assert.match(result.stdout, /Superuser created successfully\.\n$/);
    const carol = (await users.findByUsername('carol'))!;
    assert.is(
      carol.email,
      'carol@example.com',
      "the domain is lowercased, as Django's normalize_email does",
    );
    assert.ok(carol.isSuperuser && carol.isStaff);
    assert.is((await users.authenticate('carol', 'secret pw'))?.id, carol.id);
  });

  test('stdin piped: input ending before the password is confirmed → exit 1, nothing created', async () => {
    const result = await runGredisWithKey(['createsuperuser', ...db_()], {
      input: 'dave\n\nonly-once\n',
    });
    assert.is(result.code, 1);
    assert.match(result.stderr, /^gredis: Operation cancelled: input ended\.\n$/);
    // The unanswered prompt's line is ended, so on a terminal the error has a line of its own.
    assert.match(result.stdout, /Password \(again\): \n$/);
    assert.is(await count(), 0);
  });

  test('--username and --email skip their prompts; an invalid --username is asked again', async () => {
    const given = await runGredisWithKey(
      ['createsuperuser', '--username', 'erin', '--email', 'erin@example.com', ...db_()],
      { input: 'long enough\nlong enough\n' },
    );
    assert.is(given.code, 0, given.stderr);
    assert.not.match(given.stdout, /Username|Email/);
    assert.is((await users.findByUsername('erin'))?.email, 'erin@example.com');
    const retry = await runGredisWithKey(['createsuperuser', '--username', 'erin', ...db_()], {
      input: 'frank\n\nlong enough\nlong enough\n',
    });
    assert.is(retry.code, 0, retry.stderr);
    assert.match(retry.stderr, /That username is already taken\./);
    assert.ok(await users.findByUsername('frank'));
  });

  test('--username with prompts: each refusal in Django 3.2\'s words, "Error: " where its command says it', async () => {
    await users.create({ username: 'taken', password: PASSWORD });
    const answers = `ivy\nivy@example.com\n${PASSWORD}\n${PASSWORD}\n`;
    const run = (username: string, input = answers) =>
      runGredisWithKey(['createsuperuser', '--username', username, ...db_()], { input });
    // What Django 3.2.25's createsuperuser writes to stderr, --username given, at a terminal.
    const bad = await run('bad name!');
    assert.is(bad.code, 0, bad.stderr);
    assert.is(
      bad.stderr,
      'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.\n',
      'the field error of --username is bare (_validate_username)',
    );
    await db.knex('auth_user').where({ username: 'ivy' }).delete();
    const taken = await run('taken');
    assert.is(taken.code, 0, taken.stderr);
    assert.is(taken.stderr, 'Error: That username is already taken.\n');
    await db.knex('auth_user').where({ username: 'ivy' }).delete();
    // A prompt's answer gets "Error: " (get_input_data), and so does an email.
    const prompted = await run(
      'bad name!',
      `bad name!\nivy\n a@b.com \nivy@example.com\n${PASSWORD}\n${PASSWORD}\n`,
    );
    assert.is(prompted.code, 0, prompted.stderr);
    assert.is(
      prompted.stderr,
      [
        'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.',
        'Error: Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.',
        // The model's field keeps spaces: refused, not stripped as a form would.
        'Error: Enter a valid email address.',
        '',
      ].join('\n'),
    );
    assert.is((await users.findByUsername('ivy'))?.email, 'ivy@example.com');
    // Blank: refused at once (CommandError), nothing asked.
    const blank = await run('');
    assert.is(blank.code, 1, blank.stderr);
    assert.is(blank.stderr, 'gredis: Username cannot be blank.\n');
    assert.is(blank.stdout, '', 'no prompt');
    assert.is(await count(), 2);
  });

  test('stdin piped: a password the validators refuse is asked again unless bypassed with y', async () => {
    const result = await runGredisWithKey(['createsuperuser', ...db_()], {
      input: 'georgina\n\nshort\nshort\n\ngeorgina1\ngeorgina1\nY\n',
    });
    assert.is(result.code, 0, result.stderr);
    assert.is(
      result.stderr,
      'This password is too short. It must contain at least 8 characters.\n' +
        'The password is too similar to the username.\n',
    );
    assert.match(result.stdout, /Bypass password validation and create user anyway\? \[y\/N\]: /);
    const gina = (await users.findByUsername('georgina'))!;
    assert.is((await users.authenticate('georgina', 'georgina1'))?.id, gina.id, 'kept, bypassed');
  });

  test('--noinput: takes the password from GREDIS_SUPERUSER_PASSWORD', async () => {
    const result = await runGredisWithKey(
      ['createsuperuser', '--noinput', '--username', 'grace', '--email', 'g@example.com', ...db_()],
      { env: { GREDIS_SUPERUSER_PASSWORD: ' spaced pw ' } },
    );
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout, 'Superuser created successfully.\n');
    const grace = (await users.findByUsername('grace'))!;
    assert.equal([grace.isStaff, grace.isSuperuser, grace.isActive], [true, true, true]);
    assert.is((await users.authenticate('grace', ' spaced pw '))?.id, grace.id, 'not trimmed');
  });

  test('--noinput -v 0: creates the user in silence, as Django does', async () => {
    const result = await runGredisWithKey(
      ['createsuperuser', '--noinput', '--username', 'quiet', '-v', '0', ...db_()],
      { env: { GREDIS_SUPERUSER_PASSWORD: PASSWORD } },
    );
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout, '');
    assert.is(result.stderr, '');
    assert.ok(await users.findByUsername('quiet'));
  });

  test("--no-input, Django's other spelling, is --noinput", async () => {
    const result = await runGredisWithKey(
      ['createsuperuser', '--no-input', '--username', 'heidi', ...db_()],
      { env: { GREDIS_SUPERUSER_PASSWORD: 'pw' } },
    );
    assert.is(result.code, 0, result.stderr);
    assert.ok(await users.authenticate('heidi', 'pw'));
    const missing = await runGredisWithKey(['createsuperuser', '--no-input', ...db_()]);
    assert.is(missing.code, 2);
    assert.match(missing.stderr, /--noinput needs --username/);
  });

  test('--noinput failures: one line each, exit 1 (exit 2 without --username), nothing created', async () => {
    await users.create({ username: 'taken' });
    const cases: [string[], Record<string, string | undefined>, number, RegExp][] = [
      [['--username', 'henry'], {}, 1, /GREDIS_SUPERUSER_PASSWORD.*not set/],
      [
        ['--username', 'henry'],
        { GREDIS_SUPERUSER_PASSWORD: '' },
        1,
        /GREDIS_SUPERUSER_PASSWORD.*blank/,
      ],
      [['--username', 'henry'], { GREDIS_SUPERUSER_PASSWORD: '   ' }, 1, /blank/],
      // Blank to Python's str.strip(), as Django's check is, though not to trim().
      [['--username', 'henry'], { GREDIS_SUPERUSER_PASSWORD: '\u001c\u0085\u001f' }, 1, /blank/],
      [
        ['--username', 'taken'],
        { GREDIS_SUPERUSER_PASSWORD: 'pw' },
        1,
        /That username is already taken\./,
      ],
      [
        ['--username', "' OR 1=1 --"],
        { GREDIS_SUPERUSER_PASSWORD: 'pw' },
        1,
        /Enter a valid username/,
      ],
      [
        ['--username', 'henry', '--email', 'nope'],
        { GREDIS_SUPERUSER_PASSWORD: 'pw' },
        1,
        /Enter a valid email address/,
      ],
      [[], { GREDIS_SUPERUSER_PASSWORD: 'pw' }, 2, /--noinput needs --username/],
      // Django's _validate_username says this before the field's own "This field…".
      [
        ['--username', ''],
        { GREDIS_SUPERUSER_PASSWORD: 'pw' },
        1,
        /: Username cannot be blank\.$/m,
      ],
    ];
    // Independent runs, so in parallel: each is a Node start-up.
    const results = await Promise.all(
      cases.map(([args, env]) =>
        runGredisWithKey(['createsuperuser', '--noinput', ...args, ...db_()], { env }),
      ),
    );
    for (const [i, [args, , code, message]] of cases.entries()) {
      const result = results[i]!;
      assert.is(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.is(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, message);
      assert.not.match(result.stderr, /gredis: Error:/, 'one prefix');
      assert.is(result.stdout, '');
    }
    assert.is(await count(), 1);
  });

  test("usernames are checked as Django's createsuperuser checks them, as typed; the NFKC name stored must pass Django's forms", async () => {
    const names = [
      '\ufb03'.repeat(50), // "ﬃ": 50 typed, 150 after NFKC
      '\u1100\u1161'.repeat(75), // Hangul jamo: 150 typed, 75 syllables after NFKC
      '\u1100\u1161'.repeat(76), // 152 typed, 76 after: refused as typed
      '\u2122', // "™": no letter, though its NFKC "TM" is
      '\u2122'.repeat(151), // both of the model field's errors, joined
      '\ufb03'.repeat(150), // passes Django's command, whose INSERT then fails: 450 after NFKC
      '\u00bd', // "½": passes Django's command, stored "1⁄2", which its forms refuse
    ];
    const django = await runPython<(string | null)[]>('django_username.py', [
      ...names.map((name) => ({ model: name })),
      ...names,
      ...names.map((name) => ({ model: name.normalize('NFKC') })),
    ]);
    const [asTyped, byForm, ofNormalized] = [0, 1, 2].map((i) =>
      django.slice(i * names.length, (i + 1) * names.length),
    ) as [(string | null)[], (string | null)[], (string | null)[]];
    // What the cases are, by Django: its command refuses 3 of them as typed…
    assert.equal(
      asTyped.map((error) => error !== null),
      [false, false, true, true, true, false, false],
    );
    assert.is(asTyped[2], 'Ensure this value has at most 150 characters (it has 152).');
    // …and lets 2 through that Gredis refuses, in the words of Django's forms.
    assert.is(byForm[5], 'Ensure this value has at most 150 characters (it has 450).');
    assert.match(ofNormalized[6]!, /^Enter a valid username\./);

    const results = await Promise.all(
      names.map((name) =>
        runGredisWithKey(['createsuperuser', '--noinput', '--username', name, ...db_()], {
          env: { GREDIS_SUPERUSER_PASSWORD: PASSWORD },
        }),
      ),
    );
    for (const [i, name] of names.entries()) {
      const result = results[i]!;
      const label = `${name.slice(0, 4)}… (${name.length}): ${result.stderr}`;
      // Refused as typed, as by Django's command; else refused if the NFKC name would be.
      const refusal = asTyped[i] ?? byForm[i] ?? ofNormalized[i];
      if (refusal === null || refusal === undefined) {
        assert.is(result.code, 0, label);
        assert.ok(await users.findByUsername(name.normalize('NFKC')), `${label}: stored NFKC`);
      } else {
        assert.is(result.code, 1, label);
        assert.is(result.stderr, `gredis: ${refusal}\n`, label);
      }
    }
    assert.is(await count(), 2);

    // At the prompt, each refusal is said and the name asked again, as Django does.
    const typed = await runGredisWithKey(['createsuperuser', ...db_()], {
      input: `${names[2]}\n${names[3]}\n${names[5]}\nivy\n\n${PASSWORD}\n${PASSWORD}\n`,
    });
    assert.is(typed.code, 0, typed.stderr);
    assert.is(
      typed.stderr,
      [asTyped[2], asTyped[3], byForm[5]].map((error) => `Error: ${error}\n`).join(''),
    );
    assert.ok(await users.findByUsername('ivy'));
  });

  test('two --noinput runs racing for one username: exactly one succeeds', async () => {
    const runs = await Promise.all(
      [1, 2, 3].map(() =>
        runGredisWithKey(['createsuperuser', '--noinput', '--username', 'racer', ...db_()], {
          env: { GREDIS_SUPERUSER_PASSWORD: 'pw' },
        }),
      ),
    );
    assert.equal(runs.map((r) => r.code).sort(), [0, 1, 1]);
    for (const run of runs.filter((r) => r.code === 1))
      assert.match(run.stderr, /That username is already taken\./);
    assert.is(await count(), 1);
  });

  if (backend.name === 'postgres')
    test('auth_user locked by another session: one line saying so at the query timeout, exit 1, no user made', async () => {
      const locker = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
      await locker.connect();
      let lock: TableLock | undefined;
      try {
        lock = await lockTable(locker, backend, 'auth_user');
        const run = await runGredisWithKey(
          [
            'createsuperuser',
            '--noinput',
            '--username',
            'ivan',
            '--database',
            `${backend.url}&query_timeout=500`,
          ],
          { env: { GREDIS_SUPERUSER_PASSWORD: 'pw' } },
        );
        assert.is(run.code, 1, run.stderr);
        assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
        assert.match(
          run.stderr,
          /^gredis: the database \S+ gave up waiting \(another session may hold a lock on its tables\): canceling statement due to statement timeout$/m,
        );
      } finally {
        await lock?.release();
        await locker.end();
      }
      assert.is(await count(), 0);
    });

  if (backend.name === 'postgres')
    test('Ctrl-C while it waits for a database that never answers: "Operation cancelled.", exit 1 at once, as at a prompt', async () => {
      const run = await interruptWhileConnecting(
        (port) =>
          startGredis(
            [
              'createsuperuser',
              '--noinput',
              '--username',
              'kim',
              '--database',
              `postgres://postgres@127.0.0.1:${port}/test`,
            ],
            { env: { GREDIS_SUPERUSER_PASSWORD: 'pw' } },
          ),
        // Not when its connection attempt gives up.
        { reaching: 'the database', code: 1, withinMs: 2000 },
      );
      assert.is(run.stderr, 'gredis: Operation cancelled.\n');
    });

  if (backend.name === 'sqlite')
    test('Ctrl-C while it creates the user, another process holding the file\'s write lock: "Operation cancelled.", exit 1 at once; no user made', async () => {
      const file = backend.url.slice('sqlite://'.length);
      const holder = await holdWriteLock(file, 30_000);
      const run = startGredis(['createsuperuser', '--noinput', '--username', 'mona', ...db_()], {
        env: { GREDIS_SUPERUSER_PASSWORD: 'pw' },
      });
      try {
        // Both its connections open (the pool's, then the reader's): it is past
        // its checks, hashing the password or its INSERT waiting for the lock.
        await waitUntilOpen(run.child.pid!, file, 2, 'the command to open the database');
        // Not at the end of the INSERT's 5 s wait for the lock.
        assert.equal(await run.interrupt(1500, 'the command to end'), {
          code: 1,
          signal: null,
        });
        assert.is(run.stderr(), 'gredis: Operation cancelled.\n');
      } finally {
        run.child.kill('SIGKILL');
        await holder.release();
      }
      assert.is(await count(), 0);
    });

  if (backend.name === 'postgres')
    test('Ctrl-C while its INSERT waits for a lock on auth_user: the server cancels it, "Operation cancelled.", exit 1 at once; no user made', async () => {
      const run = await interruptWhileLocked(
        backend,
        () =>
          startGredis(['createsuperuser', '--noinput', '--username', 'lena', ...db_()], {
            env: { GREDIS_SUPERUSER_PASSWORD: 'pw' },
          }),
        {
          table: 'auth_user',
          waiting: "the command's INSERT to wait for the lock",
          code: 1,
        },
      );
      assert.is(run.stderr, 'gredis: Operation cancelled.\n');
      assert.is(await count(), 0);
    });

  if (backend.name === 'postgres')
    test('Ctrl-C while its lookup of the username typed waits for a lock on auth_user: the server cancels it, "Operation cancelled.", exit 1 at once; no user made', async () => {
      const run = await interruptWhileLocked(
        backend,
        () => startGredis(['createsuperuser', ...db_()]),
        {
          table: 'auth_user',
          waiting: "the command's lookup of the username to wait for the lock",
          code: 1,
          // Locked once it asks, past its lookup of the default it offers.
          lockWhen: (prompting) =>
            waitFor(() => prompting.stdout().includes('Username'), 10_000, 'the prompt'),
          thenGo: (prompted) => prompted.child.stdin!.write('nora\n'),
        },
      );
      assert.is(run.stderr, 'gredis: Operation cancelled.\n');
      assert.not.match(run.stdout, /Email address/, 'no further prompt');
      assert.is(await count(), 0);
    });

  if (backend.name === 'postgres')
    test('Ctrl-C while its check of the migrations waits for a lock on gredis_migrations: the server cancels it, "Operation cancelled.", exit 1 at once; no user made', async () => {
      const run = await interruptWhileLocked(
        backend,
        () => startGredis(['createsuperuser', ...db_()]),
        {
          table: MIGRATIONS_TABLE,
          waiting: "the command's check of the migrations to wait for the lock",
          code: 1,
        },
      );
      assert.is(run.stderr, 'gredis: Operation cancelled.\n');
      assert.not.match(run.stdout, /Username/, 'no prompt');
      assert.is(await count(), 0);
    });

  if (backend.name === 'postgres')
    test('without SECRET_KEY: refused before any prompt, as the server is; no user made', async () => {
      const result = await runGredis(['createsuperuser', ...db_()], { input: 'alice\n' });
      assert.is(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /^gredis: SECRET_KEY is required when the database is PostgreSQL/,
      );
      assert.not.match(result.stdout, /Username/, 'no prompt');
      assert.is(await count(), 0);
    });

  test.run();
}
