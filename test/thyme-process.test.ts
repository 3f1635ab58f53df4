/**
 * Thyme as users run it: `gredis thyme` processes on Redis, driven by the
 * layer-only test worker: shutdown, several processes, Redis restarts, logs.
 */
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, request } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { createLayer, type ChannelLayer } from '../src/index.js';
import { parseExposition } from './helpers/exposition.js';
import { httpRequest } from './helpers/http-client.js';
import { testPrefix } from './helpers/layers.js';
import {
  assertUnreadyUntilExit,
  GredisProcess,
  probeHealthWhileStopping,
  startThyme,
} from './helpers/processes.js';
import { RedisServer, SHARED_REDIS_URL } from './helpers/redis-server.js';
import { withAclUser, withPrivateRedis, type AclUser } from './helpers/redis-acl.js';
import { TestWorker } from './helpers/test-worker.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import { handshakeStatus, TestClient } from './helpers/ws-client.js';

const test = suite('thyme processes');
const TLS_CERT = fileURLToPath(new URL('../../test/fixtures/tls/cert.pem', import.meta.url));
const TLS_KEY = fileURLToPath(new URL('../../test/fixtures/tls/key.pem', import.meta.url));
const RENEWED_CERT = fileURLToPath(
  new URL('../../test/fixtures/tls/renewed-cert.pem', import.meta.url),
);
const RENEWED_KEY = fileURLToPath(
  new URL('../../test/fixtures/tls/renewed-key.pem', import.meta.url),
);

/** The SHA-256 fingerprint of the certificate a TLS server on 127.0.0.1:port presents. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

/** GET over HTTPS from 127.0.0.1:port, as `localhost`, trusting `ca`. */
function httpsGet(
  port: number,
  path: string,
  ca: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: 'localhost', port, path, ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
const procs: GredisProcess[] = [];
const layers: ChannelLayer[] = [];
const workers: TestWorker[] = [];
const clients: TestClient[] = [];

function workerOn(url: string): TestWorker {
  const layer = createLayer(url);
  layers.push(layer);
  const worker = new TestWorker(layer).start();
  workers.push(worker);
  return worker;
}

/** A layer URL on the shared Redis, under a prefix of its own: no other test sees its keys. */
function sharedLayerUrl(): string {
  return `${SHARED_REDIS_URL}?prefix=${testPrefix()}`;
}

/** Starts a Thyme on the layer at `url`, with `args`; it is killed after the test. */
async function thyme(
  url: string,
  args: string[] = [],
): Promise<{ proc: GredisProcess; port: number }> {
  const started = await startThyme(['--layer', url, ...args]);
  procs.push(started.proc);
  return started;
}

/** `thyme multichat` on `url` and any free port, not waited for: to test how it starts or fails. */
function spawnThyme(url: string, args: string[]): GredisProcess {
  const proc = GredisProcess.start(['thyme', 'multichat', '--port', '0', '--layer', url, ...args]);
  procs.push(proc);
  return proc;
}

async function open(
  url: string,
  options?: Parameters<typeof TestClient.open>[1],
): Promise<TestClient> {
  const client = await TestClient.open(url, options);
  clients.push(client);
  return client;
}

/** Asserts that `socket` is served: a message sent to the test worker comes back. */
async function assertEchoes(socket: TestClient): Promise<void> {
  socket.send('hello');
  assert.is(await socket.next(), 'hello');
}

/**
 * Stops what a test started on a Redis of its own before that Redis goes: its
 * Thymes, test workers and layers (nothing to flush, the server goes with them).
 */
async function stopStarted(): Promise<void> {
  for (const proc of procs.splice(0)) await proc.stop('SIGKILL');
  for (const worker of workers.splice(0)) await worker.stop();
  for (const layer of layers.splice(0)) await layer.close();
}

/**
 * Runs `body` with a redis-server of its own (withPrivateRedis), to pause,
 * restart or stop: what the test started on it is stopped before it goes.
 */
function withOwnRedis(body: (redis: RedisServer) => Promise<void>): Promise<void> {
  return withPrivateRedis(async (redis) => {
    try {
      await body(redis);
    } finally {
      redis.resume(); // paused by a test that then failed: its clients could not close
      await stopStarted();
    }
  });
}

/**
 * Runs `body` with a test worker on a redis-server of its own, and a Thyme
 * with `args` that connects to it as an ACL user with `rules` (withAclUser):
 * what the test started is stopped before the server goes.
 */
function withThymeAsAclUser(
  rules: readonly string[],
  args: string[],
  body: (user: AclUser, started: { proc: GredisProcess; port: number }) => Promise<void>,
): Promise<void> {
  return withAclUser(rules, async (user) => {
    try {
      workerOn(user.server.url);
      await body(user, await thyme(user.url(), args));
    } finally {
      await stopStarted();
    }
  });
}

test.after.each(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  for (const proc of procs.splice(0)) await proc.stop('SIGKILL');
  for (const worker of workers.splice(0)) await worker.stop();
  for (const layer of layers.splice(0)) {
    await layer.flush().catch(() => undefined);
    await layer.close();
  }
});

/** A Thyme with a test worker on the shared Redis, and a socket it serves. */
async function thymeServingSocket(): Promise<{ proc: GredisProcess; socket: TestClient }> {
  const url = sharedLayerUrl();
  workerOn(url);
  const { proc, port } = await thyme(url);
  const socket = await open(`ws://127.0.0.1:${port}/`);
  await assertEchoes(socket);
  return { proc, socket };
}

/** Asserts that `proc` stopped gracefully: `socket` closed with 1001 (going away), then exit 0. */
async function assertStoppedGracefully(proc: GredisProcess, socket: TestClient): Promise<void> {
  assert.is((await within(socket.closed, 5000, 'the socket to close')).code, 1001);
  assert.is((await within(proc.exited, 10_000, 'exit')).code, 0);
}

test('SIGHUP (the terminal went away) stops as gracefully as SIGTERM: 1001, exit 0', async () => {
  const { proc, socket } = await thymeServingSocket();
  proc.child.kill('SIGHUP');
  await assertStoppedGracefully(proc, socket);
});

test('Ctrl-C on npm start (SIGINT from the terminal, and again from npm a moment later) stops as gracefully as one', async () => {
  const { proc, socket } = await thymeServingSocket();
  proc.child.kill('SIGINT');
  await sleep(20); // npm's forwarded copy came 15-20 ms after the terminal's
  proc.child.kill('SIGINT');
  await assertStoppedGracefully(proc, socket);
  assert.not.ok(proc.lines.some((line) => line.msg === 'second signal: exiting without finishing'));
});

test('SIGTERM the moment Thyme listens, with a metrics port: it stops as any stop does (exit 0), never dies of the signal', async () => {
  // A signal that came while the metrics port opened, after the main port took
  // connections, found no handler: the process died of it, no socket got its 1001.
  const url = sharedLayerUrl();
  for (let i = 0; i < 5; i++) {
    const proc = spawnThyme(url, ['--metrics-port', '0']);
    await proc.waitForLine((line) => line.msg === 'Thyme listening');
    const exit = await proc.stop('SIGTERM');
    assert.equal(exit, { code: 0, signal: null }, `start ${i + 1}: ${proc.stderr.join('\n')}`);
  }
});

test("a stopping Thyme's metrics port answers /healthz 503 (closing) until the process exits, its layer's close included, not refused", async () => {
  // The port closed with the server, before the rest of the stop: probes were
  // refused for as long as the layer's close took, never answered 503.
  const { proc } = await thyme(sharedLayerUrl(), ['--metrics-port', '0']);
  const probes = await probeHealthWhileStopping(proc, await proc.metricsPort());
  assert.equal(await proc.exited, { code: 0, signal: null });
  assertUnreadyUntilExit(probes, 'closing');
});

test('SIGTERM: sockets close with 1001, workers hear it, in-flight HTTP finishes, exit 0', async () => {
  const url = sharedLayerUrl();
  const worker = workerOn(url);
  let openGate!: () => void;
  worker.gate = new Promise((resolve) => (openGate = resolve));
  const { proc, port } = await thyme(url);
  const served = await proc.waitForLine((l) => String(l.msg).startsWith('serving '));
  assert.is(served.prefix, new URL(url).searchParams.get('prefix'), 'the line names the prefix');
  const sockets = await Promise.all([1, 2, 3].map(() => open(`ws://127.0.0.1:${port}/`)));
  for (const socket of sockets) await assertEchoes(socket);
  const body: string[] = [];
  const response = new Promise<number>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/chunked', headers: { host: 'localhost' } },
      (res) => {
        res.on('data', (chunk: Buffer) => body.push(chunk.toString()));
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
  await waitFor(() => body.length === 1, 3000, 'the first chunk');

  proc.child.kill('SIGTERM');
  const closes = await within(Promise.all(sockets.map((s) => s.closed)), 5000, 'sockets to close');
  assert.equal(
    closes.map((c) => c.code),
    [1001, 1001, 1001],
  );
  await sleep(200);
  assert.ok(proc.child.exitCode === null, 'still running: an HTTP response is in flight');
  openGate();
  assert.is(await within(response, 5000, 'in-flight response'), 200);
  assert.is(body.join(''), 'one,two,three');
  const exit = await within(proc.exited, 10_000, 'exit');
  assert.is(exit.code, 0);
  const disconnects = await waitFor(
    () =>
      worker.of('websocket.disconnect').length === 3
        ? worker.of('websocket.disconnect')
        : undefined,
    3000,
  );
  assert.equal(
    disconnects!.map((d) => d.code),
    [1001, 1001, 1001],
  );
});

test('SIGTERM with --stop-timeout: a request no worker answers gets 503 then, and Thyme exits 0, not after its own wait', async () => {
  const url = sharedLayerUrl();
  const worker = workerOn(url);
  const { proc, port } = await thyme(url, ['--stop-timeout', '1', '--http-timeout', '60']);
  const answered = httpRequest(port, '/silent').catch((error: unknown) => error as Error);
  await waitFor(() => worker.of('http.request').length === 1, 3000, 'the request at the worker');
  const sent = performance.now();
  proc.child.kill('SIGTERM');
  const answer = await within(answered, 5000, 'the answer');
  assert.ok(!(answer instanceof Error), String(answer));
  assert.is(answer.status, 503);
  assert.match(answer.body.toString(), /shutting down/);
  const exit = await within(proc.exited, 5000, 'exit');
  assert.is(exit.code, 0);
  const ms = performance.now() - sent;
  assert.ok(ms < 1000 + 2000, `exited ${Math.round(ms)} ms after SIGTERM (--stop-timeout 1)`);
});

test('SIGTERM while Redis is silent: sockets still close with 1001 at once, and Thyme exits within --stop-timeout and the wind-down', () =>
  withOwnRedis(async (redis) => {
    const url = `${redis.url}?prefix=${testPrefix()}`;
    workerOn(url);
    const { proc, port } = await thyme(url, ['--stop-timeout', '1']);
    const sockets = await Promise.all([1, 2].map(() => open(`ws://127.0.0.1:${port}/`)));
    for (const socket of sockets) await assertEchoes(socket);
    redis.pause(); // its machine gone: the connections stay open, nothing answers
    const sent = performance.now();
    proc.child.kill('SIGTERM');
    const closes = await within(Promise.all(sockets.map((s) => s.closed)), 3000, 'the closes');
    assert.equal(
      closes.map((c) => c.code),
      [1001, 1001],
    );
    const exit = await within(proc.exited, 10_000, 'exit');
    const ms = performance.now() - sent;
    // --stop-timeout, the wind-down (2 s) and a loaded machine's margin: the
    // disconnects that cannot leave must not hold the process for ever.
    assert.ok(ms < 1000 + 2000 + 1500, `exited ${Math.round(ms)} ms after SIGTERM`);
    assert.is(exit.code, 0);
    assert.ok(
      proc.lines.some((line) =>
        /^stop timeout: events for the workers not sent/.test(String(line.msg)),
      ),
      'the lost disconnects are logged',
    );
  }));

test('a handshake while Redis is silent gets 503 at --websocket-connect-timeout; the worker hears it gone once Redis answers', () =>
  withOwnRedis(async (redis) => {
    const url = `${redis.url}?prefix=${testPrefix()}`;
    const worker = workerOn(url);
    const { port } = await thyme(url, ['--websocket-connect-timeout', '1']);
    const before = await open(`ws://127.0.0.1:${port}/`);
    await assertEchoes(before);
    redis.pause(); // its machine gone: the connections stay open, nothing answers
    const started = performance.now();
    // The layer gives up on a silent Redis only after its reply timeout (15 s).
    const status = await within(handshakeStatus(`ws://127.0.0.1:${port}/late`), 10_000, 'answer');
    const ms = performance.now() - started;
    assert.is(status, 503);
    assert.ok(ms < 1000 + 1500, `answered ${Math.round(ms)} ms after the handshake`);
    redis.resume(); // before that timeout: the connect lands, and is accepted
    const connect = (await waitFor(
      () => worker.of('websocket.connect').find((event) => event.path === '/late'),
      10_000,
      'the connect to reach the worker',
    ))!;
    await waitFor(
      () =>
        worker
          .of('websocket.disconnect')
          .some((event) => event.reply_channel === connect.reply_channel && event.code === 1006),
      10_000,
      'the disconnect of the socket refused',
    );
    const after = await open(`ws://127.0.0.1:${port}/`);
    after.send('again');
    assert.is(await after.next(), 'again');
  }));

test('two Thyme processes on one Redis: a group send reaches sockets on both', async () => {
  const url = sharedLayerUrl();
  workerOn(url);
  workerOn(url); // two workers, any of them serves any socket
  const ports = [(await thyme(url)).port, (await thyme(url)).port];
  const members = await Promise.all([
    open(`ws://127.0.0.1:${ports[0]}/`),
    open(`ws://127.0.0.1:${ports[1]}/`),
    open(`ws://127.0.0.1:${ports[1]}/`),
  ]);
  for (const member of members) {
    member.send('join:everyone');
    member.send('joined?');
    assert.is(await member.next(), 'joined?');
  }
  members[0]!.send('broadcast:everyone:across processes');
  for (const member of members) assert.is(await member.next(), 'across processes');
});

test('a Redis restart while sockets are open: they survive and traffic resumes', () =>
  withOwnRedis(async (redis) => {
    const url = redis.url;
    workerOn(url);
    // A worker that keeps nothing in the layer (not a Gredis worker): the restart
    // loses nothing it needs. (Gredis workers' sockets start over: chat-faults.)
    const { proc, port } = await thyme(url, ['--no-event-lanes']);
    const client = await open(`ws://127.0.0.1:${port}/`);
    client.send('before');
    assert.is(await client.next(), 'before');
    await redis.restart(500);
    await waitFor(
      async () => (await httpRequest(port, '/healthz')).status === 200,
      10_000,
      'Thyme to see Redis again',
    );
    await sleep(300); // the worker's readers reconnect too
    client.send('after');
    assert.is(await client.next(10_000), 'after');
    assert.is(client.ws.readyState, 1);
    const warned = proc.lines.some(
      (l) => l.level === 40 && /lost the channel layer host/.test(String(l.msg)),
    );
    assert.ok(warned, 'the outage was logged as a warning');
  }));

test('a Redis user that may not BZMPOP: /healthz is 503 on both ports, naming it, until it is granted; then requests are answered', () =>
  withThymeAsAclUser(
    ['~*', '&*', '+@all', '-bzmpop'],
    ['--metrics-port', '0', '--http-timeout', '2'],
    async (user, { proc, port }) => {
      const metricsPort = await proc.metricsPort();
      const health = async (at: number): Promise<{ status: number; body: string }> => {
        const answer = await httpRequest(at, '/healthz');
        return { status: answer.status, body: answer.body.toString() };
      };
      await waitFor(async () => (await health(port)).status === 200, 10_000, 'ready at first');
      // The worker answers; Thyme cannot read the reply, and gives up at --http-timeout.
      assert.is((await httpRequest(port, '/hello')).status, 504);
      assert.is((await health(port)).status, 503);
      const details = await health(metricsPort);
      assert.is(details.status, 503);
      assert.match(details.body, /"status":"refused","refusal":"NOPERM [^"]*'bzmpop'/);
      assert.ok(
        proc.lines.some((l) => l.level === 40 && /lacks \+bzmpop to read/.test(String(l.msg))),
        'the log says what to grant',
      );
      await user.set('+bzmpop');
      await waitFor(
        async () =>
          (await health(port)).status === 200 && (await health(metricsPort)).status === 200,
        10_000,
        '/healthz 200 once granted',
      );
      assert.is((await httpRequest(port, '/hello')).status, 200);
    },
  ));

test('a Redis user that may not EVALSHA: requests are 503 (logged without a stack), /healthz 503 naming it, until it is granted; the probe finds out without traffic', () =>
  withThymeAsAclUser(
    ['~*', '&*', '+@all', '-evalsha'],
    ['--metrics-port', '0'],
    async (user, { proc, port }) => {
      const metricsPort = await proc.metricsPort();
      await waitFor(
        async () => (await httpRequest(port, '/healthz')).status === 200,
        10_000,
        'ready at first',
      );
      // Its send of http.request is refused: as while the layer is away, try again later.
      for (let i = 0; i < 3; i++) assert.is((await httpRequest(port, '/hello')).status, 503);
      await waitFor(
        () =>
          proc.lines.some((l) => /cannot pass an HTTP request to the workers/.test(String(l.msg))),
        5000,
        'the failed send, logged',
      );
      const sendFailures = proc.lines.filter((l) =>
        /cannot pass an HTTP request to the workers/.test(String(l.msg)),
      );
      assert.ok(
        sendFailures.every((l) => l.level === 40 && l.err === undefined),
        'a warning without a stack, not an error for a bug',
      );
      const details = await httpRequest(metricsPort, '/healthz');
      assert.is(details.status, 503);
      assert.match(details.body.toString(), /"status":"refused","refusal":"NOPERM [^"]*'evalsha'/);
      assert.ok(
        proc.lines.some(
          (l) => l.level === 40 && /lacks \+evalsha to run the layer's scripts/.test(String(l.msg)),
        ),
        'the log says what to grant',
      );
      await sleep(1500); // probes meanwhile are refused too
      assert.is((await httpRequest(port, '/healthz')).status, 503);
      await user.set('+evalsha');
      await waitFor(
        async () => (await httpRequest(metricsPort, '/healthz')).status === 200,
        10_000,
        '/healthz 200 once granted, with no request in between',
      );
      assert.is((await httpRequest(port, '/hello')).status, 200);
    },
  ));

test('a Redis user refused EVALSHA while a socket is open: its next message closes it with 1013, said without a stack', () =>
  withThymeAsAclUser(['~*', '&*', '+@all'], [], async (user, { proc, port }) => {
    const client = await open(`ws://127.0.0.1:${port}/`);
    client.send('before');
    assert.is(await client.next(), 'before');
    await user.set('-evalsha');
    client.send('refused');
    assert.is((await within(client.closed, 5000, 'the socket to close')).code, 1013);
    await waitFor(
      () => proc.lines.some((l) => /closing the socket with 1013/.test(String(l.msg))),
      5000,
      'the close, logged',
    );
    assert.not.ok(
      proc.lines.some((l) => /cannot forward a WebSocket message/.test(String(l.msg))),
      'not logged as a bug',
    );
  }));

test('--access-log writes NCSA lines for HTTP and WebSocket events', async () => {
  const url = sharedLayerUrl();
  workerOn(url);
  const log = join(mkdtempSync(join(tmpdir(), 'gredis-log-')), 'access.log');
  const { port } = await thyme(url, ['--access-log', log]);
  await httpRequest(port, '/hello?x=1', {
    headers: { 'user-agent': 'tester/1.0', referer: 'http://localhost/' },
  });
  const client = await open(`ws://127.0.0.1:${port}/chat/`);
  client.close(1000);
  await client.closed;
  assert.is(await handshakeStatus(`ws://127.0.0.1:${port}/reject`), 403);
  // Thyme writes each line once it is done with the request or socket, which on a
  // loaded machine can come after the client has seen the end.
  const written = [
    'GET /hello',
    '"WSCONNECT /chat/"',
    '"WSDISCONNECT /chat/"',
    '"WSREJECT /reject"',
  ];
  const lines = (await waitFor(
    () => {
      const now = readFileSync(log, 'utf8').trim().split('\n');
      return written.every((part) => now.some((l) => l.includes(part))) ? now : undefined;
    },
    5000,
    'the access log lines',
  ))!;
  assert.match(
    lines.find((l) => l.includes('GET /hello'))!,
    /^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/hello\?x=1 HTTP\/1\.1" 200 \d+ "http:\/\/localhost\/" "tester\/1\.0"$/,
  );
  // The first field is the client's address alone, on WebSocket lines as on HTTP ones.
  assert.match(
    lines.find((l) => l.includes('WSCONNECT'))!,
    /^127\.0\.0\.1 - - \[/,
  );
  assert.ok(lines.some((l) => /"WSCONNECT \/chat\/"/.test(l)));
  assert.ok(lines.some((l) => /"WSDISCONNECT \/chat\/" 1000/.test(l)));
  assert.ok(lines.some((l) => /"WSREJECT \/reject" 403/.test(l)));
});

test('--websocket-rate and --websocket-burst: a client past them is slowed to the rate', async () => {
  const url = sharedLayerUrl();
  const worker = workerOn(url);
  const { port } = await thyme(url, ['--websocket-rate', '10', '--websocket-burst', '3']);
  const client = await open(`ws://127.0.0.1:${port}/`);
  for (let i = 0; i < 8; i++) client.send(`n${i}`);
  const at: number[] = [];
  for (let i = 0; i < 8; i++) {
    assert.is(await client.next(), `n${i}`);
    at.push(Date.now());
  }
  // 3 at once, then one every 100 ms.
  assert.ok(at[7]! - at[2]! >= 400, `the last 5 took ${at[7]! - at[2]!} ms`);
  assert.is(worker.of('websocket.receive').length, 8, 'none lost');
});

test('--keep-alive-timeout: the server keeps idle connections that long, and says so', async () => {
  const url = sharedLayerUrl();
  workerOn(url);
  const { port } = await thyme(url, ['--keep-alive-timeout', '75']);
  const res = await httpRequest(port, '/', { headers: { connection: 'keep-alive' } });
  assert.is(res.headers['keep-alive'], 'timeout=75');
});

test("--unix-socket: HTTP and WebSockets there; a dead server's socket is replaced, a live one kept; gone at exit", async () => {
  const url = sharedLayerUrl();
  const worker = workerOn(url);
  const path = join(mkdtempSync(join(tmpdir(), 'gredis-')), 'thyme.sock');
  const start = async (): Promise<GredisProcess> => {
    const proc = GredisProcess.start(['thyme', 'multichat', '--layer', url, '-u', path]);
    procs.push(proc);
    await proc.waitForLine((l) => l.msg === 'Thyme listening' && l.socket === path);
    return proc;
  };
  const first = await start();
  // Any local user may connect, as to a port on 127.0.0.1 (the proxy rarely runs as Thyme's user).
  assert.is(statSync(path).mode & 0o777, 0o666);

  const res = await httpRequest({ socketPath: path }, '/echo');
  assert.is(res.status, 200);
  const seen = JSON.parse(res.body.toString()) as { client: unknown; server: unknown };
  assert.equal(seen.server, [path, 0]);
  assert.equal(seen.client, ['', 0]);
  const socket = await open(`ws+unix:${path}:/chat/`, {
    origin: 'http://localhost',
    headers: { host: 'localhost' },
  });
  await assertEchoes(socket);
  assert.equal(worker.of('websocket.connect').at(-1)!.server, [path, 0]);

  const second = GredisProcess.start(['thyme', 'multichat', '--layer', url, '-u', path]);
  procs.push(second);
  assert.is((await within(second.exited, 10_000, 'the second server to exit')).code, 1);
  assert.match(second.stderr.join('\n'), `cannot listen on ${path}: another server listens there`);

  // SIGKILL leaves the socket file behind; the next start must not need a hand.
  await first.stop('SIGKILL');
  assert.ok(statSync(path).isSocket());
  const third = await start();
  assert.is((await httpRequest({ socketPath: path }, '/')).status, 200);
  assert.is((await third.stop('SIGTERM')).code, 0);
  assert.not.ok(existsSync(path), 'the socket file is removed at a clean exit');

  writeFileSync(path, 'not a socket');
  const refused = GredisProcess.start(['thyme', 'multichat', '--layer', url, '-u', path]);
  procs.push(refused);
  assert.is((await within(refused.exited, 10_000, 'exit')).code, 1);
  assert.match(refused.stderr.join('\n'), 'a file that is not a socket is there');
  assert.is(
    readFileSync(path, 'utf8'),
    'not a socket',
    'a file that is not a socket is left alone',
  );
});

test('--ssl-certfile and --ssl-keyfile: HTTPS and WSS, and the events say so', async () => {
  const url = sharedLayerUrl();
  const worker = workerOn(url);
  const { port } = await thyme(url, [
    ...['--ssl-certfile', TLS_CERT, '--ssl-keyfile', TLS_KEY],
    ...['--ping-interval', '0.5', '--ping-timeout', '2'],
  ]);
  // Verified against the test certificate: a client that trusts it finds it served.
  const ca = readFileSync(TLS_CERT);
  const res = await httpsGet(port, '/echo', ca);
  assert.is(res.status, 200);
  assert.is((JSON.parse(res.body) as { scheme: string }).scheme, 'https');

  const socket = await open(`wss://localhost:${port}/`, { ca });
  assert.is(worker.of('websocket.connect').at(-1)!.scheme, 'wss');
  await assertEchoes(socket);
  // A group's frames are written by Thyme itself (FanOut), not by ws: over TLS too.
  socket.send('join:tls');
  socket.send('joined?');
  assert.is(await socket.next(), 'joined?');
  socket.send('broadcast:tls:to everyone');
  assert.is(await socket.next(), 'to everyone');
  // Thyme's prebuilt pings too: the client reads them, answers, and stays.
  await within(new Promise((resolve) => socket.ws.once('ping', resolve)), 3000, 'a ping over TLS');
  socket.send('still here?');
  assert.is(await socket.next(), 'still here?');
});

test('a renewed certificate is served to new connections without a restart; a pair that does not match is not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gredis-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  writeFileSync(cert, readFileSync(TLS_CERT));
  writeFileSync(key, readFileSync(TLS_KEY));
  const url = sharedLayerUrl();
  workerOn(url);
  const { proc, port } = await thyme(url, ['--ssl-certfile', cert, '--ssl-keyfile', key]);
  const fingerprint = (file: string): string =>
    new X509Certificate(readFileSync(file)).fingerprint256;
  assert.is(await servedFingerprint(port), fingerprint(TLS_CERT));
  const socket = await open(`wss://localhost:${port}/`, { ca: readFileSync(TLS_CERT) });

  // As a renewal writes them: the key, then the certificate.
  writeFileSync(key, readFileSync(RENEWED_KEY));
  writeFileSync(cert, readFileSync(RENEWED_CERT));
  const renewed = await proc.waitForLine(
    (line) => line.msg === 'serving the renewed TLS certificate to new connections',
  );
  assert.match(String(renewed.validTo), '2126');
  assert.is(await servedFingerprint(port), fingerprint(RENEWED_CERT));
  socket.send('still on the first certificate');
  assert.is(await socket.next(), 'still on the first certificate');

  // A certificate without its key: refused, the renewed pair stays.
  writeFileSync(cert, readFileSync(TLS_CERT));
  await proc.waitForLine((line) =>
    String(line.msg).startsWith('the TLS files changed but cannot be used'),
  );
  assert.is(await servedFingerprint(port), fingerprint(RENEWED_CERT));
});

test('bad flags exit 2 with a one-line reason', async () => {
  for (const args of [
    ['thyme', 'multichat', '--port', 'x'],
    ['thyme', 'nochat'],
    ['thyme', 'multichat', '--layer', 'ftp://x'],
    ['thyme', 'multichat', '--websocket-burst', '0'],
    ['thyme', 'multichat', '--websocket-rate', '-1'],
    ['thyme', 'multichat', '--keep-alive-timeout', '0'],
    ['thyme', 'multichat', '--ssl-certfile', TLS_CERT],
    ['thyme', 'multichat', '--unix-socket', '/tmp/a.sock', '--port', '8001'],
    ['thyme', 'multichat', '--unix-socket', `/tmp/${'x'.repeat(120)}.sock`],
    ['thyme'],
  ]) {
    const proc = GredisProcess.start(args);
    const exit = await within(proc.exited, 10_000);
    assert.is(exit.code, 2, `${args.join(' ')} → ${exit.code}; ${proc.stderr.join('|')}`);
    assert.ok(proc.stderr.length >= 1 && proc.stderr.length <= 2, proc.stderr.join('\n'));
  }
});

test('a scrape while Thyme is out of file descriptors is answered, without its RSS, and Thyme lives on', async () => {
  const url = sharedLayerUrl();
  const { proc, port } = await thyme(url, ['--metrics-port', '0']);
  const metricsPort = await proc.metricsPort();
  const pid = proc.child.pid!;
  execFileSync('prlimit', [
    `--pid=${pid}`,
    `--nofile=${readdirSync(`/proc/${pid}/fd`).length + 10}`,
  ]);
  // More clients than descriptors left: Node closes those it cannot take.
  const clients = Array.from({ length: 30 }, () =>
    connect(port, '127.0.0.1').on('error', () => undefined),
  );
  await waitFor(() => clients.some((c) => c.closed), 5000, 'the descriptors to run out');
  await sleep(300);
  // One descriptor comes free: the scrape's connection takes it, and RSS needs one more.
  clients.find((c) => !c.closed)!.destroy();
  let page: Awaited<ReturnType<typeof httpRequest>> | undefined;
  for (let attempt = 0; attempt < 10 && !page; attempt++) {
    page = await httpRequest(metricsPort, '/metrics').catch(() => undefined);
    if (!page) await sleep(200);
  }
  assert.is(proc.child.exitCode, null, 'Thyme still runs');
  assert.ok(page, 'a scrape answered');
  assert.is(page!.status, 200);
  const series = parseExposition(page!.body.toString());
  assert.not.ok(series.has('process_resident_memory_bytes'), 'RSS could not be read');
  assert.ok(series.has('gredis_connections_open'));
  for (const client of clients) client.destroy();
  await waitFor(
    async () =>
      parseExposition((await httpRequest(metricsPort, '/metrics')).body.toString()).has(
        'process_resident_memory_bytes',
      ),
    5000,
    'RSS once descriptors are free',
  );
});

test('--metrics-bind takes an address as --bind does: empty refused, IPv6 in brackets', async () => {
  const url = sharedLayerUrl();
  // Empty would be every interface, the metrics open to anyone who can reach the host.
  const empty = spawnThyme(url, ['--metrics-port', '0', '--metrics-bind', '']);
  const exit = await within(empty.exited, 10_000, 'an empty --metrics-bind to be refused');
  assert.is(exit.code, 2, empty.stderr.join('|'));
  assert.match(empty.stderr[0] ?? '', /--metrics-bind <address>.*Expected an address/);

  const { proc } = await thyme(url, ['--metrics-port', '0', '--metrics-bind', '[::1]']);
  const line = await proc.waitForLine(
    (l) => typeof l.msg === 'string' && l.msg.startsWith('metrics on'),
  );
  assert.is(line.msg, `metrics on http://[::1]:${line.port as number}/metrics`);
  const status = await new Promise<number>((resolve, reject) =>
    request({ host: '::1', port: line.port as number, path: '/metrics', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end(),
  );
  assert.is(status, 200);
});

test('a start-up failure exits 1 with one line and leaves nothing listening: an access log that cannot be opened, a metrics port in use', async () => {
  const url = sharedLayerUrl();
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const busy = (taken.address() as AddressInfo).port;
  try {
    for (const [args, reason] of [
      [
        ['--access-log', '/nonexistent-dir/access.log'],
        /^gredis: cannot open the access log \/nonexistent-dir\/access\.log: ENOENT/,
      ],
      [
        ['--ssl-certfile', TLS_CERT, '--ssl-keyfile', '/nonexistent/key.pem'],
        /^gredis: cannot read the TLS key \/nonexistent\/key\.pem: ENOENT/,
      ],
      [
        ['--ssl-certfile', TLS_KEY, '--ssl-keyfile', TLS_KEY],
        /^gredis: cannot use the TLS certificate and key: /,
      ],
      [
        ['--metrics-port', String(busy)],
        new RegExp(`^gredis: cannot listen for metrics on 127\\.0\\.0\\.1:${busy}: .*EADDRINUSE`),
      ],
    ] as const) {
      const proc = spawnThyme(url, [...args]);
      const exit = await within(proc.exited, 10_000, `${args.join(' ')} to exit`);
      assert.is(exit.code, 1, `${args.join(' ')}: ${proc.stderr.join('|')}`);
      assert.is(proc.stderr.length, 1, proc.stderr.join('\n'));
      assert.match(proc.stderr[0]!, reason);
    }
  } finally {
    taken.close();
  }
});

test.run();
