/**
 * A consumer's bugs are caught where they are made, alike on the in-process
 * layer and on Redis, so that what works in development works in a deployment:
 * - a socket method given what the layer or Thyme cannot take (a group name
 *   with a space, a close code no server may send, text that is no string)
 *   throws at the call: what the handler sent before goes out, the socket is
 *   closed with 1011, and the log has the handler's stack;
 * - a state left as the layer cannot save it (a circular reference, a
 *   function) closes the socket with 1011 after the turn's sends, logged with
 *   the state's path, and the socket's lane is not held: its later events and
 *   its disconnect run with the state its last good turn saved.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { createLayer, type ChannelLayer, type Message } from '../src/index.js';
import { Thyme } from '../src/server/index.js';
import type { Application } from '../src/worker/app.js';
import { Worker } from '../src/worker/runner.js';
import type { SocketContext, WebSocketConsumer } from '../src/worker/websocket/consumer.js';
import { testPrefix } from './helpers/layers.js';
import { captureLogs, ERROR } from './helpers/log-capture.js';
import { SHARED_REDIS_URL } from './helpers/redis-server.js';
import { waitFor, within } from './helpers/wait.js';
import { TestClient } from './helpers/ws-client.js';

const CLOSE_INTERNAL_ERROR = 1011;

/** What the consumer saw, by socket path: `<event> <text> n=<count>`, the count read from the saved state. */
const seen = new Map<string, string[]>();
const saw = (path: string, line: string): void => {
  seen.set(path, [...(seen.get(path) ?? []), line]);
};
/** A path of its own for each socket, so that one test's late events stay out of another's. */
let sockets = 0;
const freshPath = (): string => `/s${++sockets}`;

/** Socket calls that a layer or Thyme would refuse, by the frame that makes them. */
const MISUSES: Record<string, (socket: SocketContext) => void> = {
  'group add': (socket) => socket.groupAdd('room 1'),
  'group discard': (socket) => socket.groupDiscard('room:1'),
  'group send': (socket) => socket.groupSendJson('x'.repeat(100), { a: 1 }),
  'close 1005': (socket) => socket.close(1005),
  'close 1006': (socket) => socket.close(1006),
  'send a number': (socket) => socket.send(42 as unknown as string),
  'send bytes as text': (socket) => socket.sendBytes('abc' as unknown as Uint8Array),
  'send undefined': (socket) => socket.sendJson(undefined),
  'send a lone surrogate': (socket) => socket.send('\ud800'),
};

/**
 * Counts the socket's frames in its state and echoes them. "cycle" and "fn"
 * spoil the state after counting; "slow cycle" first waits, so that the
 * socket's next frame is parked behind it. A query `?spoil` spoils it at connect.
 */
const consumer: WebSocketConsumer = {
  async connect(socket) {
    saw(socket.path, 'connect');
    if (socket.query.has('spoil')) socket.state.f = (() => 1) as unknown as Message[string];
    socket.accept();
  },
  async receive(socket, frame) {
    const n = Number(socket.state.n ?? 0) + 1;
    saw(socket.path, `receive ${frame.text} n=${n}`);
    socket.state.n = n;
    if (frame.text === 'slow cycle') await new Promise((resolve) => setTimeout(resolve, 300));
    if (frame.text?.endsWith('cycle')) socket.state.self = socket.state;
    if (frame.text === 'fn') socket.state.f = (() => 1) as unknown as Message[string];
    const misuse = MISUSES[frame.text ?? ''];
    if (misuse) {
      socket.send('before');
      misuse(socket);
    }
    socket.send(`echo ${frame.text} n=${n}`);
  },
  async disconnect(socket) {
    saw(socket.path, `disconnect n=${String(socket.state.n)}`);
  },
};

for (const layerUrl of ['memory://', SHARED_REDIS_URL]) {
  const test = suite(`worker: a consumer's bugs [${layerUrl.split(':')[0]}]`);
  let layer: ChannelLayer;
  let worker: Worker;
  let thyme: Thyme;
  let port: number;
  let logs: ReturnType<typeof captureLogs>;

  test.before(async () => {
    logs = captureLogs();
    layer = createLayer(layerUrl, { prefix: testPrefix(), logger: logs.logger });
    const app: Application = {
      name: 'counting',
      handleHttp: () => Promise.reject(new Error('no HTTP here')),
      consumerFor: () => consumer,
    };
    worker = new Worker(layer, app, { logger: logs.logger }).start();
    thyme = new Thyme(layer, { allowedHosts: ['127.0.0.1'] });
    port = (await thyme.listen(0, '127.0.0.1')).port;
  });
  test.before.each(() => {
    logs.lines.length = 0;
  });
  test.after(async () => {
    await thyme.close();
    await worker.stop();
    await layer.flush();
    await layer.close();
  });

  /** The error lines of unsavable states, as `path: reason`. */
  const refusals = (): string[] =>
    logs.lines
      .filter((line) => line.level === ERROR && /cannot save it/.test(line.msg))
      .map((line) => String((line.err as { message: string }).message));

  /** What the consumer saw of the socket at `path`, once its disconnect ran. */
  const seenUntilDisconnect = async (path: string): Promise<string[]> => {
    const ended = (): boolean => (seen.get(path) ?? []).some((l) => l.startsWith('disconnect'));
    await waitFor(ended, 5000, `the disconnect of ${path}`);
    return seen.get(path)!;
  };

  for (const [spoiler, path, reason] of [
    ['cycle', 'state.a.self', 'circular reference'],
    ['fn', 'state.a.f', 'function cannot be sent'],
  ]) {
    test(`"${spoiler}": its echo arrives, then 1011; the disconnect gets the last state saved`, async () => {
      const socketPath = freshPath();
      const client = await TestClient.open(`ws://127.0.0.1:${port}${socketPath}`);
      client.send('one');
      assert.is(await client.next(), 'echo one n=1');
      client.send(spoiler!);
      assert.is(await client.next(), `echo ${spoiler} n=2`);
      assert.is((await within(client.closed, 5000, 'the close')).code, CLOSE_INTERNAL_ERROR);
      assert.equal(await seenUntilDisconnect(socketPath), [
        'connect',
        'receive one n=1',
        `receive ${spoiler} n=2`,
        'disconnect n=1',
      ]);
      assert.equal(refusals(), [`invalid message at ${path}: ${reason}`]);
      // The worker serves everyone else as before.
      const other = await TestClient.open(`ws://127.0.0.1:${port}${freshPath()}`);
      other.send('two');
      assert.is(await other.next(), 'echo two n=1');
      other.ws.close();
    });
  }

  test('the event parked behind the spoiled turn runs next, with the state saved before it', async () => {
    const socketPath = freshPath();
    const client = await TestClient.open(`ws://127.0.0.1:${port}${socketPath}`);
    client.send('one');
    assert.is(await client.next(), 'echo one n=1');
    client.send('slow cycle');
    client.send('after');
    assert.is(await client.next(), 'echo slow cycle n=2');
    assert.is((await within(client.closed, 5000, 'the close')).code, CLOSE_INTERNAL_ERROR);
    assert.equal(await seenUntilDisconnect(socketPath), [
      'connect',
      'receive one n=1',
      'receive slow cycle n=2',
      'receive after n=2',
      'disconnect n=2',
    ]);
    assert.equal(refusals(), ['invalid message at state.a.self: circular reference']);
  });

  test("a state spoiled at connect: accepted, then 1011; the disconnect keeps connect's scope", async () => {
    const socketPath = freshPath();
    const client = await TestClient.open(`ws://127.0.0.1:${port}${socketPath}?spoil`);
    assert.is((await within(client.closed, 5000, 'the close')).code, CLOSE_INTERNAL_ERROR);
    assert.equal(await seenUntilDisconnect(socketPath), ['connect', 'disconnect n=undefined']);
    assert.equal(refusals(), ['invalid message at state.a.f: function cannot be sent']);
  });

  const misuses: [string, RegExp][] = [
    ['group add', /^invalid group name "room 1": only ASCII letters/],
    ['group discard', /^invalid group name "room:1": only ASCII letters/],
    ['group send', /^invalid group name "x+": must be shorter than 100 characters$/],
    ['close 1005', /^close code 1005 is not one a server may send/],
    ['close 1006', /^close code 1006 is not one a server may send/],
    ['send a number', /^reply breaks the protocol: "text" must be a string$/],
    ['send bytes as text', /^reply breaks the protocol: "bytes" must be a byte array$/],
    ['send undefined', /^undefined has no JSON form to send$/],
    ['send a lone surrogate', /^invalid message at message.text: string holds a lone surrogate$/],
  ];
  for (const [misuse, error] of misuses) {
    test(`${misuse}: throws in the handler; what it sent before goes out, then 1011`, async () => {
      const socketPath = freshPath();
      const client = await TestClient.open(`ws://127.0.0.1:${port}${socketPath}`);
      client.send(misuse);
      assert.is(await client.next(), 'before');
      assert.is((await within(client.closed, 5000, 'the close')).code, CLOSE_INTERNAL_ERROR);
      await seenUntilDisconnect(socketPath);
      const failed = logs.lines.filter((line) => /WebSocket handler failed/.test(line.msg));
      assert.is(failed.length, 1, JSON.stringify(logs.lines.map((line) => line.msg)));
      const { message, stack } = failed[0]!.err as { message: string; stack: string };
      assert.match(message, error);
      // The stack leads to the call that made the mistake, in this file's consumer.
      assert.match(stack, /worker-consumer-bugs\.test\.(ts|js)/);
      assert.not.ok(logs.lines.some((line) => /effect of a lane turn failed/.test(line.msg)));
    });
  }

  test.run();
}
