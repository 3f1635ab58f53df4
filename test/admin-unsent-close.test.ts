/**
 * A change that committed, whose message to the chat sockets the channel layer
 * could not take (Redis refusing one kind of group: here an ACL that withdraws
 * the `user-*`, `room-*` or `session-*` group keys from the processes, all else
 * working, so that the chat goes on and the sockets still receive). An admin
 * change of a user or a room is told what happened (the change stands, the
 * connections are not closed or told yet, what they can still do, how to
 * retry), not shown a 500 page; a logout, or a login over a session, completes
 * as if the close had gone. The worker sends the close again until the layer
 * takes it, so that a socket that only receives is closed with nobody acting;
 * a worker that stopped first leaves it to the admin's save (its session
 * remembers the close) or to the socket's next command (its own check).
 * Real processes: `gredis runworker` and `gredis thyme` on a private
 * redis-server and PostgreSQL.
 */
import { suite } from './helpers/suite.js';
import type { Redis } from 'ioredis';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
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
import { markupOf } from './helpers/markup.js';
import type { GredisProcess } from './helpers/processes.js';
import { testPrefix } from './helpers/layers.js';
import { keysNotStartingWith, withAclUser } from './helpers/redis-acl.js';
import { RedisServer } from './helpers/redis-server.js';
import { sleep, within } from './helpers/wait.js';
import type { TestClient } from './helpers/ws-client.js';

const test = suite("changes whose sockets' close the layer could not take");
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
  /** The victim's browser, logged in: the session its socket was opened with. */
  browser: BrowserlessClient;
  /** The worker, whose log says what it could not send. */
  worker: GredisProcess;
  /**
   * The worker stops (SIGTERM) owing one close: it says so as it goes, and
   * another starts, which owes nothing (only the admin's session remembers it).
   */
  replaceWorker(): Promise<void>;
  /** Calls of each command the private redis-server has run so far, the test's INFO aside. */
  redisCommands(): Promise<Map<string, number>>;
  /** A connection to the private redis-server as its default user. */
  redis: Redis;
  /** Redis refuses every call on one kind of group (NOPERM): `user-*`, say; all else works. */
  refuseGroups(kind: 'user-' | 'room-' | 'session-'): Promise<void>;
  /** Allowed again. */
  allow(): Promise<void>;
}

interface SceneOptions {
  /** The bystander is staff (default: as the victim). */
  bystanderStaff?: boolean;
  workerArgs?: string[];
  /** The redis-server to run on (a private one of the scene's own by default). */
  server?: RedisServer;
}

/**
 * A worker and a Thyme on a private redis-server, as an ACL user the test can
 * take one kind of group's keys from; the victim (staff if `staff`), its socket
 * opened with its browser's session, and a bystander (staff if `bystanderStaff`)
 * in a room (staff-only if `staff`).
 */
async function withScene(
  staff: boolean,
  body: (scene: Scene) => Promise<void>,
  { bystanderStaff = staff, workerArgs = [], server }: SceneOptions = {},
): Promise<void> {
  await withAclUser(
    ['~*', '&*', '+@all'],
    async (acl) => {
      const prefix = testPrefix();
      const chat = new DistributedChat(database, {}, acl.url(`?prefix=${prefix}`));
      const allow = () => acl.set('allkeys');
      try {
        const worker = await chat.startWorker(workerArgs);
        const port = await chat.startThyme();
        const victim = await fixtures.user('vic', { password: PASSWORD, staff });
        await fixtures.user('root', { password: PASSWORD, staff: true, superuser: true });
        const room = await fixtures.room('Lobby', staff);
        const admin = new BrowserlessClient(port);
        assert.is((await admin.login('root', PASSWORD)).status, 302);
        const browser = new BrowserlessClient(port);
        assert.is((await browser.login('vic', PASSWORD)).status, 302);
        const socket = await chatClient(port, browser.cookies.get('sessionid'));
        clients.push(socket);
        await joinSettled(socket, room.id);
        const bea = await fixtures.user('bea', { staff: bystanderStaff });
        const bystander = await chatClient(port, await fixtures.login(bea));
        clients.push(bystander);
        await joinSettled(bystander, room.id);
        assert.equal(await nextJson(socket), {
          room: String(room.id),
          username: 'bea',
          msg_type: 4,
        });
        const scene: Scene = {
          port,
          victim: { id: victim.id, socket },
          bystander,
          roomId: room.id,
          admin,
          browser,
          worker,
          replaceWorker: async () => {
            const stopped = await scene.worker.stop('SIGTERM');
            assert.is(stopped.code, 0, 'a clean stop');
            const owed = scene.worker.lines.find((l) =>
              String(l.msg).startsWith('stopping with 1 chat socket message(s)'),
            );
            assert.is(owed?.owed, 1, 'the stopping worker says what it leaves unsent');
            scene.worker = await chat.startWorker(workerArgs);
          },
          redisCommands: async () =>
            new Map(
              [
                ...(await acl.admin.info('commandstats')).matchAll(
                  /^cmdstat_(?!info)([^:]+):calls=(\d+)/gm,
                ),
              ].map((m) => [m[1]!, Number(m[2])]),
            ),
          redis: acl.admin,
          refuseGroups: (kind) =>
            acl.set('resetkeys', ...keysNotStartingWith(`${prefix}:group:${kind}`)),
          allow,
        };
        await body(scene);
      } finally {
        await allow().catch(() => undefined);
        await chat.stop();
      }
    },
    server,
  );
}

/** The notices of the page a redirect leads to, as text, with their level. */
async function noticesAfter(client: BrowserlessClient, result: HttpResult): Promise<string[]> {
  assert.is(result.status, 303, 'a redirect (post/redirect/get), not an error page');
  const page = await client.get(String(result.headers.location));
  assert.is(page.status, 200);
  return flashNotices(page);
}

/** The page's notices (Django's messages), each as "level: text", its markup dropped. */
function flashNotices(page: HttpResult): string[] {
  return [...markupOf(page).matchAll(/<p class="flash flash-(\w+)">([\s\S]*?)<\/p>/g)].map(
    (m) => `${m[1]}: ${m[2]!.replace(/<[^>]*>/g, '').replace(/\s+/g, ' ')}`,
  );
}

/** The bystander says something; `socket` hears it (it still receives its room). */
async function stillHears(scene: Scene, socket: TestClient, message: string): Promise<void> {
  scene.bystander.send(JSON.stringify({ command: 'send', room: scene.roomId, message }));
  assert.is((await nextJson(socket)).message, message, 'the socket still receives its room');
  assert.is((await nextJson(scene.bystander)).message, message);
}

async function closedWith(socket: TestClient, code: number, timeoutMs = 5000): Promise<void> {
  assert.is((await within(socket.closed, timeoutMs, 'the socket to close')).code, code);
}

const UNSENT =
  'However, the user’s open chat connections could not be closed, because the channel layer is unavailable: until they are,';
const RESENT = 'The close is sent again automatically as soon as the layer takes it';
/** A deleted room's sockets not told it is gone, in the notice after the delete. */
const UNTOLD =
  'could not be told, because the channel layer is unavailable: until they are, their pages show it (each finds it gone at its next command to it). They are told automatically as soon as the layer takes it.';
/** The notice after a room is made staff-only whose sockets' close the layer did not take. */
const STAFF_ONLY_UNSENT = `warning: The room “Lobby” was changed successfully. However, the open chat connections in the room could not be closed, because the channel layer is unavailable: until they are, those of users who are not staff still receive its messages (each is closed at its next command to it). ${RESENT}; should the server stop first, save the room again to retry.`;

/**
 * How long a close the worker owes may wait for its retry once the layer is
 * back: its backoff (0.5 s, doubling) has reached 4 s at most by then in these
 * tests, and a busy machine adds to it.
 */
const RETRY_MS = 15_000;

/**
 * The scene's room made staff-only on its page while Redis refuses every call
 * on room groups, so that its sockets' close is not sent: the save's answer.
 */
async function madeStaffOnlyUnsent(scene: Scene): Promise<HttpResult> {
  await scene.refuseGroups('room-');
  return scene.admin.submit(`/admin/rooms/${scene.roomId}/`, { title: 'Lobby', staff_only: 'on' });
}

/** The worker logged `message` for the send it could not make: one line, no stack (an outage). */
async function logged(scene: Scene, message: string): Promise<void> {
  const line = await scene.worker.waitForLine((l) => l.msg === message, 5000);
  assert.not.ok('err' in line, `${message}: no stack`);
}

/** The worker says, in one line, that it sent the close (or leave) it owed. */
async function sentOwed(scene: Scene): Promise<void> {
  const line = await scene.worker.waitForLine((l) =>
    String(l.msg).startsWith('sent the chat socket message owed since '),
  );
  assert.is(line.level, 30, 'info');
  assert.is(line.sent, 1);
}

/**
 * Waits for a window of `windowMs` in which the private redis-server runs no
 * command, for `timeoutMs` at most (then fails, naming the last window's).
 */
async function quietFor(scene: Scene, windowMs: number, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const before = await scene.redisCommands();
    await sleep(windowMs);
    const during = [...(await scene.redisCommands())].filter(
      ([name, calls]) => calls !== (before.get(name) ?? 0),
    );
    if (during.length === 0) return;
    if (performance.now() > end) assert.equal(during, [], 'Redis commands while idle');
  }
}

/** The victim's next command is refused, USER_HAS_TO_LOGIN, and closes its socket (4001). */
async function closedAtNextCommand(scene: Scene): Promise<void> {
  const { socket } = scene.victim;
  socket.send(JSON.stringify({ command: 'send', room: scene.roomId, message: 'hello?' }));
  assert.equal(await nextJson(socket), { error: 'USER_HAS_TO_LOGIN' });
  await closedWith(socket, CLOSE_LOGGED_OUT);
}

/** The bystander hears the victim leave the room (its socket closed). */
async function victimLeft(scene: Scene): Promise<void> {
  assert.equal(await nextJson(scene.bystander), {
    room: String(scene.roomId),
    username: 'vic',
    msg_type: 5,
  });
}

test('deactivating, nobody acting: once the layer takes writes again the worker closes the socket that only receives (4001), then issues no Redis command', async () => {
  await withScene(
    false,
    async (scene) => {
      const { admin, victim } = scene;
      await scene.refuseGroups('user-');
      const saved = await admin.submit(`/admin/users/${victim.id}/`, { email: '' });
      assert.equal(await noticesAfter(admin, saved), [
        `warning: The user “vic” was changed successfully. ${UNSENT} those connections still receive their rooms’ messages (each is closed at its next command). ${RESENT}; should the server stop first, save the user again to retry.`,
      ]);
      await stillHears(scene, victim.socket, 'not closed yet');

      await scene.allow();
      // No save, and not a frame from the socket: the worker's retry alone.
      await closedWith(victim.socket, CLOSE_LOGGED_OUT, RETRY_MS);
      await sentOwed(scene);
      await victimLeft(scene);
      // Owing nothing, the worker has no retry left to run: once the lanes'
      // own checks after the close have settled, the deployment makes no call.
      await quietFor(scene, 3000, 20_000);
    },
    { workerArgs: ['--orphan-check', '0'] },
  );
});

test('Redis stopped and started again on its port: the worker sends the close it owes as soon as the host is back (4001), not at its next retry, 30 s away by then (it waits for the worker to say so)', async () => {
  // Kept across the restart: the groups (an append-only file written at each
  // command) and the ACL user as saved before any refusal (an ACL file).
  const dir = await mkdtemp(join(tmpdir(), 'gredis-owed-'));
  const aclFile = join(dir, 'users.acl');
  await writeFile(aclFile, '');
  const server = await RedisServer.start([
    '--dir',
    dir,
    '--aclfile',
    aclFile,
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
  ]);
  try {
    await withScene(
      false,
      async (scene) => {
        const { admin, victim } = scene;
        await scene.redis.acl('SAVE');
        await scene.refuseGroups('user-');
        const saved = await admin.submit(`/admin/users/${victim.id}/`, { email: '' });
        assert.is(saved.status, 303);
        await logged(scene, "saved, but could not close the user's chat sockets");
        // The test's own connection says nothing of the outage it makes.
        scene.redis.on('error', () => undefined);
        await server.kill();
        // Its retries fail meanwhile, 0.5 s after, then at doubling intervals
        // (each call a few seconds, as the layer reconnects), up to 30 s.
        await scene.worker.waitForLine((l) => l.retryMs === 30_000 && l.hostAway === true, 120_000);
        await server.startProcess();
        // Back, the ACL file's user takes every key again: whenReady, not that
        // 30 s timer, sends the close (the layer reconnects within 2 s): the
        // socket closes well before that timer would have fired.
        await closedWith(victim.socket, CLOSE_LOGGED_OUT, 15_000);
        await sentOwed(scene);
      },
      { server },
    );
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('making a room staff-only, nobody acting: once the layer takes writes again the worker closes the non-staff socket in it (4002)', async () => {
  await withScene(
    false,
    async (scene) => {
      const { admin, victim } = scene;
      const saved = await madeStaffOnlyUnsent(scene);
      assert.equal(await noticesAfter(admin, saved), [STAFF_ONLY_UNSENT]);
      // Its first retries (0.5 s and 1.5 s after) are refused as well.
      await sleep(2000);
      assert.is(victim.socket.ws.readyState, WebSocket.OPEN, 'not closed yet');

      await scene.allow();
      await closedWith(victim.socket, CLOSE_ACCESS_CHANGED, RETRY_MS);
      await sentOwed(scene);
      // Every socket in the room: the staff one joins again, and gets in.
      await closedWith(scene.bystander, CLOSE_ACCESS_CHANGED);
    },
    { bystanderStaff: true },
  );
});

test('deactivating, the worker stopped before the layer came back: saving again closes the sockets (4001)', async () => {
  await withScene(false, async (scene) => {
    const { admin, victim } = scene;
    const page = `/admin/users/${victim.id}/`;
    await scene.refuseGroups('user-');
    const saved = await admin.submit(page, { email: '' }); // "Active" unticked
    assert.is(saved.headers.location, page, 'back to the user, whose Save retries');
    assert.equal(await noticesAfter(admin, saved), [
      `warning: The user “vic” was changed successfully. ${UNSENT} those connections still receive their rooms’ messages (each is closed at its next command). ${RESENT}; should the server stop first, save the user again to retry.`,
    ]);
    assert.is((await fixtures.users.findById(victim.id))?.isActive, false, 'the change stands');
    await stillHears(scene, victim.socket, 'not closed yet');
    await scene.replaceWorker();

    await scene.allow();
    await stillHears(scene, victim.socket, 'the new worker owes nothing');
    // The page the notice is on: its form, the user inactive, saved again.
    const again = await admin.post(page, { email: '' });
    assert.is(again.headers.location, '/admin/users/');
    assert.equal(await noticesAfter(admin, again), [
      'success: The user “vic” was changed successfully.',
    ]);
    await closedWith(victim.socket, CLOSE_LOGGED_OUT);
    await victimLeft(scene);
  });
});

test("setting the password, the worker stopped: told so on the user's page; saving the user once the layer is back closes the sockets (4001)", async () => {
  await withScene(false, async (scene) => {
    const { admin, victim } = scene;
    await scene.refuseGroups('user-');
    const password = 'a new one for 2026';
    const changed = await admin.submit(`/admin/users/${victim.id}/password/`, {
      password1: password,
      password2: password,
    });
    assert.equal(await noticesAfter(admin, changed), [
      `warning: Password changed successfully. ${UNSENT} those connections still receive their rooms’ messages (each is closed at its next command). ${RESENT}; should the server stop first, save the user to retry.`,
    ]);
    await stillHears(scene, victim.socket, 'not closed yet');
    await scene.replaceWorker();

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

test('taking the staff flag, the worker stopped: told which rooms they still receive; saving again closes the sockets (4002)', async () => {
  await withScene(true, async (scene) => {
    const { admin, victim } = scene;
    const page = `/admin/users/${victim.id}/`;
    await scene.refuseGroups('user-');
    const saved = await admin.submit(page, { email: '', is_active: 'on' }); // "Staff" unticked
    assert.equal(await noticesAfter(admin, saved), [
      `warning: The user “vic” was changed successfully. ${UNSENT} those connections still receive the staff-only rooms they are in (each is closed at its next command to one). ${RESENT}; should the server stop first, save the user again to retry.`,
    ]);
    await stillHears(scene, victim.socket, 'not closed yet');
    await scene.replaceWorker();

    await scene.allow();
    const again = await admin.post(page, { email: '', is_active: 'on' });
    assert.equal(await noticesAfter(admin, again), [
      'success: The user “vic” was changed successfully.',
    ]);
    await closedWith(victim.socket, CLOSE_ACCESS_CHANGED);
  });
});

test("deleting, the worker stopped: told; the socket's next command gets USER_HAS_TO_LOGIN and closes it (4001), out of its room", async () => {
  await withScene(false, async (scene) => {
    const { admin, victim } = scene;
    await scene.refuseGroups('user-');
    const deleted = await admin.submit(`/admin/users/${victim.id}/delete/`, {});
    assert.equal(await noticesAfter(admin, deleted), [
      `warning: The user “vic” was deleted successfully. ${UNSENT} those connections still receive their rooms’ messages (each is closed at its next command). ${RESENT}.`,
    ]);
    await stillHears(scene, victim.socket, 'not closed yet');
    await scene.replaceWorker();
    // Back, nothing owes the close any more: the socket's own check closes it.
    await scene.allow();
    await closedAtNextCommand(scene);
    await victimLeft(scene);
  });
});

test("making a room staff-only, the worker stopped: told so on the room's page; saving the room again once the layer is back closes its sockets (4002)", async () => {
  await withScene(
    false,
    async (scene) => {
      const { admin, victim, roomId } = scene;
      const page = `/admin/rooms/${roomId}/`;
      const saved = await madeStaffOnlyUnsent(scene);
      assert.is(saved.headers.location, page, 'back to the room, whose Save retries');
      assert.equal(await noticesAfter(admin, saved), [STAFF_ONLY_UNSENT]);
      assert.is((await fixtures.rooms.find(roomId))?.staffOnly, true, 'the change stands');
      await logged(scene, "saved, but could not close the room's chat sockets");
      await scene.replaceWorker();

      await scene.allow();
      // Not closed: the non-staff victim still hears the staff-only room.
      await stillHears(scene, victim.socket, 'not closed yet');
      // The page the notice is on: its form, saved again as it is.
      const again = await admin.post(page, { title: 'Lobby', staff_only: 'on' });
      assert.is(again.headers.location, '/admin/rooms/');
      assert.equal(await noticesAfter(admin, again), [
        'success: The room “Lobby” was changed successfully.',
      ]);
      await closedWith(victim.socket, CLOSE_ACCESS_CHANGED);
      // Sent once: a later save of the room closes nothing.
      const bystander = await chatClient(scene.port, await fixtures.login(await staffUser()));
      clients.push(bystander);
      await joinSettled(bystander, roomId);
      await admin.post(page, { title: 'Lobby', staff_only: 'on' });
      bystander.send(JSON.stringify({ command: 'send', room: roomId, message: 'still here' }));
      assert.is((await nextJson(bystander)).message, 'still here', 'not closed by a later save');
    },
    { bystanderStaff: true }, // the room stays open to them
  );
});

test("a room made staff-only, the worker stopped: a non-staff socket's next command to it is refused and closes it (4002), out of the room", async () => {
  await withScene(
    false,
    async (scene) => {
      const { admin, victim, roomId } = scene;
      const saved = await madeStaffOnlyUnsent(scene);
      assert.is((await noticesAfter(admin, saved)).length, 1);
      await scene.replaceWorker();
      await scene.allow();
      await stillHears(scene, victim.socket, 'not closed yet');
      // Back, nothing owes the close any more: the socket's own check closes it.
      victim.socket.send(JSON.stringify({ command: 'send', room: roomId, message: 'hello?' }));
      assert.equal(await nextJson(victim.socket), { error: 'ROOM_ACCESS_DENIED' });
      await closedWith(victim.socket, CLOSE_ACCESS_CHANGED);
      await victimLeft(scene);
    },
    { bystanderStaff: true },
  );
});

/**
 * The scene's room deleted, its sockets not told (the worker logged why):
 * once the layer takes writes again, the worker's retry alone (no frame from
 * either socket) tells both of them, the leave.
 */
async function toldOnceAllowed(scene: Scene): Promise<void> {
  assert.is(await fixtures.rooms.find(scene.roomId), undefined, 'the change stands');
  await logged(scene, "deleted, but could not tell the room's chat sockets");
  await scene.allow();
  const leave = { leave: String(scene.roomId) };
  assert.equal(await within(nextJson(scene.victim.socket), RETRY_MS, 'the leave'), leave);
  assert.equal(await nextJson(scene.bystander), leave);
}

test('deleting a room, nobody acting: told that its sockets were not told yet; once the layer takes writes again the worker tells them (the leave)', async () => {
  await withScene(false, async (scene) => {
    const { admin, roomId } = scene;
    await scene.refuseGroups('room-');
    const deleted = await admin.submit(`/admin/rooms/${roomId}/delete/`, {});
    assert.is(deleted.headers.location, '/admin/rooms/');
    assert.equal(await noticesAfter(admin, deleted), [
      `warning: The room “Lobby” was deleted successfully. However, the open chat connections in the room ${UNTOLD}`,
    ]);
    await toldOnceAllowed(scene);
    await sentOwed(scene);
  });
});

/** The list's delete_selected action on `ids`, confirmed; the notices on the list it leads back to. */
async function deletedSelected(
  admin: BrowserlessClient,
  list: '/admin/rooms/' | '/admin/users/',
  ids: readonly number[],
): Promise<string[]> {
  await admin.get(list);
  const done = await admin.post(list, [
    ...ids.map((id): [string, string] => ['_selected_action', String(id)]),
    ['action', 'delete_selected'],
    ['post', 'yes'],
  ]);
  assert.is(done.status, 302, "Django's action redirects with 302");
  assert.is(done.headers.location, list);
  return flashNotices(await admin.get(list));
}

test("deleting rooms by the list's action, nobody acting: told that their sockets were not told yet; once the layer takes writes again the worker tells them (the leave)", async () => {
  await withScene(false, async (scene) => {
    const { admin, roomId } = scene;
    const annex = await fixtures.room('Annex');
    await scene.refuseGroups('room-');
    assert.equal(await deletedSelected(admin, '/admin/rooms/', [roomId, annex.id]), [
      `warning: Successfully deleted 2 rooms. However, the open chat connections in those rooms ${UNTOLD}`,
    ]);
    await toldOnceAllowed(scene);
  });
});

test("deleting users by the list's action, nobody acting: told that their sockets were not closed yet; once the layer takes writes again the worker closes them (4001)", async () => {
  await withScene(false, async (scene) => {
    const { admin, victim } = scene;
    const amy = await fixtures.user('amy', { password: PASSWORD });
    await scene.refuseGroups('user-');
    assert.equal(await deletedSelected(admin, '/admin/users/', [victim.id, amy.id]), [
      `warning: Successfully deleted 2 users. However, those users’ open chat connections could not be closed, because the channel layer is unavailable: until they are, those connections still receive their rooms’ messages (each is closed at its next command). ${RESENT}.`,
    ]);
    await stillHears(scene, victim.socket, 'not closed yet');

    await scene.allow();
    await closedWith(victim.socket, CLOSE_LOGGED_OUT, RETRY_MS);
    await victimLeft(scene);
  });
});

test('deleting a room, the worker stopped: its sockets never told, their next command to it finds it gone', async () => {
  await withScene(false, async (scene) => {
    const { admin, victim, roomId } = scene;
    await scene.refuseGroups('room-');
    const deleted = await admin.submit(`/admin/rooms/${roomId}/delete/`, {});
    assert.is((await noticesAfter(admin, deleted)).length, 1);
    await scene.replaceWorker();

    await scene.allow();
    // No leave came: the socket's next frame is the answer to its command.
    victim.socket.send(JSON.stringify({ command: 'send', room: roomId, message: 'hello?' }));
    assert.equal(await nextJson(victim.socket), { error: 'ROOM_INVALID' });
  });
});

test('logging out: the logout completes, the failure is logged; once the layer takes writes again the worker closes the socket that only receives (4001)', async () => {
  await withScene(false, async (scene) => {
    const { browser } = scene;
    assert.is((await browser.get('/')).status, 200); // its logout form's token
    await scene.refuseGroups('session-');
    const out = await browser.post('/accounts/logout/', {});
    assert.is(out.status, 302, 'no error page');
    assert.is(out.headers.location, '/accounts/login/');
    assert.is((await browser.get('/')).status, 302, 'logged out');
    await logged(scene, "logged out, but could not close the session's chat sockets");
    await stillHears(scene, scene.victim.socket, 'not closed yet');

    await scene.allow();
    await closedWith(scene.victim.socket, CLOSE_LOGGED_OUT, RETRY_MS);
    await sentOwed(scene);
    await victimLeft(scene);
  });
});

test("logging in over a session, the worker stopped: logged in, the failure is logged; the old session's socket's next command closes it (4001)", async () => {
  await withScene(false, async (scene) => {
    const { browser } = scene;
    await scene.refuseGroups('session-');
    const login = await browser.login('vic', PASSWORD);
    assert.is(login.status, 302, 'no error page');
    assert.is(login.headers.location, '/');
    const index = await browser.get('/');
    assert.is(index.status, 200, 'logged in');
    assert.match(markupOf(index), 'data-username="vic"');
    await logged(scene, "logged in, but could not close the replaced session's chat sockets");
    await stillHears(scene, scene.victim.socket, 'not closed yet');
    await scene.replaceWorker();

    await scene.allow();
    await closedAtNextCommand(scene);
  });
});

/** Another staff user, to stay in a staff-only room. */
function staffUser(): ReturnType<Fixtures['user']> {
  return fixtures.user('sam', { staff: true });
}

test.run();
