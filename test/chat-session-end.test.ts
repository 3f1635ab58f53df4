/**
 * Whatever ends a login ends its open chat sockets at once, from whichever
 * process ends it: a logout closes that session's sockets (the user's other
 * sessions keep theirs); deactivating, deleting or setting the password of the
 * user in the admin, and `gredis changepassword` on the shared layer, close all
 * of the user's. Each is closed with 4001 before any later message of its
 * rooms, and leaves them (the room hears it). Embedded (in-process layer,
 * SQLite: one Thyme and worker) and distributed (Redis and PostgreSQL, two
 * `runworker`s and two `thyme`s: the socket on one Thyme, the request that
 * ends the login through the other, the close crossing the layer).
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { CLOSE_LOGGED_OUT } from '../src/auth/socket-groups.js';
import type { Database } from '../src/db/connection.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runGredisWithKey } from './helpers/cli.js';
import { postgresBackend, sqliteBackend, type DatabaseBackend } from './helpers/databases.js';
import {
  chatClient,
  DistributedChat,
  EmbeddedChat,
  Fixtures,
  nextJson,
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
  assert.is((await client.get(path)).status, 200, `GET ${path}`);
  assert.is((await client.post(path, fields)).status, 303, `POST ${path}`);
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

  test.run();
}

sessionEndSuite('embedded, in-process layer, SQLite', sqliteBackend(), false, async (_, db) => {
  const chat = await EmbeddedChat.start(db);
  const port = chat.ports[0]!;
  return { socketPort: port, requestPort: port, stop: () => chat.stop() };
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
        stop: () => chat.stop(),
      };
    } catch (error) {
      await chat.stop();
      throw error;
    }
  },
);
