/**
 * The channel layer contract (layer.md "Conformance"), run against every backend:
 * in-process, one Redis, and two Redis servers (sharded).
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import {
  ChannelFull,
  createLayer,
  ForeignChannel,
  InvalidChannelName,
  InvalidGroupName,
  InvalidMessage,
  LayerClosed,
  ReceiveAborted,
  type ChannelLayer,
  type LayerOptions,
  type Message,
} from '../src/index.js';
import { rejects } from './helpers/assert.js';
import { captureLogs, WARN } from './helpers/log-capture.js';
import { allBackends, testPrefix, type LayerBackend } from './helpers/layers.js';
import { settledWithin, sleep, waitFor, within } from './helpers/wait.js';

for (const backend of allBackends()) contract(backend);

function contract(backend: LayerBackend): void {
  const test = suite(`layer contract [${backend.name}]`);
  const open: ChannelLayer[] = [];

  /** A sender and a receiver on the same backend (one layer when it is in-process). */
  function pair(options: Partial<LayerOptions> = {}): {
    sender: ChannelLayer;
    receiver: ChannelLayer;
  } {
    const prefix = options.prefix ?? testPrefix();
    const receiver = backend.make({ ...options, prefix });
    const sender = backend.shared ? backend.make({ ...options, prefix }) : receiver;
    open.push(receiver, sender);
    return { sender, receiver };
  }

  /**
   * Channels that are one queue on this backend. With several hosts, plain channels
   * are spread round-robin (as channels_redis does), so FIFO, capacity and expiry
   * hold per host only; process-specific channels always live on one host.
   */
  async function singleQueueChannels(receiver: ChannelLayer, plain: string): Promise<string[]> {
    const specific = await receiver.newChannel();
    return backend.name === 'sharded' ? [specific] : [plain, specific];
  }

  test.before(() => backend.setup());
  test.after(() => backend.teardown());
  test.after.each(async () => {
    for (const layer of open.splice(0)) {
      try {
        await layer.flush();
      } catch {
        // already closed by the test
      }
      await layer.close();
    }
  });

  test('send then receive delivers the message', async () => {
    const { sender, receiver } = pair();
    await sender.send('test.channel', { type: 'test.message', text: 'Ahoy-hoy!' });
    assert.equal(await receiver.receive('test.channel'), {
      type: 'test.message',
      text: 'Ahoy-hoy!',
    });
  });

  test('a receive waiting before the send gets the message', async () => {
    const { sender, receiver } = pair();
    const received = receiver.receive('test.waiting');
    await sleep(50);
    await sender.send('test.waiting', { n: 1 });
    assert.equal(await within(received, 2000), { n: 1 });
  });

  test('values round-trip exactly: nested objects, bytes, integers, floats, unicode', async () => {
    const { sender, receiver } = pair();
    const message: Message = {
      int: 42,
      negative: -7,
      big: 2 ** 40,
      float: 1.25,
      bool: true,
      nothing: null,
      text: 'héllo ✓ 🎉',
      bytes: Uint8Array.of(0, 1, 2, 255),
      nested: { list: [1, 'two', [3], { four: 4 }], empty: {} },
    };
    await sender.send('test.values', message);
    const received = await receiver.receive('test.values');
    assert.equal(received.int, 42);
    assert.ok(Number.isInteger(received.big));
    assert.equal(received.float, 1.25);
    assert.equal(received.text, 'héllo ✓ 🎉');
    assert.ok(received.bytes instanceof Uint8Array);
    assert.equal([...(received.bytes as Uint8Array)], [0, 1, 2, 255]);
    assert.equal(received.nested, message.nested);
    assert.equal(received.nothing, null);
  });

  test('integers stay integers: beyond ±2^53 as bigints, exact; every other one a number', async () => {
    const { sender, receiver } = pair();
    const message: Message = {
      ms: 1_764_000_000_000, // beyond 32 bits, safe: a number both ways
      safe: [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, -(2 ** 40)],
      id: 2n ** 60n + 1n, // a Snowflake-sized id, which a number would round
      edges: [2n ** 64n - 1n, -(2n ** 63n)],
      small: 5n, // a bigint a number can hold arrives as that number
      nested: { list: [{ big: 9_007_199_254_740_993n }], float: 2.5, text: 'Ïó ωπ' },
    };
    await sender.send('test.wide', message);
    const received = await receiver.receive('test.wide');
    assert.equal(received, {
      ...message,
      small: 5,
    });
    // Group sends store a pre-encoded body (stamped once per process): the same.
    const channel = await receiver.newChannel('wide');
    await receiver.groupAdd('wide', channel);
    await sender.groupSend('wide', message);
    assert.equal(await receiver.receive(channel), { ...message, small: 5 });
    // Greek text holds the bytes of MessagePack's 64-bit markers (0xcf): no bigint for it.
    await sender.send('test.wide', { text: 'ωπ', n: 7 });
    assert.equal(await receiver.receive('test.wide'), { text: 'ωπ', n: 7 });
  });

  test('two new channels each get their own message', async () => {
    const { sender, receiver } = pair();
    const first = await receiver.newChannel();
    const second = await receiver.newChannel();
    assert.is.not(first, second);
    await sender.send(first, { n: 1 });
    await sender.send(second, { n: 2 });
    assert.equal(await receiver.receive(second), { n: 2 });
    assert.equal(await receiver.receive(first), { n: 1 });
  });

  test('the fourth send to a channel with capacity 3 throws ChannelFull', async () => {
    const { sender, receiver } = pair({ capacity: 3 });
    for (const channel of await singleQueueChannels(receiver, 'test.full')) {
      for (let i = 0; i < 3; i++) await sender.send(channel, { i });
      const error = await sender.send(channel, { i: 3 }).catch((e: unknown) => e);
      assert.instance(error, ChannelFull);
      assert.is((error as ChannelFull).code, 'GREDIS_CHANNEL_FULL');
      assert.is((error as ChannelFull).capacity, 3);
    }
  });

  test('per-pattern capacity: first matching glob wins', async () => {
    const { sender, receiver } = pair({
      capacity: 100,
      channelCapacity: [
        ['small*', 2],
        ['small.big', 50],
      ],
    });
    const small = await receiver.newChannel('small');
    const channels = backend.name === 'sharded' ? [small] : ['small.big', small];
    for (const channel of channels) {
      await sender.send(channel, { i: 0 });
      await sender.send(channel, { i: 1 });
      await rejects(() => sender.send(channel, { i: 2 }), ChannelFull);
    }
    for (let i = 0; i < 5; i++) await sender.send('other.channel', { i });
  });

  test('process-specific channels: send and receive', async () => {
    const { sender, receiver } = pair();
    const channel = await receiver.newChannel('thyme.response');
    assert.match(channel, new RegExp(`^thyme\\.response\\.${receiver.clientPrefix}!.+`));
    await sender.send(channel, { hello: 'there' });
    assert.equal(await receiver.receive(channel), { hello: 'there' });
  });

  test('FIFO: messages arrive in the order sent', async () => {
    const { sender, receiver } = pair();
    const channels = await singleQueueChannels(receiver, 'test.fifo');
    for (let i = 0; i < 50; i++) for (const channel of channels) await sender.send(channel, { i });
    for (let i = 0; i < 50; i++) {
      for (const channel of channels) assert.equal(await receiver.receive(channel), { i });
    }
  });

  test('FIFO holds for sends issued concurrently by one process', async () => {
    const { sender, receiver } = pair();
    for (const channel of await singleQueueChannels(receiver, 'test.fifo.concurrent')) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => sender.send(channel, { i })));
      for (let i = 0; i < 50; i++) assert.equal(await receiver.receive(channel), { i });
    }
  });

  test('invalid channel and group names are rejected before any I/O', async () => {
    const { sender } = pair();
    const badChannels: unknown[] = ['', 'has space', 'ünïcode', 'a!b!c', 'x'.repeat(100), 42, null];
    for (const name of badChannels) {
      await rejects(() => sender.send(name as string, {}), InvalidChannelName);
      await rejects(() => sender.receive(name as string), InvalidChannelName);
      await rejects(() => sender.groupAdd('ok', name as string), InvalidChannelName);
    }
    for (const name of ['', 'no!bang', 'sp ace', 'y'.repeat(100), 7]) {
      await rejects(() => sender.groupAdd(name as string, 'ok'), InvalidGroupName);
      await rejects(() => sender.groupSend(name as string, {}), InvalidGroupName);
      await rejects(() => sender.groupDiscard(name as string, 'ok'), InvalidGroupName);
    }
    const error = await sender.send('bad name', {}).catch((e: unknown) => e);
    assert.instance(error, TypeError);
    assert.is((error as InvalidChannelName).code, 'GREDIS_INVALID_CHANNEL_NAME');
  });

  test('values the wire cannot carry are rejected with their path', async () => {
    const { sender } = pair();
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const bad: [unknown, string][] = [
      [{ f: () => 1 }, 'message.f'],
      [{ s: Symbol('x') }, 'message.s'],
      [{ u: undefined }, 'message.u'],
      [{ n: 2n ** 64n }, 'message.n'],
      [{ list: [-(2n ** 63n) - 1n] }, 'message.list[0]'],
      [{ deep: { d: new Date() } }, 'message.deep.d'],
      [{ m: new Map() }, 'message.m'],
      [{ list: [1, undefined] }, 'message.list[1]'],
      [circular, 'message.self'],
      [{ __asgi_channel__: 'x' }, 'message.__asgi_channel__'],
      // UTF-8 has no lone surrogates: a Python receiver would fail on the message.
      [{ text: 'hi \ud83d' }, 'message.text'],
      [{ list: ['ok', '\udc00 x'] }, 'message.list[1]'],
      [{ nested: { 'k\ud800': 1 } }, 'message.nested.k\ud800'],
      // JSON.parse makes own "__proto__" keys; receivers cannot decode them.
      [JSON.parse('{"data": {"__proto__": {"x": 1}}}'), 'message.data.__proto__'],
      ['not an object', 'message'],
      [[1, 2], 'message'],
      [null, 'message'],
    ];
    for (const [message, path] of bad) {
      const error = await sender.send('test.bad', message as Message).catch((e: unknown) => e);
      assert.instance(error, InvalidMessage, `for ${path}`);
      assert.is((error as InvalidMessage).path, path);
      await rejects(() => sender.groupSend('g', message as Message), InvalidMessage);
    }
    // Nothing was stored by the refused sends.
    await sender.send('test.bad', { ok: true });
    assert.equal(await sender.receive('test.bad'), { ok: true });
  });

  test("receiving on another process's channel is rejected", async () => {
    const { receiver } = pair();
    const other = backend.make({ prefix: 'elsewhere' });
    open.push(other);
    const foreign = await other.newChannel();
    const error = await receiver.receive(foreign).catch((e: unknown) => e);
    assert.instance(error, ForeignChannel);
    await rejects(() => receiver.receive('specific.someoneelse!abc'), ForeignChannel);
  });

  test('groups: add, send, discard; a discarded member receives nothing', async () => {
    const { sender, receiver } = pair();
    const first = await receiver.newChannel();
    const second = await receiver.newChannel();
    await sender.groupAdd('room-1', first);
    await sender.groupAdd('room-1', second);
    await sender.groupDiscard('room-1', second);
    await sender.groupDiscard('room-1', 'never.a.member');
    assert.is(await sender.groupSend('room-1', { text: 'hi' }), 0);
    assert.equal(await receiver.receive(first), { text: 'hi' });
    assert.is(await settledWithin(receiver.receive(second), 300), 'pending');
  });

  test('group send reaches plain-channel members', async () => {
    const { sender, receiver } = pair();
    await sender.groupAdd('mixed', 'plain.member');
    await sender.groupSend('mixed', { text: 'to plain' });
    assert.equal(await receiver.receive('plain.member'), { text: 'to plain' });
  });

  test('group send to a full member neither throws nor blocks the others and reports the drop', async () => {
    const { logger, lines } = captureLogs();
    const { sender, receiver } = pair({ capacity: 1, logger });
    const full = await receiver.newChannel('full');
    await sender.groupAdd('busy', full);
    await sender.groupAdd('busy', 'free.member');
    await sender.send(full, { filler: true });
    const skipped = await within(sender.groupSend('busy', { text: 'x' }), 2000, 'groupSend');
    assert.is(skipped, 1);
    const logged = lines.find((line) => line.level === WARN && /skipped full/.test(line.msg));
    assert.ok(logged, 'the drop is logged');
    assert.is(logged!.skipped, 1);
    assert.is(logged!.group, 'busy');
    assert.equal(await receiver.receive('free.member'), { text: 'x' });
    assert.equal(await receiver.receive(full), { filler: true });
  });

  test('flush deletes every message and every group; the layer stays usable', async () => {
    const { sender, receiver } = pair();
    const specific = await receiver.newChannel();
    await sender.send('flushed.plain', { n: 1 });
    await sender.send(specific, { n: 1 });
    await sender.groupAdd('flushed', 'flushed.member');
    await sender.groupAdd('flushed', specific);
    await sender.flush();
    assert.is(await sender.groupSend('flushed', { n: 2 }), 0);
    for (const channel of ['flushed.plain', specific, 'flushed.member']) {
      // Aborted, so that it cannot take the message sent below.
      const abort = new AbortController();
      const nothing = receiver.receive(channel, { signal: abort.signal });
      await sleep(300);
      abort.abort();
      await rejects(() => nothing, ReceiveAborted, `${channel} is empty`);
    }
    await sender.send('flushed.plain', { n: 3 });
    assert.equal(await receiver.receive('flushed.plain'), { n: 3 });
  });

  test('group send applies the capacity pattern of each member, Lua-special characters included', async () => {
    const { sender, receiver } = pair({
      capacity: 100,
      // "-" is special in Lua patterns: unescaped, this would not match "tiny-room.…".
      channelCapacity: [['tiny-room.*', 1]],
    });
    const tiny = await receiver.newChannel('tiny-room');
    await sender.groupAdd('sized', tiny);
    await sender.groupAdd('sized', 'roomy.member');
    await sender.send(tiny, { filler: true });
    await sender.send('roomy.member', { filler: true });
    assert.is(await sender.groupSend('sized', { text: 'x' }), 1);
    assert.equal(await receiver.receive('roomy.member'), { filler: true });
    assert.equal(await receiver.receive('roomy.member'), { text: 'x' });
    assert.equal(await receiver.receive(tiny), { filler: true });
  });

  test('many channels of one process in one group each get the message once', async () => {
    const { sender, receiver } = pair();
    const channels = await Promise.all(Array.from({ length: 30 }, () => receiver.newChannel()));
    for (const channel of channels) await sender.groupAdd('crowd', channel);
    await sender.groupSend('crowd', { n: 1 });
    await sender.groupSend('crowd', { n: 2 });
    for (const channel of channels) {
      assert.equal(await receiver.receive(channel), { n: 1 });
      assert.equal(await receiver.receive(channel), { n: 2 });
    }
  });

  test('members expire when not re-added within groupExpiry', async () => {
    const { sender, receiver } = pair({ groupExpiry: 1 });
    assert.is(sender.groupExpiry, 1, 'consumers read it to know how often to re-add');
    await sender.groupAdd('short', 'old.member');
    await sleep(1300);
    await sender.groupAdd('short', 'new.member');
    await sender.groupSend('short', { n: 1 });
    assert.equal(await receiver.receive('new.member'), { n: 1 });
    assert.is(await settledWithin(receiver.receive('old.member'), 300), 'pending');
  });

  test('new channel names stay unique, within and across processes', async () => {
    const { sender, receiver } = pair();
    const names = new Set<string>();
    for (const layer of [sender, receiver, backend.make()]) {
      if (!open.includes(layer)) open.push(layer);
      for (let i = 0; i < 500; i++) names.add(await layer.newChannel());
    }
    assert.is(names.size, 1500);
  });

  test('expiry: with expiry 3 s and sends 2 s apart only the later two arrive', async () => {
    const { sender, receiver } = pair({ expiry: 3 });
    const channels = await singleQueueChannels(receiver, 'test.expiry');
    for (const channel of channels) await sender.send(channel, { n: 1 });
    await sleep(2000);
    for (const channel of channels) await sender.send(channel, { n: 2 });
    await sleep(2000);
    for (const channel of channels) await sender.send(channel, { n: 3 });
    for (const channel of channels) {
      assert.equal(await receiver.receive(channel), { n: 2 });
      assert.equal(await receiver.receive(channel), { n: 3 });
      assert.is(await settledWithin(receiver.receive(channel), 200), 'pending');
    }
  });

  test('local buffers are bounded per channel: the oldest is dropped', async () => {
    const { sender, receiver } = pair({ capacity: 5 });
    const slow = await receiver.newChannel();
    const other = await receiver.newChannel();
    await receiver.send(other, { start: true });
    assert.equal(await receiver.receive(other), { start: true }); // the reader is now running
    for (let i = 0; i < 12; i++) {
      await sender.send(slow, { i });
      if (i % 4 === 3) await sleep(30); // let the reader drain the process key (capacity 5)
    }
    await sleep(100);
    const got: number[] = [];
    for (let i = 0; i < 5; i++) got.push((await receiver.receive(slow)).i as number);
    assert.equal(got, [7, 8, 9, 10, 11]);
    assert.ok(receiver.stats.bufferDrops >= 7);
  });

  test("a local buffer holds its channel's pattern capacity, not only the global one", async () => {
    // channels_redis bounds every receive buffer by the global capacity: a Thyme
    // reply channel (thyme.*, 1000) would lose the start of a long streamed
    // response that arrived before it listened.
    const { sender, receiver } = pair({ capacity: 3, channelCapacity: { 'wide.*': 10 } });
    const wide = await receiver.newChannel('wide');
    const other = await receiver.newChannel();
    await receiver.send(other, { start: true });
    assert.equal(await receiver.receive(other), { start: true }); // the reader is now running
    for (let i = 0; i < 10; i++) await sender.send(wide, { i });
    await sleep(100);
    for (let i = 0; i < 10; i++) assert.equal(await receiver.receive(wide), { i });
    assert.is(receiver.stats.bufferDrops, 0);
  });

  test('an aborted receive consumes nothing; the next receive gets the message', async () => {
    const { sender, receiver } = pair();
    const controller = new AbortController();
    const pending = receiver.receive('test.abort', { signal: controller.signal });
    await sleep(30);
    controller.abort();
    const error = await pending.catch((e: unknown) => e);
    assert.instance(error, ReceiveAborted);
    await sender.send('test.abort', { kept: true });
    assert.equal(await within(receiver.receive('test.abort'), 2000), { kept: true });
  });

  test('an aborted receive on a process channel consumes nothing', async () => {
    const { sender, receiver } = pair();
    const channel = await receiver.newChannel();
    const controller = new AbortController();
    const pending = receiver.receive(channel, { signal: controller.signal });
    controller.abort();
    await rejects(() => pending, ReceiveAborted);
    await sender.send(channel, { kept: true });
    assert.equal(await within(receiver.receive(channel), 2000), { kept: true });
  });

  test('concurrent receivers on one channel each get a different message', async () => {
    const { sender, receiver } = pair();
    const receives = Array.from({ length: 5 }, () => receiver.receive('test.shared'));
    for (let i = 0; i < 5; i++) await sender.send('test.shared', { i });
    const got = (await within(Promise.all(receives), 3000)).map((m) => m.i as number);
    assert.equal(got.sort(), [0, 1, 2, 3, 4]);
  });

  test('close ends pending receives promptly with LayerClosed, and is idempotent', async () => {
    const { receiver } = pair();
    const channel = await receiver.newChannel();
    const plain = receiver.receive('test.closing').catch((e: unknown) => e);
    const specific = receiver.receive(channel).catch((e: unknown) => e);
    await sleep(50);
    const started = Date.now();
    await within(receiver.close(), 2000, 'close');
    assert.ok(Date.now() - started < 1500);
    assert.instance(await plain, LayerClosed);
    assert.instance(await specific, LayerClosed);
    await receiver.close();
    await rejects(() => receiver.send('x', {}), LayerClosed);
  });

  test("listen pushes a channel's messages in order, buffered ones first, until released", async () => {
    const { sender, receiver } = pair();
    const channel = await receiver.newChannel();
    await sender.send(channel, { n: 0 });
    await sleep(100); // buffered before anyone listens (the reader runs once something waits)
    const got: number[] = [];
    const first = receiver.receive(channel); // starts the reader; takes n=0
    assert.equal(await within(first, 2000), { n: 0 });
    await sender.send(channel, { n: 1 });
    await sleep(100);
    receiver.listen(channel, (message) => got.push(message.n as number));
    for (let i = 2; i < 6; i++) await sender.send(channel, { n: i });
    await waitFor(() => got.length === 5, 3000, 'five messages');
    assert.equal(got, [1, 2, 3, 4, 5]);
    receiver.releaseChannel(channel);
    await sender.send(channel, { n: 6 });
    await sleep(100);
    assert.is(got.length, 5);
    await rejects(async () => receiver.listen('specific.other!x', () => undefined), ForeignChannel);
  });

  test('a released channel drops its buffer and ends its receives', async () => {
    const { sender, receiver } = pair();
    const channel = await receiver.newChannel();
    const pending = receiver.receive(channel);
    receiver.releaseChannel(channel);
    await rejects(() => pending, ReceiveAborted);
    await sender.send(channel, { late: true }); // discarded by the demultiplexer, no error
  });

  test('messages are encrypted when keys are set, and key rotation decrypts old ones', async () => {
    const { sender, receiver } = pair({ symmetricEncryptionKeys: ['new-secret', 'old-secret'] });
    await sender.send('test.secret', { text: 'hidden' });
    assert.equal(await receiver.receive('test.secret'), { text: 'hidden' });
    if (!backend.shared) return;
    const old = backend.make({ prefix: receiver.prefix, symmetricEncryptionKeys: ['old-secret'] });
    open.push(old);
    await old.send('test.secret', { text: 'rotated' });
    assert.equal(await receiver.receive('test.secret'), { text: 'rotated' });
  });

  test.run();
}

const defaults = suite("layer defaults: layer.md's");

defaults('prefix "asgi", expiry 60 s, groupExpiry 86400 s, capacity 100', async () => {
  const layer = createLayer('memory://');
  const realNow = Date.now;
  const at = (seconds: number): void => {
    const shifted = realNow() + seconds * 1000;
    Date.now = () => shifted;
  };
  try {
    assert.is(layer.prefix, 'asgi');
    assert.is(layer.groupExpiry, 86400);
    for (let i = 0; i < 100; i++) await layer.send('default.capacity', { i });
    const full = await rejects(() => layer.send('default.capacity', {}), ChannelFull);
    assert.is(full.capacity, 100);

    await layer.send('default.expiry', { n: 1 });
    at(59);
    await layer.send('default.expiry', { n: 2 });
    assert.equal(await layer.receive('default.expiry'), { n: 1 }, 'kept for 59 s');
    at(120);
    await layer.send('default.expiry', { n: 3 });
    assert.equal(await layer.receive('default.expiry'), { n: 3 }, 'gone after 61 s');

    Date.now = realNow;
    await layer.groupAdd('default.group', 'default.member');
    at(86390);
    assert.is(await layer.groupSend('default.group', { n: 1 }), 0);
    assert.equal(await layer.receive('default.member'), { n: 1 }, 'a member for a day');
    at(86410);
    await layer.groupSend('default.group', { n: 2 });
    const abort = new AbortController();
    const nothing = layer.receive('default.member', { signal: abort.signal });
    await sleep(50);
    abort.abort();
    await rejects(() => nothing, ReceiveAborted, 'dropped after 86400 s');
  } finally {
    Date.now = realNow;
    await layer.close();
  }
});

defaults.run();
