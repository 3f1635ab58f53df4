/**
 * Whatever ends a login ends its open chat sockets at once, from whichever
 * process ends it: a logout closes that session's sockets (the user's other
 * sessions keep theirs); deactivating, deleting or setting the password of the
 * user in the admin, and `gredis changepassword` on the shared layer, close all
 * of the user's. Each is closed with 4001 before any later message of its
 * rooms, and leaves them (the room hears it). Embedded (in-process layer,
 * SQLite: one Thyme and worker) and distributed (Redis and PostgreSQL, two
 * `runworker`s and two `thyme`s: the socket on one Thyme, the request that
 * ends the login through the other, the close crossing the layer). A login that
 * rehashes an old password ends the user's other sessions, as Django's does.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { checkPassword, PBKDF2_ITERATIONS } from '../src/auth/hashers.js';
import { CLOSE_LOGGED_OUT } from '../src/auth/socket-groups.js';
import type { Database } from '../src/db/connection.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runGredisWithKey, runPython } from './helpers/cli.js';
import { postgresBackend, sqliteBackend, type DatabaseBackend } from './helpers/databases.js';
import {
  chatClient,
  DistributedChat,
  EmbeddedChat,
  Fixtures,
  nextJson,
  TEST_PASSWORD_ITERATIONS,
} from './helpers/deployment.js';
import { within } from './helpers/wait.js';
import type { TestClient } from './helpers/ws-client.js';

const PASSWORD = 'correct horse';
const NEW_PASSWORD = 'a new one for 2026';

/** A chat to test against: the sockets on `socketPort`, the requests that end logins on `requestPort`. */
interface Deployment {
  socketPort: number;
  requestPort: number;
  /** The CHANNEL_LAYER_URL of a shared layer that `gredis changepassword` can reach, if any. */
  sharedLayerUrl?: string;
  /** The PBKDF2 iterations its logins hash passwords with. */
  passwordIterations: number;
  stop(): Promise<void>;
}

/** Who is in the room when the login of `victim` ends. */
interface Scene {
  fixtures: Fixtures;
  database: DatabaseBackend;
  deployment: Deployment;
  victimId: number;
  /** The victim's browser, logged in through the form on the request port. */
  victimBrowser: BrowserlessClient;
  /** A superuser's browser on the request port. */
  admin: BrowserlessClient;
}

interface Trigger {
  name: string;
  /** Whether the victim's other session (another browser) is closed too. */
  endsEverySession: boolean;
  /** Only on a layer other processes share. */
  needsSharedLayer?: boolean;
  run(scene: Scene): Promise<void>;
}

/** GETs the form's page (for its CSRF token), then POSTs it as a browser would. */
async function submit(
  client: BrowserlessClient,
  path: string,
  fields: Record<string, string>,
): Promise<void> {
  assert.is((await client.submit(path, fields)).status, 303, `POST ${path}`);
}

const TRIGGERS: Trigger[] = [
  {
    name: 'logging out',
    endsEverySession: false,
    async run({ victimBrowser }) {
      await victimBrowser.get('/'); // the page with the logout form
      assert.is((await victimBrowser.post('/accounts/logout/', {})).status, 302);
    },
  },
  {
    name: 'deactivating the user in the admin',
    endsEverySession: true,
    run: ({ admin, victimId }) => submit(admin, `/admin/users/${victimId}/`, { email: '' }),
  },
  {
    name: 'deleting the user in the admin',
    endsEverySession: true,
    run: ({ admin, victimId }) => submit(admin, `/admin/users/${victimId}/delete/`, {}),
  },
  {
    name: "setting the user's password in the admin",
    endsEverySession: true,
    run: ({ admin, victimId }) =>
      submit(admin, `/admin/users/${victimId}/password/`, {
        password1: NEW_PASSWORD,
        password2: NEW_PASSWORD,
      }),
  },
  {
    name: 'gredis changepassword on the shared layer',
    endsEverySession: true,
    needsSharedLayer: true,
    async run({ database, deployment }) {
      const result = await runGredisWithKey(
        [
          'changepassword',
          'vic',
          ...['--database', database.url, '--layer', deployment.sharedLayerUrl!],
        ],
        { input: `${NEW_PASSWORD}\n${NEW_PASSWORD}\n` },
      );
      assert.is(result.code, 0, result.stderr);
    },
  },
];

/**
 * Stored hashes Django's check_password replaces at a right password (its
 * must_update), made by Django: `iterations` are the deployment's.
 */
const OLD_HASHES: { what: string; hash(iterations: number): Record<string, unknown> }[] = [
  {
    what: 'fewer iterations',
    hash: (iterations) => ({ make: PASSWORD, iterations: iterations - 1 }),
  },
  {
    what: 'the older pbkdf2_sha1',
    hash: (iterations) => ({ make: PASSWORD, algorithm: 'pbkdf2_sha1', iterations }),
  },
  {
    // Under 128 bits of salt (must_update_salt): what Django made before 3.2.
    what: 'a 12-character salt',
    hash: (iterations) => ({ make: PASSWORD, iterations, salt: 'abcdefghijkl' }),
  },
];

function sessionEndSuite(
  name: string,
  database: DatabaseBackend,
  /** Whether the deployment's layer is one other processes can reach (Redis). */
  sharedLayer: boolean,
  start: (database: DatabaseBackend, db: Database) => Promise<Deployment>,
): void {
  const test = suite(`a login ending closes its chat sockets [${name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let deployment: Deployment;
  const clients: TestClient[] = [];

  test.before(async () => {
    await database.setup();
    db = await database.openMigrated();
    fixtures = new Fixtures(db);
    deployment = await start(database, db);
  });
  test.after(async () => {
    await deployment?.stop();
    await database.teardown();
  });
  test.after.each(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    await database.truncate(db);
  });

  async function loggedIn(username: string, port: number): Promise<BrowserlessClient> {
    const browser = new BrowserlessClient(port);
    assert.is((await browser.login(username, PASSWORD)).status, 302, `${username} logs in`);
    return browser;
  }

  /** A socket opened with `sessionKey` on `port` that has joined `roomId`. */
  async function inRoom(port: number, sessionKey: string, roomId: number): Promise<TestClient> {
    const client = await chatClient(port, sessionKey);
    clients.push(client);
    client.send(JSON.stringify({ command: 'join', room: roomId }));
    assert.is((await nextJson(client)).join, String(roomId));
    return client;
  }

  for (const trigger of TRIGGERS) {
    if (trigger.needsSharedLayer && !sharedLayer) continue;
    test(`${trigger.name}: ${trigger.endsEverySession ? "every one of the user's sockets" : "that session's sockets, not the user's others,"} closed with 4001 before any later message, out of their rooms`, async () => {
      const { socketPort, requestPort } = deployment;
      const victim = await fixtures.user('vic', { password: PASSWORD });
      await fixtures.user('root', { password: PASSWORD, staff: true, superuser: true });
      const bystanderUser = await fixtures.user('bea', { password: PASSWORD });
      const room = await fixtures.room('Lobby');
      const id = String(room.id);
      const victimBrowser = await loggedIn('vic', requestPort);
      const admin = await loggedIn('root', requestPort);

      const bystander = await inRoom(socketPort, await fixtures.login(bystanderUser), room.id);
      const here = await inRoom(socketPort, victimBrowser.cookies.get('sessionid')!, room.id);
      // The same user in another browser (another session), on the other Thyme.
      const elsewhere = await inRoom(requestPort, await fixtures.login(victim), room.id);
      for (const notice of [await nextJson(bystander), await nextJson(bystander)])
        assert.equal(notice, { room: id, username: 'vic', msg_type: 4 });
      assert.equal(await nextJson(here), { room: id, username: 'vic', msg_type: 4 });

      await trigger.run({
        fixtures,
        database,
        deployment,
        victimId: victim.id,
        victimBrowser,
        admin,
      });
      // Said in the room right after the login ended: no closed socket hears it.
      bystander.send(JSON.stringify({ command: 'send', room: room.id, message: 'after' }));

      const closing = trigger.endsEverySession ? [here, elsewhere] : [here];
      for (const socket of closing) {
        const { code } = await within(socket.closed, 5000, 'the socket to close');
        assert.is(code, CLOSE_LOGGED_OUT);
        assert.equal(socket.received, [], 'nothing reached it between the end and the close');
      }
      // The room hears each closed socket leave, and what was said.
      const heard: Record<string, unknown>[] = [];
      while (heard.length < closing.length + 1) heard.push(await nextJson(bystander, 5000));
      const leaves = heard.filter((frame) => frame.msg_type === 5);
      assert.equal(
        leaves,
        closing.map(() => ({ room: id, username: 'vic', msg_type: 5 })),
      );
      assert.is(heard.find((frame) => frame.msg_type === 0)?.message, 'after');
      if (!trigger.endsEverySession) {
        // The other session chats on.
        const frames = [await nextJson(elsewhere), await nextJson(elsewhere)];
        assert.equal(frames.map((frame) => frame.msg_type).sort(), [0, 5]);
        elsewhere.send(JSON.stringify({ command: 'send', room: room.id, message: 'still here' }));
        assert.is((await nextJson(bystander)).message, 'still here');
      }
    });
  }

  for (const { what, hash } of OLD_HASHES) {
    test(`a login that rehashes a password of ${what} ends the user's other sessions as Django's does: pages logged out, their sockets closed with 4001; the new session chats`, async () => {
      const { socketPort, requestPort, passwordIterations } = deployment;
      const [old] = await runPython<string[]>('django_hashes.py', [hash(passwordIterations)]);
      const victim = await fixtures.user('vic', { password: PASSWORD });
      await db.knex('auth_user').where('id', victim.id).update({ password: old! });
      const room = await fixtures.room('Lobby');
      const id = String(room.id);
      const bystander = await inRoom(
        socketPort,
        await fixtures.login(await fixtures.user('bea')),
        room.id,
      );
      // Two sessions made with the old hash, each with a socket in the room, one per Thyme.
      const others = [await fixtures.login(victim), await fixtures.login(victim)];
      const sockets = [
        await inRoom(socketPort, others[0]!, room.id),
        await inRoom(requestPort, others[1]!, room.id),
      ];
      for (const notice of [await nextJson(bystander), await nextJson(bystander)])
        assert.equal(notice, { room: id, username: 'vic', msg_type: 4 });
      assert.equal(await nextJson(sockets[0]!), { room: id, username: 'vic', msg_type: 4 });

      const browser = new BrowserlessClient(requestPort);
      assert.is((await browser.login('vic', PASSWORD)).status, 302, 'the login succeeds');
      const { password: stored } = (await db
        .knex('auth_user')
        .where('id', victim.id)
        .first('password')) as { password: string };
      assert.match(stored, new RegExp(`^pbkdf2_sha256\\$${passwordIterations}\\$\\w{22}\\$`));
      assert.ok(await checkPassword(PASSWORD, stored), 'rehashed, the same password');
      bystander.send(JSON.stringify({ command: 'send', room: room.id, message: 'after' }));

      for (const socket of sockets) {
        const { code } = await within(socket.closed, 5000, "the other session's socket to close");
        assert.is(code, CLOSE_LOGGED_OUT);
        assert.equal(socket.received, [], 'nothing reached it between the login and the close');
      }
      const heard: Record<string, unknown>[] = [];
      while (heard.length < 3) heard.push(await nextJson(bystander, 5000));
      assert.equal(
        heard.filter((frame) => frame.msg_type === 5),
        [0, 1].map(() => ({ room: id, username: 'vic', msg_type: 5 })),
      );
      assert.is(heard.find((frame) => frame.msg_type === 0)?.message, 'after');
      // Django's get_user finds the old hash's sessions stale and flushes them: a
      // page is sent to log in, its cookie deleted, its row gone.
      for (const [index, key] of others.entries()) {
        const other = new BrowserlessClient(index === 0 ? socketPort : requestPort);
        other.cookies.set('sessionid', key);
        const page = await other.get('/');
        assert.is(page.status, 302, 'logged out');
        assert.is(page.headers.location, '/accounts/login/?next=/');
        assert.match(String(page.headers['set-cookie']), /sessionid=;.*Max-Age=0/i);
        assert.is(await fixtures.sessions.load(key), undefined, 'the session is deleted');
      }
      // The new session carries the new hash's: its pages and its socket work.
      assert.is((await browser.get('/')).status, 200);
      const fresh = await inRoom(socketPort, browser.cookies.get('sessionid')!, room.id);
      assert.equal(await nextJson(bystander), { room: id, username: 'vic', msg_type: 4 });
      fresh.send(JSON.stringify({ command: 'send', room: room.id, message: 'rehashed, still in' }));
      assert.is((await nextJson(bystander)).message, 'rehashed, still in');
    });
  }

  test.run();
}

sessionEndSuite('embedded, in-process layer, SQLite', sqliteBackend(), false, async (_, db) => {
  const chat = await EmbeddedChat.start(db);
  const port = chat.ports[0]!;
  return {
    socketPort: port,
    requestPort: port,
    passwordIterations: TEST_PASSWORD_ITERATIONS,
    stop: () => chat.stop(),
  };
});

sessionEndSuite(
  'Redis, PostgreSQL, 2 workers, 2 thymes',
  postgresBackend(),
  true,
  async (database): Promise<Deployment> => {
    const chat = new DistributedChat(database);
    try {
      await Promise.all([chat.startWorker(), chat.startWorker()]);
      const [socketPort, requestPort] = await Promise.all([chat.startThyme(), chat.startThyme()]);
      return {
        socketPort: socketPort!,
        requestPort: requestPort!,
        sharedLayerUrl: chat.layerUrl,
        passwordIterations: PBKDF2_ITERATIONS,
        stop: () => chat.stop(),
      };
    } catch (error) {
      await chat.stop();
      throw error;
    }
  },
);
