/**
 * The session auth hash (Django's `_auth_user_hash`): a password changed outside
 * Gredis (Django's admin, `manage.py changepassword`, an UPDATE of `auth_user`)
 * logs out the sessions made before, on pages, WebSocket handshakes and chat
 * commands; a login keeps the hash of the password it checked. Real HTTP and
 * WebSocket connections to an embedded chat, on SQLite and PostgreSQL.
 */
import { createHash, createHmac } from 'node:crypto';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { makePassword } from '../src/auth/hashers.js';
import { SessionAuthHashes } from '../src/auth/session-auth-hash.js';
import { CLOSE_LOGGED_OUT } from '../src/auth/socket-groups.js';
import { UserRepository, UserSecretRequired } from '../src/auth/users.js';
import type { Database } from '../src/db/connection.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runPython } from './helpers/cli.js';
import { allDatabases } from './helpers/databases.js';
import {
  chatClient,
  Fixtures,
  joinSettled,
  TEST_PASSWORD_ITERATIONS,
  TEST_SECRET_KEY,
  useEmbeddedChat,
} from './helpers/deployment.js';
import { handshakeStatus, type TestClient } from './helpers/ws-client.js';
import { within } from './helpers/wait.js';

const PASSWORD = 'correct horse';

const formula = suite('session auth hash');
formula(
  "is Django's salted_hmac(key_salt, password, secret, algorithm='sha256').hexdigest()",
  () => {
    const salt = 'django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash';
    const key = createHash('sha256').update(`${salt}s3cret`).digest();
    const expected = createHmac('sha256', key).update('pbkdf2_sha256$1$x$y').digest('hex');
    assert.is(new SessionAuthHashes('s3cret').of('pbkdf2_sha256$1$x$y'), expected);
    assert.is.not(new SessionAuthHashes('other').of('pbkdf2_sha256$1$x$y'), expected);
  },
);
formula(
  'a kept hash answers as a fresh one: for each password hash, before and after many others',
  () => {
    const hashes = new SessionAuthHashes('s3cret');
    const fresh = (passwordHash: string): string =>
      new SessionAuthHashes('s3cret').of(passwordHash);
    const before = fresh('pbkdf2_sha256$1$a$old');
    assert.ok(hashes.matches(before, 'pbkdf2_sha256$1$a$old'));
    assert.ok(hashes.matches(before, 'pbkdf2_sha256$1$a$old'), 'asked again');
    // The password changed: the session made before no longer matches, one made after does.
    assert.not.ok(hashes.matches(before, 'pbkdf2_sha256$1$a$new'));
    assert.ok(hashes.matches(fresh('pbkdf2_sha256$1$a$new'), 'pbkdf2_sha256$1$a$new'));
    // More password hashes than are kept: the first ones are computed again, the same.
    for (let i = 0; i < 10_050; i++) hashes.of(`pbkdf2_sha256$1$s${i}$h`);
    assert.ok(hashes.matches(before, 'pbkdf2_sha256$1$a$old'), 'after the oldest went');
    assert.not.ok(hashes.matches(before, 'pbkdf2_sha256$1$a$new'));
    assert.is(hashes.of('pbkdf2_sha256$1$s10049$h'), fresh('pbkdf2_sha256$1$s10049$h'));
    assert.not.ok(
      hashes.matches(undefined, 'pbkdf2_sha256$1$a$old'),
      'a session stored without one',
    );
    assert.not.ok(
      hashes.matches(before.toUpperCase(), 'pbkdf2_sha256$1$a$old'),
      'compared as text',
    );
  },
);
formula("is Django's get_session_auth_hash for the same SECRET_KEY, ASCII or not", async () => {
  const password = await makePassword('pässwörd ☕', TEST_PASSWORD_ITERATIONS);
  const secrets = [TEST_SECRET_KEY, 'ключ-🔑-مفتاح-鍵', 'x'];
  const django = await runPython<string[]>(
    'django_session_hash.py',
    secrets.map((secret) => ({ secret, password })),
  );
  assert.equal(
    secrets.map((secret) => new SessionAuthHashes(secret).of(password)),
    django,
  );
});

formula(
  'a UserRepository without SECRET_KEY is refused (UserSecretRequired), not keyed by nothing',
  () => {
    const db = {} as Database; // never reached: the constructor refuses first
    for (const options of [{}, { secret: '' }, { secret: undefined }, undefined])
      assert.throws(
        () => new UserRepository(db, options as never),
        (error: unknown) =>
          error instanceof UserSecretRequired && error.code === 'GREDIS_USER_SECRET_REQUIRED',
      );
  },
);
formula.run();

for (const database of allDatabases()) {
  const test = suite(`session auth hash [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let port: number;
  const clients: TestClient[] = [];
  // Registered before useEmbeddedChat's (uvu runs hooks in the order they were
  // registered): the sockets go before their chat stops.
  test.after.each(() => {
    for (const client of clients.splice(0)) client.ws.terminate();
  });
  useEmbeddedChat(test, database, (state) => ({ db, fixtures, port } = state));

  const socketUrl = (): string => `ws://localhost:${port}/chat/stream/`;
  const handshake = (key: string): Promise<number> =>
    handshakeStatus(socketUrl(), {
      origin: `http://localhost:${port}`,
      headers: { cookie: `sessionid=${key}` },
    });

  async function open(key: string): Promise<TestClient> {
    const client = await chatClient(port, key);
    clients.push(client);
    return client;
  }

  async function reply(client: TestClient): Promise<Record<string, unknown>> {
    return JSON.parse(String(await client.next(3000))) as Record<string, unknown>;
  }

  /** A browser logged in through the form as `username`, its page and chat working. */
  async function loggedIn(username: string): Promise<BrowserlessClient> {
    const browser = new BrowserlessClient(port);
    assert.is((await browser.login(username, PASSWORD)).status, 302);
    assert.is((await browser.get('/')).status, 200, 'the page, logged in');
    return browser;
  }

  async function sessionRows(userId: number): Promise<number> {
    return (await db.knex('gredis_session').where('user_id', userId)).length;
  }

  /** The ways the stored hash stops matching: what Django's changepassword does, or the hash itself. */
  const changes: [string, (userId: number, key: string) => Promise<void>][] = [
    [
      'a password changed by an UPDATE of auth_user (as Django would store it)',
      async (userId) => {
        const password = await makePassword('changed in Django', TEST_PASSWORD_ITERATIONS);
        await db.knex('auth_user').where('id', userId).update({ password });
      },
    ],
    [
      "the session's stored auth hash changed in the database",
      async (_userId, key) => {
        await db
          .knex('gredis_session')
          .where('session_key_hash', fixtures.sessions.hashOf(key)!)
          .update({ auth_hash: 'f'.repeat(64) });
      },
    ],
    [
      'a session stored before the hash was kept (none)',
      async (_userId, key) => {
        await db
          .knex('gredis_session')
          .where('session_key_hash', fixtures.sessions.hashOf(key)!)
          .update({ auth_hash: null });
      },
    ],
  ];

  for (const [what, change] of changes) {
    test(`${what}: the page is logged out and the session ended; a handshake is refused 403`, async () => {
      const alice = await fixtures.user('alice');
      const browser = await loggedIn('alice');
      const key = browser.cookies.get('sessionid')!;
      const socket = await open(key);
      const lobby = await fixtures.room('Lobby');
      // Settled: the join's second check, met by the change, would close the socket.
      assert.is((await joinSettled(socket, lobby.id)).title, 'Lobby');

      await change(alice.id, key);
      // A command on the socket opened before: the user has to log in again.
      socket.send(JSON.stringify({ command: 'send', room: lobby.id, message: 'still here?' }));
      assert.equal(await reply(socket), { error: 'USER_HAS_TO_LOGIN' });
      // A new socket with the same cookie is anonymous: refused.
      assert.is(await handshake(key), 403);
      assert.is(await sessionRows(alice.id), 0, 'the handshake ended the session');
    });

    test(`${what}: a page request ends the session and clears its cookie`, async () => {
      const alice = await fixtures.user('alice');
      const browser = await loggedIn('alice');
      const key = browser.cookies.get('sessionid')!;
      await change(alice.id, key);
      const page = await browser.get('/');
      assert.is(page.status, 302);
      assert.is(page.headers.location, '/accounts/login/?next=/');
      assert.match(String(page.headers['set-cookie']), /sessionid=;.*Max-Age=0/i);
      assert.is(await sessionRows(alice.id), 0, 'the row is deleted, as Django flushes it');
      assert.is(await handshake(key), 403);
    });
  }

  test("only the changed user's sessions end; a new login works at once", async () => {
    const alice = await fixtures.user('alice');
    await fixtures.user('bob');
    const aliceBrowser = await loggedIn('alice');
    const bobBrowser = await loggedIn('bob');
    const password = await makePassword('new in Django', TEST_PASSWORD_ITERATIONS);
    await db.knex('auth_user').where('id', alice.id).update({ password });
    assert.is((await aliceBrowser.get('/')).status, 302);
    assert.is((await bobBrowser.get('/')).status, 200, 'bob stays');
    const bobSocket = await open(bobBrowser.cookies.get('sessionid')!);
    bobSocket.send(JSON.stringify({ command: 'join', room: (await fixtures.room('Lobby')).id }));
    assert.is((await reply(bobSocket)).title, 'Lobby');
    const again = new BrowserlessClient(port);
    assert.is((await again.login('alice', 'new in Django')).status, 302);
    assert.is((await again.get('/')).status, 200);
    await open(again.cookies.get('sessionid')!);
  });

  test("a login that rehashes an old password stores the hash of the new one: it stays in; the user's other sessions' sockets close at once", async () => {
    // Fewer iterations than the deployment's: the login rehashes it.
    const alice = await fixtures.user('alice');
    const weak = await makePassword(PASSWORD, TEST_PASSWORD_ITERATIONS - 1);
    await db.knex('auth_user').where('id', alice.id).update({ password: weak });
    // Another browser, logged in with the old hash, in a room.
    const before = await open(await fixtures.login(alice));
    const lobby = await fixtures.room('Lobby');
    // Settled: the join's own second check, met by the login, would close it as well.
    assert.is((await joinSettled(before, lobby.id)).title, 'Lobby');
    const browser = await loggedIn('alice');
    // Its session ended with the old hash: closed as at a password change, no command needed.
    assert.is(
      (await within(before.closed, 3000, "the other session's socket to close")).code,
      CLOSE_LOGGED_OUT,
    );
    const stored = (await db.knex('auth_user').where('id', alice.id).first('password')) as {
      password: string;
    };
    assert.is.not(stored.password, weak, 'rehashed');
    await open(browser.cookies.get('sessionid')!);
  });

  test('a right password refused to an inactive user still rehashes an old hash, as in Django: its sessions stay logged out once the user is active again', async () => {
    const alice = await fixtures.user('alice');
    const weak = await makePassword(PASSWORD, TEST_PASSWORD_ITERATIONS - 1);
    await db.knex('auth_user').where('id', alice.id).update({ password: weak });
    const before = new BrowserlessClient(port);
    before.cookies.set('sessionid', await fixtures.login(alice));
    assert.is((await before.get('/')).status, 200, 'logged in with the old hash');
    // Deactivated outside Gredis (Django's admin, an UPDATE): the session is nobody, and stays.
    await db.knex('auth_user').where('id', alice.id).update({ is_active: false });
    assert.is((await before.get('/')).status, 302);
    assert.is(await sessionRows(alice.id), 1, 'kept for a reactivation');

    const attempt = new BrowserlessClient(port);
    const refused = await attempt.login('alice', PASSWORD);
    assert.is(refused.status, 200, 'the form again');
    assert.match(refused.body.toString(), 'Please enter a correct username and password.');
    const { password: stored } = (await db
      .knex('auth_user')
      .where('id', alice.id)
      .first('password')) as { password: string };
    assert.is.not(stored, weak, "rehashed, as Django's check_password does before is_active");

    await db.knex('auth_user').where('id', alice.id).update({ is_active: true });
    const page = await before.get('/');
    assert.is(page.status, 302, 'the session made with the old hash is logged out');
    assert.match(String(page.headers['set-cookie']), /sessionid=;.*Max-Age=0/i);
    assert.is(await sessionRows(alice.id), 0);
    assert.is((await loggedIn('alice').then((browser) => browser.get('/'))).status, 200);
  });

  test("a login stores Django's session auth hash of the password under the deployment's SECRET_KEY", async () => {
    const alice = await fixtures.user('alice');
    const browser = await loggedIn('alice');
    const row = (await db
      .knex('gredis_session')
      .where('session_key_hash', fixtures.sessions.hashOf(browser.cookies.get('sessionid')!)!)
      .first('auth_hash')) as { auth_hash: string };
    const { password } = (await db.knex('auth_user').where('id', alice.id).first('password')) as {
      password: string;
    };
    const [django] = await runPython<string[]>('django_session_hash.py', [
      { secret: TEST_SECRET_KEY, password },
    ]);
    assert.is(row.auth_hash, django);
  });

  test('anonymous sessions need no hash: their data survives', async () => {
    const browser = new BrowserlessClient(port);
    const session = await fixtures.sessions.create(null, { kept: true });
    browser.cookies.set('sessionid', session.key);
    assert.is((await browser.get('/accounts/login/')).status, 200);
    assert.is(browser.cookies.get('sessionid'), session.key, 'no cookie cleared');
    assert.equal((await fixtures.sessions.load(session.key))?.data, { kept: true });
  });

  test.run();
}
