/**
 * MultiChat's WebSocket protocol (multichat.md) from plain WebSocket clients: every
 * command and every error, refused handshakes, rooms and users changing under a
 * live socket, disconnect cleanup, and a fuzzing flood. SQLite and PostgreSQL.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { ChatAccess } from '../src/apps/multichat/access.js';
import {
  CLOSE_ACCESS_CHANGED,
  MAX_MESSAGE_LENGTH,
  MESSAGE_TYPES,
  roomDeletedFrame,
  roomGroup,
} from '../src/apps/multichat/chat-protocol.js';
import type { Room } from '../src/apps/multichat/rooms.js';
import { closeUserSockets, CLOSE_LOGGED_OUT } from '../src/auth/socket-groups.js';
import type { User } from '../src/auth/users.js';
import type { Database } from '../src/db/connection.js';
import type { Redis } from 'ioredis';
import { BrowserlessClient } from './helpers/browserless.js';
import { allDatabases } from './helpers/databases.js';
import { chatClient, EmbeddedChat, Fixtures, joinSettled } from './helpers/deployment.js';
import { httpRequest } from './helpers/http-client.js';
import { plain } from './helpers/markup.js';
import { testPrefix } from './helpers/layers.js';
import { rawClient, SHARED_REDIS_URL } from './helpers/redis-server.js';
import { sleep, within } from './helpers/wait.js';
import { handshakeStatus, TestClient } from './helpers/ws-client.js';

type Reply = Record<string, unknown>;

async function next(client: TestClient, timeoutMs?: number): Promise<Reply> {
  return JSON.parse(String(await client.next(timeoutMs))) as Reply;
}

/** Asserts nothing more arrives for a while. */
async function quiet(client: TestClient, ms = 300): Promise<void> {
  const outcome = await client.next(ms).then(
    (message) => `unexpected: ${String(message)}`,
    () => 'quiet',
  );
  assert.is(outcome, 'quiet');
}

/** Every value stored under `prefix` (hash fields, set members, strings). */
async function storedValues(redis: Redis, prefix: string): Promise<Buffer[]> {
  const values: Buffer[] = [];
  for (const key of await redis.keys(`${prefix}*`)) {
    const type = await redis.type(key);
    if (type === 'hash') values.push(...Object.values(await redis.hgetallBuffer(key)));
    else if (type === 'zset') values.push(...(await redis.zrangeBuffer(key, 0, -1)));
    else if (type === 'string') values.push((await redis.getBuffer(key))!);
  }
  return values;
}

function command(client: TestClient, value: unknown): void {
  client.send(typeof value === 'string' ? value : JSON.stringify(value));
}

/** Each client joins the room in turn, settled (before the next one's enter notice). */
async function joinInTurn(roomId: number, ...clients: TestClient[]): Promise<void> {
  for (const client of clients) await joinSettled(client, roomId);
}

/**
 * The sender sends `message` to the room (its id as a number or a string); the
 * sender, then each of `others`, gets exactly its echo, as from `username`.
 */
async function sendAndHearEcho(
  sender: TestClient,
  roomId: number | string,
  message: string,
  username: string,
  ...others: TestClient[]
): Promise<void> {
  command(sender, { command: 'send', room: roomId, message });
  const echo = { room: String(roomId), message, username, msg_type: 0 };
  for (const client of [sender, ...others]) assert.equal(await next(client), echo);
}

/**
 * How long a test waits for what must happen (a close, a check reached): only
 * a failing test waits that long, and a loaded CI machine can stall a correct
 * run for seconds (as TestClient.next's own timeout says).
 */
const WAIT_MS = 5000;

/** Limits no test here reaches unless it means to (Thyme's message rate has tests of its own). */
const NO_LIMITS = { chatBurst: 1000, chatPerSecond: 1000, websocketRate: 0 };

for (const database of allDatabases()) {
  const test = suite(`chat protocol [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let chat: EmbeddedChat;
  let port: number;
  let lobby: Room;
  let staffRoom: Room;
  let alice: User;
  let bob: User;
  let staff: User;
  const clients: TestClient[] = [];

  /** Replaces the suite's chat with one of other settings, or on another layer. */
  async function restartChat(
    settings: Parameters<typeof EmbeddedChat.start>[1] = NO_LIMITS,
    layerUrl?: string,
  ): Promise<void> {
    await chat.stop();
    chat = await EmbeddedChat.start(db, settings, layerUrl);
    port = chat.ports[0]!;
  }

  async function connect(user: User): Promise<TestClient> {
    const client = await chatClient(port, await fixtures.login(user));
    clients.push(client);
    return client;
  }

  test.before(async () => {
    await database.setup();
    db = await database.openMigrated();
    fixtures = new Fixtures(db);
  });
  test.after(() => database.teardown());
  test.before.each(async () => {
    chat = await EmbeddedChat.start(db, NO_LIMITS);
    port = chat.ports[0]!;
    lobby = await fixtures.room('Lobby');
    staffRoom = await fixtures.room('Staff lounge', true);
    alice = await fixtures.user('alice');
    bob = await fixtures.user('bob');
    staff = await fixtures.user('sam', { staff: true });
  });
  test.after.each(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    await chat.stop();
    await database.truncate(db);
  });

  test('join: the room hears the newcomer, the newcomer gets the title; joining twice is harmless', async () => {
    const a = await connect(alice);
    const b = await connect(bob);
    command(a, { command: 'join', room: lobby.id });
    assert.equal(await next(a), { join: String(lobby.id), title: 'Lobby' });
    command(b, { command: 'join', room: String(lobby.id) });
    assert.equal(await next(a), { room: String(lobby.id), username: 'bob', msg_type: 4 });
    assert.equal(await next(b), { join: String(lobby.id), title: 'Lobby' });
    command(b, { command: 'join', room: lobby.id });
    assert.equal(await next(b), { join: String(lobby.id), title: 'Lobby' });
    await quiet(a); // one membership, one notice
  });

  test("a newcomer's join answer comes before any message of the room, however busy the room", async () => {
    const b = await connect(bob);
    command(b, { command: 'join', room: lobby.id });
    await next(b);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 100; i++)
        command(b, { command: 'send', room: lobby.id, message: `m${i}` });
      const a = await connect(alice);
      command(a, { command: 'join', room: lobby.id });
      assert.equal(await next(a), { join: String(lobby.id), title: 'Lobby' }, `round ${round}`);
      a.ws.terminate();
    }
  });

  test("a join's answer comes first even when another worker's message lands right after the add", async () => {
    // The join flushes its effects (for its second check) one by one: another
    // worker's group send can reach the room between the add and whatever comes
    // next. The page drops a room message that comes before the join's answer (it
    // has no pane for it yet), so the answer must not come after the add.
    const group = roomGroup(lobby.id);
    const layer = chat.layer;
    const add = layer.groupAdd.bind(layer);
    layer.groupAdd = async (name, channel) => {
      await add(name, channel);
      if (name === group) {
        const message = {
          room: String(lobby.id),
          message: 'meanwhile',
          username: 'bob',
          msg_type: 0,
        };
        await layer.groupSend(group, { text: JSON.stringify(message) });
      }
    };
    const a = await connect(alice);
    command(a, { command: 'join', room: lobby.id });
    assert.equal(await next(a), { join: String(lobby.id), title: 'Lobby' });
    assert.equal((await next(a)).message, 'meanwhile');
  });

  test('send: every member including the sender gets it; room ids as strings or integers', async () => {
    const a = await connect(alice);
    const b = await connect(bob);
    await joinInTurn(lobby.id, a, b);
    await next(a); // bob's enter notice
    await sendAndHearEcho(a, String(lobby.id), 'hello <b>all</b>', 'alice', b);
    await sendAndHearEcho(b, lobby.id, 'é✓', 'bob', a);
  });

  test('leave: the room including the leaver hears it; the socket leaves the group', async () => {
    const a = await connect(alice);
    const b = await connect(bob);
    await joinInTurn(lobby.id, a, b);
    await next(a);
    command(b, { command: 'leave', room: lobby.id });
    assert.equal(await next(a), { room: String(lobby.id), username: 'bob', msg_type: 5 });
    assert.equal(await next(b), { room: String(lobby.id), username: 'bob', msg_type: 5 });
    assert.equal(await next(b), { leave: String(lobby.id) });
    await sendAndHearEcho(a, lobby.id, 'bob is gone', 'alice');
    await quiet(b);
    command(b, { command: 'send', room: lobby.id, message: 'let me in' });
    assert.equal(await next(b), { error: 'ROOM_ACCESS_DENIED' });
  });

  test('errors, each changing nothing, and the socket stays open', async () => {
    const a = await connect(alice);
    const cases: [unknown, string][] = [
      ['not json', 'INVALID_MESSAGE'],
      ['[1,2]', 'INVALID_MESSAGE'],
      ['"join"', 'INVALID_MESSAGE'],
      ['null', 'INVALID_MESSAGE'],
      [{ command: 'dance', room: lobby.id }, 'INVALID_MESSAGE'],
      [{ command: 'join' }, 'INVALID_MESSAGE'],
      [{ command: 'join', room: 'abc' }, 'INVALID_MESSAGE'],
      [{ command: 'join', room: 1.5 }, 'INVALID_MESSAGE'],
      [{ command: 'join', room: '1e3' }, 'INVALID_MESSAGE'],
      [{ command: 'join', room: ' 1' }, 'INVALID_MESSAGE'],
      [{ command: 'join', room: 2 ** 53 }, 'INVALID_MESSAGE'],
      // Well-formed ids of rooms that do not exist:
      [{ command: 'join', room: -1 }, 'ROOM_INVALID'],
      [{ command: 'join', room: 0 }, 'ROOM_INVALID'],
      [{ command: 'join', room: '0' }, 'ROOM_INVALID'],
      [{ command: 'join', room: '-7' }, 'ROOM_INVALID'],
      [{ command: 'join', room: 2 ** 31 }, 'ROOM_INVALID'],
      [{ command: 'join', room: [lobby.id] }, 'INVALID_MESSAGE'],
      [{ command: 'send', room: lobby.id }, 'INVALID_MESSAGE'],
      [{ command: 'send', room: lobby.id, message: '' }, 'INVALID_MESSAGE'],
      [{ command: 'send', room: lobby.id, message: 42 }, 'INVALID_MESSAGE'],
      [{ command: 'send', room: lobby.id, message: 'x'.repeat(4097) }, 'MESSAGE_TOO_LONG'],
      [{ command: 'join', room: 999999 }, 'ROOM_INVALID'],
      [{ command: 'join', room: staffRoom.id }, 'ROOM_ACCESS_DENIED'],
      [{ command: 'send', room: lobby.id, message: 'not joined' }, 'ROOM_ACCESS_DENIED'],
    ];
    for (const [frame, error] of cases) {
      command(a, frame);
      assert.equal(await next(a), { error }, JSON.stringify(frame).slice(0, 60));
    }
    command(a, { command: 'join', room: `0${lobby.id}` }); // "07" is room 7, as Django reads it
    assert.equal(await next(a), { join: String(lobby.id), title: 'Lobby' });
    await sendAndHearEcho(a, lobby.id, 'y'.repeat(4096), 'alice'); // the limit is inclusive
    a.send(Buffer.from('binary frame'));
    assert.equal(await next(a), { error: 'INVALID_MESSAGE' });
  });

  test("a command renews the socket's groups, so a socket open longer than the group expiry keeps its rooms and its logout", async () => {
    // A layer that forgets group members after 4 s; a command renews memberships
    // older than an eighth of that (the page sends one every quarter: 1 s).
    await restartChat(NO_LIMITS, 'memory://?group_expiry=4');
    const [a, b] = [await connect(alice), await connect(bob)];
    const carol = await connect(staff); // in no room until she speaks
    for (const client of [a, b]) {
      command(client, { command: 'join', room: lobby.id });
      assert.equal((await next(client)).join, String(lobby.id));
    }
    const joined = Date.now(); // both were added before their answers
    await next(a); // bob's enter notice
    // The page is told to send a command every quarter of the group expiry.
    const index = await httpRequest(port, '/', {
      headers: { cookie: `sessionid=${await fixtures.login(alice)}` },
    });
    assert.match(index.body.toString(), /data-keep-alive-seconds="1"/);
    await sleep(joined + 2000 - Date.now());
    // alice speaks up (joining again, as the page does); bob stays silent.
    command(a, { command: 'join', room: lobby.id });
    assert.equal(await next(a), { join: String(lobby.id), title: 'Lobby' });
    // Past bob's expiry (4 s after his join), and 1.8 s before alice's (4 s after
    // her renewal) for what she must still hear: timed from the joins, where a
    // loaded machine can take a second (with 2 s and sleeps in a row, 0.8 s
    // minus a login and a handshake were left, and she missed sam's enter).
    await sleep(joined + 4200 - Date.now());
    command(carol, { command: 'join', room: lobby.id });
    await next(carol);
    assert.equal((await next(a)).msg_type, 4, "alice hears sam enter; bob's membership lapsed");
    await sendAndHearEcho(carol, lobby.id, 'still there?', 'sam', a);
    // alice's user group was renewed too: closing her sockets still reaches this one.
    await closeUserSockets(chat.layer, alice.id);
    assert.is((await within(a.closed, WAIT_MS)).code, CLOSE_LOGGED_OUT);
    command(b, { command: 'join', room: lobby.id });
    assert.equal(
      await next(b),
      { join: String(lobby.id), title: 'Lobby' },
      'bob (never renewed) heard nothing of the room',
    );
  });

  test('a room joined after the connect, and nothing sent since: a logout closes the socket as long as the room reaches it', async () => {
    // Group expiry 10 s: a command renews memberships older than 1.25 s.
    await restartChat(NO_LIMITS, 'memory://?group_expiry=10');
    const a = await connect(alice);
    const connectedAt = Date.now();
    await sleep(900); // too soon for the join to renew what the connect added
    command(a, { command: 'join', room: lobby.id });
    assert.equal(await next(a), { join: String(lobby.id), title: 'Lobby' });
    // Past the expiry of what the connect added; the join's room membership still
    // holds, for about half a second: the close is sent right after the message,
    // not once the message has come back (which a loaded machine can take that long for).
    await sleep(connectedAt + 10_400 - Date.now());
    await chat.layer.groupSend(roomGroup(lobby.id), { text: '{"still":"in"}' });
    await closeUserSockets(chat.layer, alice.id);
    assert.equal(await next(a), { still: 'in' });
    assert.is((await within(a.closed, WAIT_MS, 'the socket to close')).code, CLOSE_LOGGED_OUT);
  });

  test("the page's keep-alive stays between half a second and a day, whatever the group expiry", async () => {
    for (const [expiry, keepAlive] of [
      ['0.01', '0.5'],
      ['1000000000', '86400'],
    ]) {
      await restartChat({}, `memory://?group_expiry=${expiry}`);
      const index = await httpRequest(port, '/', {
        headers: { cookie: `sessionid=${await fixtures.login(alice)}` },
      });
      assert.match(index.body.toString(), `data-keep-alive-seconds="${keepAlive}"`);
    }
  });

  test("the chat page carries the protocol's message types, length limit and logged-out close code for chat.js, as the server has them", async () => {
    const index = await httpRequest(port, '/', {
      headers: { cookie: `sessionid=${await fixtures.login(alice)}` },
    });
    const attribute = (name: string): string | undefined =>
      new RegExp(` ${name}="([^"]*)"`).exec(index.body.toString())?.[1];
    assert.equal(JSON.parse(plain(attribute('data-message-types') ?? 'null')), MESSAGE_TYPES);
    assert.is(Number(attribute('data-max-message-length')), MAX_MESSAGE_LENGTH);
    assert.is(Number(attribute('data-close-logged-out')), CLOSE_LOGGED_OUT);
  });

  test('renewal never extends access: a room the user may no longer enter is left, not renewed', async () => {
    // 4 s: the memberships the renewal finds must not have lapsed on their own
    // first, which on a loaded machine 2 s did not promise.
    await restartChat(NO_LIMITS, 'memory://?group_expiry=4');
    const demoted = await fixtures.user('dora', { staff: true });
    const d = await connect(demoted);
    const s = await connect(staff);
    for (const room of [lobby, staffRoom]) await joinSettled(d, room.id);
    await joinSettled(s, staffRoom.id);
    await next(d); // sam's enter notice
    await fixtures.users.update(demoted.id, { isStaff: false });
    await sleep(700); // past the renewal age (0.5 s)
    command(d, { command: 'join', room: lobby.id });
    const staffId = String(staffRoom.id);
    assert.equal(await next(d), { room: staffId, username: 'dora', msg_type: 5 });
    assert.equal(await next(d), { leave: staffId });
    assert.equal(await next(d), { join: String(lobby.id), title: 'Lobby' });
    assert.equal(await next(s), { room: staffId, username: 'dora', msg_type: 5 });
    await sendAndHearEcho(s, staffRoom.id, 'staff only', 'sam');
    await quiet(d);
  });

  test('renewal drops a room found deleted as a command does: no leave notice, no unasked leave', async () => {
    await restartChat(NO_LIMITS, 'memory://?group_expiry=2');
    const doomed = await fixtures.room('Doomed');
    const [a, b] = [await connect(alice), await connect(bob)];
    for (const room of [lobby, doomed]) {
      await joinInTurn(room.id, a, b);
      await next(a); // bob's enter notice
    }
    // The row only (as SQL would): no socket got the admin's leave for it.
    await fixtures.rooms.delete(doomed.id);
    await sleep(700); // past the renewal age (0.25 s)
    // Alice's send renews her groups; what each socket gets next is the echo.
    await sendAndHearEcho(a, lobby.id, 'after the renewal', 'alice', b);
    await Promise.all([quiet(a), quiet(b)]);
    // Alice is out of the deleted room's group; bob, not renewed yet, still in it.
    await chat.layer.groupSend(roomGroup(doomed.id), { text: '{"late":true}' });
    assert.equal(await next(b), { late: true });
    await quiet(a);
    command(a, { command: 'leave', room: doomed.id });
    assert.equal(await next(a), { error: 'ROOM_INVALID' });
  });

  test('a login that ends between a command and its renewal: the command gets USER_HAS_TO_LOGIN, the socket closes with 4001, out of its room', async () => {
    // The command's own check passes; the renewal's checks, just after, find the
    // user logged out (a deactivation landing between them). A check that finds
    // the login over answers as the command's own would, and closes the socket:
    // left open, it would go on receiving its rooms.
    let loggedOutAfter = Infinity;
    class EndsMidCommand extends ChatAccess {
      checks = 0;
      override async check(userId: number, sessionKeyHash: string, roomId: number) {
        const access = await super.check(userId, sessionKeyHash, roomId);
        return userId === alice.id && ++this.checks > loggedOutAfter
          ? { ...access, user: undefined }
          : access;
      }
    }
    const access = new EndsMidCommand(db, fixtures.users);
    await chat.stop();
    chat = await EmbeddedChat.start(db, { ...NO_LIMITS, access }, 'memory://?group_expiry=2');
    port = chat.ports[0]!;
    const [a, b] = [await connect(alice), await connect(bob)];
    await joinInTurn(lobby.id, a, b);
    await next(a); // bob's enter notice
    await sleep(700); // past the renewal age (0.25 s)
    loggedOutAfter = access.checks + 1; // the send's own check passes, its renewal's fail
    command(a, { command: 'send', room: lobby.id, message: 'renewing' });
    assert.equal(await next(a), { error: 'USER_HAS_TO_LOGIN' });
    assert.is((await within(a.closed, WAIT_MS, 'the socket to close')).code, CLOSE_LOGGED_OUT);
    // Not sent: bob hears her leave, and nothing else.
    assert.equal(await next(b), { room: String(lobby.id), username: 'alice', msg_type: 5 });
    await quiet(b);
  });

  test('staff may enter a staff-only room; others are refused with ROOM_ACCESS_DENIED', async () => {
    const s = await connect(staff);
    command(s, { command: 'join', room: staffRoom.id });
    assert.equal(await next(s), { join: String(staffRoom.id), title: 'Staff lounge' });
    const a = await connect(alice);
    command(a, { command: 'join', room: staffRoom.id });
    assert.equal(await next(a), { error: 'ROOM_ACCESS_DENIED' });
    await quiet(s, 200); // no enter notice for a refused join
  });

  /**
   * Restarts the chat with an access check that holds alice's `nth` check until
   * the returned release is called: 'after' it has run (a check that ran just
   * before an admin's change), or 'before' it runs (one that runs just after).
   * `checked` resolves once it is held.
   */
  async function holdAlicesCheck(
    nth: number,
    hold: 'before' | 'after',
  ): Promise<{ checked: Promise<void>; release: () => void }> {
    let checked!: () => void;
    const reached = new Promise<void>((resolve) => (checked = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    class HeldCheck extends ChatAccess {
      private count = 0;
      override async check(userId: number, sessionKeyHash: string, roomId: number) {
        const holding = userId === alice.id && ++this.count === nth;
        if (holding && hold === 'before') {
          checked();
          await held;
        }
        const access = await super.check(userId, sessionKeyHash, roomId);
        if (holding && hold === 'after') {
          checked();
          await held;
        }
        return access;
      }
    }
    await restartChat({ ...NO_LIMITS, access: new HeldCheck(db, fixtures.users) });
    return { checked: reached, release };
  }

  test('a join racing its room being made staff-only is undone as the others were: closed with 4002', async () => {
    // Alice's join is checked, then waits before it adds her; meanwhile the admin
    // makes the room staff-only and closes with 4002 the sockets in it, which hers
    // is not yet. The second check, once she is in, closes hers the same way.
    const { checked, release } = await holdAlicesCheck(1, 'after');
    const a = await connect(alice);
    command(a, { command: 'join', room: lobby.id });
    await within(checked, WAIT_MS, "alice's first check");
    await fixtures.rooms.update(lobby.id, 'Lobby', true);
    await chat.layer.groupSend(roomGroup(lobby.id), { close: CLOSE_ACCESS_CHANGED });
    release();
    assert.equal(await next(a), { join: String(lobby.id), title: 'Lobby' });
    assert.is((await within(a.closed, WAIT_MS, 'the close')).code, CLOSE_ACCESS_CHANGED);
    // She is not in the room: staff talking there is not for her.
    const s = await connect(staff);
    command(s, { command: 'join', room: lobby.id });
    assert.equal((await next(s)).join, String(lobby.id));
    await sendAndHearEcho(s, lobby.id, 'staff only now', 'sam');
  });

  test('a join racing its room being deleted gets the leave the room got, and no error', async () => {
    const { checked, release } = await holdAlicesCheck(1, 'after');
    const a = await connect(alice);
    const doomed = await fixtures.rooms.create('Doomed', false);
    command(a, { command: 'join', room: doomed.id });
    await within(checked, WAIT_MS, "alice's first check");
    await fixtures.rooms.delete(doomed.id);
    await chat.layer.groupSend(roomGroup(doomed.id), roomDeletedFrame(doomed.id));
    release();
    const id = String(doomed.id);
    assert.equal(await next(a), { join: id, title: 'Doomed' });
    assert.equal(await next(a), { leave: id });
    // One answer to the join, one unasked leave: the next reply is the next command's.
    command(a, { command: 'join', room: lobby.id });
    assert.equal(await next(a), { join: String(lobby.id), title: 'Lobby' });
  });

  test("a join racing its user's deactivation outside Gredis is answered, then its socket closed with 4001; active again, the session chats on", async () => {
    // The join's answer goes before its second check, and alice is deactivated
    // in between, the database only (Django's admin on a shared auth_user, which
    // no socket group hears). The second check finds her login over, and closes
    // her socket as any check that finds it over does, with no second answer to
    // the join. Her session is still there: made active again, she reconnects
    // with it (as her page does after 4001, once it finds the session alive).
    const { checked, release } = await holdAlicesCheck(2, 'before');
    const key = await fixtures.login(alice);
    const a = await chatClient(port, key);
    clients.push(a);
    command(a, { command: 'join', room: lobby.id });
    assert.equal(await next(a), { join: String(lobby.id), title: 'Lobby' });
    await within(checked, WAIT_MS, "alice's second check");
    await fixtures.users.update(alice.id, { isActive: false });
    release();
    assert.is((await within(a.closed, WAIT_MS, 'the socket to close')).code, CLOSE_LOGGED_OUT);
    assert.equal(a.received, [], 'nothing after the answer to the join');
    await fixtures.users.update(alice.id, { isActive: true });
    const again = await chatClient(port, key);
    clients.push(again);
    await joinSettled(again, lobby.id);
    await sendAndHearEcho(again, lobby.id, 'back', 'alice');
  });

  test('anonymous, forged-session and cross-origin handshakes are refused with 403', async () => {
    const url = `ws://localhost:${port}/chat/stream/`;
    assert.is(await handshakeStatus(url, { origin: `http://localhost:${port}` }), 403);
    assert.is(
      await handshakeStatus(url, {
        origin: `http://localhost:${port}`,
        headers: { cookie: `sessionid=${'z'.repeat(32)}` },
      }),
      403,
    );
    const key = await fixtures.login(alice);
    // A foreign host; then pages of an allowed host on another port, another
    // scheme, another allowed name: the browser sends them the cookie too.
    for (const origin of [
      'http://evil.example',
      'http://localhost:1',
      `https://localhost:${port}`,
      `http://127.0.0.1:${port}`,
      'null',
    ]) {
      assert.is(
        await handshakeStatus(url, { origin, headers: { cookie: `sessionid=${key}` } }),
        403,
        origin,
      );
    }
    // The site's own page is the user.
    const own = await chatClient(port, key);
    own.close();
    assert.is(
      await handshakeStatus(`ws://localhost:${port}/other/`, {
        origin: `http://localhost:${port}`,
        headers: { cookie: `sessionid=${key}` },
      }),
      403,
    );
  });

  test("a handshake from a page that says it is another user's (?user=) is refused with 403", async () => {
    const url = `ws://localhost:${port}/chat/stream/`;
    const key = await fixtures.login(alice);
    const options = { origin: `http://localhost:${port}`, headers: { cookie: `sessionid=${key}` } };
    // Bob's page, in a browser logged in as alice since it loaded.
    assert.is(await handshakeStatus(`${url}?user=${bob.id}`, options), 403);
    assert.is(await handshakeStatus(`${url}?user=`, options), 403);
    const own = await TestClient.open(`${url}?user=${alice.id}`, options);
    own.close();
  });

  test('a room deleted mid-session answers ROOM_INVALID', async () => {
    const a = await connect(alice);
    await joinSettled(a, lobby.id);
    await fixtures.rooms.delete(lobby.id);
    command(a, { command: 'send', room: lobby.id, message: 'anyone?' });
    assert.equal(await next(a), { error: 'ROOM_INVALID' });
  });

  test("leaving a room deleted mid-session answers ROOM_INVALID and takes the socket out of the room's group", async () => {
    const a = await connect(alice);
    const b = await connect(bob);
    await joinInTurn(lobby.id, a, b);
    await next(a); // bob's enter notice
    const id = String(lobby.id);
    // As the admin deletes a room: the database row, then the room's unasked leave.
    await fixtures.rooms.delete(lobby.id);
    await chat.layer.groupSend(roomGroup(lobby.id), roomDeletedFrame(lobby.id));
    for (const client of [a, b]) assert.equal(await next(client), { leave: id });
    command(a, { command: 'leave', room: lobby.id });
    assert.equal(await next(a), { error: 'ROOM_INVALID' });
    // What is still sent to the deleted room's group (here bob's leave notice, as
    // his socket closes) no longer reaches alice.
    b.ws.close();
    await within(b.closed, WAIT_MS, "bob's socket to close");
    await sleep(300); // his disconnect handled
    await chat.layer.groupSend(roomGroup(lobby.id), { text: '{"late":true}' });
    await quiet(a);
  });

  test('a user deactivated, or logged out, outside Gredis mid-session: a command gets USER_HAS_TO_LOGIN, and the socket closes with 4001, out of its rooms', async () => {
    const key = await fixtures.login(alice);
    const a = await chatClient(port, key);
    clients.push(a);
    const b = await connect(bob);
    await joinInTurn(lobby.id, a, b);
    await next(a); // bob's enter notice
    // As Django's admin on a shared auth_user would: the database only, no socket
    // group hears. The socket's own check is what stops it receiving the room.
    await fixtures.users.update(alice.id, { isActive: false });
    command(a, { command: 'send', room: lobby.id, message: 'still here?' });
    assert.equal(await next(a), { error: 'USER_HAS_TO_LOGIN' });
    assert.is((await within(a.closed, WAIT_MS, 'the socket to close')).code, CLOSE_LOGGED_OUT);
    assert.equal(await next(b), { room: String(lobby.id), username: 'alice', msg_type: 5 });
    // Active again, her session (never ended) opens a socket that chats.
    await fixtures.users.update(alice.id, { isActive: true });
    const again = await chatClient(port, key);
    clients.push(again);
    await joinSettled(again, lobby.id);
    assert.equal(await next(b), { room: String(lobby.id), username: 'alice', msg_type: 4 });
    await sendAndHearEcho(again, lobby.id, 'back', 'alice', b);
    // A session deleted (expired, logged out in the database): the same.
    const bobKey = await fixtures.login(bob);
    const c = await chatClient(port, bobKey);
    clients.push(c);
    await fixtures.sessions.delete(bobKey);
    command(c, { command: 'join', room: lobby.id });
    assert.equal(await next(c), { error: 'USER_HAS_TO_LOGIN' });
    assert.is((await within(c.closed, WAIT_MS, 'the socket to close')).code, CLOSE_LOGGED_OUT);
  });

  test("logging out closes the session's sockets with 4001, with their leave notices; other sessions' stay", async () => {
    const browser = new BrowserlessClient(port);
    assert.is((await browser.login('alice', 'correct horse')).status, 302);
    const loggedIn = await chatClient(port, browser.cookies.get('sessionid')!);
    clients.push(loggedIn);
    command(loggedIn, { command: 'join', room: lobby.id });
    await next(loggedIn);
    const elsewhere = await connect(alice); // the same user, another session (another browser)
    command(elsewhere, { command: 'join', room: lobby.id });
    await next(elsewhere);
    assert.equal(await next(loggedIn), { room: String(lobby.id), username: 'alice', msg_type: 4 });

    await browser.get('/'); // the page with the logout form (and its CSRF token)
    assert.is((await browser.post('/accounts/logout/', {})).status, 302);
    assert.is((await within(loggedIn.closed, WAIT_MS, 'the socket to close')).code, 4001);
    assert.equal(await next(elsewhere), { room: String(lobby.id), username: 'alice', msg_type: 5 });
    await sendAndHearEcho(elsewhere, lobby.id, 'still here', 'alice');
  });

  test("logging in over a session closes that session's sockets with 4001, whether as another user or the same one", async () => {
    for (const [first, second] of [
      ['alice', 'bob'],
      ['alice', 'alice'],
    ] as const) {
      const browser = new BrowserlessClient(port);
      assert.is((await browser.login(first, 'correct horse')).status, 302);
      const before = await chatClient(port, browser.cookies.get('sessionid')!);
      clients.push(before);
      command(before, { command: 'join', room: lobby.id });
      await next(before);
      const bystander = await connect(alice); // the first user, another browser
      command(bystander, { command: 'join', room: lobby.id });
      await next(bystander);
      await next(before); // the bystander's enter notice
      // The same browser logs in again: the form Django offers a non-staff user sent
      // to the admin ("log in to a different account?").
      const again = await browser.login(second, 'correct horse', '/admin/');
      assert.is(again.status, 302, `${first} → ${second}`);
      assert.is((await within(before.closed, WAIT_MS, 'the old socket to close')).code, 4001);
      const after = await chatClient(port, browser.cookies.get('sessionid')!);
      clients.push(after);
      command(after, { command: 'join', room: lobby.id });
      assert.equal((await next(after)).join, String(lobby.id), 'the new session chats');
      const notices = [(await next(bystander)).msg_type, (await next(bystander)).msg_type];
      assert.equal(notices.sort(), [4, 5], 'the old socket left, the new one entered');
      await sendAndHearEcho(bystander, lobby.id, 'still here', 'alice'); // the other browser stays
    }
  });

  test("on Redis, a socket's saved state holds its session's stored hash, never the session key", async () => {
    // The worker saves a socket's state (its user among it) in the layer between
    // events: whoever can read Redis must not find a cookie that opens a session.
    const prefix = `${testPrefix()}.`;
    const url = new URL(SHARED_REDIS_URL);
    url.searchParams.set('prefix', prefix);
    const onRedis = await EmbeddedChat.start(db, {}, url.toString());
    const redis = rawClient();
    try {
      const key = await fixtures.login(alice);
      const client = await chatClient(onRedis.ports[0]!, key);
      clients.push(client);
      command(client, { command: 'join', room: lobby.id });
      assert.equal(await next(client), { join: String(lobby.id), title: 'Lobby' });
      const stored = await storedValues(redis, prefix);
      const hash = fixtures.sessions.hashOf(key)!;
      assert.ok(
        stored.some((value) => value.includes(hash)),
        'the lane state holds the hash',
      );
      assert.not.ok(
        stored.some((value) => value.includes(key)),
        'no stored value holds the key',
      );
    } finally {
      redis.disconnect();
      await onRedis.stop();
    }
  });

  test('a disconnect leaves every room the socket joined, with leave notices', async () => {
    const a = await connect(alice);
    const b = await connect(bob);
    const other = await fixtures.room('Other');
    for (const room of [lobby, other]) {
      await joinInTurn(room.id, a, b);
      await next(a);
    }
    b.close(1000);
    await b.closed;
    const notices = [await next(a), await next(a)];
    assert.equal(
      notices.sort((x, y) => String(x.room).localeCompare(String(y.room))),
      [lobby, other]
        .map((r) => ({ room: String(r.id), username: 'bob', msg_type: 5 }))
        .sort((x, y) => x.room.localeCompare(y.room)),
    );
    await sendAndHearEcho(a, lobby.id, 'alone', 'alice');
  });

  test('flooding beyond the per-socket rate gets RATE_LIMITED; the socket stays open', async () => {
    // Half a token a second: the eight commands are handled within the 2 s that
    // refill one, where 1 s (one a second) was not sure on a loaded machine.
    await restartChat({ chatBurst: 5, chatPerSecond: 0.5 });
    const a = await connect(alice);
    for (let i = 0; i < 8; i++) command(a, { command: 'join', room: lobby.id });
    const got = [];
    for (let i = 0; i < 8; i++) got.push(await next(a));
    assert.is(got.filter((r) => r.join).length, 5);
    assert.is(got.filter((r) => r.error === 'RATE_LIMITED').length, 3);
    await sleep(2100);
    command(a, { command: 'join', room: lobby.id });
    assert.ok((await next(a)).join, 'the bucket refills');
  });

  test('enter/leave notices switch off with the setting', async () => {
    await restartChat({
      notifyEnterLeave: false,
      chatBurst: 1000,
      chatPerSecond: 1000,
    });
    const a = await connect(alice);
    const b = await connect(bob);
    command(a, { command: 'join', room: lobby.id });
    await next(a);
    command(b, { command: 'join', room: lobby.id });
    await next(b);
    command(b, { command: 'leave', room: lobby.id });
    assert.equal(await next(b), { leave: String(lobby.id) });
    await quiet(a);
  });

  test('10 000 random and malformed frames leave the server serving everyone else', async () => {
    const fuzzers = await Promise.all([connect(alice), connect(bob), connect(staff)]);
    const bystander = await connect(await fixtures.user('carol'));
    command(bystander, { command: 'join', room: lobby.id });
    await next(bystander);
    const random = seeded(20261128);
    const shapes = [
      () => randomText(random, 1 + Math.floor(random() * 200)),
      () =>
        JSON.stringify({
          command: pick(random, ['join', 'leave', 'send', 'x', '', null, 7]),
          room: pick(random, [lobby.id, String(lobby.id), staffRoom.id, -3, 'x', null, {}, 1e308]),
          message: pick(random, ['hi', '', 5, null, ['a'], 'z'.repeat(5000)]),
        }),
      () => JSON.stringify(pick(random, [[], {}, 1, 'str', true, null, { command: 'send' }])),
      () => '{'.repeat(Math.floor(random() * 500)),
      () => `{"command":"join","room":${'9'.repeat(Math.floor(random() * 40) + 1)}}`,
    ];
    let sent = 0;
    for (let i = 0; i < 10_000; i++) {
      const fuzzer = fuzzers[i % fuzzers.length]!;
      if (random() < 0.05) fuzzer.send(Buffer.from(randomText(random, 50)));
      else fuzzer.send(shapes[Math.floor(random() * shapes.length)]!());
      sent++;
      if (i % 500 === 0) await sleep(1); // let replies drain like a real flood would
    }
    assert.is(sent, 10_000);
    // Everyone else is served promptly; the fuzzers too.
    command(bystander, { command: 'send', room: lobby.id, message: 'still fine' });
    const reply = await within(
      (async () => {
        for (;;) {
          const r = await next(bystander, 30_000);
          if (r.message === 'still fine') return r;
        }
      })(),
      30_000,
      "the bystander's message",
    );
    assert.is(reply.username, 'carol');
    for (const fuzzer of fuzzers) {
      const closed = await Promise.race([fuzzer.closed, sleep(10).then(() => undefined)]);
      assert.is(
        closed,
        undefined,
        `fuzzers stay connected (errors, not closes): ${JSON.stringify(closed)}`,
      );
    }
    const fresh = await connect(alice);
    command(fresh, { command: 'join', room: lobby.id });
    assert.ok((await next(fresh, 10_000)).join);
  });

  test.run();
}

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function pick<T>(random: () => number, values: T[]): T {
  return values[Math.floor(random() * values.length)]!;
}

function randomText(random: () => number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += String.fromCharCode(32 + Math.floor(random() * 0x2fff));
  return text;
}
