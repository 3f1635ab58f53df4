/**
 * `gredis runworker` as deployed (MultiChat on Redis and PostgreSQL, with a
 * `gredis thyme`): how many events it runs at once (--concurrency) never
 * leaves a channel unread or a rescued turn waiting while the worker is idle;
 * events of unexpected shapes (from a foreign interface server) are answered;
 * started with Redis unreachable, it says it waits, and runs once Redis is up
 * (with Redis up, only that it runs);
 * stopped while Redis is silent, it still exits.
 */
import { once } from 'node:events';
import pg from 'pg';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { createLayer } from '../src/index.js';
import type { ChannelLayer } from '../src/layer/types.js';
import {
  lockTable,
  postgresBackend,
  SHARED_POSTGRES_URL,
  waitUntilBlockedBy,
} from './helpers/databases.js';
import { freePort } from './helpers/ports.js';
import { rawClient, RedisServer, waitForBlockedReads } from './helpers/redis-server.js';
import {
  DistributedChat,
  Fixtures,
  joinedClient,
  nextJson,
  TEST_SECRET_KEY,
  useDistributedChat,
} from './helpers/deployment.js';
import { testPrefix } from './helpers/layers.js';
import { GredisProcess } from './helpers/processes.js';
import { withAclUser } from './helpers/redis-acl.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import type { TestClient } from './helpers/ws-client.js';

const test = suite('gredis runworker');
const database = postgresBackend();
let fixtures: Fixtures;
let chat: DistributedChat;
const clients: TestClient[] = [];

useDistributedChat(
  test,
  database,
  { MULTICHAT_NOTIFY_ENTER_LEAVE: 'false' },
  clients,
  (state) => ({ fixtures, chat } = state),
);

const reply = nextJson;
const joined = (port: number, username: string, roomId: number): Promise<TestClient> =>
  joinedClient(port, fixtures, username, roomId, clients);

/**
 * Leaves the worker in the middle of `client`'s join of `roomId`: `locker`
 * begins a transaction (the caller rolls it back) that locks the rooms, and
 * this resolves once the join's query waits for that lock. Asked as
 * pg_blocking_pids of `locker`, on a connection of its own (waitUntilBlockedBy):
 * the PostgreSQL server is shared, and other test processes' statements wait
 * for locks on tables named chat_room in their own schemas; and in `locker`'s
 * own transaction, pg_stat_activity shows each connection's statement as it
 * was at the first look (only wait events are read live), so a join run on a
 * connection whose last statement was another one would never be seen waiting.
 */
async function joinWaitingForLock(
  locker: pg.Client,
  client: TestClient,
  roomId: number,
): Promise<void> {
  const { holder } = await lockTable(locker, database, 'chat_room');
  client.send(JSON.stringify({ command: 'join', room: roomId }));
  await waitUntilBlockedBy(holder, 'the join waiting for the lock');
}

test('--concurrency 1 (below the number of channels): every channel is served, one event at a time', async () => {
  await chat.startWorker(['--concurrency', '1']);
  const port = await chat.startThyme();
  const room = await fixtures.room('Lobby');
  // A handshake (websocket.connect), then a command (websocket.receive).
  const ann = await joined(port, 'ann', room.id);
  ann.send(JSON.stringify({ command: 'send', room: room.id, message: 'one at a time' }));
  assert.is((await reply(ann)).message, 'one at a time');
  const page = await fetch(`http://127.0.0.1:${port}/accounts/login/`);
  assert.is(page.status, 200);
});

test("--concurrency 5 (one receive per channel): a socket's turn lost with a killed worker runs at once, not at the next event", async () => {
  const doomed = await chat.startWorker();
  const port = await chat.startThyme();
  const [lobby, garden] = [await fixtures.room('Lobby'), await fixtures.room('Garden')];
  const ann = await joined(port, 'ann', lobby.id);
  // The only worker is in the middle of ann's next command (the room is locked).
  const admin = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
  await admin.connect();
  try {
    await joinWaitingForLock(admin, ann, garden.id);
    await chat.startWorker(['--concurrency', '5']);
    await doomed.stop('SIGKILL');
    await admin.query('rollback');
  } finally {
    await admin.end();
  }
  // The survivor parks ann's next command behind the lost turn, takes the lane
  // over once it finds the killed worker gone, and runs the command: with
  // nothing else arriving, it must find a slot for it.
  ann.send(JSON.stringify({ command: 'send', room: lobby.id, message: 'still here' }));
  assert.is((await reply(ann)).message, 'still here');
});

/**
 * A handshake from another (foreign) server whose query_string is no bytes, as
 * a Python server could send it: the worker answers it within 5 s, not after
 * its event timeout.
 */
async function assertForeignHandshakeAnswered(layer: ChannelLayer): Promise<void> {
  const replyChannel = await layer.newChannel('foreign');
  await layer.send('websocket.connect', {
    reply_channel: replyChannel,
    order: 0,
    scheme: 'ws',
    path: '/chat/stream/',
    query_string: 5,
    headers: [],
  });
  const answer = await within(layer.receive(replyChannel), 5000, 'the handshake answer');
  assert.is(typeof answer.accept, 'boolean');
}

test("a foreign server's handshake whose query_string is no bytes is answered at once, not after the event timeout", async () => {
  await chat.startWorker();
  const layer = createLayer(chat.layerUrl);
  try {
    await assertForeignHandshakeAnswered(layer);
  } finally {
    await layer.close();
  }
});

test("a foreign server's websocket.disconnect without its code ends the socket's lane, as one with a code does", async () => {
  await chat.startWorker();
  const layer = createLayer(chat.layerUrl);
  const redis = rawClient();
  try {
    const session = await fixtures.login(await fixtures.user('ann'));
    const replyChannel = await layer.newChannel('foreign');
    const header = (name: string, value: string): Uint8Array[] => [
      Buffer.from(name),
      Buffer.from(value),
    ];
    await layer.send('websocket.connect', {
      reply_channel: replyChannel,
      order: 0,
      scheme: 'ws',
      path: '/chat/stream/',
      query_string: new Uint8Array(),
      headers: [
        header('host', '127.0.0.1:8000'),
        header('origin', 'http://127.0.0.1:8000'),
        header('cookie', `sessionid=${session}`),
      ],
    });
    assert.equal(await within(layer.receive(replyChannel), 5000, 'the handshake answer'), {
      accept: true,
    });
    await layer.send('websocket.disconnect', { reply_channel: replyChannel, order: 1 });
    const prefix = new URL(chat.layerUrl).searchParams.get('prefix')!;
    await waitFor(
      async () => (await redis.hget(`${prefix}gredis:lane:${replyChannel}`, 'ended')) === '1',
      5000,
      'the lane to end',
    );
  } finally {
    redis.disconnect();
    await layer.close();
  }
});

test('a Redis user that may not BZMPOP: /healthz is 503 naming it until it is granted; then events are served', () =>
  withAclUser(['~*', '&*', '+@all', '-bzmpop'], async (user) => {
    const metricsPort = await freePort();
    const prefix = testPrefix();
    const worker = GredisProcess.start(
      ['runworker', 'multichat', '--metrics-port', String(metricsPort)],
      {
        DATABASE_URL: database.url,
        CHANNEL_LAYER_URL: user.url(`?prefix=${prefix}`),
        SECRET_KEY: TEST_SECRET_KEY,
      },
    );
    const layer = createLayer(`${user.server.url}?prefix=${prefix}`);
    const healthz = async (): Promise<{ status: number; body: string }> => {
      const answer = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      return { status: answer.status, body: await answer.text() };
    };
    try {
      const running = await worker.waitForLine(
        (line) => line.msg === 'worker for multichat running',
      );
      assert.is(running.prefix, prefix, 'the line names the prefix');
      await waitFor(async () => (await healthz()).status === 503, 5000, '/healthz 503');
      assert.match((await healthz()).body, /"status":"refused","refusal":"NOPERM [^"]*'bzmpop'/);
      assert.ok(
        worker.lines.some((l) => l.level === 40 && /lacks \+bzmpop to read/.test(String(l.msg))),
        'the log says what to grant',
      );
      await user.set('+bzmpop');
      await waitFor(async () => (await healthz()).status === 200, 10_000, '/healthz 200');
      await assertForeignHandshakeAnswered(layer);
    } finally {
      await worker.stop('SIGKILL');
      await layer.close();
    }
  }));

test('a Redis user refused EVALSHA while a consumer runs: counted as the layer failing, said without a stack, not as a bug; the socket is closed with 1013 once EVALSHA is granted', () =>
  withAclUser(['~*', '&*', '+@all'], async (user) => {
    const locker = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
    const prefix = testPrefix();
    await locker.connect();
    // A deployment of its own, on the ACL user's server: stopped here, before that server goes.
    const aclChat = new DistributedChat(
      database,
      { MULTICHAT_NOTIFY_ENTER_LEAVE: 'false' },
      `${user.server.url}?prefix=${prefix}`,
    );
    try {
      const metricsPort = await freePort();
      const worker = await aclChat.startWorker(['--metrics-port', String(metricsPort)], {
        CHANNEL_LAYER_URL: user.url(`?prefix=${prefix}`),
      });
      const port = await aclChat.startThyme();
      const [lobby, garden] = [await fixtures.room('Lobby'), await fixtures.room('Garden')];
      const ann = await joined(port, 'ann', lobby.id);
      const failures = async (cause: string): Promise<number> => {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        const line = new RegExp(
          `^gredis_worker_app_failures_total\\{cause="${cause}"\\} (\\d+)$`,
          'm',
        );
        return Number(line.exec(text)?.[1]);
      };
      assert.is(await failures('layer'), 0);
      // The worker has claimed ann's join (a script) and waits for the room's lock;
      // meanwhile its user loses EVALSHA, so that the join's flush is refused.
      await joinWaitingForLock(locker, ann, garden.id);
      await user.set('-evalsha');
      await locker.query('rollback');
      const failed = await worker.waitForLine(
        (l) => l.msg === 'WebSocket handler failed; closing the socket',
        5000,
      );
      assert.is(failed.level, 40, 'a warning: the layer refused, as when it is away');
      assert.is(failed.err, undefined, 'without a stack');
      assert.match(String(failed.error), /refused for lack of permission: NOPERM .*'evalsha'/);
      assert.is(await failures('layer'), 1);
      assert.is(await failures('other'), 0, 'not a bug');
      // The turn's finish, which carries the close, is refused too: it waits for
      // the grant rather than fail, and the socket is closed then, not left open.
      await sleep(2500);
      assert.is(ann.ws.readyState, 1, 'open while refused');
      await user.set('+evalsha');
      assert.is((await within(ann.closed, 10_000, 'the close, once granted')).code, 1013);
      assert.not.ok(
        worker.lines.some((l) => l.msg === 'event handling failed'),
        'the finish was not given up',
      );
    } finally {
      await locker.query('rollback').catch(() => undefined);
      await locker.end();
      for (const proc of [...aclChat.workers, ...aclChat.thymes]) await proc.stop('SIGKILL');
    }
  }));

test('started with Redis unreachable: it says it waits (/healthz 503) until Redis answers, then that it runs', async () => {
  const redisPort = await freePort();
  const worker = GredisProcess.start(['runworker', 'multichat', '--metrics-port', '0'], {
    DATABASE_URL: database.url,
    CHANNEL_LAYER_URL: `redis://127.0.0.1:${redisPort}/0?prefix=${testPrefix()}`,
    SECRET_KEY: TEST_SECRET_KEY,
  });
  let redis: RedisServer | undefined;
  try {
    const metricsPort = await worker.metricsPort();
    const healthz = async (): Promise<number> =>
      (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status;
    await worker.waitForLine(
      (line) => line.msg === 'worker for multichat waiting for the channel layer',
    );
    assert.is(await healthz(), 503);
    await sleep(500);
    assert.not.ok(
      worker.lines.some((line) => line.msg === 'worker for multichat running'),
      'not "running" while Redis is unreachable',
    );
    assert.is(await healthz(), 503);

    redis = await RedisServer.start([], redisPort);
    await worker.waitForLine((line) => line.msg === 'worker for multichat running');
    await waitFor(async () => (await healthz()) === 200, 5000, '/healthz 200');
    // Its receives are now waiting on the server for events.
    await waitForBlockedReads(redis.url);
    assert.is((await worker.stop()).code, 0);
  } finally {
    await worker.stop('SIGKILL');
    await redis?.stop();
  }
});

test('started with Redis up: it says it runs, never that it waits for the layer', async () => {
  const worker = GredisProcess.start(['runworker', 'multichat'], {
    DATABASE_URL: database.url,
    CHANNEL_LAYER_URL: `redis://127.0.0.1:6379/0?prefix=${testPrefix()}`,
    SECRET_KEY: TEST_SECRET_KEY,
  });
  try {
    await worker.waitForLine((line) => line.msg === 'worker for multichat running');
    await sleep(1500); // past the first connection's grace
    assert.equal(
      worker.lines
        .filter((line) => /^worker for multichat /.test(String(line.msg)))
        .map((l) => l.msg),
      ['worker for multichat running'],
      'a reachable Redis is not waited for',
    );
    assert.is((await worker.stop()).code, 0);
  } finally {
    await worker.stop('SIGKILL');
  }
});

test('SIGTERM with Redis silent, its connections left open: the worker exits within the wind-down after --stop-timeout, its last rescue check not said to be retried', async () => {
  const redis = await RedisServer.start();
  const proxy = await TcpProxy.start({ host: '127.0.0.1', port: redis.port });
  // No event runs, so --stop-timeout 0 leaves the whole stop to the wind-down:
  // its last rescue check and the layer's close share it.
  const worker = GredisProcess.start(['runworker', 'multichat', '--stop-timeout', '0'], {
    DATABASE_URL: database.url,
    CHANNEL_LAYER_URL: `redis://127.0.0.1:${proxy.port}/0?prefix=${testPrefix()}`,
    SECRET_KEY: TEST_SECRET_KEY,
  });
  try {
    await worker.waitForLine((line) => line.msg === 'worker for multichat running');
    await waitForBlockedReads(redis.url);
    proxy.freeze(); // its machine gone: nothing closes, nothing answers
    const signalled = performance.now();
    worker.child.kill('SIGTERM');
    const exit = await within(worker.exited, 10_000, 'exit');
    const ms = performance.now() - signalled;
    assert.is(exit.code, 0);
    // The wind-down (2 s, WIND_DOWN_MS), its connections' end (0.5 s), and a
    // loaded machine's margin; each step waiting its own bound took 4.5 s.
    assert.ok(ms < 2000 + 500 + 1500, `exited ${Math.round(ms)} ms after SIGTERM`);
    // Every line read (the child's stdout ends before 'close').
    if (worker.child.stdout?.readable) await once(worker.child, 'close');
    const rescueFailures = worker.lines
      .map((line) => line.msg)
      .filter((msg) => typeof msg === 'string' && msg.startsWith('lane rescue check failed'));
    assert.equal(rescueFailures, ['lane rescue check failed; not retried: stopping']);
  } finally {
    await worker.stop('SIGKILL');
    proxy.stop();
    await redis.stop();
  }
});

test.run();
