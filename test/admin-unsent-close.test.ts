/**
 * An admin change that committed, whose close of the user's chat sockets the
 * channel layer could not take (Redis refusing the user's group: here an ACL
 * that withdraws the `user-*` group keys from the processes, all else working,
 * so that the chat goes on and the sockets still receive). The admin is told
 * what happened (the change stands, the connections are not closed yet, what
 * they can still do, how to retry), not shown a 500 page; saving the user again
 * once the layer is back sends the close; after a deletion, which nothing can
 * retry, the socket's next command is refused and closes it (its own check). Real processes: `gredis runworker` and
 * `gredis thyme` on a private redis-server and PostgreSQL.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { CLOSE_ACCESS_CHANGED } from '../src/apps/multichat/chat-protocol.js';
import { CLOSE_LOGGED_OUT } from '../src/auth/socket-groups.js';
import type { Database } from '../src/db/connection.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { postgresBackend } from './helpers/databases.js';
import {
  chatClient,
  DistributedChat,
  Fixtures,
  joinSettled,
  nextJson,
  useMigratedDatabase,
} from './helpers/deployment.js';
import type { HttpResult } from './helpers/http-client.js';
import { testPrefix } from './helpers/layers.js';
import { keysNotStartingWith, withAclUser } from './helpers/redis-acl.js';
import { within } from './helpers/wait.js';
import type { TestClient } from './helpers/ws-client.js';

const test = suite("admin changes whose sockets' close the layer could not take");
const database = postgresBackend();
let db: Database;
let fixtures: Fixtures;
const clients: TestClient[] = [];
const PASSWORD = 'correct horse';

useMigratedDatabase(test, database, (opened, made) => ([db, fixtures] = [opened, made]));
test.after.each(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await database.truncate(db);
});

interface Scene {
  port: number;
  /** The victim's socket, in the room, settled; the bystander's beside it. */
  victim: { id: number; socket: TestClient };
  bystander: TestClient;
  roomId: number;
  /** A superuser's browser, logged in. */
  admin: BrowserlessClient;
  /** Redis refuses every call on a `user-*` group (NOPERM); all else works. */
  refuseUserGroups(): Promise<void>;
  /** Allowed again. */
  allow(): Promise<void>;
}

/**
 * A worker and a Thyme on a private redis-server, as an ACL user the test can
 * take the user groups' keys from; the victim (staff if `staff`) and a
 * bystander in a room (staff-only if `staff`).
 */
async function withScene(staff: boolean, body: (scene: Scene) => Promise<void>): Promise<void> {
  await withAclUser(['~*', '&*', '+@all'], async (acl) => {
    const prefix = testPrefix();
    const chat = new DistributedChat(database, {}, acl.url(`?prefix=${prefix}`));
    const allow = () => acl.set('allkeys');
    try {
      await chat.startWorker();
      const port = await chat.startThyme();
      const victim = await fixtures.user('vic', { password: PASSWORD, staff });
      await fixtures.user('root', { password: PASSWORD, staff: true, superuser: true });
      const room = await fixtures.room('Lobby', staff);
      const admin = new BrowserlessClient(port);
      assert.is((await admin.login('root', PASSWORD)).status, 302);
      const socket = await chatClient(port, await fixtures.login(victim));
      clients.push(socket);
      await joinSettled(socket, room.id);
      const bea = await fixtures.user('bea', { staff });
      const bystander = await chatClient(port, await fixtures.login(bea));
      clients.push(bystander);
      await joinSettled(bystander, room.id);
      assert.equal(await nextJson(socket), { room: String(room.id), username: 'bea', msg_type: 4 });
      await body({
        port,
        victim: { id: victim.id, socket },
        bystander,
        roomId: room.id,
        admin,
        refuseUserGroups: () =>
          acl.set('resetkeys', ...keysNotStartingWith(`${prefix}:group:user-`)),
        allow,
      });
    } finally {
      await allow().catch(() => undefined);
      await chat.stop();
    }
  });
}

/** GETs the form's page (for its CSRF token), then POSTs it as a browser would. */
async function submit(
  client: BrowserlessClient,
  path: string,
  fields: Record<string, string>,
): Promise<HttpResult> {
  assert.is((await client.get(path)).status, 200, `GET ${path}`);
  return client.post(path, fields);
}

/** The notices of the page a redirect leads to, as text, with their level. */
async function noticesAfter(client: BrowserlessClient, result: HttpResult): Promise<string[]> {
  assert.is(result.status, 303, 'a redirect (post/redirect/get), not an error page');
  const page = await client.get(String(result.headers.location));
  assert.is(page.status, 200);
  return [...page.body.toString().matchAll(/<p class="flash flash-(\w+)">([\s\S]*?)<\/p>/g)].map(
    (m) => `${m[1]}: ${m[2]!.replace(/<[^>]*>/g, '').replace(/\s+/g, ' ')}`,
  );
}

/** The bystander says something; `socket` hears it (it still receives its room). */
async function stillHears(scene: Scene, socket: TestClient, message: string): Promise<void> {
  scene.bystander.send(JSON.stringify({ command: 'send', room: scene.roomId, message }));
  assert.is((await nextJson(socket)).message, message, 'the socket still receives its room');
  assert.is((await nextJson(scene.bystander)).message, message);
}

async function closedWith(socket: TestClient, code: number): Promise<void> {
  assert.is((await within(socket.closed, 5000, 'the socket to close')).code, code);
}

const UNSENT =
  'However, the user’s open chat connections could not be closed, because the channel layer is unavailable: until they are,';

test('deactivating: the save stands and the admin is told; saving again once the layer is back closes the sockets (4001)', async () => {
  await withScene(false, async (scene) => {
    const { admin, victim } = scene;
    const page = `/admin/users/${victim.id}/`;
    await scene.refuseUserGroups();
    const saved = await submit(admin, page, { email: '' }); // "Active" unticked
    assert.is(saved.headers.location, page, 'back to the user, whose Save retries');
    assert.equal(await noticesAfter(admin, saved), [
      `warning: The user “vic” was changed successfully. ${UNSENT} those connections still receive their rooms’ messages (each is closed at its next command). Save the user again to retry.`,
    ]);
    assert.is((await fixtures.users.findById(victim.id))?.isActive, false, 'the change stands');
    await stillHears(scene, victim.socket, 'not closed yet');

    await scene.allow();
    // The page the notice is on: its form, the user inactive, saved again.
    const again = await admin.post(page, { email: '' });
    assert.is(again.headers.location, '/admin/users/');
    assert.equal(await noticesAfter(admin, again), [
      'success: The user “vic” was changed successfully.',
    ]);
    await closedWith(victim.socket, CLOSE_LOGGED_OUT);
    assert.equal(await nextJson(scene.bystander), {
      room: String(scene.roomId),
      username: 'vic',
      msg_type: 5,
    });
  });
});

test("setting the password: told so on the user's page; saving the user once the layer is back closes the sockets (4001)", async () => {
  await withScene(false, async (scene) => {
    const { admin, victim } = scene;
    await scene.refuseUserGroups();
    const password = 'a new one for 2026';
    const changed = await submit(admin, `/admin/users/${victim.id}/password/`, {
      password1: password,
      password2: password,
    });
    assert.equal(await noticesAfter(admin, changed), [
      `warning: Password changed successfully. ${UNSENT} those connections still receive their rooms’ messages (each is closed at its next command). Save the user to retry.`,
    ]);
    await stillHears(scene, victim.socket, 'not closed yet');

    await scene.allow();
    // The user's page (where the notice is), saved as it is: active.
    const saved = await admin.post(`/admin/users/${victim.id}/`, { email: '', is_active: 'on' });
    assert.equal(await noticesAfter(admin, saved), [
      'success: The user “vic” was changed successfully.',
    ]);
    await closedWith(victim.socket, CLOSE_LOGGED_OUT);
    assert.is((await nextJson(scene.bystander)).msg_type, 5, 'vic leaves the room');
  });
});

test('taking the staff flag: told which rooms they still receive; saving again closes the sockets (4002)', async () => {
  await withScene(true, async (scene) => {
    const { admin, victim } = scene;
    const page = `/admin/users/${victim.id}/`;
    await scene.refuseUserGroups();
    const saved = await submit(admin, page, { email: '', is_active: 'on' }); // "Staff" unticked
    assert.equal(await noticesAfter(admin, saved), [
      `warning: The user “vic” was changed successfully. ${UNSENT} those connections still receive the staff-only rooms they are in. Save the user again to retry.`,
    ]);
    await stillHears(scene, victim.socket, 'not closed yet');

    await scene.allow();
    const again = await admin.post(page, { email: '', is_active: 'on' });
    assert.equal(await noticesAfter(admin, again), [
      'success: The user “vic” was changed successfully.',
    ]);
    await closedWith(victim.socket, CLOSE_ACCESS_CHANGED);
  });
});

test("deleting: told; the socket's next command gets USER_HAS_TO_LOGIN and closes it (4001), out of its room", async () => {
  await withScene(false, async (scene) => {
    const { admin, victim } = scene;
    await scene.refuseUserGroups();
    const deleted = await submit(admin, `/admin/users/${victim.id}/delete/`, {});
    assert.equal(await noticesAfter(admin, deleted), [
      `warning: The user “vic” was deleted successfully. ${UNSENT} those connections still receive their rooms’ messages (each is closed at its next command).`,
    ]);
    await stillHears(scene, victim.socket, 'not closed yet');
    // Back, the layer closes nothing by itself: the socket's own check does.
    await scene.allow();
    victim.socket.send(JSON.stringify({ command: 'send', room: scene.roomId, message: 'hello?' }));
    assert.equal(await nextJson(victim.socket), { error: 'USER_HAS_TO_LOGIN' });
    await closedWith(victim.socket, CLOSE_LOGGED_OUT);
    assert.equal(await nextJson(scene.bystander), {
      room: String(scene.roomId),
      username: 'vic',
      msg_type: 5,
    });
  });
});

test.run();
