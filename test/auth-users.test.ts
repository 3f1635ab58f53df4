/**
 * Users in Django's auth_user table, on SQLite and PostgreSQL alike: CRUD, Django's
 * username rules, duplicates (also under concurrency), hostile input stored verbatim
 * and never matching other rows, and authentication.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { checkPassword, PBKDF2_ITERATIONS } from '../src/auth/hashers.js';
import { SessionStore } from '../src/auth/sessions.js';
import {
  DuplicateUsername,
  InvalidUserField,
  InvalidUsername,
  UserNotFound,
  UserRepository,
  type User,
} from '../src/auth/users.js';
import type { Database } from '../src/db/connection.js';
import { rejects } from './helpers/assert.js';
import { cpuMsOf } from './helpers/cpu.js';
import { runPython } from './helpers/cli.js';
import { allDatabases, countingQueries, djangoUserRow } from './helpers/databases.js';
import { TEST_SECRET_KEY } from './helpers/deployment.js';

/** Fast hashes for the bulk of the tests; tests of the default cost say so. */
const FAST = { passwordIterations: 1000, secret: TEST_SECRET_KEY };

const HOSTILE = [
  "' OR 1=1 --",
  '"; DROP TABLE auth_user; --',
  "admin'--",
  '%',
  '_',
  '\\',
  '$1',
  '?',
  ':name',
  'Zoë ☃ 用户 🔑 \u202e',
];

for (const backend of allDatabases()) {
  const test = suite(`users (${backend.name})`);
  let db: Database;
  let users: UserRepository;

  const countRows = async (): Promise<number> =>
    Number((await db.knex('auth_user').count({ n: '*' }))[0]!.n);
  const storedHash = async (id: number): Promise<string> =>
    ((await db.knex('auth_user').where({ id }).first()) as { password: string }).password;

  test.before(async () => {
    await backend.setup();
    db = await backend.openMigrated();
    users = new UserRepository(db, FAST);
  });
  test.after(() => backend.teardown());
  test.before.each(() => backend.truncate(db));

  test('create returns the user with Django defaults, real booleans and Dates, no password', async () => {
    const before = Date.now();
    const user = await users.create({
      username: 'alice',
      email: 'alice@example.com',
      password: 'pw',
    });
    assert.type(user.id, 'number');
    assert.is(user.username, 'alice');
    assert.is(user.email, 'alice@example.com');
    assert.is(user.firstName, '');
    assert.is(user.lastName, '');
    assert.is(user.isActive, true);
    assert.is(user.isStaff, false);
    assert.is(user.isSuperuser, false);
    assert.is(user.lastLogin, null);
    assert.instance(user.dateJoined, Date);
    assert.ok(Math.abs(user.dateJoined.getTime() - before) < 5000);
    assert.not.ok('password' in user);
    assert.equal(await users.findById(user.id), user);
    assert.equal(await users.findByUsername('alice'), user);
  });

  test('flags round-trip as booleans both ways', async () => {
    const staff = await users.create({
      username: 'staff',
      isStaff: true,
      isSuperuser: true,
      isActive: false,
    });
    const read = (await users.findById(staff.id))!;
    for (const flag of ['isStaff', 'isSuperuser', 'isActive'] as const)
      assert.type(read[flag], 'boolean', flag);
    assert.equal([read.isStaff, read.isSuperuser, read.isActive], [true, true, false]);
  });

  test('lookups of missing or impossible users return undefined', async () => {
    await users.create({ username: 'alice' });
    assert.is(await users.findByUsername('bob'), undefined);
    assert.is(await users.findByUsername('ALICE'), undefined, 'usernames are case-sensitive');
    for (const id of [0, -1, 1.5, Number.NaN, 2 ** 60])
      assert.is(await users.findById(id), undefined);
    assert.is(await users.findById(999_999), undefined);
  });

  test('passwords are stored as Django pbkdf2_sha256 hashes, never in clear', async () => {
    const user = await users.create({ username: 'alice', password: 'hunter2' });
    const hash = await storedHash(user.id);
    assert.match(hash, /^pbkdf2_sha256\$1000\$[a-zA-Z0-9]{22}\$[A-Za-z0-9+/]{43}=$/);
    assert.not.match(hash, /hunter2/);
    const [verdict] = await runPython<boolean[]>('django_hashes.py', [
      { check: 'hunter2', encoded: hash },
    ]);
    assert.ok(verdict, 'Django accepts the stored hash');
  });

  test('by default new hashes use PBKDF2_ITERATIONS', async () => {
    const user = await new UserRepository(db, { secret: TEST_SECRET_KEY }).create({
      username: 'slow',
      password: 'pw',
    });
    assert.ok((await storedHash(user.id)).startsWith(`pbkdf2_sha256$${PBKDF2_ITERATIONS}$`));
  });

  test('a failed login costs a full hash whatever the account: missing, unusable password, or an old hash', async () => {
    // Timing is the property; the CPU a login costs measures it without the
    // machine's other load (pbkdf2 runs on libuv's pool, counted as this
    // process's). The hash at 200 000 iterations dwarfs the rest of the work.
    const slow = new UserRepository(db, { passwordIterations: 200_000, secret: TEST_SECRET_KEY });
    await users.create({ username: 'sso' }); // unusable password
    await users.create({ username: 'old', password: 'pw' }); // 1 000 iterations
    const cost = (username: string): Promise<number> =>
      cpuMsOf(async () => assert.is(await slow.authenticate(username, 'wrong'), undefined));
    // The least of three: a first call can pay for a query plan or a cold pool thread.
    const least = async (username: string): Promise<number> =>
      Math.min(await cost(username), await cost(username), await cost(username));
    await cost('nobody'); // warm
    const nobody = await least('nobody');
    for (const username of ['sso', 'old']) {
      const took = await least(username);
      assert.ok(
        took > nobody * 0.6,
        `${username}: ${took.toFixed(0)} ms of CPU vs ${nobody.toFixed(0)} ms`,
      );
    }
  });

  test('no password means an unusable one: nothing authenticates, not even ""', async () => {
    const user = await users.create({ username: 'nopass' });
    assert.ok((await storedHash(user.id)).startsWith('!'));
    for (const attempt of ['', '!', await storedHash(user.id)])
      assert.is(await users.authenticate('nopass', attempt), undefined);
  });

  test('valid usernames: letters and digits of any script, @ . + - _, up to 150 characters', async () => {
    const names = [
      'a',
      'a.b@c+d-e_f',
      'Zoë',
      '用户',
      'Ελένη',
      '١٢٣',
      'x'.repeat(150),
      'é'.repeat(150),
    ];
    for (const username of names) {
      const user = await users.create({ username });
      assert.is(user.username, username);
      assert.is((await users.findByUsername(username))?.id, user.id);
    }
  });

  test("invalid usernames throw InvalidUsername with Django's messages and store nothing", async () => {
    const cases: [unknown, RegExp][] = [
      ['', /cannot be blank/],
      [' ', /Enter a valid username/],
      ['a b', /Enter a valid username/],
      ['x'.repeat(151), /at most 150 characters \(it has 151\)/],
      ['key🔑', /Enter a valid username/],
      ['a\0b', /Enter a valid username/],
      ['a/b', /Enter a valid username/],
      [undefined, /required/],
      ...HOSTILE.filter((h) => !/^[\p{L}\p{N}_.@+-]+$/u.test(h)).map((h): [unknown, RegExp] => [
        h,
        /Enter a valid username/,
      ]),
    ];
    for (const [username, message] of cases) {
      const error = await rejects(
        () => users.create({ username: username as string }),
        InvalidUsername,
        `username ${JSON.stringify(username)} must be refused`,
      );
      assert.is(error.code, 'GREDIS_INVALID_USERNAME');
      assert.match(error.message, message);
    }
    assert.is(await countRows(), 0);
  });

  test('usernames are NFKC-normalised as Django does', async () => {
    const user = await users.create({ username: 'ｆｕｌｌ', password: 'pw' });
    assert.is(user.username, 'full');
    assert.is((await users.authenticate('ｆｕｌｌ', 'pw'))?.id, user.id);
  });

  test('a duplicate username throws DuplicateUsername; case differs → distinct users', async () => {
    await users.create({ username: 'alice' });
    const error = await rejects(() => users.create({ username: 'alice' }), DuplicateUsername);
    assert.is(error.code, 'GREDIS_DUPLICATE_USERNAME');
    assert.is(error.username, 'alice');
    await users.create({ username: 'Alice' });
    assert.is(await countRows(), 2);
  });

  test('concurrent creates of one username from separate connections: exactly one wins', async () => {
    const handles = Array.from({ length: 6 }, () => new UserRepository(backend.open(), FAST));
    const outcomes = await Promise.allSettled(
      handles.map((repo, i) => repo.create({ username: 'race', email: `r${i}@example.com` })),
    );
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    assert.is(won.length, 1);
    assert.is(lost.length, handles.length - 1);
    for (const loss of lost) assert.instance(loss.reason, DuplicateUsername);
    assert.is(await countRows(), 1);
    const winner = (won[0] as PromiseFulfilledResult<User>).value;
    assert.is((await users.findByUsername('race'))?.email, winner.email);
  });

  test('SQL metacharacters and unicode in every text field are stored and read back verbatim', async () => {
    const victim = await users.create({
      username: 'victim',
      email: 'v@example.com',
      password: 'pw',
    });
    for (const [i, text] of HOSTILE.entries()) {
      const user = await users.create({
        username: `u${i}`,
        email: text,
        firstName: text,
        lastName: `${text}${text}`,
        password: text,
      });
      const read = (await users.findById(user.id))!;
      assert.is(read.email, text);
      assert.is(read.firstName, text);
      assert.is(read.lastName, `${text}${text}`);
      assert.is((await users.authenticate(`u${i}`, text))?.id, user.id, 'hostile password works');
      const updated = await users.update(user.id, { firstName: `${text}!`, email: `x${text}` });
      assert.is(updated.firstName, `${text}!`);
      assert.is(updated.email, `x${text}`);
    }
    assert.is(await countRows(), HOSTILE.length + 1);
    assert.equal(await users.findById(victim.id), victim, 'no other row was touched');
  });

  test('hostile usernames in lookups and logins match no row and break nothing', async () => {
    await users.create({ username: 'admin', password: 'pw' });
    for (const text of [...HOSTILE, 'admin\0', "admin\0' OR 1=1 --", '\0', '\ud800']) {
      assert.is(await users.findByUsername(text), undefined, JSON.stringify(text));
      assert.is(await users.authenticate(text, 'pw'), undefined, JSON.stringify(text));
      assert.is(await users.authenticate(text, "' OR 1=1 --"), undefined);
    }
    assert.is(await countRows(), 1);
    assert.is((await users.authenticate('admin', 'pw'))?.username, 'admin');
  });

  test('NUL and unpaired surrogates are refused in text fields on both databases (PostgreSQL cannot store them)', async () => {
    for (const field of ['email', 'firstName', 'lastName'] as const) {
      for (const bad of ['a\0b', '\0', 'x\ud800']) {
        const error = await rejects(
          () => users.create({ username: `n${field}`, [field]: bad }),
          InvalidUserField,
        );
        assert.is(error.code, 'GREDIS_INVALID_USER_FIELD');
      }
    }
    const user = await users.create({ username: 'ok', password: 'nul\0inside' });
    await rejects(() => users.update(user.id, { email: 'a\0' }), InvalidUserField);
    assert.is(
      (await users.authenticate('ok', 'nul\0inside'))?.id,
      user.id,
      'NUL in passwords is fine',
    );
    assert.is(await users.authenticate('ok', 'nul'), undefined);
    assert.is(await countRows(), 1);
  });

  test("length limits follow Django's columns, counted in characters", async () => {
    const local = 'a'.repeat(254 - '@example.com'.length);
    await users.create({ username: 'e254', email: `${local}@example.com` });
    await rejects(
      () => users.create({ username: 'e255', email: `a${local}@example.com` }),
      InvalidUserField,
    );
    const wide = '🔑'.repeat(150);
    const user = await users.create({ username: 'wide', firstName: wide, lastName: wide });
    assert.is((await users.findById(user.id))!.firstName, wide);
    await rejects(
      () => users.create({ username: 'wider', firstName: `${wide}x` }),
      InvalidUserField,
    );
    await rejects(() => users.update(user.id, { lastName: `${wide}x` }), InvalidUserField);
  });

  test("the email's domain is lowercased (Django's normalize_email), the local part kept", async () => {
    const user = await users.create({ username: 'mail', email: 'Mixed.Case@EXAMPLE.Org' });
    assert.is(user.email, 'Mixed.Case@example.org');
  });

  test('list returns every user oldest first', async () => {
    for (const name of ['c', 'a', 'b']) await users.create({ username: name });
    assert.equal(
      (await users.list()).map((u) => u.username),
      ['c', 'a', 'b'],
    );
  });

  test('update changes only the given fields; unknown ids throw UserNotFound', async () => {
    const user = await users.create({ username: 'up', email: 'old@example.com', password: 'pw' });
    const updated = await users.update(user.id, { firstName: 'Ada', isStaff: true });
    assert.equal(updated, { ...user, firstName: 'Ada', isStaff: true });
    const again = await users.update(user.id, { isActive: false, isStaff: false, lastName: 'L' });
    assert.equal(again, { ...updated, isActive: false, isStaff: false, lastName: 'L' });
    assert.equal(await users.update(user.id, {}), again);
    const error = await rejects(() => users.update(424242, { firstName: 'x' }), UserNotFound);
    assert.is(error.code, 'GREDIS_USER_NOT_FOUND');
    await rejects(() => users.update(424242, {}), UserNotFound);
  });

  test('setPassword replaces the password; unknown ids throw UserNotFound', async () => {
    const user = await users.create({ username: 'sp', password: 'old' });
    await users.setPassword(user.id, 'new');
    assert.is(await users.authenticate('sp', 'old'), undefined);
    assert.is((await users.authenticate('sp', 'new'))?.id, user.id);
    await users.setPassword(user.id, undefined);
    assert.is(await users.authenticate('sp', 'new'), undefined);
    await rejects(() => users.setPassword(424242, 'x'), UserNotFound);
  });

  test('authenticate: right password → the user; wrong, unknown or inactive → undefined', async () => {
    const user = await users.create({ username: 'auth', password: 'right' });
    assert.equal(await users.authenticate('auth', 'right'), {
      ...user,
      sessionAuthHash: await users.sessionAuthHash(user.id),
      rehashed: false,
    });
    assert.is(await users.authenticate('auth', 'wrong'), undefined);
    assert.is(await users.authenticate('auth', ''), undefined);
    assert.is(await users.authenticate('nobody', 'right'), undefined);
    await users.update(user.id, { isActive: false });
    assert.is(await users.authenticate('auth', 'right'), undefined, 'inactive users never log in');
  });

  test('an unknown username costs a full hash too, so timing does not reveal usernames', async () => {
    const slow = new UserRepository(db, { secret: TEST_SECRET_KEY });
    await slow.create({ username: 'timed', password: 'pw' });
    const cost = (username: string): Promise<number> =>
      cpuMsOf(async () => assert.is(await slow.authenticate(username, 'wrong'), undefined));
    const known = Math.min(await cost('timed'), await cost('timed'));
    const unknown = Math.min(await cost('ghost'), await cost('ghost'));
    assert.ok(
      known > 50,
      `a check at ${PBKDF2_ITERATIONS} iterations took only ${known.toFixed(0)} ms of CPU`,
    );
    assert.ok(
      unknown > known * 0.6,
      `unknown user cost ${unknown.toFixed(0)} ms of CPU vs ${known.toFixed(0)} ms`,
    );
  });

  test("a Django user logs in, and a weaker hash is upgraded to today's cost on success", async () => {
    const [weak, sha1] = await runPython<string[]>('django_hashes.py', [
      { make: 'django-pw', iterations: 1000 },
      { make: 'django-pw', algorithm: 'pbkdf2_sha1', iterations: 2000 },
    ]);
    const strong = new UserRepository(db, { passwordIterations: 5000, secret: TEST_SECRET_KEY });
    for (const [username, hash] of [
      ['weak', weak!],
      ['sha1', sha1!],
    ] as const) {
      await db.knex('auth_user').insert({ ...djangoUserRow(db, username, ''), password: hash });
      const id = (await users.findByUsername(username))!.id;
      assert.is(await strong.authenticate(username, 'wrong'), undefined);
      assert.is(await storedHash(id), hash, 'a failed login changes nothing');
      assert.is((await strong.authenticate(username, 'django-pw'))?.id, id);
      const upgraded = await storedHash(id);
      assert.ok(upgraded.startsWith('pbkdf2_sha256$5000$'), upgraded);
      assert.ok(await checkPassword('django-pw', upgraded));
    }
  });

  test('rows written the way Django writes them are read correctly', async () => {
    // Django on SQLite stores naive UTC text without microseconds when they are zero.
    const joined = backend.name === 'sqlite' ? '2024-01-02 03:04:05' : '2024-01-02 03:04:05+00';
    const login =
      backend.name === 'sqlite' ? '2024-02-03 04:05:06.123456' : '2024-02-03 04:05:06.123456+00';
    await db.knex('auth_user').insert({
      ...djangoUserRow(db, 'djangoish', ''),
      date_joined: joined,
      last_login: login,
      is_staff: backend.name === 'sqlite' ? 1 : true,
    });
    const user = (await users.findByUsername('djangoish'))!;
    assert.is(user.dateJoined.toISOString(), '2024-01-02T03:04:05.000Z');
    assert.is(user.lastLogin?.toISOString(), '2024-02-03T04:05:06.123Z');
    assert.is(user.isStaff, true);
  });

  test('touchLastLogin records the time; unknown ids throw', async () => {
    const user = await users.create({ username: 'll' });
    const before = Date.now();
    await users.touchLastLogin(user.id);
    const read = (await users.findById(user.id))!;
    assert.instance(read.lastLogin, Date);
    assert.ok(Math.abs(read.lastLogin!.getTime() - before) < 5000);
    await rejects(() => users.touchLastLogin(424242), UserNotFound);
  });

  test('findBySession: each live session its active user; concurrent lookups share one query on PostgreSQL', async () => {
    const sessions = new SessionStore(db, { secret: TEST_SECRET_KEY });
    // Its sessions were made an hour ago and lasted a minute.
    const expiring = new SessionStore(db, {
      secret: TEST_SECRET_KEY,
      maxAgeSeconds: 60,
      now: () => new Date(Date.now() - 3_600_000),
    });
    const people = await Promise.all(
      ['ann', 'ben', 'cy'].map((name) => users.create({ username: name, password: 'pw' })),
    );
    const login = async (store: SessionStore, id: number): Promise<string> =>
      (await store.create(id, {}, await users.sessionAuthHash(id))).key;
    const keys = await Promise.all(people.map((p) => login(sessions, p.id)));
    const idle = await users.create({ username: 'ida', password: 'pw' });
    const idleKey = await login(sessions, idle.id);
    await users.update(idle.id, { isActive: false });
    const expired = await login(expiring, people[0]!.id);
    const hash = (key: string): string => sessions.hashOf(key)!;

    const { result: found, queries } = await countingQueries(db, () =>
      Promise.all([
        ...keys.map((key) => users.findBySession(hash(key))),
        users.findBySession(hash(keys[1]!)), // the same session twice
        users.findBySession(hash(idleKey)),
        users.findBySession(hash(expired)),
        users.findBySession(hash('x'.repeat(32))),
      ]),
    );
    assert.equal(
      found.map(({ user }) => user?.username),
      ['ann', 'ben', 'cy', 'ben', undefined, undefined, undefined],
    );
    assert.ok(
      found.every(({ stale }) => !stale),
      'none stale',
    );
    assert.is(queries, db.kind === 'postgres' ? 1 : 7);
    assert.is((await users.findBySession(hash(keys[2]!))).user?.username, 'cy', 'and again, alone');
  });

  test("delete removes the user and, by cascade, the user's sessions", async () => {
    const user = await users.create({ username: 'gone' });
    const other = await users.create({ username: 'stays' });
    const sessions = new SessionStore(db, { secret: TEST_SECRET_KEY });
    const mine = await sessions.create(user.id, { a: 1 });
    const theirs = await sessions.create(other.id);
    assert.ok(await users.delete(user.id));
    assert.is(await users.findById(user.id), undefined);
    assert.is(await sessions.load(mine.key), undefined);
    assert.ok(await sessions.load(theirs.key));
    assert.not.ok(await users.delete(user.id), 'second delete finds nothing');
    assert.not.ok(await users.delete(-3));
  });

  test.run();
}
