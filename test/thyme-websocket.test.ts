/**
 * Thyme's WebSocket side, in-process, against a test worker that speaks only the
 * layer protocol. Runs on the in-process layer and on Redis.
 */
import { connect, type Socket } from 'node:net';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { createLayer, type ChannelLayer, type LayerOptions, type Message } from '../src/index.js';
import { Thyme, type ThymeOptions } from '../src/server/index.js';
import { LayerUnavailable } from '../src/layer/errors.js';
import { EVENT_CHANNEL_CAPACITY } from '../src/settings.js';
import { rawExchange } from './helpers/http-client.js';
import { captureLogs, WARN } from './helpers/log-capture.js';
import { testPrefix } from './helpers/layers.js';
import { rawClient, SHARED_REDIS_URL } from './helpers/redis-server.js';
import { TestWorker } from './helpers/test-worker.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import { retainedBytes } from './helpers/memory.js';
import { handshakeStatus, TestClient } from './helpers/ws-client.js';

/** A handshake as a browser sends it, with `extra` header lines (each ending in CRLF). */
function handshake(extra = '', version = 'Sec-WebSocket-Version: 13\r\n'): string {
  return (
    `GET / HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${version}${extra}\r\n`
  );
}

/** A client frame written by hand: masked unless told otherwise, RSV bits in `rsv`. */
function frame(
  opcode: number,
  payload: Uint8Array | string,
  { fin = true, masked = true, rsv = 0 } = {},
): Buffer {
  const data = Buffer.from(payload);
  const length =
    data.length < 126
      ? Buffer.from([data.length])
      : Buffer.from([126, data.length >> 8, data.length & 0xff]);
  if (masked) length[0]! |= 0x80;
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const body = masked ? data.map((byte, i) => byte ^ key[i % 4]!) : data;
  return Buffer.concat([
    Buffer.from([(fin ? 0x80 : 0) | rsv | opcode]),
    length,
    masked ? key : Buffer.alloc(0),
    body,
  ]);
}

/** A close frame from the client with `code` and `reason` bytes. */
function closeFrame(code: number, reason: Uint8Array = Buffer.alloc(0)): Buffer {
  const payload = Buffer.alloc(2 + reason.length);
  payload.writeUInt16BE(code);
  payload.set(reason, 2);
  return frame(8, payload);
}

/**
 * A raw TCP client: writes `bytes`, and gives the response's head once it is
 * complete and every byte read after it.
 */
function rawSocket(port: number, bytes: string | Buffer) {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let read = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (read = Buffer.concat([read, chunk])));
  socket.write(bytes);
  const end = (): number => read.indexOf('\r\n\r\n');
  return {
    socket,
    head: async (): Promise<string> => {
      await waitFor(() => end() !== -1, 3000, 'the handshake answer');
      return read.subarray(0, end()).toString('latin1');
    },
    after: (): Buffer => read.subarray(end() + 4),
    closed: new Promise<void>((resolve) => socket.once('close', () => resolve())),
  };
}

interface Setup {
  layer: ChannelLayer;
  thyme: Thyme;
  worker: TestWorker;
  url: (path: string) => string;
}

for (const layerUrl of ['memory://', SHARED_REDIS_URL]) {
  const test = suite(`thyme websocket [${layerUrl.split(':')[0]}]`);
  let current: Setup[] = [];
  const clients: TestClient[] = [];

  async function setup(
    options: Partial<ThymeOptions> = {},
    layerOptions: Partial<LayerOptions> = {},
  ): Promise<Setup> {
    const layer = createLayer(layerUrl, {
      prefix: testPrefix(),
      channelCapacity: Object.entries(EVENT_CHANNEL_CAPACITY),
      ...layerOptions,
    });
    const thyme = new Thyme(layer, { allowedHosts: ['localhost', '127.0.0.1'], ...options });
    const { port } = await thyme.listen(0, '127.0.0.1');
    const worker = new TestWorker(layer).start();
    const made = { layer, thyme, worker, url: (path: string) => `ws://127.0.0.1:${port}${path}` };
    current.push(made);
    return made;
  }

  async function open(
    url: string,
    options: Parameters<typeof TestClient.open>[1] = {},
  ): Promise<TestClient> {
    const client = await TestClient.open(url, options);
    clients.push(client);
    return client;
  }

  test.after.each(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    for (const { layer, thyme, worker } of current) {
      await thyme.close();
      await worker.stop();
      await layer.flush().catch(() => undefined);
      await layer.close();
    }
    current = [];
  });

  test('echoes text and binary frames through a worker', async () => {
    const { url } = await setup();
    const client = await open(url('/echo/'));
    client.send('hello');
    assert.is(await client.next(), 'hello');
    client.send(Buffer.from([0, 1, 2, 250]));
    const echoed = await client.next();
    assert.ok(Buffer.isBuffer(echoed));
    assert.equal([...(echoed as Buffer)], [0, 1, 2, 250]);
  });

  test("no subprotocol is claimed on the app's behalf; the offer reaches the worker in the headers", async () => {
    const { url, worker } = await setup();
    const socket = connect(Number(new URL(url('/')).port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(
      `GET / HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Protocol: chat.v2, mqtt\r\n\r\n`,
    );
    let head = '';
    socket.on('data', (chunk: Buffer) => (head += chunk.toString('latin1')));
    await waitFor(() => head.includes('\r\n\r\n'), 3000, 'the handshake answer');
    socket.destroy();
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.not.match(head, /sec-websocket-protocol/i, 'the 101 names no subprotocol');
    const offered = (worker.of('websocket.connect').at(-1)!.headers as Uint8Array[][]).find(
      ([name]) => Buffer.from(name!).toString() === 'sec-websocket-protocol',
    );
    assert.is(Buffer.from(offered![1]!).toString(), 'chat.v2, mqtt');
    // So a client that will speak only a subprotocol fails the connection, as
    // browsers do (and as under Daphne when the app chooses none).
    const strict = new WebSocket(url('/'), ['chat.v2'], { origin: 'http://localhost' });
    const failure = await new Promise<Error>((resolve) => strict.once('error', resolve));
    assert.match(failure.message, /no subprotocol/);
  });

  test('websocket.connect, receive and disconnect carry exactly the protocol keys', async () => {
    const { url, worker } = await setup();
    const client = await open(url('/chat/stream/?room=1&x=%20y'), {
      headers: { 'X-Custom': 'Value' },
    });
    client.send('one');
    await client.next();
    client.send(Buffer.from('two'));
    await client.next();
    client.close(3001);
    await client.closed;
    const disconnect = await waitFor(
      () => worker.of('websocket.disconnect')[0],
      3000,
      'disconnect',
    );
    const [connect] = worker.of('websocket.connect') as [Message];
    assert.equal(Object.keys(connect).sort(), [
      'client',
      'headers',
      'order',
      'path',
      'query_string',
      'reply_channel',
      'root_path',
      'scheme',
      'server',
    ]);
    assert.is(connect.scheme, 'ws');
    assert.is(connect.path, '/chat/stream/');
    assert.is(Buffer.from(connect.query_string as Uint8Array).toString(), 'room=1&x=%20y');
    assert.is(connect.root_path, '');
    assert.is(connect.order, 0);
    assert.match(connect.reply_channel as string, /^thyme\.[0-9a-f]{32}!/);
    const headers = (connect.headers as Uint8Array[][]).map(([n, v]) => [
      Buffer.from(n!).toString(),
      Buffer.from(v!).toString(),
    ]);
    assert.ok(
      headers.some(([n, v]) => n === 'x-custom' && v === 'Value'),
      'names lower-cased, values kept',
    );
    assert.ok(
      (connect.headers as unknown[][]).every(
        ([n, v]) => n instanceof Uint8Array && v instanceof Uint8Array,
      ),
    );
    assert.is((connect.client as unknown[])[0], '127.0.0.1');
    assert.ok(Number.isInteger((connect.client as unknown[])[1]));
    const receives = worker.of('websocket.receive');
    assert.equal(
      receives.map((m) => m.order),
      [1, 2],
    );
    assert.equal(Object.keys(receives[0]!).sort(), ['order', 'path', 'reply_channel', 'text']);
    assert.is(receives[0]!.text, 'one');
    assert.equal(Object.keys(receives[1]!).sort(), ['bytes', 'order', 'path', 'reply_channel']);
    assert.ok(receives[1]!.bytes instanceof Uint8Array);
    assert.equal(Object.keys(disconnect).sort(), ['code', 'order', 'path', 'reply_channel']);
    assert.is(disconnect.code, 3001);
    assert.is(disconnect.order, 3);
    assert.is(disconnect.reply_channel, connect.reply_channel);
  });

  test('the handshake waits for the worker; an accept carrying text delivers it first', async () => {
    const { url, worker } = await setup();
    worker.connectDelayMs = 300;
    const started = Date.now();
    const client = await open(url('/greet'));
    assert.ok(Date.now() - started >= 280, 'the 101 waited for the worker');
    assert.is(await client.next(), 'welcome');
  });

  test('data alone accepts a handshake; data with close accepts, delivers it, then closes with that code', async () => {
    const { url, worker } = await setup();
    const client = await open(url('/bytes-only'));
    assert.equal([...((await client.next()) as Buffer)], [...Buffer.from('hi')]);
    const closing = await open(url('/text-then-close'));
    assert.is(await closing.next(), 'bye');
    assert.is((await within(closing.closed, 3000)).code, 4001);
    const disconnect = await waitFor(
      () => worker.of('websocket.disconnect')[0],
      3000,
      'the disconnect',
    );
    assert.is(disconnect.code, 4001);
  });

  test('a client whose close frame carries no code is reported with 1006, as protocol.md has it for none', async () => {
    const { url, worker } = await setup();
    const client = rawSocket(Number(new URL(url('/')).port), handshake());
    assert.match(await client.head(), /^HTTP\/1\.1 101 /);
    client.socket.write(frame(8, Buffer.alloc(0)));
    // Thyme answers with a close frame of its own, carrying no code either.
    await waitFor(() => client.after().length >= 2, 3000, 'the close frame back');
    assert.equal([...client.after().subarray(0, 2)], [0x88, 0]);
    client.socket.destroy();
    const disconnect = await waitFor(
      () => worker.of('websocket.disconnect')[0],
      3000,
      'the disconnect',
    );
    assert.equal({ code: disconnect.code, order: disconnect.order }, { code: 1006, order: 1 });
  });

  test('a rejected handshake gets 403, and the worker hears the socket is gone', async () => {
    const { url, worker } = await setup();
    assert.is(await handshakeStatus(url('/reject')), 403);
    assert.is(await handshakeStatus(url('/close-on-connect')), 403);
    await waitFor(() => worker.of('websocket.disconnect').length === 2, 3000, 'disconnects');
    assert.is(worker.of('websocket.receive').length, 0);
  });

  test('no answer within the connect timeout gets 503', async () => {
    const { url } = await setup({ websocketConnectTimeout: 0.4 });
    const started = Date.now();
    assert.is(await handshakeStatus(url('/silent')), 503);
    assert.ok(Date.now() - started < 2000);
  });

  test('the worker closing with a code closes the socket with that code', async () => {
    const { url } = await setup();
    const client = await open(url('/'));
    client.send('close:4001');
    assert.is((await within(client.closed, 3000)).code, 4001);
  });

  test('after acceptance accept is ignored, and close: true closes with 1000', async () => {
    const { url, layer, worker } = await setup();
    const client = await open(url('/'));
    const connect = await waitFor(() => worker.of('websocket.connect')[0], 3000, 'the connect');
    const reply = connect.reply_channel as string;
    await layer.send(reply, { accept: false, text: 'still open' });
    assert.is(await client.next(), 'still open');
    client.send('ping');
    assert.is(await client.next(), 'ping');
    await layer.send(reply, { close: true });
    assert.is((await within(client.closed, 3000)).code, 1000);
  });

  test('a full websocket.disconnect channel drops the disconnect silently', async () => {
    const { logger, lines } = captureLogs();
    const { url, layer, worker } = await setup(
      { logger },
      { channelCapacity: [['websocket.disconnect', 1]] },
    );
    const sockets = await Promise.all([1, 2, 3].map(() => open(url('/'))));
    await worker.stop(); // nobody consumes websocket.disconnect any more
    for (const client of sockets) client.ws.close(4000);
    for (const client of sockets) assert.is((await within(client.closed, 3000)).code, 4000);
    const first = await within(layer.receive('websocket.disconnect'), 3000, 'the one kept');
    assert.is(first.code, 4000);
    await sleep(200);
    const loud = lines.filter((line) => line.level >= WARN);
    assert.equal(loud, [], 'nothing logged above debug');
    const abort = new AbortController();
    const more = layer.receive('websocket.disconnect', { signal: abort.signal });
    await sleep(200);
    abort.abort();
    assert.is(
      await more.then(
        () => 'received',
        () => 'none',
      ),
      'none',
      'the others dropped',
    );
  });

  test('a client that vanishes is reported with code 1006', async () => {
    const { url, worker } = await setup();
    const client = await open(url('/'));
    client.send('ping');
    await client.next();
    client.ws.terminate();
    const disconnect = await waitFor(() => worker.of('websocket.disconnect')[0], 3000);
    assert.is(disconnect.code, 1006);
  });

  test('a group send reaches every member socket, written by Thyme without a worker in between', async () => {
    const { url } = await setup();
    const members = await Promise.all([open(url('/')), open(url('/')), open(url('/'))]);
    for (const member of members) {
      member.send('join:room-a');
      member.send('echo-after-join');
      assert.is(await member.next(), 'echo-after-join');
    }
    members[0]!.send('broadcast:room-a:hi all');
    for (const member of members) assert.is(await member.next(), 'hi all');
  });

  test('origin is checked against the allowed hosts; a missing origin is refused', async () => {
    const { url } = await setup();
    assert.is(await handshakeStatus(url('/'), { origin: 'http://evil.example' }), 403);
    assert.is(await handshakeStatus(url('/'), { origin: undefined }), 403);
    assert.is(await handshakeStatus(url('/'), { origin: 'null' }), 403);
    assert.ok(await open(url('/'), { origin: 'http://localhost:1234' }));
    assert.is(
      await handshakeStatus(url('/'), {
        headers: { host: 'evil.example' },
        origin: 'http://localhost',
      }),
      400,
    );
    // The refusal is Thyme's own page: a browser that opens it gets nothing to run.
    const port = new URL(url('/')).port;
    const refusal = await rawExchange(
      Number(port),
      `GET / HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    assert.match(refusal, /^HTTP\/1\.1 403 /);
    assert.match(refusal, /\r\nX-Content-Type-Options: nosniff\r\n/);
    assert.match(
      refusal,
      /\r\nContent-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n/,
    );
    assert.match(refusal, /\r\nCache-Control: no-store\r\n/);
  });

  test("an absolute-form target (RFC 9112 §3.2.2) opens a socket: its authority, not Host, is checked and is the worker's Host", async () => {
    const { url, worker } = await setup();
    const port = Number(new URL(url('/')).port);
    const absolute = (target: string, host = 'localhost'): string =>
      handshake().replace('GET / ', `GET ${target} `).replace('Host: localhost', `Host: ${host}`);
    const accepted = rawSocket(
      port,
      absolute(`http://localhost:${port}/room/?x=1`, 'evil.example'),
    );
    assert.match(await accepted.head(), /^HTTP\/1\.1 101 /);
    accepted.socket.destroy();
    const [connect] = worker.of('websocket.connect') as [Message];
    assert.is(connect.path, '/room/');
    assert.is(Buffer.from(connect.query_string as Uint8Array).toString(), 'x=1');
    const hosts = (connect.headers as Uint8Array[][])
      .filter(([name]) => Buffer.from(name!).toString() === 'host')
      .map(([, value]) => Buffer.from(value!).toString());
    assert.equal(hosts, [`localhost:${port}`]);
    // An authority that is not allowed is refused, whatever the Host says.
    for (const target of ['http://evil.example/room/', 'http://localhost@evil.example/'])
      assert.match(await rawExchange(port, absolute(target)), /^HTTP\/1\.1 400 /, target);
    assert.is(worker.of('websocket.connect').length, 1);
  });

  test('a handshake whose target carries a fragment is refused with 400 as malformed, before the worker hears of it', async () => {
    const { url, worker } = await setup();
    const port = Number(new URL(url('/')).port);
    for (const target of ['/room/#x', '/room/?x=1#y']) {
      const refusal = await rawExchange(port, handshake().replace('GET / ', `GET ${target} `));
      assert.match(refusal, /^HTTP\/1\.1 400 [^]*malformed request target/, target);
    }
    assert.is(worker.of('websocket.connect').length, 0);
  });

  test('a client that leaves while its handshake waits is reported gone, though the worker accepts', async () => {
    const { url, thyme, worker } = await setup();
    const port = Number(new URL(url('/')).port);
    const handshake =
      `GET / HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    // A FIN (the page navigated away) or a reset, while the worker decides, or
    // with the handshake itself (while the connect is on its way to the worker).
    const leaving: [string, number, (socket: Socket) => void][] = [
      ['FIN during the wait', 100, (socket) => socket.end()],
      ['reset during the wait', 100, (socket) => socket.resetAndDestroy()],
      ['FIN with the handshake', 0, (socket) => socket.end()],
      ['reset with the handshake', 0, (socket) => socket.resetAndDestroy()],
    ];
    worker.connectDelayMs = 300;
    const closed = leaving.map(([, afterMs, leave]) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(handshake);
      setTimeout(() => leave(socket), afterMs);
      return new Promise((resolve) => socket.once('close', resolve));
    });
    await waitFor(
      () => worker.of('websocket.disconnect').length === leaving.length,
      3000,
      'a websocket.disconnect for each',
    );
    const connects = worker.of('websocket.connect').map((event) => event.reply_channel);
    const disconnects = worker.of('websocket.disconnect');
    assert.equal(disconnects.map((event) => event.reply_channel).sort(), connects.sort());
    assert.equal(
      disconnects.map((event) => event.code),
      leaving.map(() => 1006),
    );
    // Not kept half-open by Thyme either.
    await within(Promise.all(closed), 3000, 'every connection closed');
    assert.is(thyme.openWebSockets, 0);
  });

  test('a handshake still waiting for its worker at shutdown gets 503; the worker hears it is gone', async () => {
    const { url, thyme, worker } = await setup();
    worker.connectDelayMs = 1000;
    const status = handshakeStatus(url('/'));
    await waitFor(() => worker.of('websocket.connect').length === 1, 3000, 'the handshake');
    const started = Date.now();
    const closed = thyme.close();
    assert.is(await status, 503);
    assert.ok(Date.now() - started < 500, 'refused at once, not when the worker answers');
    await closed;
    const disconnect = await waitFor(() => worker.of('websocket.disconnect')[0], 3000);
    assert.is(disconnect.code, 1001);
  });

  if (layerUrl !== 'memory://') {
    test('a Thyme that shut down cleanly is no holder of lanes: nobody looks for them', async () => {
      const { layer, thyme, url } = await setup();
      const holders = `${(layer as unknown as { prefix: string }).prefix}gredis:holders`;
      const self = (layer as unknown as { clientPrefix: string }).clientPrefix;
      const redis = rawClient();
      try {
        await open(url('/'));
        await waitFor(async () => (await redis.smembers(holders)).includes(self), 3000);
        await thyme.close();
        assert.equal(await redis.smembers(holders), []);
      } finally {
        redis.disconnect();
      }
    });

    test('a handshake whose connect may have reached Redis unanswered keeps the Thyme a holder of lanes', async () => {
      const { layer, thyme, url } = await setup();
      const holders = `${(layer as unknown as { prefix: string }).prefix}gredis:holders`;
      const self = (layer as unknown as { clientPrefix: string }).clientPrefix;
      const lanes = layer.lanes;
      const real = lanes.announceAndSend.bind(lanes);
      // The script runs (lane and worker get the connect) but its reply is lost,
      // as when the reply watchdog gives up on a stalled server.
      lanes.announceAndSend = async (...args) => {
        await real(...args);
        throw new LayerUnavailable('no reply');
      };
      const redis = rawClient();
      try {
        assert.is(await handshakeStatus(url('/')), 503);
        await waitFor(async () => (await redis.smembers(holders)).includes(self), 3000);
        await thyme.close();
        assert.equal(await redis.smembers(holders), [self], 'its lane is never ended otherwise');
      } finally {
        await redis.srem(holders, self);
        redis.disconnect();
      }
    });
  }

  test('a message over the size limit closes with 1009; others are unaffected', async () => {
    const { url, worker } = await setup({ websocketMaxMessageSize: 1024 });
    const bystander = await open(url('/'));
    const client = await open(url('/'));
    client.send('x'.repeat(2048));
    assert.is((await within(client.closed, 3000)).code, 1009);
    const disconnect = await waitFor(() => worker.of('websocket.disconnect')[0], 3000);
    assert.is(disconnect.code, 1009, 'the worker hears the code Thyme closed with');
    bystander.send('still here');
    assert.is(await bystander.next(), 'still here');
  });

  test('an invalid UTF-8 text frame closes with 1007; others are unaffected', async () => {
    const { url, worker } = await setup();
    const bystander = await open(url('/'));
    const client = await open(url('/'));
    // ws validates outgoing text too; send raw bytes as a text frame through its sender.
    const invalid = Buffer.from([0xc3, 0x28]);
    (
      client.ws as unknown as { _sender: { send(d: Buffer, o: object, cb?: () => void): void } }
    )._sender.send(invalid, { binary: false, fin: true, mask: true, compress: false, rsv1: false });
    assert.is((await within(client.closed, 3000)).code, 1007);
    const disconnect = await waitFor(() => worker.of('websocket.disconnect')[0], 3000);
    assert.is(disconnect.code, 1007, 'the worker hears the code Thyme closed with');
    bystander.send('fine');
    assert.is(await bystander.next(), 'fine');
  });

  test('a full websocket.receive channel closes the socket with 1013, logged once for all', async () => {
    const { logger, lines } = captureLogs();
    const { url, worker } = await setup(
      { logger },
      { channelCapacity: [['websocket.receive', 2]] },
    );
    const sockets = await Promise.all([1, 2, 3, 4, 5].map(() => open(url('/'))));
    await worker.stop(); // nobody consumes websocket.receive any more
    for (const client of sockets) for (let i = 0; i < 5; i++) client.send(`m${i}`);
    for (const client of sockets) assert.is((await within(client.closed, 3000)).code, 1013);
    // Five sockets, one cause: one line, with the cause in words and no stack.
    const full = lines.filter((line) => /workers cannot take more/.test(line.msg));
    assert.is(full.length, 1, JSON.stringify(full));
    assert.is(full[0]!.level, WARN);
    assert.match(String(full[0]!.error), /is full/);
    assert.not.ok('err' in full[0]!, 'no stack trace');
  });

  test('a client flooding pings is dropped (1006), with one warning line naming it', async () => {
    const { logger, lines } = captureLogs();
    const { url, worker } = await setup({ logger });
    const socket = connect(Number(new URL(url('/')).port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(
      `GET /flood HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    let head = '';
    socket.on('data', (chunk: Buffer) => (head += chunk.toString('latin1')));
    await waitFor(() => head.includes('\r\n\r\n'), 3000, 'the handshake answer');
    assert.match(head, /^HTTP\/1\.1 101 /);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    // More pings in one read than ws answers before its pongs are written
    // (maxPendingAutoPongs, 60): masked, empty, as a client sends them.
    const ping = Buffer.from([0x89, 0x80, 1, 2, 3, 4]);
    socket.write(Buffer.concat(Array.from({ length: 100 }, () => ping)));
    await within(closed, 3000, 'the flooding client to be dropped');
    const disconnect = await waitFor(() => worker.of('websocket.disconnect')[0], 3000);
    assert.is(disconnect.code, 1006);
    const flood = lines.filter((line) => /pings faster than it read/.test(line.msg));
    assert.is(flood.length, 1, JSON.stringify(flood));
    assert.is(flood[0]!.level, WARN);
    assert.is(flood[0]!.client, '127.0.0.1');
    // A client that pings now and then is answered and stays.
    const calm = await open(url('/'));
    const pong = new Promise((resolve) => calm.ws.once('pong', resolve));
    calm.ws.ping();
    await within(pong, 3000, 'the pong');
    calm.send('still here');
    assert.is(await calm.next(), 'still here');
    assert.is(lines.filter((line) => /pings faster/.test(line.msg)).length, 1);
  });

  test('a full websocket.connect channel refuses the handshake with 503', async () => {
    const { url, worker } = await setup(
      { websocketConnectTimeout: 0.5 },
      { channelCapacity: [['websocket.connect', 1]] },
    );
    await worker.stop();
    const first = handshakeStatus(url('/')); // fills the channel, then times out
    await sleep(100);
    assert.is(await handshakeStatus(url('/')), 503);
    assert.is(await first, 503);
  });

  test('a client that never reads is closed as slow and server memory stays bounded', async () => {
    const { logger, lines } = captureLogs();
    const { url, thyme, worker, layer } = await setup({ outgoingBufferLimit: 256 * 1024, logger });
    const client = await open(url('/'));
    const raw = (client.ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause(); // stop reading: the kernel buffers fill, then Thyme's
    const before = await retainedBytes();
    client.send('flood:4000:16384'); // 64 MiB the client will never read
    await waitFor(() => thyme.metrics.websocketsClosedSlow === 1, 10_000, 'slow close');
    const disconnect = await waitFor(
      () => worker.of('websocket.disconnect')[0],
      10_000,
      'disconnect',
    );
    assert.is(disconnect.code, 1013);
    // Once the worker's flood is over, what is still held is what Thyme kept.
    await waitFor(() => worker.floodsRunning === 0, 30_000, 'the flood to end');
    if (layerUrl !== 'memory://') {
      // ...and Thyme has read (and dropped) what was still queued for it in Redis.
      const redis = rawClient(layerUrl);
      const key = `${layer.prefix}thyme.${layer.clientPrefix}!`;
      await waitFor(async () => (await redis.zcard(key)) === 0, 30_000, 'the reply queue to drain');
      redis.disconnect();
    }
    const grown = (await retainedBytes()) - before;
    assert.ok(grown < 8 * 1024 * 1024, `memory still held grew by ${grown} bytes`);
    assert.is(thyme.openWebSockets, 0);
    // The flood reaches 16 times the limit well inside --slow-client-timeout.
    const closing = lines.filter((line) => /^closing a/.test(line.msg)).map((line) => line.msg);
    assert.equal(closing, ['closing a WebSocket client with more waiting than it may buffer']);
  });

  test('a client whose buffer stays over the limit for --slow-client-timeout is closed as slow at the next reply', async () => {
    const { logger, lines } = captureLogs();
    const { url, thyme, worker } = await setup({
      outgoingBufferLimit: 1024 * 1024,
      slowClientTimeout: 2,
      logger,
    });
    const client = await open(url('/'));
    const raw = (client.ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause();
    // 12 MiB, a reply a turn: the kernel's buffers take 4 MB or so (at most the
    // sender's 4 MiB and the receiver's 6 MiB, tcp_wmem and tcp_rmem), Thyme
    // holds the rest, over the limit and under 16 times it.
    client.send('trickle:48:262144');
    await waitFor(() => worker.tricklesDone === 1, 10_000, 'the trickle to end');
    await sleep(200);
    assert.is(thyme.metrics.websocketsClosedSlow, 0, 'over the limit for less than the timeout');
    await sleep(2000);
    client.send('late'); // its echo finds the buffer over the limit for over 2 s
    await waitFor(() => thyme.metrics.websocketsClosedSlow === 1, 5000, 'the slow close');
    const closing = lines.filter((line) => /^closing a/.test(line.msg));
    assert.equal(
      closing.map((line) => line.msg),
      ['closing a slow WebSocket client'],
    );
    assert.ok(Number(closing[0]!.overLimitMs) > 2000, JSON.stringify(closing[0]));
    raw.resume();
    assert.is((await within(client.closed, 10_000, 'the close')).code, 1013);
  });

  test('a client that reads is not closed for a burst over the limit still leaving when the next reply comes', async () => {
    // ws counts a corked burst as waiting until the kernel has taken all of it:
    // 4 MiB over loopback is still there a Redis read (or a turn) later.
    const { url, thyme } = await setup({ outgoingBufferLimit: 1024 * 1024 });
    const client = await open(url('/'));
    client.send('burst-then:64:65536');
    for (let i = 0; i < 64; i++) {
      const text = (await client.next()) as string;
      assert.is(text.slice(0, text.indexOf(':')), String(i));
    }
    assert.is(await client.next(), '64:then');
    client.send('still there');
    assert.is(await client.next(), 'still there');
    assert.is(thyme.metrics.websocketsClosedSlow, 0);
  });

  test('16 times the buffer limit waiting closes a socket at once, even one that reads', async () => {
    const { url, thyme } = await setup({ outgoingBufferLimit: 8 * 1024 });
    const client = await open(url('/'));
    client.send('burst:64:4096'); // 256 KiB in one turn: more than 16 × 8 KiB
    assert.is((await within(client.closed, 5000, 'the close')).code, 1013);
    assert.is(thyme.metrics.websocketsClosedSlow, 1);
    assert.ok(client.received.length < 40, `${client.received.length} replies arrived`);
  });

  test('a client that reads is not closed as slow for one message larger than the buffer limit', async () => {
    const { url, thyme } = await setup({ outgoingBufferLimit: 64 * 1024 });
    const client = await open(url('/'));
    client.send('flood:1:300000');
    assert.is(((await client.next()) as string).length, 300_000);
    // Still open: the next message is answered, and nothing counted it slow.
    client.send('still there');
    assert.is(await client.next(), 'still there');
    assert.is(thyme.metrics.websocketsClosedSlow, 0);
  });

  test('a client that reads is not closed as slow for a burst of replies larger than the buffer limit', async () => {
    // The burst is written in one turn, corked until it ends: none of it can
    // have left when the next frame of it is written.
    const { url, thyme } = await setup({ outgoingBufferLimit: 8 * 1024 });
    const client = await open(url('/'));
    client.send('burst:32:2048'); // 64 KiB, eight times the limit
    for (let i = 0; i < 32; i++) {
      const text = (await client.next()) as string;
      assert.is(text.slice(0, text.indexOf(':')), String(i));
      assert.is(text.length, String(i).length + 1 + 2048);
    }
    client.send('still there');
    assert.is(await client.next(), 'still there');
    assert.is(thyme.metrics.websocketsClosedSlow, 0);
  });

  test('a silent client is dropped once its ping times out, not a sweep later; a live one stays', async () => {
    // A timeout shorter than the interval: a check at sweeps only would drop the
    // client a whole interval (1 s) after its ping.
    const { url, thyme } = await setup({ pingInterval: 1, pingTimeout: 0.3 });
    const live = await open(url('/'));
    const mute = new WebSocket(url('/'), { origin: 'http://localhost', autoPong: false } as object);
    let pingedAt = 0;
    mute.once('ping', () => (pingedAt = Date.now()));
    await new Promise((r) => mute.once('open', r));
    const closed = new Promise<number>((r) => mute.once('close', () => r(Date.now())));
    await waitFor(() => thyme.openWebSockets === 1, 5000, 'the mute client to be dropped');
    const after = (await closed) - pingedAt;
    assert.ok(pingedAt > 0, 'it was pinged');
    assert.ok(after >= 250 && after < 800, `dropped ${after} ms after its ping (timeout 300)`);
    assert.is(live.ws.readyState, WebSocket.OPEN);
    live.send('alive');
    assert.is(await live.next(), 'alive');
    mute.terminate();
  });

  test('idle clients that answer pings stay open, whenever they connected relative to the sweep', async () => {
    const { url, thyme } = await setup({ pingInterval: 0.4, pingTimeout: 0.6 });
    const idle: TestClient[] = [];
    for (let i = 0; i < 6; i++) {
      idle.push(await open(url('/')));
      await sleep(90); // spread over a whole interval
    }
    await sleep(2500); // several sweeps with no traffic at all
    assert.is(thyme.openWebSockets, 6);
    for (const client of idle) assert.is(client.ws.readyState, WebSocket.OPEN);
  });

  test('an invalid reply from a worker closes that socket with 1011', async () => {
    const { url } = await setup();
    const client = await open(url('/'));
    client.send('bad-reply');
    assert.is((await within(client.closed, 3000)).code, 1011);
  });

  test('a close code a server may not send closes with 1011, logged naming those it may; those it may are sent as asked', async () => {
    const { logger, lines } = captureLogs();
    const { url, worker } = await setup({ logger });
    // RFC 6455 §7.4.1: 1010 is the client's alone; 1015 is only ever reported, never sent.
    for (const code of [1010, 1015]) {
      const refused = await open(url('/'));
      refused.send(`close:${code}`);
      assert.is((await within(refused.closed, 3000)).code, 1011, String(code));
    }
    const logged = lines.filter((line) => /invalid reply for a WebSocket/.test(line.msg));
    assert.is(logged.length, 2);
    for (const line of logged)
      assert.match(
        (line.err as { message: string }).message,
        '"close" must be true or a close code a server may send (1000–1003, 1007–1009, 1011–1014, 3000–4999)',
      );
    // Codes the message names, MultiChat's 1011–1013 among them.
    for (const code of [1001, 1003, 1007, 1012, 1014, 3000]) {
      const client = await open(url('/'));
      client.send(`close:${code}`);
      assert.is((await within(client.closed, 3000)).code, code);
    }
    await waitFor(() => worker.of('websocket.disconnect').length === 8, 3000, 'the disconnects');
  });

  test('frames keep their order under load', async () => {
    const { url } = await setup({ websocketRate: 0 }); // 500 at once: no message rate
    const client = await open(url('/'));
    for (let i = 0; i < 500; i++) client.send(`n${i}`);
    for (let i = 0; i < 500; i++) assert.is(await client.next(), `n${i}`);
  });

  test('a client past its message rate is slowed, not dropped: the rest pass on at the rate, in order', async () => {
    const { url, thyme } = await setup({ websocketRate: 20, websocketBurst: 10 });
    const client = await open(url('/'));
    // 10 pass on at once; 8 more are held and leave one every 50 ms.
    for (let i = 0; i < 18; i++) client.send(`n${i}`);
    const at: number[] = [];
    for (let i = 0; i < 18; i++) {
      assert.is(await client.next(), `n${i}`);
      at.push(Date.now());
    }
    const slowed = at[17]! - at[9]!;
    assert.ok(slowed >= 300, `the held 8 came ${slowed} ms after the burst, expected about 400`);
    assert.ok(thyme.metrics.websocketMessagesHeld >= 7, 'held, and counted');
    // The bucket refills: after a pause the client may burst again.
    await sleep(600);
    const again = Date.now();
    for (let i = 0; i < 10; i++) client.send(`m${i}`);
    for (let i = 0; i < 10; i++) assert.is(await client.next(), `m${i}`);
    assert.ok(Date.now() - again < 250, 'a refilled burst is not held');
  });

  test('a flooding client is held to its rate: it cannot fill websocket.receive for everyone else', async () => {
    const { url, layer, thyme, worker } = await setup(
      { websocketRate: 20, websocketBurst: 10 },
      { channelCapacity: [['websocket.receive', 100]] },
    );
    const flooder = await open(url('/'));
    const bystander = await open(url('/'));
    await worker.stop(); // nothing drains websocket.receive: a flood would fill it
    const started = Date.now();
    for (let i = 0; i < 3000; i++) flooder.send(`f${i}`);
    await sleep(500);
    for (let i = 0; i < 5; i++) bystander.send(`b${i}`);
    const restarted = new TestWorker(layer).start();
    try {
      for (let i = 0; i < 5; i++) assert.is(await bystander.next(), `b${i}`);
      assert.is(flooder.ws.readyState, WebSocket.OPEN, 'slowed, not closed');
      const flood = () =>
        restarted.of('websocket.receive').filter((event) => String(event.text).startsWith('f'));
      const allowed = 10 + 20 * ((Date.now() - started) / 1000) + 2;
      assert.ok(flood().length <= allowed, `${flood().length} of the flood passed, >${allowed}`);
      // What it holds is passed on at the rate, in order...
      await waitFor(() => flood().length >= 25, 3000, 'the flood to go on at its rate');
      assert.equal(
        flood().map((event) => event.text),
        Array.from({ length: flood().length }, (_, i) => `f${i}`),
      );
      // ...and dies with it: passed on at its close, it would be a way around the rate.
      flooder.ws.terminate();
      await waitFor(() => thyme.metrics.websocketMessagesDropped > 2000, 3000, 'the drop');
      const atClose = flood().length;
      await sleep(300);
      assert.ok(flood().length <= atClose + 1, 'nothing held was sent on at the close');
    } finally {
      await restarted.stop();
    }
  });

  test('a message rate that would hold every message forever is refused', () => {
    const layer = createLayer('memory://');
    for (const options of [
      { websocketBurst: 0.5 },
      { websocketBurst: Number.NaN },
      { websocketRate: -1 },
    ]) {
      assert.throws(() => new Thyme(layer, options), /websocket(Burst|Rate) must be/);
    }
    void layer.close();
  });

  test('once Thyme closes a socket, what the client still sends is not passed on', async () => {
    const { url, thyme, worker } = await setup({ websocketRate: 0 });
    const client = await open(url('/'));
    const raw = (client.ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause(); // the client never reads Thyme's close, and goes on sending
    client.send('close:4000');
    await waitFor(() => worker.of('websocket.receive').length === 1, 3000, 'the close command');
    await sleep(200); // the worker's close reaches Thyme, which starts closing
    for (let i = 0; i < 100; i++) client.send(`late${i}`);
    await waitFor(
      () => thyme.metrics.websocketMessagesDropped >= 100,
      3000,
      'the late messages to be dropped',
    );
    assert.is(worker.of('websocket.receive').length, 1, 'none of them reached the worker');
  });

  test("a slowed client's socket still closes at once when asked to (its closing frame is read)", async () => {
    const { url } = await setup({ websocketRate: 20, websocketBurst: 10 });
    const client = await open(url('/'));
    // 16 messages at once, the first asking the worker to close: it does while 6
    // are still held and reading is paused.
    client.send('close:4000');
    for (let i = 0; i < 15; i++) client.send(`n${i}`);
    const started = Date.now();
    const closed = await within(client.closed, 3000, 'the close');
    assert.is(closed.code, 4000);
    // Without reading on, the client's closing frame waited for ws's 5 s closeTimeout.
    assert.ok(Date.now() - started < 1000, `closed after ${Date.now() - started} ms`);
  });

  test('an offer of subprotocols ws cannot parse opens with none agreed, and its close reaches the worker', async () => {
    const { url, worker } = await setup();
    const port = Number(new URL(url('/')).port);
    // Duplicates, and a space inside a name: ws refuses either (400) when it sees it.
    const offers = ['chat, chat', 'a b'];
    for (const offer of offers) {
      const client = rawSocket(port, handshake(`Sec-WebSocket-Protocol: ${offer}\r\n`));
      const head = await client.head();
      assert.match(head, /^HTTP\/1\.1 101 /, offer);
      assert.not.match(head, /sec-websocket-protocol/i);
      client.socket.write(frame(1, 'hello'));
      await waitFor(() => client.after().length > 0, 3000, 'the echo');
      client.socket.write(closeFrame(4000));
      await within(client.closed, 3000, 'the close');
    }
    await waitFor(
      () => worker.of('websocket.disconnect').length === offers.length,
      3000,
      'a websocket.disconnect for each',
    );
    assert.equal(
      worker.of('websocket.disconnect').map((event) => event.code),
      [4000, 4000],
    );
  });

  test('a WebSocket version Thyme does not speak gets 426 naming those it does; a missing one 400', async () => {
    const { url, worker } = await setup();
    const port = Number(new URL(url('/')).port);
    const refusal = await rawExchange(port, handshake('', 'Sec-WebSocket-Version: 12\r\n'));
    assert.match(refusal, /^HTTP\/1\.1 426 /);
    assert.match(refusal, /\r\nSec-WebSocket-Version: 13, 8\r\n/);
    assert.match(await rawExchange(port, handshake('', '')), /^HTTP\/1\.1 400 /);
    assert.is(worker.of('websocket.connect').length, 0, 'the worker heard of neither');
  });

  test('an HTTP/1.0 handshake is refused with 400 (RFC 6455 §4.1 asks for 1.1 or later)', async () => {
    const { url, worker } = await setup();
    const port = Number(new URL(url('/')).port);
    const refusal = await rawExchange(port, handshake().replace(' HTTP/1.1\r\n', ' HTTP/1.0\r\n'));
    assert.match(refusal, /^HTTP\/1\.1 400 /);
    assert.is(worker.of('websocket.connect').length, 0);
  });

  test("a handshake to the target * (the server-wide OPTIONS's) is refused with 400 saying so, not as malformed; plain OPTIONS * is still answered", async () => {
    const { url, worker, thyme } = await setup();
    const port = Number(new URL(url('/')).port);
    for (const method of ['GET', 'OPTIONS']) {
      const refusal = await rawExchange(port, handshake().replace('GET / ', `${method} * `));
      assert.match(refusal, /^HTTP\/1\.1 400 /, method);
      assert.match(
        refusal,
        /\r\n\r\nBad Request: a WebSocket handshake needs a path, not \*\n$/,
        method,
      );
    }
    assert.is(thyme.metrics.websocketsRejected, 2);
    assert.is(worker.of('websocket.connect').length, 0);
    assert.match(
      await rawExchange(port, 'OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
      /^HTTP\/1\.1 200 /,
    );
  });

  test('a handshake that declares a body is refused with 400 before the worker hears of it', async () => {
    const { url, worker } = await setup();
    const port = Number(new URL(url('/')).port);
    // The body is a valid frame: taken as one, it would reach the worker as a message.
    const body = frame(1, 'smuggled');
    for (const declared of [
      `Content-Length: ${body.length}\r\n`,
      'Transfer-Encoding: chunked\r\n',
    ]) {
      const refusal = await rawExchange(
        port,
        Buffer.concat([Buffer.from(handshake(declared)), body]),
      );
      assert.match(refusal, /^HTTP\/1\.1 400 /, declared);
    }
    assert.is(worker.of('websocket.connect').length, 0);
    const empty = rawSocket(port, handshake('Content-Length: 0\r\n'));
    assert.match(await empty.head(), /^HTTP\/1\.1 101 /, 'an empty body is no body');
    empty.socket.destroy();
  });

  test('protocol errors in client frames close with RFC 6455 codes, and the worker hears the same code', async () => {
    const { url, worker } = await setup();
    const port = Number(new URL(url('/')).port);
    const utf8Reason = Buffer.from([0xce, 0xba, 0xff]);
    // RFC 6455 §7.4: codes never sent (1005, 1006, 1015), reserved (1004) or unassigned.
    const invalidCloseCodes = [1004, 1005, 1006, 1015, 999, 5000];
    // RFC 6455 §5.2: 3–7 are reserved for data frames, 0xB–0xF for control frames.
    const reservedOpcodes = [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf];
    type Case = [name: string, frames: Buffer[], code: number];
    const cases: Case[] = [
      ['ping over 125 bytes', [frame(9, 'p'.repeat(126))], 1002],
      ['close over 125 bytes', [closeFrame(1000, Buffer.from('r'.repeat(124)))], 1002],
      ['RSV1 with no extension agreed', [frame(1, 'x', { rsv: 0x40 })], 1002],
      ...reservedOpcodes.map((opcode): Case => [
        `reserved opcode ${opcode}`,
        [frame(opcode, 'x')],
        1002,
      ]),
      ['an unmasked frame', [frame(1, 'x', { masked: false })], 1002],
      ['a fragmented ping', [frame(9, 'p', { fin: false })], 1002],
      ['a continuation with nothing to continue', [frame(0, 'x')], 1002],
      [
        'a new message inside a fragmented one',
        [frame(1, 'a', { fin: false }), frame(1, 'b')],
        1002,
      ],
      ...invalidCloseCodes.map((code): Case => [`close code ${code}`, [closeFrame(code)], 1002]),
      ['a 1-byte close payload', [frame(8, Buffer.from([3]))], 1002],
      ['a close reason not UTF-8', [closeFrame(4000, utf8Reason)], 1007],
      [
        'UTF-8 invalid across fragments',
        [frame(1, Buffer.from([0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0x41]))],
        1007,
      ],
    ];
    for (const [name, frames, code] of cases) {
      const client = rawSocket(
        port,
        handshake('Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n'),
      );
      const head = await client.head();
      assert.match(head, /^HTTP\/1\.1 101 /, name);
      assert.not.match(head, /sec-websocket-extensions/i, 'no compression is agreed');
      for (const part of frames) client.socket.write(part);
      await waitFor(() => client.after().length >= 4, 3000, `the close frame for ${name}`);
      assert.equal([...client.after().subarray(0, 2)], [0x88, 2], name);
      assert.is(client.after().readUInt16BE(2), code, name);
      client.socket.destroy();
      const disconnect = await waitFor(
        () => worker.of('websocket.disconnect')[cases.findIndex(([n]) => n === name)],
        3000,
        `the disconnect for ${name}`,
      );
      assert.is(disconnect.code, code, name);
    }
    assert.is(worker.of('websocket.receive').length, 0, 'nothing was passed on');
  });

  test('a message in many fragments, pings between, is passed on whole; the size limit is on the whole, applied at the header of the fragment that passes it', async () => {
    const { url, worker } = await setup({ websocketMaxMessageSize: 1024 });
    const port = Number(new URL(url('/')).port);
    const fragmented = (parts: number): Buffer[] =>
      Array.from({ length: parts }, (_, i) => [
        frame(i === 0 ? 1 : 0, String(i).repeat(200), { fin: i === parts - 1 }),
        frame(9, `ping${i}`),
      ]).flat();
    const fits = rawSocket(port, handshake());
    await fits.head();
    for (const part of fragmented(5)) fits.socket.write(part);
    const received = await waitFor(() => worker.of('websocket.receive')[0], 3000, 'the message');
    assert.is(received.text, ['0', '1', '2', '3', '4'].map((n) => n.repeat(200)).join(''));
    const pong = (i: number): Buffer => Buffer.from([0x8a, 5, ...Buffer.from(`ping${i}`)]);
    await waitFor(
      () => [0, 1, 2, 3, 4].every((i) => fits.after().includes(pong(i))),
      3000,
      'a pong for each ping, those between fragments too',
    );
    fits.socket.destroy();
    // Six fragments of 200 bytes, none over the limit alone.
    const over = rawSocket(port, handshake());
    await over.head();
    for (const part of fragmented(6)) over.socket.write(part);
    const closed1009 = Buffer.from([0x88, 2, 0x03, 0xf1]);
    await waitFor(() => over.after().includes(closed1009), 3000, '1009');
    over.socket.destroy();
    // The fragment that takes the message over is refused by its header: a
    // client cannot make Thyme buffer its payload, nor wait for it.
    const early = rawSocket(port, handshake());
    await early.head();
    early.socket.write(frame(1, 'a'.repeat(600), { fin: false }));
    early.socket.write(frame(0, 'b'.repeat(600)).subarray(0, 8)); // 2 + 2 (its length) + 4 (mask)
    await waitFor(() => early.after().includes(closed1009), 3000, '1009 with the payload unsent');
    early.socket.destroy();
    await waitFor(() => worker.of('websocket.disconnect').length === 3, 3000, 'the disconnects');
    assert.equal(
      worker.of('websocket.disconnect').map((event) => event.code),
      [1006, 1009, 1009],
    );
    assert.is(worker.of('websocket.receive').length, 1);
  });

  test('frames a client sends before the accept are passed on after it, in order', async () => {
    const { url, worker } = await setup();
    worker.connectDelayMs = 300;
    const port = Number(new URL(url('/')).port);
    // With the handshake, in the same write, and while the worker decides.
    const client = rawSocket(
      port,
      Buffer.concat([Buffer.from(handshake()), frame(1, 'early1'), frame(1, 'early2')]),
    );
    await sleep(100);
    client.socket.write(frame(1, 'early3'));
    assert.match(await client.head(), /^HTTP\/1\.1 101 /);
    await waitFor(() => worker.of('websocket.receive').length === 3, 3000, 'the three');
    assert.equal(
      worker.of('websocket.receive').map((event) => [event.order, event.text]),
      [
        [1, 'early1'],
        [2, 'early2'],
        [3, 'early3'],
      ],
    );
    client.socket.destroy();
  });

  test('a client whose frames, close and FIN come with its handshake, before the accept, has them passed on after it, then its close code', async () => {
    const { url, worker } = await setup();
    worker.connectDelayMs = 300;
    const port = Number(new URL(url('/')).port);
    const early = [frame(1, 'early1'), frame(1, 'early2')];
    // Each in one write with the handshake: RFC 6455 §4.1 forbids frames before
    // the 101, yet they are what the client said, in its order (as Daphne's
    // Autobahn holds them), whether its FIN follows or not.
    const clients = [
      { close: [closeFrame(4000)], fin: false, code: 4000 },
      { close: [closeFrame(4000)], fin: true, code: 4000 },
      { close: [], fin: true, code: 1006 },
    ].map(({ close, fin, code }) => {
      const client = rawSocket(port, Buffer.concat([Buffer.from(handshake()), ...early, ...close]));
      if (fin) client.socket.end();
      return { client, code };
    });
    for (const { client } of clients) assert.match(await client.head(), /^HTTP\/1\.1 101 /);
    await within(
      Promise.all(clients.map(({ client }) => client.closed)),
      3000,
      'every connection closed',
    );
    // The worker reads each channel in its own loop, so a disconnect can be
    // read before the last frame of its socket: wait for both.
    await waitFor(() => worker.of('websocket.disconnect').length === 3, 3000, 'the disconnects');
    await waitFor(() => worker.of('websocket.receive').length === 6, 3000, 'the early frames');
    for (const [index, { client, code }] of clients.entries()) {
      const connect = worker.of('websocket.connect')[index]!;
      const events = worker.events
        .filter(({ message }) => message.reply_channel === connect.reply_channel)
        // Each channel is read apart: the events' order is theirs to tell.
        .sort((a, b) => (a.message.order as number) - (b.message.order as number))
        .map(({ channel, message }) => [channel, message.text ?? message.code]);
      assert.equal(
        events,
        [
          ['websocket.connect', undefined],
          ['websocket.receive', 'early1'],
          ['websocket.receive', 'early2'],
          ['websocket.disconnect', code],
        ],
        `client ${index}`,
      );
      // Its close answered with its code, as any close is.
      if (code !== 1006) assert.equal([...client.after().subarray(0, 4)], [0x88, 2, 0x0f, 0xa0]);
    }
  });

  test('a refused handshake whose frames and FIN came with it is closed, its frames dropped', async () => {
    const { url, worker, thyme } = await setup();
    const port = Number(new URL(url('/')).port);
    const client = rawSocket(
      port,
      Buffer.concat([
        Buffer.from(handshake().replace('GET / ', 'GET /reject ')),
        frame(1, 'early1'),
        closeFrame(4000),
      ]),
    );
    client.socket.end();
    assert.match(await client.head(), /^HTTP\/1\.1 403 /);
    await within(client.closed, 3000, 'the connection closed');
    // On Thyme's side too, not kept half-open.
    await waitFor(() => thyme.metrics.connectionsOpen === 0, 3000, 'Thyme to close it');
    assert.is(worker.of('websocket.receive').length, 0);
  });

  test.run();
}
