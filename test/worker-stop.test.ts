/**
 * How `gredis runworker` stops (SIGTERM), as deployed: MultiChat on Redis and
 * PostgreSQL with a `gredis thyme`. It takes no new event, lets those in
 * progress finish for --stop-timeout, abandons what is still running then and
 * exits 1; whatever it will not run (a socket's next event, a rescued turn) goes
 * to the other workers at once, so no socket waits for the lane lease.
 */
import pg from 'pg';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import type { Room } from '../src/apps/multichat/rooms.js';
import { EXIT_ABANDONED } from '../src/commands/runworker.js';
import { makePassword } from '../src/auth/hashers.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { postgresBackend, SHARED_POSTGRES_URL } from './helpers/databases.js';
import {
  DistributedChat,
  Fixtures,
  joinedClient,
  nextJson,
  useDistributedChat,
} from './helpers/deployment.js';
import type { HttpResult } from './helpers/http-client.js';
import {
  assertUnreadyUntilExit,
  GredisProcess,
  probeHealthWhileStopping,
  startThyme,
} from './helpers/processes.js';
import { rawClient } from './helpers/redis-server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import type { TestClient } from './helpers/ws-client.js';

const test = suite('gredis runworker: stop');
const database = postgresBackend();
let db: Database;
let fixtures: Fixtures;
let chat: DistributedChat;
const clients: TestClient[] = [];
const locks: pg.Client[] = [];

// Registered first: a handler waiting for a lock would hold up the chat's stop.
test.after.each(async () => {
  for (const lock of locks.splice(0)) await lock.end();
});
useDistributedChat(
  test,
  database,
  { MULTICHAT_NOTIFY_ENTER_LEAVE: 'false' },
  clients,
  (state) => ({ db, fixtures, chat } = state),
);

const reply = nextJson;
const joined = (port: number, username: string, roomId: number): Promise<TestClient> =>
  joinedClient(port, fixtures, username, roomId, clients);

function say(client: TestClient, roomId: number, message: string): void {
  client.send(JSON.stringify({ command: 'send', room: roomId, message }));
}

/** A lock the test holds in an open transaction, and the handlers waiting for it. */
interface HeldLock {
  /** Resolves once `count` handlers' queries wait for the lock. */
  handlersWaiting(count: number, timeoutMs?: number): Promise<void>;
  release(): Promise<void>;
  /** The test's own connection (its transaction open until release). */
  admin: pg.Client;
  schema: string;
}

/**
 * Takes a lock with `statement` (`$schema` stands for the test's schema) in an
 * open transaction: every handler query that needs it, those that `waiting`
 * (a LIKE pattern) matches, waits in the database until `release`.
 */
async function holdLock(
  statement: string,
  waiting: string,
  values: unknown[] = [],
): Promise<HeldLock> {
  const admin = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
  await admin.connect();
  locks.push(admin);
  const schema = new URL(database.url).searchParams.get('search_path')!;
  const holder = (await admin.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!
    .pid;
  await admin.query('begin');
  await admin.query(statement.replaceAll('$schema', schema), values);
  return {
    admin,
    schema,
    handlersWaiting: (count, timeoutMs = 5000) =>
      waitFor(
        async () => {
          // Read once per transaction otherwise, and this one stays open.
          await admin.query('select pg_stat_clear_snapshot()');
          // Only statements this lock blocks: the server is shared, and other
          // test processes' statements wait for locks on their own chat_room.
          const waiters = await admin.query(
            "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like $1 and $2 = any(pg_blocking_pids(pid))",
            [waiting, holder],
          );
          return waiters.rowCount === count;
        },
        timeoutMs,
        `${count} handler(s) waiting for the lock`,
      ).then(() => undefined),
    release: async () => {
      await admin.query('rollback');
    },
  };
}

/**
 * Locks the rooms' table: every chat command waits for it in the database (a
 * handler stuck on a lock someone else holds) until `release`.
 */
function lockRooms(): Promise<HeldLock> {
  return holdLock('lock table $schema.chat_room in access exclusive mode', '%chat_room%');
}

/** ann in Lobby on a new Thyme, her join of Garden stuck in a handler on the locked room table. */
async function stuckJoin(): Promise<{
  ann: TestClient;
  lobby: Room;
  garden: Room;
  lock: HeldLock;
}> {
  const port = await chat.startThyme();
  const [lobby, garden] = [await fixtures.room('Lobby'), await fixtures.room('Garden')];
  const ann = await joined(port, 'ann', lobby.id);
  const lock = await lockRooms();
  ann.send(JSON.stringify({ command: 'join', room: garden.id }));
  await lock.handlersWaiting(1);
  return { ann, lobby, garden, lock };
}

/** Sends SIGTERM; resolves with the exit status and how long the exit took. */
async function terminated(worker: GredisProcess): Promise<{ code: number | null; ms: number }> {
  const sent = performance.now();
  const { code } = await worker.stop('SIGTERM', 30_000);
  return { code, ms: performance.now() - sent };
}

test('a handler stuck on the database: the worker exits 1 at --stop-timeout, says what it abandoned, and the socket goes on at once on another worker', async () => {
  const stopping = await chat.startWorker(['--stop-timeout', '2']);
  const { ann, lobby, lock } = await stuckJoin();
  // Parked behind the stuck join: handed to the worker when the join's turn is given up.
  say(ann, lobby.id, 'parked');
  await sleep(300);
  const { code, ms } = await terminated(stopping);
  assert.is(code, EXIT_ABANDONED);
  assert.ok(ms < 2000 + 1500, `exited ${Math.round(ms)} ms after SIGTERM (--stop-timeout 2)`);
  assert.ok(
    stopping.lines.some(
      (line) =>
        String(line.msg).startsWith('stop timeout: abandoned a WebSocket event') &&
        line.channel === 'websocket.receive',
    ),
    'the abandoned event is logged',
  );
  await lock.release();
  await chat.startWorker();
  // The join was lost with the stop; what came after it runs, and the socket's
  // next command with it, without waiting for the lane lease (60 s) or a rescue.
  assert.is((await reply(ann, 5000)).message, 'parked');
  const asked = performance.now();
  say(ann, lobby.id, 'after');
  assert.is((await reply(ann, 5000)).message, 'after');
  const took = performance.now() - asked;
  assert.ok(took < 1500, `the next command took ${Math.round(took)} ms`);
});

test('a handler stuck on the database while Redis is silent: the worker exits 1 within the wind-down after --stop-timeout, giving up, closing and cancelling sharing it', async () => {
  const layerUrl = new URL(chat.layerUrl);
  const proxy = await TcpProxy.start({
    host: layerUrl.hostname,
    port: Number(layerUrl.port || 6379),
  });
  try {
    // The worker alone reaches Redis through the proxy: the test's Thyme and
    // its cleanup go on reaching it.
    layerUrl.port = String(proxy.port);
    const stopping = await chat.startWorker(['--stop-timeout', '1'], {
      CHANNEL_LAYER_URL: layerUrl.href,
    });
    await stuckJoin();
    proxy.freeze(); // its machine gone: nothing closes, nothing answers
    const { code, ms } = await terminated(stopping);
    assert.is(code, EXIT_ABANDONED);
    // --stop-timeout, the wind-down (2 s, WIND_DOWN_MS), and a loaded machine's
    // margin; each step waiting its own bound took 5 s and more.
    assert.ok(ms < 1000 + 2000 + 1500, `exited ${Math.round(ms)} ms after SIGTERM`);
  } finally {
    proxy.stop();
  }
});

test("a handler that finishes within --stop-timeout: the worker exits 0 as soon as it has, and hands the socket's next event to another worker rather than run it", async () => {
  const stopping = await chat.startWorker(['--stop-timeout', '20']);
  const { ann, lobby, garden, lock } = await stuckJoin();
  say(ann, lobby.id, 'parked');
  await sleep(300);
  const exited = terminated(stopping);
  await stopping.waitForLine((line) => line.msg === 'stopping');
  await sleep(500);
  await lock.release();
  const { code, ms } = await exited;
  assert.is(code, 0);
  assert.ok(ms < 5000, `exited ${Math.round(ms)} ms after SIGTERM`);
  assert.is((await reply(ann)).join, String(garden.id));
  assert.ok(
    stopping.lines.some(
      (line) => line.msg === "stopping: a socket's next event handed back to another worker",
    ),
    'the parked event is handed back',
  );
  await chat.startWorker();
  assert.is((await reply(ann, 5000)).message, 'parked');
});

test("an event this worker parked behind a dead worker's turn is handed over when it stops: it runs without the socket's next event", async () => {
  const dead = await chat.startWorker();
  const { ann, lobby, lock } = await stuckJoin();
  const stopping = await chat.startWorker();
  await dead.stop('SIGKILL');
  await lock.release();
  // The only worker left takes ann's command from the channel and parks it
  // behind the dead worker's turn; it stops before its rescue check (2 s) runs.
  say(ann, lobby.id, 'parked');
  const prefix = new URL(chat.layerUrl).searchParams.get('prefix')!;
  const redis = rawClient();
  try {
    await waitFor(
      async () => (await redis.zcard(`${prefix}websocket.receive`)) === 0,
      2000,
      'the command taken from the channel',
    );
  } finally {
    redis.disconnect();
  }
  await sleep(150);
  const { code } = await terminated(stopping);
  assert.is(code, 0);
  await chat.startWorker();
  assert.is((await reply(ann, 5000)).message, 'parked');
});

/**
 * A login (POST /accounts/login/) whose last write, the user's last_login, waits
 * for the user's row, locked by the test; resolves once it waits. The response,
 * when it comes, is `answered`.
 */
async function loginWaitingForUserRow(port: number): Promise<{
  lock: HeldLock;
  userId: number;
  answered: Promise<HttpResult | Error>;
}> {
  const user = await fixtures.user('ann');
  // Hashed at today's cost, as the worker would rehash it (a write of its own).
  await db
    .knex('auth_user')
    .where('id', user.id)
    .update({ password: await makePassword('correct horse') });
  const lock = await holdLock(
    'select 1 from $schema.auth_user where id = $1 for no key update',
    '%last_login%',
    [user.id],
  );
  const browser = new BrowserlessClient(port);
  await browser.get('/accounts/login/?next=/');
  const answered = browser
    .post('/accounts/login/', { username: 'ann', password: 'correct horse', next: '/' })
    .catch((error: unknown) => error as Error);
  // The password is checked first, at today's cost: slow on a busy machine.
  await lock.handlersWaiting(1, 20_000);
  return { lock, userId: user.id, answered };
}

test("an abandoned handler's query is cancelled before the worker exits: its write does not commit once the lock it waited for is free", async () => {
  const stopping = await chat.startWorker(['--stop-timeout', '1']);
  const port = await chat.startThyme(['--http-timeout', '30']);
  const { lock, userId } = await loginWaitingForUserRow(port);
  const { code } = await terminated(stopping);
  assert.is(code, EXIT_ABANDONED);
  // Nothing of the worker's waits for the lock any more...
  await lock.handlersWaiting(0);
  await lock.release();
  // ...so its release lets no write through (it would have committed at once).
  await sleep(500);
  const { rows } = await lock.admin.query<{ last_login: Date | null }>(
    `select last_login from ${lock.schema}.auth_user where id = $1`,
    [userId],
  );
  assert.is(rows[0]!.last_login, null, "the abandoned login's last_login committed");
});

test('an HTTP request abandoned at --stop-timeout is answered 503 at once, not 504 at --http-timeout', async () => {
  const stopping = await chat.startWorker(['--stop-timeout', '1']);
  const port = await chat.startThyme(['--http-timeout', '30']);
  const { answered } = await loginWaitingForUserRow(port);
  const { code, ms } = await terminated(stopping);
  assert.is(code, EXIT_ABANDONED);
  const answer = await within(answered, 3000, 'the answer to the abandoned login');
  assert.ok(!(answer instanceof Error), String(answer));
  assert.is(answer.status, 503);
  assert.match(answer.body.toString(), /Service unavailable/);
  assert.ok(ms < 1000 + 2500, `exited ${Math.round(ms)} ms after SIGTERM`);
});

test('gredis thyme with memory:// (its own worker) at SIGTERM: a handler stuck on the database is abandoned at --stop-timeout, its query cancelled, and thyme exits 1 rather than wait to close the pool', async () => {
  const { proc: embedded, port } = await startThyme(['--stop-timeout', '1'], {
    ...chat.processEnv,
    CHANNEL_LAYER_URL: 'memory://',
  });
  chat.thymes.push(embedded);
  const [lobby, garden] = [await fixtures.room('Lobby'), await fixtures.room('Garden')];
  const ann = await joined(port, 'ann', lobby.id);
  const lock = await lockRooms();
  ann.send(JSON.stringify({ command: 'join', room: garden.id }));
  await lock.handlersWaiting(1);
  const { code, ms } = await terminated(embedded);
  assert.is(code, EXIT_ABANDONED);
  assert.ok(ms < 1000 + 3500, `exited ${Math.round(ms)} ms after SIGTERM (--stop-timeout 1)`);
  await lock.handlersWaiting(0);
});

test('gredis thyme with memory:// at SIGTERM: a page stuck on the database gets 503 at --stop-timeout, and thyme exits then, not after waiting for the page', async () => {
  const { proc: embedded, port } = await startThyme(
    ['--stop-timeout', '1', '--http-timeout', '60'],
    {
      ...chat.processEnv,
      CHANNEL_LAYER_URL: 'memory://',
    },
  );
  chat.thymes.push(embedded);
  const { lock, answered } = await loginWaitingForUserRow(port);
  const { code, ms } = await terminated(embedded);
  assert.is(code, EXIT_ABANDONED);
  assert.ok(ms < 1000 + 3500, `exited ${Math.round(ms)} ms after SIGTERM (--stop-timeout 1)`);
  const answer = await within(answered, 1000, 'the answer to the stuck login');
  assert.ok(!(answer instanceof Error), String(answer));
  assert.is(answer.status, 503);
  await lock.handlersWaiting(0);
});

test('SIGTERM the moment the worker takes events, with a metrics port: it stops as any stop does (exit 0), never dies of the signal', async () => {
  // The metrics port opens before events are taken: a signal that came while it
  // opened found no handler and killed the process, and with it any event in flight.
  for (let i = 0; i < 5; i++) {
    const worker = GredisProcess.start(
      ['runworker', 'multichat', '--metrics-port', '0'],
      chat.processEnv,
    );
    await worker.waitForLine((line) => line.msg === 'worker started');
    const exit = await worker.stop('SIGTERM');
    assert.equal(exit, { code: 0, signal: null }, `start ${i + 1}: ${worker.stderr.join('\n')}`);
  }
});

test("a stopping worker's metrics port answers /healthz 503 (stopping) until the process exits, its layer's close included, not refused", async () => {
  const worker = GredisProcess.start(
    ['runworker', 'multichat', '--metrics-port', '0'],
    chat.processEnv,
  );
  await worker.waitForLine((line) => /^worker for multichat running/.test(String(line.msg)));
  const probes = await probeHealthWhileStopping(worker, await worker.metricsPort());
  assert.equal(await worker.exited, { code: 0, signal: null });
  assertUnreadyUntilExit(probes, 'stopping');
});

test.run();
