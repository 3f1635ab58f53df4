/**
 * MultiChat when the Redis layer loses what it kept for open sockets: a restart
 * without persistence (as the README's deployment runs Redis), or one socket's
 * saved state gone. The sockets are closed with 1012 (service restart), and the
 * reconnected ones chat as before; none stays open in no room, its user unknown.
 * And when a Thyme dies without closing its sockets (SIGKILL, a crash, its
 * machine gone): the workers notice its layer connection is gone and run each of
 * its sockets' disconnect, so its users leave their rooms, with leave notices.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Room } from '../src/apps/multichat/rooms.js';
import type { Database } from '../src/db/connection.js';
import { sqliteBackend } from './helpers/databases.js';
import { MESSAGE_TYPES, roomGroup } from '../src/apps/multichat/chat-protocol.js';
import {
  chatClient,
  DistributedChat,
  EmbeddedChat,
  Fixtures,
  type ChatEndpoints,
  useMigratedDatabase,
} from './helpers/deployment.js';
import { testPrefix } from './helpers/layers.js';
import { createLayer, type Message } from '../src/index.js';
import { Thyme } from '../src/server/index.js';
import type { Application } from '../src/worker/app.js';
import { Worker } from '../src/worker/runner.js';
import type { SocketContext, WebSocketConsumer } from '../src/worker/websocket/consumer.js';
import type { Logger } from '../src/logger.js';
import type { Redis } from 'ioredis';
import { rawClient, RedisServer, SHARED_REDIS_URL } from './helpers/redis-server.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import { captureLogs } from './helpers/log-capture.js';
import { TestClient } from './helpers/ws-client.js';

const test = suite('chat when the layer loses its data, or a Thyme dies');
const database = sqliteBackend();
let db: Database;
let fixtures: Fixtures;
const clients: TestClient[] = [];

useMigratedDatabase(test, database, (opened, made) => ([db, fixtures] = [opened, made]));
test.after.each(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await database.truncate(db);
});

type Reply = Record<string, unknown>;

async function next(client: TestClient, timeoutMs = 10_000): Promise<Reply> {
  return JSON.parse(String(await client.next(timeoutMs))) as Reply;
}

async function joined(
  chat: ChatEndpoints,
  session: string,
  room: Room,
  port = chat.ports[0]!,
): Promise<TestClient> {
  const client = await chatClient(port, session);
  clients.push(client);
  client.send(JSON.stringify({ command: 'join', room: room.id }));
  assert.equal((await next(client)).join, String(room.id));
  return client;
}

test('a Redis restart without its data: every socket closes with 1012, and reconnected ones chat', async () => {
  const redis = await RedisServer.start();
  const chat = await EmbeddedChat.start(db, { notifyEnterLeave: false }, redis.url);
  try {
    const room = await fixtures.room('Lobby');
    const sessions = [
      await fixtures.login(await fixtures.user('ann')),
      await fixtures.login(await fixtures.user('bob')),
    ];
    const before = [await joined(chat, sessions[0]!, room), await joined(chat, sessions[1]!, room)];
    await redis.restart(300);
    // Idle sockets too: nothing they send is needed for Thyme to notice.
    for (const client of before) {
      assert.is((await within(client.closed, 10_000, 'the socket to close')).code, 1012);
    }
    const [ann, bob] = [
      await joined(chat, sessions[0]!, room),
      await joined(chat, sessions[1]!, room),
    ];
    ann.send(JSON.stringify({ command: 'send', room: room.id, message: 'after the restart' }));
    assert.is((JSON.parse(String(await bob.next())) as Reply).message, 'after the restart');
    assert.is((JSON.parse(String(await ann.next())) as Reply).message, 'after the restart');
  } finally {
    await chat.stop();
    await redis.stop();
  }
});

test("a socket whose saved state is gone is closed with 1012 at its next event, not answered as a stranger's", async () => {
  const prefix = testPrefix();
  const chat = await EmbeddedChat.start(db, {}, `${SHARED_REDIS_URL}?prefix=${prefix}`);
  const redis = rawClient();
  try {
    const room = await fixtures.room('Lobby');
    const ann = await joined(chat, await fixtures.login(await fixtures.user('ann')), room);
    const lanes = await redis.keys(`${prefix}gredis:lane:*`);
    assert.is(lanes.length, 1);
    await redis.del(...lanes);
    ann.send(JSON.stringify({ command: 'send', room: room.id, message: 'who am I?' }));
    // The event waits out the lane's gap (5 s) before it runs without a state.
    assert.is((await within(ann.closed, 10_000, 'the socket to close')).code, 1012);
    assert.is(ann.received.length, 0, 'no USER_HAS_TO_LOGIN, no other answer');
  } finally {
    await chat.stop();
    await redis.quit();
  }
});

/**
 * Runs `body` against a Worker serving every socket with `consumer` and a Thyme
 * in front of it, on the shared Redis under a prefix of their own, with a lane gap
 * short enough that parked events run within a test; `redis` reaches the layer's
 * keys behind their back.
 */
async function withConsumer(
  consumer: WebSocketConsumer,
  logger: Logger | undefined,
  body: (served: { port: number; prefix: string; redis: Redis }) => Promise<void>,
): Promise<void> {
  const prefix = testPrefix();
  const layer = createLayer(SHARED_REDIS_URL, { prefix, laneGap: 0.3 });
  const app: Application = {
    name: 'recorder',
    handleHttp: () => Promise.reject(new Error('no HTTP here')),
    consumerFor: () => consumer,
  };
  const worker = new Worker(layer, app, { logger }).start();
  const thyme = new Thyme(layer, { allowedHosts: ['localhost', '127.0.0.1'] });
  const port = (await thyme.listen(0, '127.0.0.1')).port;
  const redis = rawClient();
  try {
    await body({ port, prefix, redis });
  } finally {
    await thyme.close();
    await worker.stop();
    await layer.flush();
    await layer.close();
    await redis.quit();
  }
}

/** Each socket's connect saves the same state and accepts. */
function savesState(socket: SocketContext): void {
  socket.state = { who: 'ann' };
  socket.accept();
}

test("after such a close, the socket's later events find no state either: none runs as a stranger's", async () => {
  const ran: Message[] = [];
  const consumer: WebSocketConsumer = {
    connect: savesState,
    receive: async (socket, frame) => {
      ran.push({ text: frame.text ?? null, state: socket.state });
    },
  };
  await withConsumer(consumer, undefined, async ({ port, prefix, redis }) => {
    const client = await TestClient.open(`ws://127.0.0.1:${port}/`);
    clients.push(client);
    client.send('one');
    await waitFor(() => ran.length === 1, 5000, 'the first frame');
    await redis.del(...(await redis.keys(`${prefix}gredis:lane:*`)));
    client.send('two');
    client.send('three');
    assert.is((await within(client.closed, 10_000, 'the socket to close')).code, 1012);
    await sleep(1000); // past the lane's gap: anything still parked has run by now
    assert.equal(ran, [{ text: 'one', state: { who: 'ann' } }]);
  });
});

test('sockets whose saved state is gone, as after a Redis restart: one warning line, the rest counted', async () => {
  const { logger, lines } = captureLogs();
  await withConsumer({ connect: savesState }, logger, async ({ port, prefix, redis }) => {
    const sockets: TestClient[] = [];
    for (let i = 0; i < 5; i++) {
      const client = await TestClient.open(`ws://127.0.0.1:${port}/`);
      clients.push(client);
      sockets.push(client);
    }
    await waitFor(
      async () => (await redis.keys(`${prefix}gredis:lane:*`)).length === 5,
      5000,
      'five lanes',
    );
    await redis.del(...(await redis.keys(`${prefix}gredis:lane:*`)));
    for (const client of sockets) client.send('hello');
    for (const client of sockets)
      assert.is((await within(client.closed, 10_000, 'the socket to close')).code, 1012);
    const warned = lines.filter((line) => line.msg.startsWith("a socket's saved state is gone"));
    assert.is(warned.length, 1, JSON.stringify(warned));
  });
});

test('a Thyme killed with SIGKILL: its users leave their rooms, and the others hear it', async () => {
  const chat = new DistributedChat(database);
  const redis = rawClient();
  try {
    await Promise.all([
      chat.startWorker(['--orphan-check', '1']),
      chat.startWorker(['--orphan-check', '1']),
    ]);
    const [doomed, lasting] = [await chat.startThyme(), await chat.startThyme()];
    const room = await fixtures.room('Lobby');
    const other = await fixtures.room('Garden');
    const prefix = new URL(chat.layerUrl).searchParams.get('prefix')!;
    const [group, otherGroup] = [room, other].map((r) => `${prefix}:group:${roomGroup(r.id)}`);
    const ann = await joined(chat, await fixtures.login(await fixtures.user('ann')), room, doomed);
    ann.send(JSON.stringify({ command: 'join', room: other.id }));
    assert.is((await next(ann)).join, String(other.id));
    const bob = await joined(chat, await fixtures.login(await fixtures.user('bob')), room, lasting);
    assert.equal(await next(ann), {
      room: String(room.id),
      username: 'bob',
      msg_type: MESSAGE_TYPES.enter,
    });
    // A join's answer goes before its group add (so that no message of the room
    // comes first): bob's add may land just after his answer.
    await waitFor(
      async () => (await redis.zcard(group!)) === 2 && (await redis.zcard(otherGroup!)) === 1,
      5000,
      'ann in both groups, bob in the lobby',
    );

    // Idle now: the workers check nothing (no Redis commands while idle), so a
    // death alone would go unseen until someone acts.
    await chat.thymes[0]!.stop('SIGKILL');
    await sleep(3000);
    assert.equal(bob.received, [], 'nothing while nobody acts');
    // Someone acting (here carol opening the page, as ann's own page would,
    // reconnecting) brings checks a second apart: they find the dead Thyme gone
    // for 5 s, and its sockets' disconnects run from their lanes (after the
    // lanes' 5 s wait for events still in flight).
    clients.push(await chatClient(lasting, await fixtures.login(await fixtures.user('carol'))));
    assert.equal(
      await next(bob, 25_000),
      { room: String(room.id), username: 'ann', msg_type: MESSAGE_TYPES.leave },
      'the leave notice',
    );
    await waitFor(
      async () => (await redis.zcard(group!)) === 1 && (await redis.zcard(otherGroup!)) === 0,
      5000,
      'ann out of both groups',
    );
    const line = chat.workers
      .flatMap((proc) => proc.lines)
      .find((entry) => String(entry.msg).startsWith('a process holding sockets is gone'));
    assert.is(line?.lanes, 1, 'a worker says what it did');

    // Bob chats on as before.
    bob.send(JSON.stringify({ command: 'send', room: room.id, message: 'still here' }));
    assert.equal(await next(bob), {
      room: String(room.id),
      username: 'bob',
      message: 'still here',
      msg_type: MESSAGE_TYPES.message,
    });
  } finally {
    await chat.stop();
    redis.disconnect();
  }
});

test.run();
