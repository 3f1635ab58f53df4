/**
 * PostgreSQL answering, but a table locked by another session (a migration's
 * ALTER TABLE, a LOCK TABLE by hand): MultiChat embedded in this process, on a
 * schema of its own, with a short query timeout. A command or page that needs
 * the table fails at the timeout, the server cancelling its statement, so that
 * no connection of the server's is left waiting for the lock; what does not
 * need the table is served meanwhile, and all works once the lock is released.
 * A `gredis thyme` whose pages on the table hold all its pool's connections is
 * not ready, its /healthz saying the database is locked, not that it is away.
 * And SQLite's file locked by another process: a `gredis thyme` waiting for it
 * serves its sockets, and its pages that only read, meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import pg from 'pg';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { openDatabase, type Database } from '../src/db/connection.js';
import { sqliteFileOf } from '../src/db/url.js';
import { appFailures } from '../src/worker/failures.js';
import { BrowserlessClient } from './helpers/browserless.js';
import {
  holdWriteLock,
  lockedPoolError,
  lockTable,
  postgresBackend,
  type DatabaseBackend,
  SHARED_POSTGRES_URL,
  sqliteBackend,
  type TableLock,
  waitUntilBlockedBy,
} from './helpers/databases.js';
import {
  chatClient,
  DistributedChat,
  EmbeddedChat,
  Fixtures,
  joinedClient,
  joinSettled,
  nextJson,
  TEST_SECRET_KEY,
} from './helpers/deployment.js';
import { httpRequest } from './helpers/http-client.js';
import { startThyme } from './helpers/processes.js';
import { settledWithin, sleep, waitFor, within } from './helpers/wait.js';
import type { TestClient } from './helpers/ws-client.js';

const test = suite('worker: a table locked by another session');
const database = postgresBackend();
/** Names this suite's connections, so that the server's view of them can be found. */
const application = `gredis_locks_${randomBytes(4).toString('hex')}`;
const QUERY_TIMEOUT_MS = 1000;
let db: Database;
let chat: EmbeddedChat;
const clients: TestClient[] = [];
const admin = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
const locker = new pg.Client({ connectionString: SHARED_POSTGRES_URL });

test.before(async () => {
  await database.setup();
  await database.openMigrated();
  db = openDatabase(
    `${database.url}&query_timeout=${QUERY_TIMEOUT_MS}&application_name=${application}`,
  );
  chat = await EmbeddedChat.start(db, { notifyEnterLeave: false });
  await admin.connect();
  await locker.connect();
});

test.after(async () => {
  for (const client of clients) client.ws.terminate();
  await chat?.stop();
  await db?.close();
  await locker.end();
  await admin.end();
  await database.teardown();
});

/** This suite's server connections whose statement waits for a lock. */
async function waitingForLocks(): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    "select count(*) as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'",
    [application],
  );
  return Number(rows[0]!.n);
}

function databaseFailures(): number {
  return new Map(appFailures.entries()).get('database')!;
}

/** chat_room locked by the locker, until release(). */
const lockRooms = (): Promise<TableLock> => lockTable(locker, database, 'chat_room');

test('chat commands and the admin fail at the query timeout, leaving no statement waiting on the server; the rest is served, and all works once the lock is released', async () => {
  const fixtures = new Fixtures(db);
  const port = chat.ports[0]!;
  const lobby = await fixtures.room('Lobby');
  await fixtures.user('root', { password: 'pw', staff: true, superuser: true });
  const staff = new BrowserlessClient(port);
  assert.is((await staff.login('root', 'pw')).status, 302);
  const ann = await joinedClient(port, fixtures, 'ann', lobby.id, clients);
  const bob = await joinedClient(port, fixtures, 'bob', lobby.id, clients);
  const failures = databaseFailures();

  const lock = await lockRooms();
  try {
    for (const client of [ann, bob]) {
      const started = Date.now();
      client.send(JSON.stringify({ command: 'send', room: lobby.id, message: 'stuck' }));
      assert.is((await within(client.closed, 5000, 'the socket to close')).code, 1013);
      const took = Date.now() - started;
      assert.ok(took >= QUERY_TIMEOUT_MS - 100, `closed after ${took} ms, not before the timeout`);
      // The server ended the statement itself: its connection holds no place in
      // the lock's queue, nor one of the server's connection slots, and a
      // second command's does not add to it.
      assert.is(await waitingForLocks(), 0, 'no statement of ours still waits for the lock');
    }
    const rooms = await within(staff.get('/admin/rooms/'), 5000, 'the admin room list');
    assert.is(rooms.status, 500);
    assert.match(rooms.body.toString(), 'Server error');
    assert.not.match(rooms.body.toString(), /statement timeout|at .*\.js/);
    assert.is(await waitingForLocks(), 0);
    assert.is(databaseFailures() - failures, 3, 'counted as the database failing, not as bugs');
    // What needs no room is served meanwhile.
    assert.is((await within(staff.get('/admin/users/'), 5000, 'the user list')).status, 200);
  } finally {
    await lock.release();
  }

  const again = await chatClient(
    port,
    await fixtures.login((await fixtures.users.findByUsername('ann'))!),
  );
  clients.push(again);
  await joinSettled(again, lobby.id);
  again.send(JSON.stringify({ command: 'send', room: lobby.id, message: 'unlocked' }));
  assert.is((await nextJson(again)).message, 'unlocked');
  assert.is((await staff.get('/admin/rooms/')).status, 200);
});

test("chat commands stuck on the lock take a few of the pool's connections, not all: a login is served meanwhile, and the commands run once the lock is released", async () => {
  // Long enough for the login to have waited for the stuck ones without the bound.
  const patient = openDatabase(
    `${database.url}&query_timeout=4000&application_name=${application}`,
  );
  const busy = await EmbeddedChat.start(patient, { notifyEnterLeave: false });
  try {
    const fixtures = new Fixtures(patient);
    const port = busy.ports[0]!;
    const lobby = await fixtures.room('Garden');
    await fixtures.user('cat', { password: 'pw' });
    const chatters: TestClient[] = [];
    // More than the pool's ten connections.
    for (let i = 0; i < 12; i++)
      chatters.push(await joinedClient(port, fixtures, `chatter${i}`, lobby.id, clients));
    const lock = await lockRooms();
    try {
      for (const [i, chatter] of chatters.entries()) {
        chatter.send(JSON.stringify({ command: 'send', room: lobby.id, message: `m${i}` }));
        await sleep(20); // each in a turn of its own, not batched with the others
      }
      await waitUntilBlockedBy(lock.holder, 'commands on the lock', { timeoutMs: 2000 });
      const started = Date.now();
      const login = await new BrowserlessClient(port).login('cat', 'pw');
      assert.is(login.status, 302);
      const took = Date.now() - started;
      assert.ok(took < 2000, `the login took ${took} ms`);
      assert.ok(
        (await waitingForLocks()) <= 3,
        'a few queries wait for the lock, not one per command',
      );
    } finally {
      await lock.release();
    }
    // Queued, not failed: every command runs once the lock is released.
    const heard = [];
    for (let i = 0; i < chatters.length; i++) heard.push((await nextJson(chatters[0]!)).message);
    assert.equal(heard.sort(), chatters.map((_, i) => `m${i}`).sort());
  } finally {
    await busy.stop();
    await patient.close();
  }
});

test("admin pages stuck on the locked table fill the worker's pool: a page queued behind them is answered 500, logged as the lock (naming the table and its holder), not as the database being unreachable", async () => {
  // A worker process with the defaults: statements wait 15 s for the lock, a
  // query 10 s for a connection.
  const deployment = new DistributedChat({
    url: `${database.url}&application_name=${application}`,
  } as DatabaseBackend);
  try {
    const fixtures = new Fixtures(db);
    await fixtures.user('boss', { password: 'pw', staff: true, superuser: true });
    const worker = await deployment.startWorker();
    const port = await deployment.startThyme();
    const staff = new BrowserlessClient(port);
    assert.is((await staff.login('boss', 'pw')).status, 302);
    const lock = await lockRooms();
    let pages;
    try {
      // The pool's ten connections, and one more.
      pages = Array.from({ length: 11 }, () => staff.get('/admin/rooms/'));
      const line = await worker.waitForLine(
        (l) => /waited \d+ ms for a connection/.test(String(l.error)),
        15_000,
      );
      assert.match(String(line.error), lockedPoolError(lock));
      assert.is(line.level, 40, 'a warning in one line, as for the database away, not a bug');
    } finally {
      await lock.release();
    }
    const statuses = (await Promise.all(pages)).map((page) => page.status).sort();
    assert.equal(statuses, [...Array(10).fill(200), 500]);
    assert.ok(
      !worker.lines.some((l) => /Timeout acquiring a connection/.test(JSON.stringify(l))),
      'no line reads as the database being unreachable',
    );
  } finally {
    await deployment.stop();
  }
});

test("gredis thyme with memory:// while its pages on the locked table hold the pool's connections: /healthz is 503, saying the database is locked, on what and whose, not that it does not answer; 200 once the lock is released", async () => {
  const fixtures = new Fixtures(db);
  await fixtures.user('rex', { password: 'pw', staff: true, superuser: true });
  const { proc, port } = await startThyme([], {
    DATABASE_URL: database.url,
    CHANNEL_LAYER_URL: 'memory://',
    SECRET_KEY: TEST_SECRET_KEY,
  });
  const health = async (): Promise<{ status: number; database: unknown }> => {
    const answer = await httpRequest(port, '/healthz');
    const body = JSON.parse(answer.body.toString()) as { database: unknown };
    return { status: answer.status, database: body.database };
  };
  try {
    const staff = new BrowserlessClient(port);
    assert.is((await staff.login('rex', 'pw')).status, 302);
    assert.equal(await health(), { status: 200, database: { ok: true } });
    const lock = await lockRooms();
    let pages;
    try {
      pages = Array.from({ length: 10 }, () => staff.get('/admin/rooms/'));
      await waitUntilBlockedBy(lock.holder, "the pages to hold the pool's ten connections", {
        count: 10,
      });
      await sleep(1000); // the last probe's answer no longer stands
      const started = Date.now();
      const { status, database: readiness } = await health();
      const took = Date.now() - started;
      assert.is(status, 503);
      const { error } = readiness as { error: string };
      assert.equal(readiness, { ok: false, error });
      assert.match(error, lockedPoolError(lock));
      assert.ok(took < 1000, `answered in ${took} ms, within Kubernetes' probe timeout`);
    } finally {
      await lock.release();
    }
    assert.equal(
      (await Promise.all(pages)).map((page) => page.status),
      Array(10).fill(200),
    );
    await waitFor(async () => (await health()).status === 200, 3000, '/healthz to recover');
  } finally {
    await proc.stop();
  }
});

test.run();

const file = suite("thyme on SQLite: the file's write lock held by another process");
const sqlite = sqliteBackend();
file.before(() => sqlite.setup());
file.after(() => sqlite.teardown());

/** Pings `client` every 50 ms until `work` settles; the longest wait for a pong. */
async function longestPong(client: TestClient, work: Promise<unknown>): Promise<number> {
  let settled = false;
  void work.finally(() => (settled = true)).catch(() => undefined);
  let longest = 0;
  while (!settled) {
    const sent = performance.now();
    client.ws.ping();
    await once(client.ws, 'pong');
    longest = Math.max(longest, performance.now() - sent);
    await sleep(50);
  }
  return longest;
}

file(
  'a login waiting for the lock leaves the process answering WebSocket pings, and logs in once it is released',
  async () => {
    const fixtures = new Fixtures(await sqlite.openMigrated());
    const lobby = await fixtures.room('Lobby');
    const ann = await fixtures.user('ann');
    await fixtures.user('cat', { password: 'pw' });
    const { proc, port } = await startThyme([], {
      DATABASE_URL: sqlite.url,
      SECRET_KEY: TEST_SECRET_KEY,
    });
    const client = await chatClient(port, await fixtures.login(ann));
    try {
      await joinSettled(client, lobby.id);
      const { released } = await holdWriteLock(sqliteFileOf(sqlite.url)!, 2000);
      const started = Date.now();
      const login = new BrowserlessClient(port).login('cat', 'pw'); // writes a session
      const longest = await longestPong(client, login);
      assert.is((await login).status, 302);
      const took = Date.now() - started;
      await released;
      assert.ok(took >= 1500, `logged in after ${took} ms: while the lock was held?`);
      assert.ok(longest < 500, `a ping waited ${Math.round(longest)} ms for its pong`);
    } finally {
      client.ws.terminate();
      await proc.stop();
    }
  },
);

file(
  'a page load that only reads is served at once while a login waits for the lock, and the login goes through once it is released',
  async () => {
    const fixtures = new Fixtures(await sqlite.openMigrated());
    await fixtures.room('Garden');
    await fixtures.user('dee', { password: 'pw' });
    await fixtures.user('eve', { password: 'pw' });
    const { proc, port } = await startThyme([], {
      DATABASE_URL: sqlite.url,
      SECRET_KEY: TEST_SECRET_KEY,
    });
    try {
      const dee = new BrowserlessClient(port);
      assert.is((await dee.login('dee', 'pw')).status, 302);
      const { released } = await holdWriteLock(sqliteFileOf(sqlite.url)!, 2000);
      const login = new BrowserlessClient(port).login('eve', 'pw'); // writes a session
      await sleep(300); // the login's write waits for the lock
      const started = Date.now();
      const page = await within(dee.get('/'), 5000, 'the page');
      const took = Date.now() - started;
      assert.is(page.status, 200);
      assert.match(page.body.toString(), 'Garden');
      assert.ok(took < 500, `the page took ${took} ms, behind the login's write?`);
      assert.is(await settledWithin(login, 0), 'pending', 'the login still waits for the lock');
      await released;
      assert.is((await login).status, 302);
    } finally {
      await proc.stop();
    }
  },
);

file.run();
