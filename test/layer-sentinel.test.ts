/**
 * The Redis layer through Sentinel (`redis+sentinel://`), on real processes: a
 * master, its replica and a Sentinel, private and on loopback, started afresh
 * for each test, since a failover leaves them changed; and MultiChat deployed on
 * them (`gredis thyme` and `gredis runworker` on PostgreSQL) through a failover.
 * The URL's forms and errors are tested in layer-redis.test.ts.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { MESSAGE_TYPES } from '../src/apps/multichat/chat-protocol.js';
import type { Room } from '../src/apps/multichat/rooms.js';
import type { Database } from '../src/db/connection.js';
import { createLayer, type ChannelLayer, type LayerOptions, type Message } from '../src/index.js';
import { RedisHost } from '../src/layer/redis/host.js';
import { KeyReader, type Popped } from '../src/layer/redis/reader.js';
import { parseLayerUrl } from '../src/layer/url.js';
import { silentLogger } from '../src/logger.js';
import { postgresBackend } from './helpers/databases.js';
import {
  chatClient,
  DistributedChat,
  Fixtures,
  useMigratedDatabase,
} from './helpers/deployment.js';
import type { GredisProcess } from './helpers/processes.js';
import { captureLogs, ERROR, WARN, type CapturedLine } from './helpers/log-capture.js';
import { testPrefix } from './helpers/layers.js';
import { freePort } from './helpers/ports.js';
import { RedisSentinel, RedisServer, rawClient } from './helpers/redis-server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import { HandshakeRefused, type TestClient } from './helpers/ws-client.js';

/** The master's name in Sentinel. */
const NAME = 'm';
/** Sentinel fails a master over after 1 s of silence (down-after-milliseconds). */
const DOWN_AFTER_MS = 1000;

let master: RedisServer;
let replica: RedisServer;
let sentinel: RedisSentinel;
/** What each test started, stopped after it whatever happened (last started, first stopped). */
const started: { stop(): Promise<void> | void }[] = [];
const layers: ChannelLayer[] = [];
const raws: Redis[] = [];
let prefix = '';

const test = suite('redis layer through Sentinel');
const database = postgresBackend();
let db: Database;
let fixtures: Fixtures;

useMigratedDatabase(test, database, (opened, made) => ([db, fixtures] = [opened, made]));

test.before.each(async () => {
  prefix = testPrefix();
  // No wait before the first sync (5 s by default), so the replica soon has the data.
  master = track(await RedisServer.start(['--repl-diskless-sync-delay', '0']));
  replica = track(await RedisServer.start(['--replicaof', '127.0.0.1', String(master.port)]));
  sentinel = track(
    await RedisSentinel.start(master, NAME, { downAfterMs: DOWN_AFTER_MS, replicas: [replica] }),
  );
});

test.after.each(async () => {
  // Everything, in turn (a deployment before its Redis), whatever a stop throws.
  const failures: unknown[] = [];
  const settle = (stop: () => Promise<void> | void): Promise<void> =>
    Promise.resolve()
      .then(stop)
      .catch((error: unknown) => void failures.push(error));
  for (const made of layers.splice(0)) await settle(() => made.close());
  for (const client of raws.splice(0)) client.disconnect();
  for (const process of started.splice(0).reverse()) await settle(() => process.stop());
  await settle(() => database.truncate(db));
  if (failures.length > 0) throw failures[0];
});

function track<T extends { stop(): Promise<void> | void }>(process: T): T {
  started.push(process);
  return process;
}

function sentinelUrl(sentinels = [sentinel.port]): string {
  const hosts = sentinels.map((port) => `127.0.0.1:${port}`).join(',');
  return `redis+sentinel://${hosts}/${NAME}/0?prefix=${prefix}`;
}

function layer(options: Partial<LayerOptions> = {}, url = sentinelUrl()): ChannelLayer {
  const made = createLayer(url, options);
  layers.push(made);
  return made;
}

function raw(port: number): Redis {
  const client = rawClient(`redis://127.0.0.1:${port}/0`);
  client.on('error', () => {}); // the killed master's
  raws.push(client);
  return client;
}

/** Resolves once Sentinel names `server` as the master `name` (after a failover). */
async function masterBecomes(server: RedisServer, timeoutMs = 20_000, name = NAME): Promise<void> {
  const admin = raw(sentinel.port);
  await waitFor(
    async () =>
      ((await admin.call('SENTINEL', 'get-master-addr-by-name', name)) as string[])[1] ===
      String(server.port),
    timeoutMs,
    `Sentinel to name port ${server.port} the master`,
  );
}

/** Waits until the replica has everything written to the master so far. */
async function replicated(): Promise<void> {
  const client = raw(master.port);
  await client.set(`${prefix}written`, 1);
  assert.is(await client.wait(1, 5000), 1, 'the replica has caught up');
}

/** Sends until a send succeeds: during a failover, sends fail with LayerUnavailable. */
async function sendThrough(sender: ChannelLayer, channel: string, message: Message): Promise<void> {
  await within(
    (async () => {
      for (;;) {
        try {
          return await sender.send(channel, message);
        } catch {
          await sleep(100);
        }
      }
    })(),
    20_000,
    'a send to the new master',
  );
}

/** The commands the layer's blocking readers are in, on `server`. */
async function blockedReads(server: RedisServer): Promise<string[]> {
  const list = (await raw(server.port).client('LIST')) as string;
  return [...list.matchAll(/name=gredis-reader .*?cmd=(\S+)/g)].map((match) => match[1]!);
}

/** The ids of the layer's connections (named gredis-…) on `server`, sorted. */
async function layerConnections(server: RedisServer): Promise<string[]> {
  const list = (await raw(server.port).client('LIST')) as string;
  return [...list.matchAll(/^id=(\d+) .*?name=gredis-/gm)].map((match) => match[1]!).sort();
}

/**
 * A receiver (its log captured) blocked in a receive on its process channel
 * `inbox`, which has had a message from `sender`, everything replicated.
 */
async function receiveWaiting(): Promise<{
  lines: CapturedLine[];
  receiver: ChannelLayer;
  sender: ChannelLayer;
  inbox: string;
  waiting: Promise<Message>;
}> {
  const { logger, lines } = captureLogs();
  const receiver = layer({ logger });
  const sender = layer();
  const inbox = await receiver.newChannel('inbox');
  await sender.send(inbox, { n: 1 });
  assert.equal(await within(receiver.receive(inbox), 2000), { n: 1 });
  const waiting = receiver.receive(inbox);
  waiting.catch(() => undefined); // failed by the layer's close when the test fails first
  await waitFor(async () => (await blockedReads(master)).length > 0, 2000, 'a blocked read');
  await replicated();
  return { lines, receiver, sender, inbox, waiting };
}

function warnings(lines: CapturedLine[]): string[] {
  return lines.filter((line) => line.level >= WARN).map((line) => line.msg);
}

test('finds the master: channels, process-specific channels and groups work', async () => {
  const unreachable = await freePort(); // a Sentinel that is down: the next one answers
  const url = sentinelUrl([unreachable, sentinel.port]);
  const a = layer({}, url);
  const b = layer({}, url);
  await a.send('plain.work', { n: 1 });
  assert.equal(await within(b.receive('plain.work'), 2000), { n: 1 });
  const [one, two] = [await b.newChannel('inbox'), await b.newChannel('inbox')];
  await a.send(one, { to: 'one' });
  assert.equal(await within(b.receive(one), 2000), { to: 'one' });
  await a.groupAdd('room', one);
  await a.groupAdd('room', two);
  assert.is(await a.groupSend('room', { hello: 'sentinel' }), 0, 'no member skipped');
  assert.equal(await within(b.receive(one), 2000), { hello: 'sentinel' });
  assert.equal(await within(b.receive(two), 2000), { hello: 'sentinel' });
  assert.equal(a.health(), {
    ok: true,
    hosts: [
      {
        url: `redis+sentinel://127.0.0.1:${unreachable},127.0.0.1:${sentinel.port}/${NAME}`,
        status: 'ready',
      },
    ],
  });
  assert.is(await raw(master.port).zcard(`${prefix}:group:room`), 2, 'on the master');
  await a.flush();
});

test('a master killed: a waiting receive gets the next message, from the new master', async () => {
  const { lines, sender, inbox, waiting } = await receiveWaiting();

  await master.kill();
  await masterBecomes(replica);
  await sendThrough(sender, inbox, { n: 2 });
  assert.equal(await within(waiting, 10_000), { n: 2 });
  assert.equal(await blockedReads(replica), ['bzmpop'], 'reading from the new master');
  assert.equal(warnings(lines), [
    'lost the channel layer host; reconnecting',
    'channel layer host is back',
  ]);
});

test('a master failed over while alive (SENTINEL FAILOVER): every connection moves to the new one', async () => {
  const { lines, receiver, sender, inbox, waiting } = await receiveWaiting();

  // The old master, made a replica, keeps its clients: their writes would fail
  // (READONLY) and their reads find nothing, unless they are told of the move.
  await raw(sentinel.port).call('SENTINEL', 'FAILOVER', NAME);
  await masterBecomes(replica);
  await sendThrough(sender, inbox, { n: 2 });
  assert.equal(await within(waiting, 10_000), { n: 2 });
  await sender.groupAdd('moved', inbox);
  assert.is(await sender.groupSend('moved', { n: 3 }), 0);
  assert.equal(await within(receiver.receive(inbox), 2000), { n: 3 });
  await waitFor(
    async () => (await blockedReads(replica)).join() === 'bzmpop',
    2000,
    'reading from the new master',
  );
  assert.equal(await layerConnections(master), [], 'nothing left on the old one');
  assert.ok(
    lines.some(
      (line) => line.msg === 'Sentinel moved the channel layer master; reconnecting to it',
    ),
  );
});

test("a failover of another master the Sentinels watch leaves the layer's connections alone", async () => {
  const other = track(await RedisServer.start(['--repl-diskless-sync-delay', '0']));
  const otherReplica = track(
    await RedisServer.start(['--replicaof', '127.0.0.1', String(other.port)]),
  );
  const admin = raw(sentinel.port);
  await admin.call('SENTINEL', 'MONITOR', 'other', '127.0.0.1', String(other.port), '1');
  const receiver = layer();
  const sender = layer();
  const inbox = await receiver.newChannel('inbox');
  const waiting = receiver.receive(inbox);
  waiting.catch(() => undefined); // failed by the layer's close when the test fails first
  await waitFor(async () => (await blockedReads(master)).length > 0, 2000, 'a blocked read');
  await sender.send('plain.work', { n: 0 }); // every connection of both layers is open
  assert.equal(await within(receiver.receive('plain.work'), 2000), { n: 0 });
  const before = await layerConnections(master);

  // Refused (NOGOODSLAVE) until Sentinel has heard from the replica itself.
  await waitFor(
    () =>
      admin.call('SENTINEL', 'FAILOVER', 'other').then(
        () => true,
        () => false,
      ),
    20_000,
    'Sentinel to fail the other master over',
  );
  await masterBecomes(otherReplica, 20_000, 'other');
  await sleep(1000); // the announce has reached every subscriber
  assert.equal(await layerConnections(master), before, 'the same connections');
  await sender.send(inbox, { n: 1 });
  assert.equal(await within(waiting, 2000), { n: 1 });
});

test('a Sentinel that accepts connections and never answers does not hold up a failover', async () => {
  const { logger, lines } = captureLogs();
  const hung = track(await TcpProxy.start({ host: '127.0.0.1', port: sentinel.port }));
  const url = sentinelUrl([hung.port, sentinel.port]);
  const receiver = layer({ logger }, url);
  const sender = layer({}, sentinelUrl());
  const inbox = await receiver.newChannel('inbox');
  const work = Array.from({ length: 10 }, (_, i) => `work.${i}`);
  await sender.send(inbox, { n: 1 });
  assert.equal(await within(receiver.receive(inbox), 2000), { n: 1 });
  // Eleven connections, each reconnecting on its own and asking the hung
  // Sentinel first: ioredis waited for its answer forever, and a failover
  // announced meanwhile ended the connection for good (and the reader spun).
  const waiting = [inbox, ...work].map((channel) => receiver.receive(channel));
  await waitFor(async () => (await blockedReads(master)).length === 11, 2000, 'blocked reads');
  await replicated();

  hung.stall();
  await master.kill();
  await masterBecomes(replica);
  for (const channel of [inbox, ...work]) await sendThrough(sender, channel, { to: channel });
  assert.equal(
    await within(Promise.all(waiting), 15_000, 'the receives'),
    [inbox, ...work].map((channel) => ({ to: channel })),
  );
  assert.is((await blockedReads(replica)).length, 11, 'every read on the new master');
  assert.equal(
    lines.filter((line) => line.level >= ERROR),
    [],
  );
});

test("a lane turn's finish sent while the master is down lands once the replica is promoted: the lane's next event runs, not parked for the lease", async () => {
  // A worker finishing a socket's event as the master dies: given up, the finish
  // left the worker, alive, holding the turn, and the socket's next event parked
  // behind it for the whole lease (60 s), a chat socket mute for a minute.
  const lanes = layer().lanes;
  assert.equal(await lanes.claim('socket', 0, { n: 0 }), { kind: 'run', state: undefined });
  await replicated();
  await master.kill();
  const finished = lanes.finish('socket', 0, { saved: 0 });
  finished.catch(() => undefined); // failed by the layer's close when the test fails first
  await masterBecomes(replica);
  assert.is(await within(finished, 15_000, 'the finish'), undefined);
  assert.equal(await lanes.claim('socket', 1, { n: 1 }), { kind: 'run', state: { saved: 0 } });
});

test('a reader whose connection ioredis ended during a failover waits for the restart, not for its first event', async () => {
  // Sentinel announces the failover while the connection asks a Sentinel (its
  // only one, hung here) for the master: ioredis ends the connection, RedisHost
  // connects it again, and the connector, its list of Sentinels used up, first
  // emits 'error' ("All sentinels are unreachable. Retrying from scratch"),
  // before 'connecting'. The reader waited with events.once, which rejected on
  // it: its loop threw, and the unhandled rejection ended the process.
  const proxy = track(await TcpProxy.start({ host: '127.0.0.1', port: sentinel.port }));
  const parsed = parseLayerUrl(sentinelUrl([proxy.port]));
  assert.is(parsed.kind, 'redis');
  const host = new RedisHost(
    (parsed as Extract<typeof parsed, { kind: 'redis' }>).hosts[0]!,
    { connectionName: 'gredis-test', replyTimeoutMs: 5000 },
    { roundTrips: 0, roundTripSeconds: 0, bufferDrops: 0, malformed: 0 },
    silentLogger(),
  );
  const popped: Popped[] = [];
  const reader = new KeyReader(
    host,
    `${prefix}key`,
    { wanted: () => (popped.length === 0 ? 1 : 0), accept: (batch) => popped.push(...batch) },
    silentLogger(),
  );
  const unhandled: string[] = [];
  const onUnhandled = (reason: unknown): number => unhandled.push(String(reason));
  process.on('unhandledRejection', onUnhandled);
  try {
    reader.start();
    await waitFor(async () => (await blockedReads(master)).length > 0, 2000, 'a blocked read');
    await replicated();
    proxy.stall(); // the failover detector's subscription, already open, still passes
    await master.kill();
    await masterBecomes(replica);
    await sleep(2500); // the hung asking times out (2 s): the connection has ended and restarted
    proxy.unstall();
    await raw(replica.port).zadd(`${prefix}key`, 1, 'after the failover');
    await waitFor(
      () => popped.length > 0 || unhandled.length > 0,
      10_000,
      'the reader to read again',
    );
    assert.equal(unhandled, []);
    assert.is(popped[0]!.payload.toString(), 'after the failover');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    const deadline = performance.now() + 2000;
    await reader.stop(deadline);
    await host.close(deadline);
  }
});

/** The next chat message `client` gets (notices of others entering or leaving skipped). */
async function said(client: TestClient, timeoutMs = 5000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = JSON.parse(String(await client.next(deadline - Date.now()))) as Record<
      string,
      unknown
    >;
    if (reply.msg_type === MESSAGE_TYPES.message) return reply;
  }
}

/** MultiChat deployed on the Sentinel URL: a `gredis thyme` and a `gredis runworker`. */
async function deployChat(): Promise<{ chat: DistributedChat; port: number }> {
  const chat = track(new DistributedChat(database, {}, sentinelUrl()));
  await within(Promise.all([chat.startWorker(), chat.startThyme()]), 15_000, 'the deployment');
  return { chat, port: chat.ports[0]! };
}

/**
 * A chat socket of `session`'s user in `room`, opened as the page does: again
 * while the handshake is refused (503 while the layer is away), until `deadline`.
 */
async function joined(
  port: number,
  session: string,
  room: Room,
  deadline: number,
): Promise<TestClient> {
  for (;;) {
    try {
      const client = await chatClient(port, session);
      track({ stop: () => client.ws.terminate() });
      client.send(JSON.stringify({ command: 'join', room: room.id }));
      assert.equal(JSON.parse(String(await client.next(deadline - Date.now()))), {
        join: String(room.id),
        title: room.title,
      });
      return client;
    } catch (error) {
      if (!(error instanceof HandshakeRefused) || Date.now() > deadline) throw error;
      await sleep(500);
    }
  }
}

function chatSend(client: TestClient, room: Room, message: string): void {
  client.send(JSON.stringify({ command: 'send', room: room.id, message }));
}

/** `message` from `username`, as everyone in `room` gets it. */
function chatLine(room: Room, username: string, message: string): Record<string, unknown> {
  return { room: String(room.id), message, username, msg_type: MESSAGE_TYPES.message };
}

/** What the deployment's processes logged at `level` or above, and on stderr. */
function logged(
  chat: DistributedChat,
  level: number,
): { thyme: string[]; worker: string[]; stderr: string[] } {
  const above = (proc: GredisProcess): string[] =>
    proc.lines.filter((line) => (line.level as number) >= level).map((line) => String(line.msg));
  return {
    thyme: chat.thymes.flatMap(above),
    worker: chat.workers.flatMap(above),
    stderr: [...chat.thymes, ...chat.workers].flatMap((proc) => proc.stderr),
  };
}

test('the deployed chat, its users idle while the master dies: their sockets survive and chat on once the replica is promoted', async () => {
  const { chat, port } = await deployChat();
  const room = await fixtures.room('Lobby');
  const start = Date.now();
  const [ann, bob] = [
    await joined(port, await fixtures.login(await fixtures.user('ann')), room, start + 5000),
    await joined(port, await fixtures.login(await fixtures.user('bob')), room, start + 5000),
  ];
  chatSend(ann, room, 'before');
  assert.equal(await said(bob), chatLine(room, 'ann', 'before'));
  assert.equal(await said(ann), chatLine(room, 'ann', 'before'));
  await replicated();

  await master.kill();
  const killedAt = Date.now();
  await masterBecomes(replica);
  // The processes reconnect on their own (Sentinel's announcement): nothing a
  // user does is needed, and the first message after goes through.
  await waitFor(
    () =>
      [...chat.thymes, ...chat.workers].every((proc) =>
        proc.lines.some((line) => line.msg === 'channel layer host is back'),
      ),
    10_000,
    'the processes to be back on the layer',
  );
  chatSend(ann, room, 'after');
  assert.equal(await said(bob), chatLine(room, 'ann', 'after'), 'bob, on the same socket');
  assert.equal(await said(ann), chatLine(room, 'ann', 'after'));
  chatSend(bob, room, 'me too');
  assert.equal(await said(ann), chatLine(room, 'bob', 'me too'), 'ann, on the same socket');
  assert.ok(
    Date.now() - killedAt < 20_000,
    `chatting again ${Date.now() - killedAt} ms after the kill`,
  );
  assert.equal(logged(chat, WARN), {
    thyme: ['lost the channel layer host; reconnecting', 'channel layer host is back'],
    worker: ['lost the channel layer host; reconnecting', 'channel layer host is back'],
    stderr: [],
  });
});

test('the deployed chat, a message sent while the master is down: that socket is closed with 1013, and reconnected and re-joined it chats on', async () => {
  const { chat, port } = await deployChat();
  const room = await fixtures.room('Lobby');
  const start = Date.now();
  const annSession = await fixtures.login(await fixtures.user('ann'));
  const ann = await joined(port, annSession, room, start + 5000);
  const bob = await joined(
    port,
    await fixtures.login(await fixtures.user('bob')),
    room,
    start + 5000,
  );
  await replicated();

  await master.kill();
  const killedAt = Date.now();
  chatSend(ann, room, 'into the void');
  // Thyme cannot pass it on (the layer is away for the failover's seconds): it
  // says so (1013, try again later) rather than hold it, and the page gives the
  // text back, unconfirmed, and reconnects.
  assert.equal(await within(ann.closed, 10_000, 'ann closed'), {
    code: 1013,
    reason: 'try again later',
  });
  const annAgain = await joined(port, annSession, room, killedAt + 15_000);
  chatSend(annAgain, room, 'again');
  assert.equal(await said(bob, 5000), chatLine(room, 'ann', 'again'), 'bob, on his first socket');
  assert.equal(await said(annAgain), chatLine(room, 'ann', 'again'));
  chatSend(bob, room, 'welcome back');
  assert.equal(await said(annAgain), chatLine(room, 'bob', 'welcome back'));
  assert.ok(
    Date.now() - killedAt < 20_000,
    `chatting again ${Date.now() - killedAt} ms after the kill`,
  );
  assert.equal(
    bob.received.filter((frame) => JSON.parse(String(frame)).message === 'into the void'),
    [],
    'what failed was not delivered',
  );
  const { thyme, worker, stderr } = logged(chat, ERROR);
  assert.equal({ thyme, worker, stderr }, { thyme: [], worker: [], stderr: [] });
});

test.run();
