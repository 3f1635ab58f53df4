/**
 * Wire compatibility with Python's channels_redis 4 (layer.md "Redis wire format"):
 * a real channels_redis process (test/python/interop.py, run by Debian's
 * /usr/bin/python3) and a Gredis layer share one Redis and exchange messages and
 * groups both ways. Every test uses a fresh prefix on both sides.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import {
  ChannelFull,
  consistentHash,
  createLayer,
  InvalidChannelName,
  InvalidGroupName,
  InvalidMessage,
  type ChannelLayer,
  type LayerOptions,
  type Message,
  type MessageValue,
} from '../src/index.js';
import { globToLuaPattern, globToRegExp } from '../src/glob.js';
import { rejects } from './helpers/assert.js';
import { runPython } from './helpers/cli.js';
import { sqliteBackend } from './helpers/databases.js';
import { chatClient, EmbeddedChat, Fixtures } from './helpers/deployment.js';
import { testPrefix } from './helpers/layers.js';
import { rawClient, RedisServer, SHARED_REDIS_URL } from './helpers/redis-server.js';
import { within } from './helpers/wait.js';

/** Only Debian's interpreter can import channels_redis (the one on PATH cannot). */
const PYTHON = '/usr/bin/python3';
/** Compiled to dist/test/, the script stays in the source tree. */
const SCRIPT = fileURLToPath(new URL('../../test/python/interop.py', import.meta.url));
/** Bound on one Python invocation, and on one wait for a Gredis receive. */
const CALL_TIMEOUT_MS = 10_000;
const RECEIVE_TIMEOUT_MS = 5_000;
/** JSON cannot carry bytes; both sides agree on this tag (test and script only). */
const BYTES_TAG = '__bytes__';
/** Python reports non-finite floats (which plain JSON lacks) as {"__float__": "-inf"}. */
const FLOAT_TAG = '__float__';
/** Integers beyond ±2^53, which JSON.parse would round, travel as {"__int__": "<digits>"}. */
const INT_TAG = '__int__';
const NON_FINITE: Record<string, number> = { inf: Infinity, '-inf': -Infinity, nan: NaN };

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

type PyCommand = (
  | { action: 'send'; channel: string; messages: Message[]; count_full?: boolean }
  | { action: 'send'; channels: string[]; messages: Message[]; count_full?: boolean }
  | { action: 'group_send'; group: string; message: Message }
  | { action: 'group_add' | 'group_discard'; group: string; channels: string[] }
  | { action: 'flush' }
  | {
      action: 'listen';
      channel?: string;
      new_channels?: number;
      groups?: string[];
      count?: number;
      /** One message per round of receives, compared by Python with types. */
      expect?: Message[];
      echo_to?: string;
      then_send?: { channel: string; message: Message };
      /** A receive that raises is reported (receive_error), not fatal. */
      report_errors?: boolean;
    }
) & {
  /** The Python layer's hosts (sharding), in place of the shared Redis alone. */
  hosts?: string[];
  /** More RedisChannelLayer arguments: capacity, channel_capacity, expiry, group_expiry. */
  options?: Record<string, Json>;
  /** Seconds Fernet's clock is moved by when it stamps tokens (a sender's clock ahead). */
  token_clock_offset?: number;
};

type PyEvent =
  | { event: 'ready'; channels: string[] }
  | { event: 'received'; channel: string; message: Json; same?: boolean; difference?: string }
  | { event: 'receive_error'; channel: string; error: string }
  | { event: 'sent'; full?: number[] }
  | { event: 'done' }
  | { event: 'error'; error: string };

function toJson(value: unknown): Json {
  if (typeof value === 'bigint') return { [INT_TAG]: value.toString() };
  if (value instanceof Uint8Array) return { [BYTES_TAG]: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toJson(item)]));
  }
  return value as Json;
}

function fromJson(value: Json): MessageValue {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    const tagged = value[BYTES_TAG];
    if (keys.length === 1 && typeof tagged === 'string') {
      return new Uint8Array(Buffer.from(tagged, 'base64'));
    }
    const int = value[INT_TAG];
    if (keys.length === 1 && typeof int === 'string') return BigInt(int);
    const float = value[FLOAT_TAG];
    if (keys.length === 1 && typeof float === 'string' && float in NON_FINITE) {
      return NON_FINITE[float]!;
    }
    return Object.fromEntries(keys.map((key) => [key, fromJson(value[key]!)]));
  }
  return value;
}

function messageFromJson(value: Json): Message {
  const decoded = fromJson(value);
  assert.ok(
    decoded !== null && typeof decoded === 'object' && !Array.isArray(decoded),
    'a message is an object',
  );
  return decoded as Message;
}

/**
 * The first place `got` differs from `want`, or undefined. Bytes compare by content
 * (the layer may hand back a Buffer or a plain Uint8Array); everything else by type
 * and value, so a string where bytes were sent, or a lost key, is reported by path.
 */
function differenceOf(got: unknown, want: MessageValue, path = 'message'): string | undefined {
  if (want instanceof Uint8Array) {
    if (!(got instanceof Uint8Array)) return `${path}: expected bytes, got ${typeof got}`;
    if (got.length !== want.length) return `${path}: ${got.length} bytes, expected ${want.length}`;
    const at = want.findIndex((byte, i) => got[i] !== byte);
    return at === -1 ? undefined : `${path}[${at}]: byte ${got[at]}, expected ${want[at]}`;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return `${path}: expected a list`;
    if (got.length !== want.length) return `${path}: length ${got.length}, expected ${want.length}`;
    for (const [i, item] of want.entries()) {
      const found = differenceOf(got[i], item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (want !== null && typeof want === 'object') {
    if (got === null || typeof got !== 'object' || Array.isArray(got) || got instanceof Uint8Array)
      return `${path}: expected an object`;
    const gotKeys = Object.keys(got).sort();
    const wantKeys = Object.keys(want).sort();
    if (gotKeys.join('\0') !== wantKeys.join('\0'))
      return `${path}: keys [${gotKeys.join(', ')}], expected [${wantKeys.join(', ')}]`;
    for (const key of wantKeys) {
      const found = differenceOf(
        (got as Record<string, unknown>)[key],
        (want as Record<string, MessageValue>)[key]!,
        `${path}.${key}`,
      );
      if (found) return found;
    }
    return undefined;
  }
  return Object.is(got, want) ? undefined : `${path}: ${String(got)}, expected ${String(want)}`;
}

function assertSame(got: unknown, want: Message, what: string): void {
  const found = differenceOf(got, want);
  assert.ok(found === undefined, `${what}: ${found}`);
}

/** One channels_redis process running one command; its JSON lines are its events. */
class PythonPeer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private readonly exited: Promise<number | null>;
  private stderr = '';

  constructor(command: PyCommand, prefix: string, keys?: string[]) {
    this.child = spawn(PYTHON, [SCRIPT], { stdio: 'pipe' });
    // Commands go on stdin: the values test's payload exceeds one argv string's limit.
    // A Python that dies before reading its command must fail the test, not crash it.
    this.child.stdin.on('error', () => undefined);
    this.child.stdin.end(
      JSON.stringify(toJson({ ...command, url: SHARED_REDIS_URL, prefix, keys: keys ?? [] })),
    );
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      this.child.once('close', resolve);
      this.child.once('error', (error) => {
        this.stderr += `${error.message}\n`;
        resolve(null);
      });
    });
  }

  /** The next event, or undefined once the process has closed its output. */
  async next(): Promise<PyEvent | undefined> {
    const line = await within(this.lines.next(), CALL_TIMEOUT_MS, 'output from Python');
    if (line.done) return undefined;
    const event = JSON.parse(line.value) as PyEvent;
    if (event.event === 'error') {
      // Its traceback is complete on stderr only once the process has closed it.
      await within(this.exited, CALL_TIMEOUT_MS, 'Python to exit').catch(() => undefined);
      throw new Error(`Python: ${event.error}${this.stderrTail()}`);
    }
    return event;
  }

  async expect<K extends PyEvent['event']>(kind: K): Promise<Extract<PyEvent, { event: K }>> {
    const event = await this.next();
    if (event?.event !== kind) {
      const got = JSON.stringify(event);
      throw new Error(`expected a "${kind}" event from Python, got ${got}${this.stderrTail()}`);
    }
    return event as Extract<PyEvent, { event: K }>;
  }

  async finish(): Promise<void> {
    const code = await within(this.exited, CALL_TIMEOUT_MS, 'Python to exit');
    if (code !== 0) throw new Error(`Python exited with ${code}${this.stderrTail()}`);
  }

  /** The end of a traceback names the failing call; the whole one buries the test's output. */
  private stderrTail(): string {
    const lines = this.stderr.trimEnd().split('\n').slice(-6);
    return lines.length > 0 && lines[0] !== '' ? `\n  (Python stderr) ${lines.join('\n  ')}` : '';
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

const test = suite('layer interop with channels_redis 4');
let prefix = '';
const layers: ChannelLayer[] = [];
let raw: Redis;

function gredis(options: Partial<LayerOptions> = {}): ChannelLayer {
  const layer = createLayer(SHARED_REDIS_URL, { prefix, ...options });
  layers.push(layer);
  return layer;
}

/** Runs `body` against a live Python peer; the process never outlives the call. */
async function withPython<T>(
  command: PyCommand,
  body: (peer: PythonPeer) => Promise<T>,
  keys?: string[],
): Promise<T> {
  const peer = new PythonPeer(command, prefix, keys);
  try {
    const result = await body(peer);
    await peer.finish();
    return result;
  } finally {
    peer.kill();
  }
}

/**
 * Runs a command that needs nothing from Gredis while it runs (send, group_send,
 * group_add, …); returns the indexes of sends refused with ChannelFull (count_full).
 */
async function python(command: PyCommand, keys?: string[]): Promise<number[]> {
  const sends = command.action === 'send' || command.action === 'group_send';
  return withPython(
    command,
    async (peer) =>
      sends ? ((await peer.expect('sent')).full ?? []) : (await peer.expect('done'), []),
    keys,
  );
}

function received(layer: ChannelLayer, channel: string): Promise<Message> {
  return within(layer.receive(channel), RECEIVE_TIMEOUT_MS, `Gredis receive on ${channel}`);
}

test.before(() => {
  raw = rawClient();
});
test.after(async () => {
  await raw.quit();
});
test.before.each(() => {
  prefix = testPrefix();
});
test.after.each(async () => {
  for (const layer of layers.splice(0)) {
    await layer.flush();
    await layer.close();
  }
});

test('a message Python sends on a normal channel is received by Gredis with equal values', async () => {
  const layer = gredis();
  const message: Message = { type: 'chat.message', text: 'hello from Python', n: 7 };
  await python({ action: 'send', channel: 'interop.plain', messages: [message] });
  assertSame(await received(layer, 'interop.plain'), message, 'Gredis received');
});

test('Python can send to a Gredis process-specific channel and Gredis receives it there', async () => {
  const layer = gredis();
  const channel = await layer.newChannel('interop');
  const message: Message = { type: 'reply', text: 'to your process', n: -3 };
  await python({ action: 'send', channel, messages: [message] });
  // Equality also proves `__asgi_channel__` was removed before delivery.
  assertSame(await received(layer, channel), message, 'Gredis received');
});

test('what Gredis sends on a normal channel is received by a Python receive', async () => {
  const layer = gredis();
  const message: Message = { type: 'work', text: 'from Gredis', list: [1, 2, 3] };
  await withPython({ action: 'listen', channel: 'interop.to-python' }, async (peer) => {
    await peer.expect('ready');
    await layer.send('interop.to-python', message);
    const got = await peer.expect('received');
    assertSame(messageFromJson(got.message), message, 'Python received');
  });
});

test('Python and Gredis receivers sharing a plain channel get every message once, none twice', async () => {
  // channels_redis keeps each message it pops in "<key>$inflight" until it has
  // handed it over; a Gredis reader that put back what is there before each of
  // its reads (as channels_redis's own receivers do) delivered it a second time.
  const total = 1500;
  const pythonShare = 500;
  const receiver = gredis();
  const sender = gredis({ capacity: total }); // sends may outpace the receivers
  await sender.send('shared.work', { seq: -1 }); // the Gredis reader has started
  assert.equal(await received(receiver, 'shared.work'), { seq: -1 });
  await withPython(
    { action: 'listen', channel: 'shared.work', count: pythonShare },
    async (peer) => {
      await peer.expect('ready');
      const byGredis: number[] = [];
      const receiving = (async () => {
        while (byGredis.length < total - pythonShare)
          byGredis.push((await received(receiver, 'shared.work')).seq as number);
      })();
      for (let seq = 0; seq < total; seq++) await sender.send('shared.work', { seq });
      const byPython: number[] = [];
      for (let i = 0; i < pythonShare; i++)
        byPython.push(((await peer.expect('received')).message as { seq: number }).seq);
      await receiving;
      const seqs = [...byPython, ...byGredis];
      const twice = seqs.filter((seq, i) => seqs.indexOf(seq) !== i);
      assert.equal(twice, [], 'delivered twice');
      assert.equal(
        seqs.sort((a, b) => a - b),
        Array.from({ length: total }, (_, i) => i),
      );
    },
  );
});

test('what Gredis sends to a Python process-specific channel reaches that Python process', async () => {
  const layer = gredis();
  const message: Message = { type: 'reply', text: 'for your process only' };
  await withPython({ action: 'listen', new_channels: 1 }, async (peer) => {
    const [channel] = (await peer.expect('ready')).channels;
    assert.match(channel!, /^specific\.[0-9a-f]{32}![0-9a-f]{32}$/);
    await layer.send(channel!, message);
    const got = await peer.expect('received');
    assert.is(got.channel, channel);
    assertSame(messageFromJson(got.message), message, 'Python received');
  });
});

test('one group send from either side reaches every member of a group shared by both', async () => {
  const layer = gredis();
  const group = 'interop-room';
  const ours = [await layer.newChannel(), await layer.newChannel()];
  for (const channel of ours) await layer.groupAdd(group, channel);
  const fromPython: Message = { type: 'group.message', from: 'python' };
  const fromGredis: Message = { type: 'group.message', from: 'gredis' };
  // Two channels per process: each process key then holds one message naming both.
  const listen: PyCommand = { action: 'listen', new_channels: 2, groups: [group], count: 2 };
  await withPython(listen, async (peer) => {
    const theirs = (await peer.expect('ready')).channels;
    const members = await raw.zrange(`${prefix}:group:${group}`, 0, -1);
    assert.equal(members.sort(), [...ours, ...theirs].sort());

    await python({ action: 'group_send', group, message: fromPython });
    for (const channel of ours) assertSame(await received(layer, channel), fromPython, channel);
    assert.is(await layer.groupSend(group, fromGredis), 0);
    for (const channel of ours) assertSame(await received(layer, channel), fromGredis, channel);

    for (const expected of [fromPython, fromGredis]) {
      for (const channel of theirs) {
        const got = await peer.expect('received');
        assert.is(got.channel, channel);
        assertSame(messageFromJson(got.message), expected, `Python on ${channel}`);
      }
    }
  });
});

test('the crossbar, end to end: a Django Channels process and a MultiChat room on Gredis share their messages', async () => {
  // MultiChat (Thyme and its worker in this process) on the Redis layer, with a
  // chat client in a room; a channels_redis process joins the same room's group.
  const database = sqliteBackend();
  await database.setup();
  const db = await database.openMigrated();
  const fixtures = new Fixtures(db);
  const chat = await EmbeddedChat.start(db, {}, `${SHARED_REDIS_URL}?prefix=${prefix}`);
  try {
    const room = await fixtures.room('Shared');
    const client = await chatClient(
      chat.ports[0]!,
      await fixtures.login(await fixtures.user('ann')),
    );
    client.send(JSON.stringify({ command: 'join', room: room.id }));
    assert.equal(JSON.parse(String(await client.next())).join, String(room.id));
    const group = `room-${room.id}`;
    const listen: PyCommand = { action: 'listen', new_channels: 1, groups: [group], count: 2 };
    await withPython(listen, async (peer) => {
      await peer.expect('ready');
      // What a Django consumer's group_send puts on the wire reaches the browser's socket.
      const announcement = {
        room: String(room.id),
        message: 'from Django',
        username: 'django',
        msg_type: 2,
      };
      await python({
        action: 'group_send',
        group,
        message: { type: 'websocket.send', text: JSON.stringify(announcement) },
      });
      assert.equal(JSON.parse(String(await client.next())), announcement);
      // And a chat message sent through Gredis reaches the Python member.
      client.send(JSON.stringify({ command: 'send', room: room.id, message: 'hello Django' }));
      const echoed = JSON.parse(String(await client.next())) as Record<string, unknown>;
      assert.is(echoed.message, 'hello Django');
      // Python, a member as well, got both: its own broadcast, then the chat message.
      for (const expected of [announcement, echoed]) {
        const got = messageFromJson((await peer.expect('received')).message);
        assert.equal(JSON.parse(String(got.text)), expected, 'Python got the frame the socket got');
      }
    });
    client.ws.terminate();
  } finally {
    await chat.stop();
    await db.close();
    await database.teardown();
  }
});

test('sharded over two servers, Python and Gredis reach each other by direct send and group send', async () => {
  const second = await RedisServer.start();
  const hosts = [SHARED_REDIS_URL, second.url];
  // Not gredis(): it must be flushed and closed while the second server still runs.
  const layer = createLayer(hosts.join(','), { prefix });
  try {
    const group = 'sharded-room';
    // channels_redis sends to a process channel on the host its full name hashes
    // to (its bug #221), but reads the process key where the part up to "!"
    // hashes: with several names, some would hash elsewhere unless chosen not to.
    const ours: string[] = [];
    for (let i = 0; i < 8; i++) {
      const channel = await layer.newChannel();
      await layer.groupAdd(group, channel);
      ours.push(channel);
    }
    const direct: Message = { type: 'direct', from: 'elsewhere' };
    const fromPython: Message = { type: 'group.message', from: 'python' };
    const fromGredis: Message = { type: 'group.message', from: 'gredis' };
    const listen: PyCommand = {
      action: 'listen',
      hosts,
      new_channels: 2,
      groups: [group],
      expect: [fromPython, direct, fromGredis],
    };
    await withPython(listen, async (peer) => {
      const theirs = (await peer.expect('ready')).channels;
      await python({ action: 'send', hosts, channels: ours, messages: [direct] });
      await python({ action: 'group_send', hosts, group, message: fromPython });
      for (const channel of ours) {
        assertSame(await received(layer, channel), direct, `Python's send to ${channel}`);
        assertSame(await received(layer, channel), fromPython, `Python's group send to ${channel}`);
      }
      for (const channel of theirs) await layer.send(channel, direct);
      assert.is(await layer.groupSend(group, fromGredis), 0);
      for (const channel of ours) assertSame(await received(layer, channel), fromGredis, channel);
      await expectSame(peer, 3 * theirs.length);
    });
  } finally {
    await layer.flush();
    await layer.close();
    await second.stop();
  }
});

test('sharded over two servers: plain channels, groups the other side filled, encrypted group sends, and flush', async () => {
  const second = await RedisServer.start();
  const hosts = [SHARED_REDIS_URL, second.url];
  const layer = createLayer(hosts.join(','), { prefix, symmetricEncryptionKeys: KEYS });
  const secondRaw = rawClient(second.url);
  try {
    // Plain channels: each side spreads its sends over both servers, and reads both.
    const six = Array.from({ length: 6 }, (_, i) => ({ i }));
    await python({ action: 'send', hosts, channel: 'sharded.plain', messages: six }, KEYS);
    assert.ok((await secondRaw.zcard(`${prefix}sharded.plain`)) > 0, 'some on the second');
    const got: number[] = [];
    for (let i = 0; i < six.length; i++) {
      got.push((await received(layer, 'sharded.plain')).i as number);
    }
    assert.equal(got.sort(), [0, 1, 2, 3, 4, 5]);
    const listen: PyCommand = { action: 'listen', hosts, channel: 'sharded.plain', count: 6 };
    await withPython(
      listen,
      async (peer) => {
        await peer.expect('ready');
        for (const message of six) await layer.send('sharded.plain', message);
        const byPython: number[] = [];
        for (let i = 0; i < six.length; i++) {
          byPython.push(messageFromJson((await peer.expect('received')).message).i as number);
        }
        assert.equal(byPython.sort(), [0, 1, 2, 3, 4, 5]);
      },
      KEYS,
    );

    // Groups whose members the other side added: Python adds Gredis's channels
    // and Gredis adds Python's, in groups hashed to each server.
    const groups = ['key_one', 'key_two']; // host 1 and host 0 of 2
    const ours = [await layer.newChannel(), await layer.newChannel()];
    const message: Message = { type: 'sealed.group', n: 2 ** 40 };
    const pyListen: PyCommand = {
      action: 'listen',
      hosts,
      new_channels: 2,
      expect: [message, message],
    };
    await withPython(
      pyListen,
      async (peer) => {
        const theirs = (await peer.expect('ready')).channels;
        await python({ action: 'group_add', hosts, group: groups[0]!, channels: ours }, KEYS);
        for (const channel of theirs) await layer.groupAdd(groups[1]!, channel);
        await python({ action: 'group_send', hosts, group: groups[0]!, message }, KEYS);
        for (const channel of ours) assertSame(await received(layer, channel), message, channel);
        assert.is(await layer.groupSend(groups[1]!, message), 0);
        await python({ action: 'group_send', hosts, group: groups[1]!, message }, KEYS);
        await expectSame(peer, 2 * theirs.length);
      },
      KEYS,
    );
    assert.is(await secondRaw.exists(`${prefix}:group:key_one`), 1, 'key_one on host 1');

    // Python's flush empties both servers of what Gredis stored, and the reverse.
    await layer.send('sharded.left', { n: 1 });
    await layer.send('sharded.left', { n: 2 });
    await python({ action: 'flush', hosts });
    for (const client of [raw, secondRaw]) assert.equal(await client.keys(`${prefix}*`), []);
    await python({ action: 'send', hosts, channel: 'sharded.left', messages: six }, KEYS);
    await layer.flush();
    for (const client of [raw, secondRaw]) assert.equal(await client.keys(`${prefix}*`), []);
  } finally {
    secondRaw.disconnect();
    await layer.close();
    await second.stop();
  }
});

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
/**
 * Both sides of every MessagePack integer width boundary, and beyond the largest
 * safe integer as bigints (which Python's ints carry exactly) up to 64 bits.
 */
const INTS: MessageValue[] = [
  ...[0, 1, -1, -32, -33, -(2 ** 53 - 1)],
  ...[2 ** 7, 2 ** 8, 2 ** 15, 2 ** 16, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53]
    .flatMap((n) => [n - 1, n, n + 1, -n, -n - 1])
    .filter((n) => Number.isSafeInteger(n)),
  ...[2n ** 53n, 2n ** 53n + 1n, 2n ** 60n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n],
  ...[-(2n ** 53n), -(2n ** 53n) - 1n, -(2n ** 62n) - 3n, -(2n ** 63n)],
];
/** Past 65535 bytes MessagePack switches to bin32/str32. */
const LARGE_BYTES = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256);
/**
 * Exactly 15 top-level keys: stamping `__asgi_channel__` on a process-specific send
 * makes 16, so the stored map header grows from fixmap to map16 on both sides.
 */
const VALUES: Message = {
  type: 'interop.values',
  bytes: ALL_BYTES,
  large_bytes: LARGE_BYTES,
  empty_bytes: new Uint8Array(0),
  text: 'héllo ✓ 🎉 日本語 Ωμέγα \u0000 "quoted" \\ tab\t',
  long_text: '✓'.repeat(30_000),
  empty_text: '',
  ints: INTS,
  floats: [1.5, -0.25, 0.1, 3.141592653589793, 1e-300, -1.7976931348623157e308, 123_456.789],
  booleans: [true, false],
  nothing: null,
  nested: {
    list: [1, 'two', [3, [4, { five: Uint8Array.of(5, 0, 255) }]], {}, null, false],
    'ключ ✓': { deeper: { deepest: [null, true, -0.5, 'ü'] } },
    empty_list: [],
    empty_dict: {},
  },
  wide: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i % 2 ? i : `v${i}`])),
  mixed_list: [ALL_BYTES, 'text', 2 ** 33, 2.5, true, null, { a: [] }],
  unicode_keys: { é: 1, '🎉': 2, 日本: 3 },
};

test('bytes and nested values survive Python → Gredis → Python exactly (checked by Python)', async () => {
  assert.is(Object.keys(VALUES).length, 15);
  const layer = gredis();
  const ours = await layer.newChannel('echo');
  const listen: PyCommand = {
    action: 'listen',
    new_channels: 1,
    expect: [VALUES],
    then_send: { channel: ours, message: VALUES },
  };
  await withPython(listen, async (peer) => {
    const [theirs] = (await peer.expect('ready')).channels;
    const message = await received(layer, ours);
    assertSame(message, VALUES, 'Gredis received');
    await layer.send(theirs!, message);
    const got = await peer.expect('received');
    assert.ok(got.same, `Python got back something else: ${got.difference}`);
  });
});

/** `{ deep: [[...[leaf]...]] }` with `leaf` at `depth` levels below the message. */
function nested(depth: number, leaf: MessageValue = 'leaf'): Message {
  let value = leaf;
  for (let i = 1; i < depth; i++) value = [value];
  return { deep: value };
}

test("a message nested as deep as Python's msgpack packs passes through Gredis both ways; one level more neither side sends", async () => {
  // Python's packb refuses a value more than 511 levels below the message; Gredis
  // refused anything past 64, so it could not pass on what Python sent it.
  const layer = gredis();
  const ours = await layer.newChannel('echo');
  const deepest = nested(511);
  const listen: PyCommand = {
    action: 'listen',
    new_channels: 1,
    expect: [deepest],
    then_send: { channel: ours, message: deepest },
  };
  await withPython(listen, async (peer) => {
    const [theirs] = (await peer.expect('ready')).channels;
    const message = await received(layer, ours);
    assertSame(message, deepest, 'Gredis received');
    await layer.send(theirs!, message);
    const got = await peer.expect('received');
    assert.ok(got.same, `Python got back something else: ${got.difference}`);
  });
  const tooDeep = nested(512, {});
  const python_ = await python({ action: 'send', channel: 'interop.deep', messages: [tooDeep] })
    .then(() => 'sent')
    .catch((error: Error) => error.message);
  assert.match(python_, /recursion limit exceeded/, 'Python refuses it');
  const error = await layer.send('interop.deep', tooDeep).catch((e: unknown) => e);
  assert.instance(error, InvalidMessage, 'Gredis refuses it');
});

test('messages whose stamped map crosses the map16/map32 boundary go both ways, by send and group send', async () => {
  const layer = gredis();
  const ours = await layer.newChannel();
  const group = 'interop-wide';
  await layer.groupAdd(group, ours);
  // 65534 entries plus the stamp fit map16 (and Gredis's one-script group send);
  // 65535 plus the stamp need map32 on both sides.
  const wide = (count: number): Message =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]));
  const messages = [wide(65_534), wide(65_535)];
  const listen: PyCommand = {
    action: 'listen',
    new_channels: 1,
    groups: [group],
    expect: [...messages, ...messages],
  };
  await withPython(listen, async (peer) => {
    await peer.expect('ready');
    const theirs = (await raw.zrange(`${prefix}:group:${group}`, 0, -1)).filter((c) => c !== ours);
    for (const message of messages)
      await python({ action: 'send', channel: ours, messages: [message] });
    for (const message of messages) await python({ action: 'group_send', group, message });
    for (const message of [...messages, ...messages]) {
      assertSame(await received(layer, ours), message, `${Object.keys(message).length} entries`);
    }
    for (const message of messages) await layer.send(theirs[0]!, message);
    for (const message of messages) assert.is(await layer.groupSend(group, message), 0);
    await expectSame(peer, 4);
    for (const message of messages) assertSame(await received(layer, ours), message, 'group');
  });
});

test('a Python map with bytes keys reaches Gredis with those keys as their UTF-8 text', async () => {
  const layer = gredis();
  const bytesKey = (text: string | Buffer): Message => ({
    [BYTES_TAG]: Buffer.from(text).toString('base64'),
  });
  // interop.py builds {b"type": ..., b"\xff": ..., "n": {b"inner": ...}}: keys Python
  // accepts (str and bytes; channels_redis unpacks with strict_map_key).
  const sent = {
    __map__: [
      [bytesKey('type'), 'legacy.message'],
      [bytesKey(Buffer.from([0xff])), 1],
      ['n', { __map__: [[bytesKey('inner'), [true]]] }],
    ],
  };
  await python({ action: 'send', channel: 'interop.bytes-keys', messages: [sent] });
  assertSame(
    await received(layer, 'interop.bytes-keys'),
    { type: 'legacy.message', '\ufffd': 1, n: { inner: [true] } },
    'Gredis received',
  );
  // A bytes "__proto__" key is refused (the message skipped as malformed), as a
  // str one is: it would set the decoded object's prototype.
  const proto = { __map__: [[bytesKey('__proto__'), { polluted: true }]] };
  await python({ action: 'send', channel: 'interop.bytes-keys', messages: [proto, { n: 2 }] });
  const next = await received(layer, 'interop.bytes-keys');
  assertSame(next, { n: 2 }, 'the message after it');
  assert.is(Object.getPrototypeOf(next), Object.prototype);
});

test('a Python map with number keys is dropped by Gredis, as a channels_redis receiver drops it', async () => {
  // channels_redis unpacks with strict_map_key: its receive raises ValueError for
  // keys other than str and bytes. Gredis delivered them with "1" for 1.
  const layer = gredis();
  const channel = 'interop.number-keys';
  const messages = [
    { __map__: [[1, 'int key']] },
    { n: { __map__: [[2.5, 'float key']] } },
    { ok: true },
  ] as unknown as Message[];
  await python({ action: 'send', channel, messages });
  assert.equal(await pythonOutcomes(channel, 3, []), ['ValueError', 'ValueError', { ok: true }]);
  await python({ action: 'send', channel, messages });
  assertSame(await received(layer, channel), { ok: true }, 'Gredis received');
  assert.is(layer.stats.malformed, 2);
});

test('bytes and nested values survive Gredis → Python → Gredis exactly', async () => {
  const layer = gredis();
  const ours = await layer.newChannel('echo');
  const listen: PyCommand = { action: 'listen', new_channels: 1, expect: [VALUES], echo_to: ours };
  await withPython(listen, async (peer) => {
    const [theirs] = (await peer.expect('ready')).channels;
    await layer.send(theirs!, VALUES);
    const got = await peer.expect('received');
    assert.ok(got.same, `Python received something else: ${got.difference}`);
    assertSame(await received(layer, ours), VALUES, 'Gredis got back');
  });
});

const KEYS = ['secret'];

/**
 * Plaintexts 16 bytes apart: their ciphertexts span consecutive AES block counts,
 * so the Fernet tokens take every base64 length class (with and without "=").
 */
function sealedMessages(from: string): Message[] {
  return [
    ...Array.from({ length: 6 }, (_, i) => ({
      text: `sealed by ${from}`,
      i,
      pad: 'x'.repeat(16 * i),
    })),
    { text: `sealed by ${from}`, bytes: ALL_BYTES, n: 2 ** 40, f: -0.25 },
  ];
}

/** The stored bodies under `key`, after the 12-byte random prefix, oldest first. */
async function storedTokens(key: string): Promise<string[]> {
  const stored = await raw.zrangeBuffer(key, 0, -1);
  return stored.map((member) => member.subarray(12).toString('latin1'));
}

async function assertStoredEncrypted(key: string, count: number, plaintext: string): Promise<void> {
  const tokens = await storedTokens(key);
  assert.is(tokens.length, count, `messages stored under ${key}`);
  for (const token of tokens) {
    // Fernet's version byte 0x80 makes every token's base64url text start "gAAAAA".
    assert.match(token, /^gAAAAA[\w-]+={0,2}$/, 'the stored body is a Fernet token');
    assert.not.ok(token.includes(plaintext), 'the plaintext is not visible in Redis');
  }
}

async function receiveAll(
  layer: ChannelLayer,
  channel: string,
  expected: Message[],
): Promise<void> {
  for (const [i, message] of expected.entries()) {
    assertSame(await received(layer, channel), message, `Gredis received #${i} on ${channel}`);
  }
}

async function expectSame(peer: PythonPeer, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const got = await peer.expect('received');
    assert.ok(got.same, `Python received something else as #${i}: ${got.difference}`);
  }
}

test('with the same symmetric_encryption_keys, encrypted messages from Python reach Gredis', async () => {
  const layer = gredis({ symmetricEncryptionKeys: KEYS });
  const messages = sealedMessages('Python');
  await python({ action: 'send', channel: 'interop.secret', messages }, KEYS);
  await assertStoredEncrypted(`${prefix}interop.secret`, messages.length, 'sealed by Python');
  await receiveAll(layer, 'interop.secret', messages);
});

test('with the same symmetric_encryption_keys, encrypted messages from Gredis reach Python', async () => {
  const layer = gredis({ symmetricEncryptionKeys: KEYS });
  const messages = sealedMessages('Gredis');
  for (const message of messages) await layer.send('interop.secret', message);
  await assertStoredEncrypted(`${prefix}interop.secret`, messages.length, 'sealed by Gredis');
  const plain: PyCommand = { action: 'listen', channel: 'interop.secret', expect: messages };
  await withPython(
    plain,
    async (peer) => {
      await peer.expect('ready');
      await expectSame(peer, messages.length);
    },
    KEYS,
  );

  // A process channel, and Python's re-encrypted echo back to Gredis.
  const specific: PyCommand = {
    action: 'listen',
    new_channels: 1,
    expect: messages,
    echo_to: 'interop.echo',
  };
  await withPython(
    specific,
    async (peer) => {
      const [theirs] = (await peer.expect('ready')).channels;
      for (const message of messages) await layer.send(theirs!, message);
      await expectSame(peer, messages.length);
      await receiveAll(layer, 'interop.echo', messages);
    },
    KEYS,
  );
});

test("Gredis writes Fernet tokens as padded base64url, the form Python's Fernet writes and reads", async () => {
  const layer = gredis({ symmetricEncryptionKeys: KEYS });
  await python(
    { action: 'send', channel: 'interop.python', messages: sealedMessages('Python') },
    KEYS,
  );
  for (const message of sealedMessages('Gredis')) await layer.send('interop.gredis', message);
  for (const side of ['python', 'gredis']) {
    for (const token of await storedTokens(`${prefix}interop.${side}`)) {
      assert.ok(
        token.length % 4 === 0,
        `a ${side} token of ${token.length} characters is not padded to a multiple of 4`,
      );
    }
  }
});

/** What a Python listener on `channel` got for each of `rounds` receives: a message, or its error. */
async function pythonOutcomes(
  channel: string,
  rounds: number,
  keys: string[],
): Promise<(Message | string)[]> {
  const listen: PyCommand = { action: 'listen', channel, count: rounds, report_errors: true };
  return withPython(
    listen,
    async (peer) => {
      await peer.expect('ready');
      const outcomes: (Message | string)[] = [];
      for (let i = 0; i < rounds; i++) {
        const event = await peer.next();
        if (event?.event === 'received') outcomes.push(messageFromJson(event.message));
        else if (event?.event === 'receive_error') outcomes.push(event.error.split(':')[0]!);
        else throw new Error(`unexpected event from Python: ${JSON.stringify(event)}`);
      }
      return outcomes;
    },
    keys,
  );
}

test('rotated keys: either side decrypts with any of its keys what the other encrypted with its first', async () => {
  const [oldKey, newKey] = ['old secret', 'new secret'];
  // Python still on the old key alone; Gredis rotated to [new, old].
  const rotated = gredis({ symmetricEncryptionKeys: [newKey, oldKey] });
  await python({ action: 'send', channel: 'interop.rotate', messages: [{ by: 'old' }] }, [oldKey]);
  assertSame(await received(rotated, 'interop.rotate'), { by: 'old' }, 'Gredis [new, old]');
  // Gredis writes with its first key, which Python reads once it has it in its list.
  await rotated.send('interop.rotate', { by: 'new' });
  assert.equal(await pythonOutcomes('interop.rotate', 1, [oldKey, newKey]), [{ by: 'new' }]);
  // The reverse: Python rotated to [new, old], Gredis still on the old key alone.
  const stale = gredis({ symmetricEncryptionKeys: [oldKey] });
  await stale.send('interop.rotate', { by: 'stale' });
  assert.equal(await pythonOutcomes('interop.rotate', 1, [newKey, oldKey]), [{ by: 'stale' }]);
});

test('a message under a key the receiver lacks is dropped by both sides, and the next one arrives', async () => {
  // channels_redis's receive raises InvalidToken for it, the message gone; a
  // Gredis reader logs and skips it (MalformedPayload, never thrown to callers).
  const layer = gredis({ symmetricEncryptionKeys: KEYS });
  const channel = 'interop.foreign-key';
  await python({ action: 'send', channel, messages: [{ n: 1 }] }, ['someone else']);
  await python({ action: 'send', channel, messages: [{ n: 2 }] }, KEYS);
  assertSame(await received(layer, channel), { n: 2 }, 'Gredis received');
  assert.is(layer.stats.malformed, 1, 'the foreign message was counted as malformed');
  assert.is(await raw.exists(`${prefix}${channel}`), 0, 'nothing is left behind');

  const foreign = gredis({ symmetricEncryptionKeys: ['someone else'] });
  await foreign.send(channel, { n: 3 });
  await layer.send(channel, { n: 4 });
  // Two layers' scores (each its estimate of the server's clock) may come out
  // in either order: no order across senders is promised.
  const outcomes = await pythonOutcomes(channel, 2, KEYS);
  assert.is(outcomes.length, 2);
  assert.ok(outcomes.includes('InvalidToken'), `Python's outcomes: ${JSON.stringify(outcomes)}`);
  assert.equal(
    outcomes.find((outcome) => typeof outcome !== 'string'),
    { n: 4 },
  );
});

test("a token stamped more than a minute ahead of the reader's clock is dropped, as Python's Fernet drops it", async () => {
  // cryptography's Fernet refuses a token from over 60 s in the future
  // (_MAX_CLOCK_SKEW) as it refuses one past its ttl; Gredis accepted it.
  const layer = gredis({ symmetricEncryptionKeys: KEYS });
  const channel = 'interop.skew';
  const sendAll = async (): Promise<void> => {
    for (const [n, offset] of [
      [1, 120],
      [2, 0],
      [3, 50],
    ] as const) {
      await python(
        { action: 'send', channel, messages: [{ n }], token_clock_offset: offset },
        KEYS,
      );
    }
  };
  await sendAll();
  assert.equal(await pythonOutcomes(channel, 3, KEYS), ['InvalidToken', { n: 2 }, { n: 3 }]);
  await sendAll();
  assertSame(await received(layer, channel), { n: 2 }, 'Gredis received first');
  assertSame(await received(layer, channel), { n: 3 }, 'then, 50 s ahead (within the skew)');
  assert.is(layer.stats.malformed, 1);
});

test('ChannelFull at the same count on both sides: default capacity, a pattern, a process key', async () => {
  const options = { capacity: 3, channel_capacity: { 'small.*': 2 } };
  const layer = gredis({ capacity: 3, channelCapacity: { 'small.*': 2 } });
  const four = [0, 1, 2, 3].map((i) => ({ i }));
  assert.equal(
    await python({
      action: 'send',
      channel: 'cap.plain',
      messages: four,
      count_full: true,
      options,
    }),
    [3],
    'Python: the 4th send of capacity 3 is refused',
  );
  await rejects(() => layer.send('cap.plain', { i: 4 }), ChannelFull);
  await layer.send('small.one', { i: 0 });
  await layer.send('small.one', { i: 1 });
  const one = [{ i: 2 }];
  assert.equal(
    await python({
      action: 'send',
      channel: 'small.one',
      messages: one,
      count_full: true,
      options,
    }),
    [0],
    'Python: "small.*" holds 2',
  );
  // A process key counts every channel of the process; the pattern sees the full name.
  const [a, b] = [await layer.newChannel('small'), await layer.newChannel('small')];
  await layer.send(a!, { i: 0 });
  assert.equal(
    await python({ action: 'send', channel: b!, messages: four, count_full: true, options }),
    [1, 2, 3],
  );
  await rejects(() => layer.send(a!, { i: 1 }), ChannelFull);
  assertSame(await received(layer, a!), { i: 0 }, 'the first on a');
  assertSame(await received(layer, b!), { i: 0 }, 'the first on b');
});

test('a group send from either side skips a full member without error and reaches the others', async () => {
  const options = { capacity: 2 };
  const layer = gredis({ capacity: 2 });
  const group = 'interop-full';
  const ours = await layer.newChannel();
  await python({ action: 'group_add', group, channels: ['member.full', ours], options });
  // Filled by both sides: Python's first send, then Gredis's.
  await python({ action: 'send', channel: 'member.full', messages: [{ i: 0 }], options });
  await layer.send('member.full', { i: 1 });
  await python({ action: 'group_send', group, message: { from: 'python' }, options });
  assertSame(await received(layer, ours), { from: 'python' }, 'Python group send to ours');
  assert.is(await layer.groupSend(group, { from: 'gredis' }), 1, 'Gredis reports the full member');
  assertSame(await received(layer, ours), { from: 'gredis' }, 'Gredis group send to ours');
  assert.is(await raw.zcard(`${prefix}member.full`), 2, 'the full member got neither');
  assertSame(await received(layer, 'member.full'), { i: 0 }, 'member.full kept its own');
});

test('group members added and discarded from either side, expiry of members and messages, flush from either side', async () => {
  // Expiries of 3 s: a Python process's start (each command spawns one) takes
  // 0.2 s on an idle machine and may take over 1 s beside a browser test.
  const layer = gredis({ groupExpiry: 3, expiry: 3 });
  const group = 'interop-members';
  const key = `${prefix}:group:${group}`;
  await python({ action: 'group_add', group, channels: ['m.a', 'm.b'] });
  await layer.groupAdd(group, 'm.c');
  await layer.groupDiscard(group, 'm.a');
  await python({ action: 'group_discard', group, channels: ['m.c'] });
  assert.equal(await raw.zrange(key, 0, -1), ['m.b']);
  // Members are dropped, and messages not delivered, past Gredis's own expiries,
  // whoever added or sent them.
  await python({ action: 'send', channel: 'm.late', messages: [{ n: 'old' }] });
  await new Promise((resolve) => setTimeout(resolve, 3200));
  await python({ action: 'send', channel: 'm.late', messages: [{ n: 'new' }] });
  await layer.groupAdd(group, 'm.d');
  assert.is(await layer.groupSend(group, { to: 'members' }), 0);
  assert.equal(await raw.zrange(key, 0, -1), ['m.d'], 'm.b (added 3.2 s ago) expired');
  assertSame(await received(layer, 'm.late'), { n: 'new' }, 'the old message is not delivered');
  assertSame(await received(layer, 'm.d'), { to: 'members' }, 'm.d');
  // Each side's flush deletes the other's keys (and only under its prefix).
  const keysUnder = async (): Promise<string[]> => (await raw.keys(`${prefix}*`)).sort();
  await layer.send('m.e', { n: 1 });
  await python({ action: 'flush' });
  assert.equal(await keysUnder(), []);
  await python({ action: 'group_add', group, channels: ['m.f'] });
  await python({ action: 'send', channel: 'm.f', messages: [{ n: 1 }] });
  assert.equal(await keysUnder(), [key, `${prefix}m.f`].sort());
  await layer.flush();
  assert.equal(await keysUnder(), []);
});

test('consistent hashing picks the host channels_redis picks, for every kind of name and host count', async () => {
  const names = [
    'key_one',
    'key_two',
    'http.request',
    'room-1',
    'room-1.b',
    ...Array.from({ length: 60 }, (_, i) => `group-${i * 7919}`),
    ...Array.from(
      { length: 60 },
      (_, i) => `specific.${(i * 2654435761).toString(16).padStart(32, '0')}!`,
    ),
    ...Array.from(
      { length: 60 },
      (_, i) => `specific.0123456789abcdef0123456789abcdef!${i.toString(36)}`,
    ),
    'ü-ключ-日本',
  ];
  const sizes = [2, 3, 5, 7, 10, 16];
  const expected = await runPython<number[][]>('consistent_hash.py', { names, ring_sizes: sizes });
  for (const [s, size] of sizes.entries()) {
    for (const [n, name] of names.entries()) {
      assert.is(consistentHash(name, size), expected[s]![n], `${name} over ${size} hosts`);
    }
  }
});

test('names: Gredis accepts exactly the channel and group names channels accepts, and uses them with Python', async () => {
  // channels validates with Python's re: "\d" and "\w" are Unicode, "$" also
  // matches before a final newline, and the length is in code points.
  const names = [
    'room',
    'room-٣',
    'room１',
    'roomé',
    'room\n',
    'room\n\n',
    '\nroom',
    'x.y!é日本𝒜_1',
    'x.y!a\u0301',
    'x.y!a b',
    'x.y!abc\n',
    'x.y!٣!',
    `x.y!${'𝒜'.repeat(95)}`,
    `x.y!${'𝒜'.repeat(96)}`,
    'x'.repeat(99),
    'x'.repeat(100),
    'ünïcode',
    '',
  ];
  const expected = await runPython<{ channel: boolean[]; group: boolean[] }>('name_cases.py', {
    names,
  });
  const layer = gredis();
  for (const [i, name] of names.entries()) {
    const channelError = await layer.send(name, {}).catch((e: unknown) => e);
    assert.is(
      !(channelError instanceof InvalidChannelName),
      expected.channel[i],
      `channel ${JSON.stringify(name)}`,
    );
    const groupError = await layer.groupSend(name, {}).catch((e: unknown) => e);
    assert.is(
      !(groupError instanceof InvalidGroupName),
      expected.group[i],
      `group ${JSON.stringify(name)}`,
    );
  }
  await layer.flush();

  // A group and channels with such names, used from both sides.
  const group = 'salle-٣';
  const ours = `${await layer.newChannel()}é`;
  await python({ action: 'group_add', group, channels: [ours, 'file-٣'] });
  await python({ action: 'group_send', group, message: { from: 'python' } });
  assertSame(await received(layer, ours), { from: 'python' }, ours);
  assertSame(await received(layer, 'file-٣'), { from: 'python' }, 'file-٣');
  await layer.groupAdd(group, 'file-٣');
  assert.is(await layer.groupSend(group, { from: 'gredis' }), 0);
  assertSame(await received(layer, ours), { from: 'gredis' }, ours);
  await withPython({ action: 'listen', channel: 'file-٣' }, async (peer) => {
    await peer.expect('ready');
    assertSame(
      messageFromJson((await peer.expect('received')).message),
      { from: 'gredis' },
      'Python',
    );
  });
});

test("capacity patterns match as channels_redis's fnmatch does, in Node and in Redis's Lua", async () => {
  const patterns = [
    'room*',
    'room?',
    'room[0-9]',
    'room[!0-9]',
    'room[]]',
    'room[!]]x',
    'room[a-]',
    'room[-a]',
    'room[z-a]',
    'room[!z-a]',
    'room[az-ab]',
    'room[a-c-e]',
    'room[.!]x',
    'room[',
    'room[x',
    'a.b-c_d!*',
    'specific.*!abc',
    '*[0-9][0-9]',
    // Names may hold any letter past the "!", and any digit: "?" and a negated set
    // take one character of them, which Lua's "." took one byte of.
    'x.y!?',
    'x.y!??',
    'x.y![!a]',
    'x.y!?[0-9]',
    'salle-?',
    'salle-٣*',
    '*!*é',
  ];
  const names = [
    'room',
    'room1',
    'room7',
    'roomx',
    'room]',
    'room]x',
    'roomax',
    'room-',
    'rooma',
    'roomb',
    'roomc',
    'roomd',
    'roome',
    'room.x',
    'room!x',
    'room[',
    'room[x',
    'room12',
    'a.b-c_d!xyz',
    'axb-c_d!',
    'specific.abc123!abc',
    'web99',
    'x.y!é',
    'x.y!éa',
    'x.y!a',
    'x.y!𝒜',
    'x.y!日1',
    'salle-٣',
    'salle-٣٤',
    'x.y!abcé',
  ];
  const expected = await runPython<boolean[][]>('fnmatch_cases.py', { patterns, names });
  for (const [p, pattern] of patterns.entries()) {
    const node = names.map((name) => globToRegExp(pattern).test(name));
    const lua = (await raw.eval(
      'local out = {} for i = 2, #ARGV do out[i - 1] = string.find(ARGV[i], ARGV[1]) and 1 or 0 end return out',
      0,
      globToLuaPattern(pattern),
      ...names,
    )) as number[];
    for (const [n, name] of names.entries()) {
      assert.is(node[n], expected[p]![n], `Node: ${pattern} against ${name}`);
      assert.is(lua[n] === 1, expected[p]![n], `Lua: ${pattern} against ${name}`);
    }
  }
});

test("Gredis stores group members under Python's key <prefix>:group:<group>", async () => {
  const layer = gredis();
  const channel = await layer.newChannel();
  await layer.groupAdd('room-1', channel);

  const key = `${prefix}:group:room-1`;
  assert.is(await raw.type(key), 'zset');
  const score = Number(await raw.zscore(key, channel));
  assert.ok(Math.abs(score - Date.now() / 1000) < 5, `member scored by add time, got ${score}`);
  assert.ok((await raw.ttl(key)) > 86_000, 'the group key expires after groupExpiry');

  const message: Message = { type: 'room.message', text: 'hi from Python' };
  await python({ action: 'group_send', group: 'room-1', message });
  assertSame(await received(layer, channel), message, 'Gredis received');
});

test.run();
