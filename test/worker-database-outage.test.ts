/**
 * PostgreSQL going away under a running deployment (MultiChat embedded in this
 * process, on a database of its own): pages answer 500 at once (multichat.md:
 * "errors a 500 page") rather than hang, a chat command closes its socket with 1013, try again later
 * (the page reconnects, with backoff), not 1011 as for a bug; nothing crashes, and once the database is back everything works again, no restart.
 * The outage is the database refusing connections and its sessions killed, as a
 * restart or failover looks to a client; or, for `gredis` processes, a database
 * that stops answering (a TCP proxy between them freezes its connections).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { openDatabase, type Database } from '../src/db/connection.js';
import { migrate } from '../src/db/migrations.js';
import { rejects } from './helpers/assert.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { proxiedPostgres, SHARED_POSTGRES_URL, type DatabaseBackend } from './helpers/databases.js';
import {
  chatClient,
  DistributedChat,
  EmbeddedChat,
  Fixtures,
  TEST_SECRET_KEY,
} from './helpers/deployment.js';
import { httpRequest, type HttpResult } from './helpers/http-client.js';
import { startThyme } from './helpers/processes.js';
import { waitFor, within } from './helpers/wait.js';
import { HandshakeRefused, type TestClient } from './helpers/ws-client.js';

const test = suite('worker: a database outage');
const name = `gredis_outage_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
let db: Database;
let chat: EmbeddedChat;
const clients: TestClient[] = [];

/** The database refuses new connections and its open ones are killed; or it comes back. */
async function outage(on: boolean): Promise<void> {
  await admin.query(`alter database ${name} allow_connections ${on ? 'false' : 'true'}`);
  if (on)
    await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [name],
    );
}

test.before(async () => {
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(SHARED_POSTGRES_URL);
  url.pathname = `/${name}`;
  db = openDatabase(url.toString());
  await migrate(db);
  chat = await EmbeddedChat.start(db);
});

// A test that fails mid-outage must not leave the next ones without a database.
test.after.each(() => outage(false));

test.after(async () => {
  for (const client of clients) client.ws.terminate();
  await chat?.stop();
  await db?.close();
  await admin.query(`alter database ${name} allow_connections true`).catch(() => undefined);
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
});

test('pages answer 500 and chat commands close with 1013 (try again later) while it is away; all is well once it is back', async () => {
  const fixtures = new Fixtures(db);
  await fixtures.user('alice', { password: 'pw' });
  const lobby = await fixtures.room('Lobby');
  const port = chat.ports[0]!;
  const browser = new BrowserlessClient(port);
  assert.is((await browser.login('alice', 'pw')).status, 302);
  const key = browser.cookies.get('sessionid')!;
  const socket = await chatClient(port, key);
  clients.push(socket);
  socket.send(JSON.stringify({ command: 'join', room: lobby.id }));
  assert.equal(JSON.parse(String(await socket.next())), { join: String(lobby.id), title: 'Lobby' });

  await outage(true);
  const started = Date.now();
  const away = await within(browser.get('/'), 5000, 'a page');
  assert.is(away.status, 500);
  assert.match(away.body.toString(), /Server error/);
  assert.ok(Date.now() - started < 5000, 'answered, not hung');
  socket.send(JSON.stringify({ command: 'send', room: lobby.id, message: 'anyone?' }));
  assert.is((await within(socket.closed, 5000, 'the socket to close')).code, 1013);

  await outage(false);
  await waitFor(async () => (await browser.get('/')).status === 200, 10_000, 'pages to recover');
  const again = await chatClient(port, key);
  clients.push(again);
  again.send(JSON.stringify({ command: 'join', room: lobby.id }));
  assert.equal(JSON.parse(String(await again.next())), { join: String(lobby.id), title: 'Lobby' });
  again.send(JSON.stringify({ command: 'send', room: lobby.id, message: 'back' }));
  assert.equal(JSON.parse(String(await again.next())), {
    room: String(lobby.id),
    message: 'back',
    username: 'alice',
    msg_type: 0,
  });
});

test('gredis thyme with memory:// (its pages need the database): /healthz is 503 while the database is away, 200 once it is back', async () => {
  const url = new URL(SHARED_POSTGRES_URL);
  url.pathname = `/${name}`;
  const { proc, port } = await startThyme([], {
    DATABASE_URL: url.toString(),
    CHANNEL_LAYER_URL: 'memory://',
    SECRET_KEY: TEST_SECRET_KEY,
  });
  const health = (): Promise<HttpResult> => httpRequest(port, '/healthz');
  try {
    assert.is((await health()).status, 200);
    await outage(true);
    const away = await waitFor(
      async () => {
        const answer = await health();
        return answer.status === 503 ? answer : undefined;
      },
      5000,
      '/healthz to say the database is away',
    );
    const { database } = JSON.parse(away!.body.toString()) as {
      database: { ok: boolean; error: string };
    };
    assert.equal(database, { ok: false, error: database.error });
    assert.match(database.error, /not currently accepting connections/);
    await outage(false);
    await waitFor(async () => (await health()).status === 200, 5000, '/healthz to recover');
  } finally {
    await outage(false);
    await proc.stop('SIGTERM');
  }
});

test('a database that stops answering: pages fail with 500 within query_timeout, a chat handshake is refused in one warning line, and the stuck connection is not used again', async () => {
  const fixtures = new Fixtures(db);
  await fixtures.user('bob', { password: 'pw' });
  const { proxy, url } = await proxiedPostgres(SHARED_POSTGRES_URL);
  url.pathname = `/${name}`;
  url.search = '?query_timeout=1500'; // the 15 s default, shortened for the test
  // Only its URL is used: the database is this suite's, set up and dropped above.
  const deployment = new DistributedChat({ url: url.toString() } as DatabaseBackend);
  try {
    const worker = await deployment.startWorker(['--metrics-port', '0']);
    const metricsPort = await worker.metricsPort();
    const failures = async (): Promise<string | undefined> => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return /^gredis_worker_app_failures_total\{cause="database"\} (\d+)$/m.exec(text)?.[1];
    };
    assert.is(await failures(), '0');
    // Without the timeout, the page would wait for Thyme's 504, here after 10 s.
    const port = await deployment.startThyme(['--http-timeout', '10']);
    const browser = new BrowserlessClient(port);
    assert.is((await browser.login('bob', 'pw')).status, 302); // the worker's pool now holds a connection

    proxy.freeze(); // that connection hears nothing more; new ones are refused
    const started = Date.now();
    assert.is((await within(browser.get('/'), 8000, 'a page')).status, 500);
    assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
    const failure = await worker.waitForLine((line) => line.msg === 'view failed');
    assert.match(String(failure.error), /Query read timeout$/);
    assert.is(failure.level, 40, 'a warning in one line, not an error with a stack');
    // Thyme on Redis runs no page itself and never touches the database.
    assert.is((await httpRequest(port, '/healthz')).status, 200);
    assert.is(await failures(), '1', 'an operator sees the outage in the metrics too');
    // A chat handshake meanwhile: its user cannot be looked up (refused as anonymous).
    const key = browser.cookies.get('sessionid')!;
    const refused = await rejects(() => chatClient(port, key), HandshakeRefused);
    assert.is(refused.status, 403);
    const unidentified = await worker.waitForLine((line) =>
      String(line.msg).startsWith('could not identify a WebSocket user'),
    );
    assert.is(unidentified.level, 40, 'one warning line, as for a page, not an error with a stack');
    assert.not.ok('err' in unidentified);
    assert.is(await failures(), '2');

    await proxy.restore(); // the frozen connection stays frozen, as a dead path would
    const page = await within(browser.get('/'), 8000, 'a page once the database answers');
    assert.is(page.status, 200, 'served on a new connection, not behind the stuck query');
  } finally {
    proxy.stop();
    await deployment.stop();
  }
});

test.run();
