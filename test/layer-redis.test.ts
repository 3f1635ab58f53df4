/**
 * What only the Redis layer has: the stored format, key names, sharding, round
 * trips, idleness, and behaviour under faults. The shared contract is in
 * layer-contract.test.ts.
 */
import type { Test } from 'uvu';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { Encoder } from '@msgpack/msgpack';
import { ReplyError, type Redis } from 'ioredis';
import {
  ChannelFull,
  consistentHash,
  createLayer,
  type ChannelLayer,
  type LaneTurn,
  type LayerOptions,
  type Message,
} from '../src/index.js';
import { InvalidLayerUrl, LayerClosed, LayerUnavailable } from '../src/layer/errors.js';
import { briefError } from '../src/logger.js';
import { Exposition } from '../src/metrics/exposition.js';
import * as laneScriptModules from '../src/layer/redis/lane-scripts.js';
import * as scriptModules from '../src/layer/redis/scripts.js';
import { DRY_READS, LuaScript } from '../src/layer/redis/scripts.js';
import { parseLayerUrl, redactUrl, type RedisHostConfig } from '../src/layer/url.js';
import { rejects } from './helpers/assert.js';
import { captureLogs, ERROR, WARN, type CapturedLine } from './helpers/log-capture.js';
import { testPrefix } from './helpers/layers.js';
import { RedisSentinel, RedisServer, rawClient, SHARED_REDIS_URL } from './helpers/redis-server.js';
import { withAclUser, type AclUser } from './helpers/redis-acl.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { settledWithin, sleep, waitFor, within } from './helpers/wait.js';

const open: ChannelLayer[] = [];
const raws: Redis[] = [];
let prefix = '';

function layer(options: Partial<LayerOptions> = {}, url = SHARED_REDIS_URL): ChannelLayer {
  const made = createLayer(url, { prefix, ...options });
  open.push(made);
  return made;
}

function raw(url = SHARED_REDIS_URL): Redis {
  const client = rawClient(url);
  raws.push(client);
  return client;
}

async function cleanup(): Promise<void> {
  for (const made of open.splice(0)) {
    try {
      await made.flush();
    } catch {
      // closed or its server is gone
    }
    await made.close();
  }
  for (const client of raws.splice(0)) client.disconnect();
}

/**
 * A suite of this file: each of its tests has a fresh prefix, and the layers
 * and clients it made are closed after it. With `ownServer`, the suite runs a
 * private redis-server for its tests (one they restart, pause or count the
 * commands of), handed to `ownServer` once started and stopped after the suite.
 */
function layerSuite(name: string, ownServer?: (server: RedisServer) => void): Test {
  const test = suite(name);
  if (ownServer) {
    let server: RedisServer | undefined;
    test.before(async () => {
      server = await RedisServer.start();
      ownServer(server);
    });
    test.after(async () => {
      await server?.stop();
    });
  }
  test.before.each(() => {
    prefix = testPrefix();
  });
  test.after.each(cleanup);
  return test;
}

/**
 * How long a test waits for what must happen (a message to arrive, a close to
 * end): reached only when a test fails, so generous, since a loaded CI machine
 * can stall a correct run for seconds.
 */
const ARRIVES_MS = 10_000;

/** Layer options that encrypt: group sends and lane effects then go one by one, not in one script. */
const SEALED = { symmetricEncryptionKeys: ['a key long enough for Fernet, here'] };

/**
 * Asserts that `key` expires `ms` after a write made since `since`
 * (performance.now() before the write): its PTTL is at most `ms`, and at least
 * `ms` less the time since then. A bound fixed in advance fails a correct
 * layer on a machine that stalls between the write and the PTTL.
 */
async function assertExpiresIn(key: string, ms: number, since: number): Promise<void> {
  const ttl = await raw().pttl(key);
  const elapsed = Math.ceil(performance.now() - since);
  assert.ok(
    ttl <= ms && ttl >= ms - elapsed,
    `${key}: PTTL ${ttl} ms, ${elapsed} ms after a write that should have set ${ms} ms`,
  );
}

// ---------------------------------------------------------------------------
const format = layerSuite('redis layer: wire format');

format('consistentHash matches channels_redis vectors', () => {
  assert.is(consistentHash('key_one', 1), 0);
  assert.is(consistentHash('key_one', 2), 1);
  assert.is(consistentHash('key_two', 2), 0);
  assert.is(consistentHash('key_one', 10), 6);
  assert.is(consistentHash('key_two', 10), 4);
});

format('stored bytes are 12 random bytes then MessagePack, scored by send time', async () => {
  const sender = layer();
  const before = Date.now() / 1000;
  const sent = performance.now();
  await sender.send('wire.test', { a: true, b: null, c: { d: [] } });
  await sender.send('wire.test', { a: true, b: null, c: { d: [] } });
  const stored = await raw().zrangeBuffer(`${prefix}wire.test`, 0, -1, 'WITHSCORES');
  assert.is(stored.length, 4, 'two distinct members despite equal content');
  const payload = stored[0]!;
  assert.is(payload.subarray(12).toString('hex'), '83a161c3a162c0a16381a16490');
  assert.is.not(
    payload.subarray(0, 12).toString('hex'),
    stored[2]!.subarray(0, 12).toString('hex'),
  );
  const score = Number(stored[1]!.toString());
  assert.ok(
    score >= before - 1 && score <= Date.now() / 1000 + 1,
    `score ${score} is the send time`,
  );
  // The key expires with the layer expiry (60 s).
  await assertExpiresIn(`${prefix}wire.test`, 60_000, sent);
});

format('strings are str, bytes are bin, floats are float64', async () => {
  const sender = layer();
  await sender.send('wire.types', { s: 'x', b: Uint8Array.of(1), f: 0.5 });
  const [payload] = await raw().zrangeBuffer(`${prefix}wire.types`, 0, -1);
  const expected = new Encoder().encode({ s: 'x', b: Uint8Array.of(1), f: 0.5 });
  assert.is(payload!.subarray(12).toString('hex'), Buffer.from(expected).toString('hex'));
  assert.ok(payload!.subarray(12).includes(Buffer.from([0xc4, 0x01, 0x01])), 'bin 8');
  assert.ok(payload!.subarray(12).includes(Buffer.from([0xcb, 0x3f, 0xe0])), 'float 64');
});

format(
  'a process-specific send stores under the non-local name, stamped with the full name',
  async () => {
    const receiver = layer();
    const channel = await receiver.newChannel('thyme.response');
    await layer().send(channel, { x: 1 });
    const key = `${prefix}thyme.response.${receiver.clientPrefix}!`;
    const [payload] = await raw().zrangeBuffer(key, 0, -1);
    assert.ok(payload, `stored in ${key}`);
    const packed = payload!.subarray(12);
    assert.ok(packed.includes(Buffer.from('__asgi_channel__')));
    assert.ok(packed.includes(Buffer.from(channel)));
    assert.equal(await receiver.receive(channel), { x: 1 });
  },
);

format(
  'groups live in "<prefix>:group:<name>", scored by add time, expiring after groupExpiry',
  async () => {
    const sender = layer({ groupExpiry: 500 });
    const added = performance.now();
    await sender.groupAdd('room-1', 'member.one');
    const members = await raw().zrange(`${prefix}:group:room-1`, 0, -1, 'WITHSCORES');
    assert.is(members[0], 'member.one');
    assert.ok(Math.abs(Number(members[1]) - Date.now() / 1000) < 5);
    await assertExpiresIn(`${prefix}:group:room-1`, 500_000, added);
  },
);

format(
  'a fractional groupExpiry: group keys and lanes live for it rounded up to whole seconds',
  async () => {
    // 11 s rounded up, 10 s rounded down or to the nearest: a bound that tells
    // them apart leaves a second for a stall, where 1.5 left half of one (and a
    // key gone after 2 s).
    const sender = layer({ groupExpiry: 10.25 });
    const group = `${prefix}:group:room-1`;
    // EXPIRE refuses "10.25": both the MULTI of groupAdd and every lane script failed.
    const added = performance.now();
    await sender.groupAdd('room-1', 'member.one');
    await assertExpiresIn(group, 11_000, added);
    await sender.lanes.announce('lane.one', 0, { type: 'e' });
    assert.is((await sender.lanes.claim('lane.one', 0, { type: 'e' })).kind, 'run');
    await raw().del(group);
    // The turn's group add goes with LANE_COMMIT's own arguments (one server, no encryption).
    const applied = performance.now();
    await sender.lanes.apply('lane.one', 0, [
      { kind: 'groupAdd', group: 'room-1', channel: 'member.two' },
    ]);
    assert.equal(await raw().zrange(group, 0, -1), ['member.two']);
    await assertExpiresIn(group, 11_000, applied);
  },
);

format(
  "groupAdd fails, as channels_redis's does, when Redis refuses one of its commands",
  async () => {
    const sender = layer();
    await raw().set(`${prefix}:group:taken`, 'not a sorted set');
    // Its ZADD and EXPIRE go in one MULTI, whose exec() hands back such errors as replies.
    const error = await rejects(() => sender.groupAdd('taken', 'member.one'), ReplyError);
    assert.match(error.message, /WRONGTYPE/);
  },
);

format(
  'a group send to many channels of one process stores one message listing them all',
  async () => {
    const receiver = layer();
    const sender = layer();
    const channels = await Promise.all(Array.from({ length: 20 }, () => receiver.newChannel()));
    for (const channel of channels) await sender.groupAdd('one-process', channel);
    const before = sender.stats.roundTrips;
    await sender.groupSend('one-process', { text: 'hi' });
    assert.is(sender.stats.roundTrips - before, 1, 'one script: members and delivery');
    const stored = await raw().zrangeBuffer(`${prefix}specific.${receiver.clientPrefix}!`, 0, -1);
    assert.is(stored.length, 1);
    for (const channel of channels) assert.ok(stored[0]!.includes(Buffer.from(channel)));
    for (const channel of channels) assert.equal(await receiver.receive(channel), { text: 'hi' });
  },
);

format('groupSend to 200 members on 200 keys still takes one round trip', async () => {
  const sender = layer();
  for (let i = 0; i < 200; i++) await sender.groupAdd('wide', `member.n${i}`);
  const before = sender.stats.roundTrips;
  assert.is(await sender.groupSend('wide', { n: 1 }), 0);
  assert.is(sender.stats.roundTrips - before, 1);
  assert.equal(await sender.receive('member.n199'), { n: 1 });
});

format(
  'channelCapacity takes fnmatch globs only, and refuses any other form at creation',
  async () => {
    const bad: [unknown, RegExp][] = [
      [[[/^tight\./, 1]], /\/\^tight\\.\/ is a RegExp; patterns are globs as Python's fnmatch/],
      [{ 'tight.*': 0 }, /capacity of "tight\.\*" must be a positive number, got 0/],
      [{ 'tight.*': '2' }, /capacity of "tight\.\*" must be a positive number, got "2"/],
      [{ 'tight.*': NaN }, /must be a positive number, got NaN/],
      [[['tight.*']], /each entry must be a \[glob, capacity\] pair, got \["tight\.\*"\]/],
      ['tight.*=1', /must be an object \(or Map\) of glob → capacity/],
    ];
    for (const [channelCapacity, reason] of bad) {
      try {
        layer({ channelCapacity: channelCapacity as LayerOptions['channelCapacity'] });
        assert.unreachable(String(channelCapacity));
      } catch (error) {
        assert.match((error as Error).message, reason);
        assert.match((error as Error).message, /layer option "channelCapacity"/);
      }
    }
    // A Map keeps its order, as Python's dict does: the first match wins.
    const sender = layer({
      channelCapacity: new Map([
        ['tight.[0-9]', 1],
        ['tight.*', 3],
      ]),
    });
    await sender.send('tight.1', { n: 1 });
    await rejects(() => sender.send('tight.1', { n: 2 }), ChannelFull);
    for (let n = 0; n < 3; n++) await sender.send('tight.x', { n });
    await rejects(() => sender.send('tight.x', { n: 3 }), ChannelFull);
  },
);

format('group sends made in one turn are one script, each to its own members', async () => {
  const receiver = layer();
  const sender = layer({ channelCapacity: [['tight.*', 1]] });
  const a = await receiver.newChannel();
  const tight = await receiver.newChannel('tight');
  await sender.groupAdd('one', a);
  await sender.groupAdd('two', a);
  await sender.groupAdd('two', tight);
  await sender.send(tight, { filler: true });
  const before = sender.stats.roundTrips;
  const skipped = await Promise.all([
    sender.groupSend('one', { g: 1 }),
    sender.groupSend('two', { g: 2 }),
    sender.groupSend('nobody', { g: 3 }),
  ]);
  assert.equal(skipped, [0, 1, 0]);
  assert.is(sender.stats.roundTrips - before, 1);
  assert.equal(await receiver.receive(a), { g: 1 });
  assert.equal(await receiver.receive(a), { g: 2 });
  assert.equal(await receiver.receive(tight), { filler: true });
});

format(
  'encrypted, a group send reads the members, then stores with one script (only this side can encrypt)',
  async () => {
    const receiver = layer(SEALED);
    const sender = layer(SEALED);
    const channels = await Promise.all(Array.from({ length: 5 }, () => receiver.newChannel()));
    for (const channel of channels) await sender.groupAdd('secret', channel);
    await sender.groupAdd('secret', 'plain.secret');
    const before = sender.stats.roundTrips;
    assert.is(await sender.groupSend('secret', { text: 'psst' }), 0);
    assert.is(sender.stats.roundTrips - before, 2, 'members, then one script');
    for (const channel of [...channels, 'plain.secret'])
      assert.equal(await receiver.receive(channel), { text: 'psst' });
  },
);

format(
  'a group send made in a script stores what the codec would, map header included',
  async () => {
    const receiver = layer();
    const sender = layer();
    const channel = await receiver.newChannel();
    await sender.groupAdd('shape', channel);
    // 17 entries: the map header becomes map16 once the stamp is added.
    const wide = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]));
    await sender.groupSend('shape', { ...wide, text: 'é ✓', bytes: Uint8Array.of(0, 255) });
    const { bytes, ...rest } = await receiver.receive(channel);
    assert.equal(rest, { ...wide, text: 'é ✓' });
    assert.ok(bytes instanceof Uint8Array);
    assert.equal([...bytes], [0, 255]);
    await sender.groupSend('shape', { small: true });
    assert.equal(await receiver.receive(channel), { small: true });
  },
);

format(
  'sends made in one turn are one script: each key takes them in order until it is full',
  async () => {
    const receiver = layer();
    const sender = layer({ capacity: 3 });
    const channel = await receiver.newChannel();
    const before = sender.stats.roundTrips;
    const sends = [0, 1, 2, 3, 4].map((n) => sender.send(channel, { n }));
    sends.push(sender.send('other.key', { n: 9 }));
    const outcomes = await Promise.allSettled(sends);
    assert.equal(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled'],
    );
    const refused = outcomes[3] as PromiseRejectedResult;
    assert.is((refused.reason as Error).name, 'ChannelFull');
    assert.is(sender.stats.roundTrips - before, 1);
    for (const n of [0, 1, 2]) assert.equal(await receiver.receive(channel), { n });
    assert.equal(await receiver.receive('other.key'), { n: 9 });
  },
);

format('a message older than expiry is never delivered, even if still stored', async () => {
  const receiver = layer({ expiry: 10 });
  const sender = layer({ expiry: 10 });
  await sender.send('old.news', { fresh: false });
  // Age the stored message as if it had waited 20 s on a quiet key.
  const key = `${prefix}old.news`;
  const [member] = await raw().zrangeBuffer(key, 0, -1);
  await raw().zadd(key, Date.now() / 1000 - 20, member!);
  await sender.send('old.news', { fresh: true });
  assert.equal(await receiver.receive('old.news'), { fresh: true });
});

format(
  "a sender whose host's clock is minutes slow is not taken for expired: the layer keeps Redis's time",
  async () => {
    const receiver = layer({ expiry: 10 });
    const sender = layer({ expiry: 10 });
    const specific = await receiver.newChannel();
    // Each has read the server's clock. TIME is sent when the connection is
    // ready, which whenReady() waits for, and replies come in order: a command
    // sent after it is answered after it. A command sent before (queued until the
    // connection was ready) is not: ioredis sends its offline queue first, and
    // about one layer in ten then had its first reply before the clock's, and
    // stamped the skewed sends below with this host's slow clock.
    for (const made of [sender, receiver]) {
      await made.whenReady();
      await made.groupDiscard('skew-group', 'skew.none');
    }
    const realNow = Date.now;
    Date.now = () => realNow() - 120_000; // the sender's host runs two minutes slow
    try {
      await sender.send('skew.plain', { n: 1 });
      await sender.send(specific, { n: 2 });
      await sender.groupAdd('skew-group', specific);
      assert.is(await sender.groupSend('skew-group', { n: 3 }), 0);
    } finally {
      Date.now = realNow;
    }
    assert.equal(await within(receiver.receive('skew.plain'), ARRIVES_MS), { n: 1 });
    assert.equal(await within(receiver.receive(specific), ARRIVES_MS), { n: 2 });
    assert.equal(await within(receiver.receive(specific), ARRIVES_MS), { n: 3 });
  },
);

format('sends made in one tick go as one batched script, each with its own outcome', async () => {
  const sender = layer({ capacity: 3 });
  const before = sender.stats.roundTrips;
  const outcomes = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) => sender.send('batched.full', { i })),
  );
  assert.is(sender.stats.roundTrips - before, 1, 'one round trip for ten sends');
  assert.equal(
    outcomes.map((o) => o.status),
    [...Array(3).fill('fulfilled'), ...Array(7).fill('rejected')],
  );
  for (let i = 0; i < 3; i++) assert.equal(await sender.receive('batched.full'), { i });
});

format.run();

// ---------------------------------------------------------------------------
let second: RedisServer;
const sharding = layerSuite(
  'redis layer: sharding across two servers',
  (server) => (second = server),
);

sharding('process-specific channels and groups land on the host their name hashes to', async () => {
  const url = `${SHARED_REDIS_URL},${second.url}`;
  const hosts = [raw(), raw(second.url)];
  const receiver = layer({}, url);
  const sender = layer({}, url);
  for (let i = 0; i < 6; i++) {
    const channel = await receiver.newChannel(`p${i}`);
    const nonLocal = channel.slice(0, channel.indexOf('!') + 1);
    await sender.send(channel, { i });
    const index = consistentHash(nonLocal, 2);
    assert.is(await hosts[index]!.zcard(`${prefix}${nonLocal}`), 1, `on host ${index}`);
    assert.is(await hosts[1 - index]!.exists(`${prefix}${nonLocal}`), 0);
    assert.equal(await receiver.receive(channel), { i });
  }
  for (const group of ['key_one', 'key_two']) {
    await sender.groupAdd(group, 'x.y');
    const index = consistentHash(group, 2);
    assert.is(await hosts[index]!.exists(`${prefix}:group:${group}`), 1);
    assert.is(await hosts[1 - index]!.exists(`${prefix}:group:${group}`), 0);
  }
});

sharding('plain channels are spread round-robin and every host is read', async () => {
  const url = `${SHARED_REDIS_URL},${second.url}`;
  const sender = layer({}, url);
  const receiver = layer({}, url);
  for (let i = 0; i < 10; i++) await sender.send('spread.out', { i });
  const counts = [
    await raw().zcard(`${prefix}spread.out`),
    await raw(second.url).zcard(`${prefix}spread.out`),
  ];
  assert.equal(counts, [5, 5]);
  const got = new Set<number>();
  for (let i = 0; i < 10; i++) got.add((await receiver.receive('spread.out')).i as number);
  assert.is(got.size, 10);
});

sharding('a group send reaches members on both hosts with one script per host', async () => {
  const url = `${SHARED_REDIS_URL},${second.url}`;
  const sender = layer({}, url);
  const receivers = [layer({}, url), layer({}, url), layer({}, url), layer({}, url)];
  const channels = await Promise.all(receivers.map((r) => r.newChannel()));
  const hostsUsed = new Set(channels.map((c) => consistentHash(c.slice(0, c.indexOf('!') + 1), 2)));
  for (const channel of channels) await sender.groupAdd('both', channel);
  const before = sender.stats.roundTrips;
  await sender.groupSend('both', { n: 1 });
  assert.is(sender.stats.roundTrips - before, 1 + hostsUsed.size);
  for (const [i, receiver] of receivers.entries())
    assert.equal(await receiver.receive(channels[i]!), { n: 1 });
});

sharding(
  'flush deletes every key starting with the prefix, on every host, and only those',
  async () => {
    const url = `${SHARED_REDIS_URL},${second.url}`;
    const hosts = [raw(), raw(second.url)];
    // Glob characters in the prefix are literal: "[x]" must not match "x".
    const flushing = layer({ prefix: `${prefix}[x]` }, url);
    const kept = [`${prefix}x.kept`, `other${prefix}[x].kept`];
    for (const host of hosts) for (const key of kept) await host.set(key, '1');
    // Plain sends alternate hosts: more keys on each than one batch deletes.
    await Promise.all(Array.from({ length: 2500 }, (_, i) => flushing.send(`flush.n${i}`, { i })));
    await flushing.groupAdd('key_one', 'flush.n0');
    await flushing.groupAdd('key_two', 'flush.n0');
    const under = async (host: Redis): Promise<number> =>
      (await host.keys(`${prefix}\\[x\\]*`)).length;
    assert.ok((await under(hosts[0]!)) > 1000 && (await under(hosts[1]!)) > 1000);
    await flushing.flush();
    assert.equal([await under(hosts[0]!), await under(hosts[1]!)], [0, 0]);
    for (const host of hosts) {
      assert.is(await host.exists(...kept), kept.length, 'keys outside the prefix are left');
      await host.del(...kept);
    }
  },
);

sharding.run();

// ---------------------------------------------------------------------------
let quiet: RedisServer;
const idle = layerSuite('redis layer: no polling', (server) => (quiet = server));

function commandStats(info: string): Map<string, number> {
  const stats = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    stats.set(match[1]!, Number(match[2]));
  return stats;
}

idle('an idle layer with many pending receives issues no Redis commands', async () => {
  const receiver = layer({}, quiet.url);
  const channels = await Promise.all(Array.from({ length: 300 }, () => receiver.newChannel()));
  const pending = [
    ...channels.map((c) => receiver.receive(c)),
    ...['http.request', 'websocket.connect', 'websocket.receive', 'websocket.disconnect'].map((c) =>
      receiver.receive(c),
    ),
  ].map((p) => p.catch((e: unknown) => e));
  const inspector = raw(quiet.url);
  // Let the readers start (CLIENT ID, the $inflight check, the blocking read).
  await waitFor(
    async () => /blocked_clients:5/.test(await inspector.info('clients')),
    5000,
    '5 blocked readers',
  );
  const before = commandStats(await inspector.info('commandstats'));
  await sleep(3000);
  const after = commandStats(await inspector.info('commandstats'));
  const changed = [...after].filter(
    ([name, calls]) => name !== 'info' && calls !== (before.get(name) ?? 0),
  );
  assert.equal(changed, [], `commands issued while idle: ${JSON.stringify(changed)}`);
  const readers = (await inspector.client('LIST')) as string;
  assert.is(readers.match(/name=gredis-reader/g)?.length, 5, 'one blocking connection per key');
  assert.ok(/cmd=bzmpop|cmd=bzpopmin/.test(readers));
  await receiver.send(channels[123]!, { wake: true });
  assert.equal(await within(pending[123]!, ARRIVES_MS), { wake: true });
  await receiver.close();
  await Promise.all(pending);
});

idle.run();

// ---------------------------------------------------------------------------
let flaky: RedisServer;
const faults = layerSuite('redis layer: faults', (server) => (flaky = server));
/** How often a layer logging to `lines` has dropped its connections to a silent server. */
function dropsIn(lines: CapturedLine[]): number {
  return lines.filter((line) => /stopped answering/.test(line.msg)).length;
}

/** How many of `lines` are warnings matching `pattern`. */
function warnings(lines: CapturedLine[], pattern: RegExp): number {
  return lines.filter((line) => line.level === WARN && pattern.test(line.msg)).length;
}

/** A layer that connects to the faults suite's server as an ACL user, and what it logged. */
interface LimitedLayer {
  user: AclUser;
  limited: ChannelLayer;
  lines: CapturedLine[];
}

/**
 * Runs `body` with a layer that connects to the faults suite's server as an
 * ACL user with `rules` (withAclUser), logging to `lines`: once it is ready,
 * unless `ready` is false (a user refused what the layer reads at connecting,
 * or a test whose first call is what connects), with `options` for the layer.
 */
function withLimitedLayer(
  rules: readonly string[],
  body: (made: LimitedLayer) => Promise<void>,
  { ready = true, options = {} }: { ready?: boolean; options?: Partial<LayerOptions> } = {},
): Promise<void> {
  return withAclUser(
    rules,
    async (user) => {
      const { logger, lines } = captureLogs();
      const limited = layer({ ...options, logger }, user.url());
      if (ready) await limited.whenReady();
      await body({ user, limited, lines });
    },
    flaky,
  );
}

/** Asserts that `limited`'s one host is refused (not ready), for a reason matching `refusal` if given. */
function assertRefused(limited: ChannelLayer, refusal?: RegExp, message = 'refused'): void {
  const health = limited.health();
  assert.not.ok(health.ok, message);
  assert.is(health.hosts[0]!.status, 'refused');
  if (refusal) assert.match(health.hosts[0]!.refusal!, refusal);
}

/**
 * Asserts that `limited`'s host stays refused across three health() calls,
 * 0.6 s apart: each probes again (the refused call run dry), and is refused.
 */
async function assertStaysRefused(limited: ChannelLayer, refusal?: RegExp): Promise<void> {
  for (let i = 0; i < 3; i++, await sleep(600)) assertRefused(limited, refusal, 'still refused');
}

/**
 * Asserts that finishing `lane`'s event 0 from `layer` hands over its parked
 * event 1 ({ e: 1 }), on the saved state.
 */
async function assertFinishHandsOver(layer: ChannelLayer, lane: string): Promise<void> {
  assert.equal(await layer.lanes.finish(lane, 0, { saved: 1 }), {
    lane,
    order: 1,
    event: { e: 1 },
    state: { saved: 1 },
  });
}

/**
 * Waits until `limited`'s host is refused, then asserts that `call`, begun with
 * a command it needs refused, is still waiting to be allowed 1.5 s on.
 */
async function assertWaitsToBeAllowed(
  limited: ChannelLayer,
  call: Promise<unknown>,
): Promise<void> {
  call.catch(() => undefined); // failed, the test awaits it later; unawaited, it ends the run
  await waitFor(() => !limited.health().ok, ARRIVES_MS, 'the host refused');
  assert.is(await settledWithin(call, 1500), 'pending', 'waiting to be allowed');
}

/** Grants `user` the ACL `rules`, and waits until `limited`'s probe finds them: ready again. */
async function grant(user: AclUser, limited: ChannelLayer, ...rules: string[]): Promise<void> {
  await user.set(...rules);
  await waitFor(() => limited.health().ok, ARRIVES_MS, 'ready again, found by the probe');
}

faults(
  'a receive blocked while Redis restarts resumes when it returns, with a logged warning',
  async () => {
    const { logger, lines } = captureLogs();
    const receiver = layer({ logger }, flaky.url);
    const channel = await receiver.newChannel();
    const plain = receiver.receive('survives.restart');
    const specific = receiver.receive(channel);
    await sleep(200);
    await flaky.restart(500);
    const sender = layer({}, flaky.url);
    await within(
      (async () => {
        for (;;) {
          try {
            await sender.send('survives.restart', { after: 'restart' });
            await sender.send(channel, { after: 'restart' });
            return;
          } catch {
            await sleep(100);
          }
        }
      })(),
      10_000,
      'sending after restart',
    );
    assert.equal(await within(plain, 10_000, 'plain receive'), { after: 'restart' });
    assert.equal(await within(specific, 10_000, 'specific receive'), { after: 'restart' });
    await waitFor(
      () => lines.some((l) => l.level === WARN && /lost the channel layer host/.test(l.msg)),
      2000,
    );
    assert.ok(
      lines.every((l) => l.level < ERROR),
      'nothing logged as an error',
    );
  },
);

faults(
  'close during a receive returns promptly and a message already popped goes back to Redis',
  async () => {
    const a = layer({}, flaky.url);
    const b = layer({}, flaky.url);
    const controller = new AbortController();
    const given = a.receive('handed.out', { signal: controller.signal }).catch((e: unknown) => e);
    // Waited for rather than slept on: on a loaded machine a fixed pause can end
    // before the read is made, or the message is put back, and the test then
    // passes without doing what it says.
    const inspector = raw(flaky.url);
    await waitFor(
      async () => /blocked_clients:[1-9]/.test(await inspector.info('clients')),
      ARRIVES_MS,
      "a's blocked read",
    ); // a's reader is now blocked in Redis on behalf of a receiver...
    controller.abort(); // ...that gives up; the blocked read stays in Redis
    await given;
    const trips = a.stats.roundTrips; // a's reader reads on a connection of its own
    await b.send('handed.out', { precious: true }); // popped by a's reader, with nobody to hand it to
    await waitFor(() => a.stats.roundTrips > trips, ARRIVES_MS, 'the message put back');
    const started = Date.now();
    const pendingOther = a.receive('other.channel').catch((e: unknown) => e);
    // A close that waited for its blocked reads (no timeout) would never end;
    // one that is prompt may still take a second or two on a loaded machine.
    await within(a.close(), 5000, 'close');
    assert.ok(Date.now() - started < 5000);
    await pendingOther;
    const ttl = await raw(flaky.url).ttl(`${prefix}handed.out`);
    assert.ok(ttl > 0, `the key it went back to expires like any channel key (ttl ${ttl})`);
    assert.equal(await within(b.receive('handed.out'), ARRIVES_MS), { precious: true });
  },
);

faults(
  'malformed bytes in a channel key are logged and skipped; the reader keeps going',
  async () => {
    const { logger, lines } = captureLogs();
    const receiver = layer({ logger }, flaky.url);
    const channel = await receiver.newChannel();
    const client = raw(flaky.url);
    // A second in the past: every entry sorts before the good messages sent next
    // (whose scores are their send times, possibly within a millisecond of now).
    const now = Date.now() / 1000 - 1;
    const processKey = `${prefix}${channel.slice(0, channel.indexOf('!') + 1)}`;
    await client.zadd(`${prefix}garbage.in`, now, Buffer.from('123456789012\xc1\xff not msgpack'));
    await client.zadd(`${prefix}garbage.in`, now + 0.001, Buffer.from('short'));
    await client.zadd(processKey, now, Buffer.from('123456789012\x93\x01\x02\x03')); // a list, not a map
    await layer({}, flaky.url).send('garbage.in', { good: 1 });
    await layer({}, flaky.url).send(channel, { good: 2 });
    assert.equal(await within(receiver.receive('garbage.in'), ARRIVES_MS), { good: 1 });
    assert.equal(await within(receiver.receive(channel), ARRIVES_MS), { good: 2 });
    assert.ok(receiver.stats.malformed >= 3, `malformed counted (${receiver.stats.malformed})`);
    assert.match(
      new Exposition().layer(receiver).text(),
      `\ngredis_layer_malformed_messages_total ${receiver.stats.malformed}\n`,
    );
    assert.ok(lines.filter((l) => l.level === ERROR && /malformed/.test(l.msg)).length >= 3);
  },
);

faults(
  'a message left in "<key>$inflight" by an interrupted channels_redis receiver is delivered',
  async () => {
    const sender = layer({}, flaky.url);
    await sender.send('left.behind', { rescued: true });
    const client = raw(flaky.url);
    const key = `${prefix}left.behind`;
    const popped = await client.zpopminBuffer(key);
    await client.zadd(`${key}$inflight`, Number(popped[1]!.toString()), popped[0]!);
    assert.equal(await within(layer({}, flaky.url).receive('left.behind'), ARRIVES_MS), {
      rescued: true,
    });
    assert.is(await client.exists(`${key}$inflight`), 0);
  },
);

faults(
  'a message stranded in "$inflight" while a reader runs is put back once it stays there, not at once',
  async () => {
    const receiver = layer({ inflightLook: 1 }, flaky.url); // 5 s by default
    const sender = layer({}, flaky.url);
    await sender.send('mid.run', { n: 0 });
    assert.equal(await within(receiver.receive('mid.run'), ARRIVES_MS), { n: 0 }); // the reader runs
    // A channels_redis receiver on the same channel dies mid-handover:
    await sender.send('mid.run', { stranded: true });
    const client = raw(flaky.url);
    const key = `${prefix}mid.run`;
    const popped = await client.zpopminBuffer(key);
    await client.zadd(`${key}$inflight`, Number(popped[1]!.toString()), popped[0]!);
    // Reads go on; a live receiver's hand-over would be over in milliseconds, so
    // only one still there at a later look (1 s on) is put back.
    const started = Date.now();
    const got: Message[] = [];
    for (let n = 1; !got.some((message) => message.stranded); n++) {
      // Normally 1 to 2 s (the second look); later on a loaded machine.
      assert.ok(Date.now() - started < 20_000, 'put back within 20 s');
      await sender.send('mid.run', { n });
      got.push(await within(receiver.receive('mid.run'), ARRIVES_MS));
      await sleep(250);
    }
    const after = (Date.now() - started) / 1000;
    assert.ok(after >= 0.9, `not at the next read, 0.25 s on (${after} s)`);
    assert.is(await client.exists(`${key}$inflight`), 0);
    assert.is(got.filter((message) => message.stranded).length, 1, 'delivered once');
  },
);

faults(
  'a server back without its data is reported once to every process; a mere reconnection is not',
  async () => {
    const lost: string[][] = [[], []];
    const [a, b] = [layer({}, flaky.url), layer({}, flaky.url)];
    a.onStorageLost((host) => lost[0]!.push(host));
    b.onStorageLost((host) => lost[1]!.push(host));
    await a.send('warm.up', { n: 1 }); // both connected and their marker read
    await b.send('warm.up', { n: 2 });
    await sleep(100);
    // Connections dropped, data kept: nothing to report. Nor when the marker
    // alone went (a flush, an eviction) while the server ran on.
    for (const dropMarker of [false, true]) {
      const killer = rawClient(flaky.url);
      if (dropMarker) await killer.del(`${prefix}gredis:epoch`);
      await killer.client('KILL', 'TYPE', 'normal').catch(() => undefined); // itself too
      killer.disconnect();
      await waitFor(async () => a.health().ok && b.health().ok, 10_000, 'reconnected');
      await a.send('after.kill', { n: 3 });
      await sleep(300);
      assert.equal(lost, [[], []], dropMarker ? 'marker dropped' : 'connections dropped');
    }
    // A restart without persistence: each process hears it, whichever reconnects first.
    await flaky.restart(300);
    await waitFor(async () => lost[0]!.length > 0 && lost[1]!.length > 0, 10_000, 'both told');
    await sleep(300);
    const label = a.health().hosts[0]!.url; // the host as the layer names it
    assert.equal(lost, [[label], [label]]);
  },
);

faults('a send made just before close() still reaches Redis', async () => {
  const sender = layer({}, flaky.url);
  await sender.send('last.words', { warmed: true }); // connected
  const sent = sender.send('last.words', { last: true });
  const grouped = sender.groupSend('nobody.here', { last: true });
  await sender.close();
  assert.is(await sent, undefined);
  assert.is(await grouped, 0);
  const receiver = layer({}, flaky.url);
  assert.equal(await within(receiver.receive('last.words'), ARRIVES_MS), { warmed: true });
  assert.equal(await within(receiver.receive('last.words'), ARRIVES_MS), { last: true });
});

faults('a send while Redis is down fails with LayerUnavailable instead of hanging', async () => {
  const sender = layer({}, flaky.url);
  await sender.send('probe', { up: true });
  await flaky.kill();
  try {
    const error = await within(
      sender.send('probe', { up: false }).catch((e: unknown) => e),
      10_000,
      'failing send',
    );
    assert.is((error as { code?: string }).code, 'GREDIS_LAYER_UNAVAILABLE');
    // As the one-line warning says it (briefError): why, not ioredis's advice on a
    // setting ("Refer to maxRetriesPerRequest option") no operator of Gredis has.
    const { error: said } = briefError(error);
    assert.match(said, /is unavailable: not connected, reconnecting: connect ECONNREFUSED/);
    assert.not.match(said, /maxRetriesPerRequest/);
    assert.is(sender.health().ok, false);
  } finally {
    await flaky.startProcess();
  }
  await waitFor(() => sender.health().ok, 10_000, 'health to recover');
  assert.is(await settledWithin(sender.send('probe', { up: 'again' }), 5000), undefined);
});

faults(
  'Redis out of memory (maxmemory, noeviction): a refused write is LayerUnavailable naming why, wrote nothing, and works once memory frees',
  async () => {
    const { logger, lines } = captureLogs();
    const user = layer({ logger }, flaky.url);
    await user.groupAdd('oom.room', 'oom.a');
    await user.lanes.announce('oom.lane', 1, { n: 1 });
    const admin = raw(flaky.url);
    const laneBefore = await admin.hgetall(`${prefix}gredis:lane:oom.lane`);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    try {
      for (const [what, refused] of [
        ['groupAdd (a MULTI)', () => user.groupAdd('oom.room', 'oom.b')],
        ['a lane script', () => user.lanes.announce('oom.lane', 2, { n: 2 })],
      ] as const) {
        const error = await rejects(refused, LayerUnavailable, what);
        assert.match(error.message, /out of memory/, what);
      }
      assert.equal(await admin.zrange(`${prefix}:group:oom.room`, 0, -1), ['oom.a']);
      assert.equal(await admin.hgetall(`${prefix}gredis:lane:oom.lane`), laneBefore);
      // A socket's first event registers this process as a holder of lanes (a
      // SADD, refused): a warning in one line, not a bug's stack.
      await user.lanes.announceAndSend('oom.socket', 0, { n: 0 }, 'oom.worker').catch(() => {});
      await waitFor(
        () => lines.some((line) => /holder of lanes/.test(line.msg)),
        ARRIVES_MS,
        'the failed registration to be logged',
      );
      const registration = lines.find((line) => /holder of lanes/.test(line.msg))!;
      assert.is(registration.err, undefined, 'logged as a bug, with its stack');
      assert.match(String(registration.error), /out of memory/);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    await user.groupAdd('oom.room', 'oom.b');
    await user.lanes.announce('oom.lane', 2, { n: 2 });
    assert.equal(await admin.zrange(`${prefix}:group:oom.room`, 0, -1), ['oom.a', 'oom.b']);
  },
);

faults(
  'Redis out of memory when a reader must put back what "$inflight" holds: it backs off, and delivers the message once memory frees',
  async () => {
    const user = layer({}, flaky.url);
    await user.send('oom.inflight', { left: 'by a receiver that died' });
    const admin = raw(flaky.url);
    const key = `${prefix}oom.inflight`;
    const [payload, score] = await admin.zpopminBuffer(key);
    await admin.zadd(`${key}$inflight`, score!, payload!);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    const commands = async (): Promise<number> =>
      Number(/total_commands_processed:(\d+)/.exec(await admin.info('stats'))![1]);
    let received: Promise<unknown>;
    try {
      const before = await commands();
      // Caught: a failed assertion below must not leave it to reject unheard at cleanup.
      received = user.receive('oom.inflight').catch((error: unknown) => error);
      await sleep(1000);
      const spent = (await commands()) - before;
      assert.ok(spent < 100, `${spent} commands in a second: the reader does not back off`);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    assert.equal(await within(received, ARRIVES_MS), { left: 'by a receiver that died' });
  },
);

faults(
  "an ACL user without access to the prefix's keys: each call fails as LayerUnavailable naming the refusal (NOPERM), groupAdd's MULTI and groupDiscard too",
  () =>
    withLimitedLayer(
      ['~elsewhere:*', '+@all'],
      async ({ limited }) => {
        for (const [what, call] of [
          ['send (a script)', () => limited.send('acl.probe', { n: 1 })],
          ['groupAdd (a MULTI)', () => limited.groupAdd('acl.room', 'acl.probe')],
          ['groupDiscard (a ZREM)', () => limited.groupDiscard('acl.room', 'acl.probe')],
        ] as const) {
          const error = await rejects(call, LayerUnavailable, what);
          assert.match(error.message, /refused for lack of permission$/, what);
          assert.instance(error.cause, ReplyError, what);
          assert.match((error.cause as Error).message, /^NOPERM .*keys/, what);
        }
      },
      { ready: false },
    ),
);

faults(
  'an ACL user that may not BZMPOP: the reader says what it lacks, once; the host is refused (not ready) until granted, then the message arrives',
  () =>
    withLimitedLayer(['~*', '&*', '+@all', '-bzmpop'], async ({ user, limited, lines }) => {
      assert.ok(limited.health().ok, 'ready before anything was refused');
      const channel = await limited.newChannel();
      // Caught: a failed assertion below must not leave it to reject unheard at close.
      const received = limited.receive(channel).catch((error: unknown) => error);
      const said = (): number => warnings(lines, /lacks \+bzmpop to read .*'bzmpop' command/);
      await waitFor(() => said() > 0, ARRIVES_MS, 'the refusal, said at warn');
      assertRefused(limited, /^NOPERM .*'bzmpop'/);
      await layer({}, flaky.url).send(channel, { n: 1 });
      await sleep(1500); // retries, backing off
      assert.not.ok(limited.health().ok, 'still refused');
      assert.is(said(), 1, 'said once, not at every retry');
      await user.set('+bzmpop');
      assert.equal(await within(received, ARRIVES_MS), { n: 1 });
      await waitFor(() => limited.health().ok, ARRIVES_MS, 'ready again');
      assert.ok(lines.some((line) => /may read again/.test(line.msg)));
    }),
);

faults(
  'an ACL user that may EVAL but not EVALSHA: each send fails as LayerUnavailable naming evalsha, the host is refused until granted, then sends work',
  () =>
    withLimitedLayer(['~*', '&*', '+@all', '-evalsha'], async ({ user, limited, lines }) => {
      for (let i = 0; i < 3; i++) {
        const error = await rejects(() => limited.send('acl.sha', { i }), LayerUnavailable);
        assert.match((error.cause as Error).message, /^NOPERM .*'evalsha' command/);
      }
      assert.is(warnings(lines, /lacks \+evalsha to run the layer's scripts/), 1, 'said once');
      await assertStaysRefused(limited);
      await grant(user, limited, '+evalsha');
      await limited.send('acl.sha', { i: 3 });
      assert.equal(await within(layer({}, flaky.url).receive('acl.sha'), ARRIVES_MS), { i: 3 });
    }),
);

faults(
  "an ACL user that may run the scripts but not the ZADD in them (Redis 7 would refuse it only inside the script): send is LayerUnavailable naming zadd and the key, the host refused, said once, and the probe's dry run keeps it so until ZADD is granted",
  () =>
    withLimitedLayer(['~*', '&*', '+@all', '-zadd'], async ({ user, limited, lines }) => {
      for (let i = 0; i < 2; i++) {
        const error = await rejects(() => limited.send('acl.inside', { i }), LayerUnavailable);
        assert.match(error.message, /refused for lack of permission$/);
        assert.match(
          (error.cause as Error).message,
          /^ERR The user executing the script can't run the 'zadd' command on the key '[^']*acl\.inside' \(asked by a send before it stored anything\)/,
        );
      }
      assert.is(
        warnings(lines, /lacks \+zadd on the key \S*acl\.inside to run the layer's scripts/),
        1,
        'said once',
      );
      // EVALSHA on the call's keys is allowed: only a probe that runs the
      // script's own commands (dry) keeps the host refused.
      await assertStaysRefused(limited, /can't run the 'zadd' command/);
      assert.is(await user.admin.exists(`${prefix}acl.inside`), 0, 'the probe wrote nothing');
      await grant(user, limited, '+zadd');
      await limited.send('acl.inside', { i: 2 });
      assert.equal(await within(layer({}, flaky.url).receive('acl.inside'), ARRIVES_MS), {
        i: 2,
      });
    }),
);

faults(
  'an ACL user that may not EXPIRE: a send, alone or batched, is LayerUnavailable naming expire and stores nothing, rather than a message stored for good (no expiry) while its sender is told it failed; the host is refused, said once, until granted',
  () =>
    withLimitedLayer(['~*', '&*', '+@all', '-expire'], async ({ user, limited, lines }) => {
      const key = `${prefix}acl.expire`;
      const error = await rejects(() => limited.send('acl.expire', { n: 1 }), LayerUnavailable);
      assert.is(await user.admin.exists(key), 0, 'nothing stored');
      assert.match((error.cause as Error).message, /can't run the 'expire' command/);
      // Sent in one turn, two sends share one script call (SEND's batched form).
      const batched = await Promise.allSettled([
        limited.send('acl.expire', { n: 2 }),
        limited.send('acl.expire', { n: 3 }),
      ]);
      assert.equal(
        batched.map(({ status }) => status),
        ['rejected', 'rejected'],
      );
      assert.is(await user.admin.exists(key), 0, 'nothing stored by the batch');
      await assertStaysRefused(limited, /can't run the 'expire' command/);
      assert.is(
        warnings(lines, /lacks \+expire on the key \S*acl\.expire to run the layer's scripts/),
        1,
        'said once',
      );
      await grant(user, limited, '+expire');
      await limited.send('acl.expire', { n: 4 });
      assert.ok((await user.admin.ttl(key)) > 0, 'stored, expiring');
      assert.equal(await within(layer({}, flaky.url).receive('acl.expire'), ARRIVES_MS), { n: 4 });
    }),
);

faults(
  'an ACL user that may ZADD to some channels only: sends batched in one script call, to one it may and one it may not, store nothing, rather than one message stored while its sender is told it failed',
  () =>
    // An ACL selector (Redis 7) grants ZADD on one channel's key alone: a
    // refusal per key, found by Redis only when the script reaches that key.
    withLimitedLayer(
      ['~*', '&*', '+@all', '-zadd', `(+zadd ~${prefix}acl.zadd.granted)`],
      async ({ user, limited }) => {
        const batched = await Promise.allSettled([
          limited.send('acl.zadd.granted', { n: 1 }),
          limited.send('acl.zadd.refused', { n: 2 }),
        ]);
        assert.equal(
          batched.map(({ status }) => status),
          ['rejected', 'rejected'],
        );
        assert.is(
          await user.admin.exists(`${prefix}acl.zadd.granted`),
          0,
          'nothing stored by the batch',
        );
        // Asked before the first ZADD, it names the command, as a refusal of EXPIRE does.
        const [granted] = batched as PromiseRejectedResult[];
        assert.match(
          ((granted!.reason as Error).cause as Error).message,
          /can't run the 'zadd' command/,
        );
      },
    ),
);

faults(
  "an ACL user refused two scripts' commands (a send's ZCARD, a lane deposit's HINCRBY): health names both, each said once, and the host stays refused until both are granted, not only the last refused",
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all', '-zcard', '-hincrby'],
      async ({ user, limited, lines }) => {
        await rejects(() => limited.send('acl.two', { n: 1 }), LayerUnavailable);
        await rejects(() => limited.lanes.announce('acl.two', 1, { e: 1 }), LayerUnavailable);
        const both =
          /script can't run this command[^]*'hincrby'|'hincrby'[^]*script can't run this command/;
        assertRefused(limited, both);
        assert.is(warnings(lines, /lacks a command its scripts run/), 1, 'the send, said once');
        assert.is(warnings(lines, /lacks \+hincrby/), 1, 'the deposit, said once');
        await user.set('+hincrby');
        // The send's script is still refused: the probe, running each refused call dry, says so.
        await assertStaysRefused(limited, /script can't run this command/);
        assert.not.match(limited.health().hosts[0]!.refusal!, /'hincrby'/, 'granted, not named');
        await grant(user, limited, '+zcard');
        await limited.send('acl.two', { n: 2 });
        await limited.lanes.announce('acl.two', 1, { e: 1 });
      },
    ),
);

faults(
  "an ACL user that may write the group's key but not its members' keys: groupSend (one script computing the members' keys) is LayerUnavailable, and the host stays refused until the members' keys are granted",
  () =>
    withLimitedLayer(
      ['%R~*', `~${prefix}:group:*`, '&*', '+@all'],
      async ({ user, limited }) => {
        const full = layer({}, flaky.url);
        await full.groupAdd('acl.keys', 'acl.member');
        const error = await rejects(
          () => limited.groupSend('acl.keys', { n: 1 }),
          LayerUnavailable,
        );
        assert.match(
          (error.cause as Error).message,
          /^ERR The user executing the script can't run the 'zremrangebyscore' command on the key '[^']*acl\.member'/,
        );
        await assertStaysRefused(limited);
        await grant(user, limited, '~*');
        await limited.groupSend('acl.keys', { n: 2 });
        assert.equal(await within(full.receive('acl.member'), ARRIVES_MS), { n: 2 });
      },
      { ready: false },
    ),
);

/**
 * ACL rules for a user that may read every key and write the layer's own keys
 * and the groups, and of the channels only those whose name starts with
 * "acl.a" (per-key patterns): "acl.b…" is refused every write.
 */
function onlyChannelsA(): string[] {
  return ['%R~*', `~${prefix}:group:*`, `~${prefix}gredis:*`, `~${prefix}acl.a*`, '&*', '+@all'];
}

/** The refusal, raised by a script before it wrote anything, of its first write to `key`. */
function refusedBefore(asker: string, key: string): RegExp {
  return new RegExp(
    `^ERR The user executing the script can't run the 'zremrangebyscore' command on the key '${key}' \\(asked by ${asker}\\)`,
  );
}

/**
 * Asserts that `channels` each hold one message, `message`, read by `reader`:
 * stored once.
 */
async function assertEachOnce(
  reader: ChannelLayer,
  admin: Redis,
  channels: readonly string[],
  message: Message,
): Promise<void> {
  for (const channel of channels) {
    assert.is(await admin.zcard(`${prefix}${channel}`), 1, `${channel}: one message`);
    assert.equal(await within(reader.receive(channel), ARRIVES_MS), message, channel);
  }
}

faults(
  "an ACL user that may write one member's channel key and not another's (per-key patterns): a group send (one script computing the members' keys) is LayerUnavailable naming the refused write and key, and stores nothing, neither the first member's copy nor the sweep of expired messages and members; sent again once granted, each member gets it once",
  () =>
    withLimitedLayer(
      onlyChannelsA(),
      async ({ user, limited, lines }) => {
        const full = layer({}, flaky.url);
        const [allowed, group] = [`${prefix}acl.a`, `${prefix}:group:acl.split`];
        // acl.a first: its copy would be stored first, ahead of the refused one.
        await full.groupAdd('acl.split', 'acl.a');
        await full.groupAdd('acl.split', 'acl.b');
        await user.admin.zadd(allowed, 1, 'an expired message');
        await user.admin.zadd(group, 1, 'acl.expired');
        const contents = () =>
          Promise.all([allowed, group].map((key) => user.admin.zrange(key, 0, -1, 'WITHSCORES')));
        const before = await contents();
        const error = await rejects(
          () => limited.groupSend('acl.split', { n: 1 }),
          LayerUnavailable,
        );
        assert.equal(await contents(), before, 'no copy stored, nothing swept');
        assert.match(
          (error.cause as Error).message,
          refusedBefore('a group send before it stored anything', `${prefix}acl.b`),
        );
        // Refused the same write on another key: not news, said once.
        await full.groupAdd('acl.other', 'acl.b2');
        await rejects(() => limited.groupSend('acl.other', { n: 1 }), LayerUnavailable);
        const said = lines.filter((line) => /lacks \+zremrangebyscore on the key/.test(line.msg));
        assert.is(said.length, 1, 'said once');
        assert.match(said[0]!.msg, /on the key \S*acl\.b to run the layer's scripts/);
        await grant(user, limited, '~*');
        await limited.groupSend('acl.split', { n: 2 });
        await assertEachOnce(full, user.admin, ['acl.a', 'acl.b'], { n: 2 });
      },
      { ready: false },
    ),
);

faults(
  "an ACL user that may write one member's channel key and not another's, encrypted (the members' keys declared to one GROUP_DELIVER, which Redis checks before running it): nothing stored, and the log names the keys it may lack, not only the first, which it may write",
  () =>
    withLimitedLayer(
      onlyChannelsA(),
      async ({ user, limited, lines }) => {
        const full = layer(SEALED, flaky.url);
        await full.groupAdd('acl.split', 'acl.a');
        await full.groupAdd('acl.split', 'acl.b');
        const error = await rejects(
          () => limited.groupSend('acl.split', { n: 1 }),
          LayerUnavailable,
        );
        assert.match((error.cause as Error).message, /^NOPERM/);
        assert.is(await user.admin.exists(`${prefix}acl.a`), 0, 'no copy stored');
        const said = lines.filter((line) => /lacks access to/.test(line.msg));
        assert.is(said.length, 1, 'said once');
        assert.match(
          said[0]!.msg,
          new RegExp(`lacks access to one of the keys ${prefix}acl\\.a, ${prefix}acl\\.b to run`),
        );
        await grant(user, limited, '~*');
        await limited.groupSend('acl.split', { n: 2 });
        await assertEachOnce(full, user.admin, ['acl.a', 'acl.b'], { n: 2 });
      },
      { ready: false, options: SEALED },
    ),
);

faults(
  "an ACL user that may write one member's channel key and not another's: a lane turn's effects (in the turn's script), a send to the allowed channel and a group send, are refused whole, nothing stored; applied again once granted, each channel gets each message once",
  () =>
    withLimitedLayer(
      onlyChannelsA(),
      async ({ user, limited }) => {
        const full = layer({}, flaky.url);
        await full.groupAdd('acl.split', 'acl.a');
        await full.groupAdd('acl.split', 'acl.b');
        assert.is((await limited.lanes.claim('acl.lane', 0, { e: 0 })).kind, 'run');
        const effects = [
          { kind: 'send', channel: 'acl.answer', message: { answer: 1 } },
          { kind: 'groupSend', group: 'acl.split', message: { n: 1 } },
        ] as const;
        const error = await rejects(
          () => limited.lanes.apply('acl.lane', 0, effects),
          LayerUnavailable,
        );
        for (const key of ['acl.answer', 'acl.a'])
          assert.is(await user.admin.exists(`${prefix}${key}`), 0, `nothing stored on ${key}`);
        assert.match(
          (error.cause as Error).message,
          refusedBefore("a lane turn's effects before any was applied", `${prefix}acl.b`),
        );
        await grant(user, limited, '~*');
        await limited.lanes.apply('acl.lane', 0, effects);
        await assertEachOnce(full, user.admin, ['acl.answer'], { answer: 1 });
        await assertEachOnce(full, user.admin, ['acl.a', 'acl.b'], { n: 1 });
      },
      { ready: false },
    ),
);

faults(
  "an ACL user that may ZADD and not EXPIRE: a lane turn's group add effect (in the turn's script) is refused naming expire, the member not added, rather than added to a group that then never expires",
  () =>
    withLimitedLayer(['~*', '&*', '+@all'], async ({ user, limited }) => {
      assert.is((await limited.lanes.claim('acl.lane', 0, { e: 0 })).kind, 'run');
      await user.set('-expire');
      const effects = [{ kind: 'groupAdd', group: 'acl.room', channel: 'acl.member' }] as const;
      const error = await rejects(
        () => limited.lanes.apply('acl.lane', 0, effects),
        LayerUnavailable,
      );
      assert.is(await user.admin.exists(`${prefix}:group:acl.room`), 0, 'not added');
      assert.match(
        (error.cause as Error).message,
        /can't run the 'expire' command on the key '\S+:group:acl\.room' \(asked by a lane turn's effects/,
      );
      await grant(user, limited, '+expire');
      await limited.lanes.apply('acl.lane', 0, effects);
      assert.ok((await user.admin.ttl(`${prefix}:group:acl.room`)) > 0, 'added, expiring');
    }),
);

faults(
  'an ACL user that may not ZADD or ZREM: groupAdd and groupDiscard fail as LayerUnavailable, the host is refused, naming each once, until the probe finds them granted',
  () =>
    withLimitedLayer(['~*', '&*', '+@all', '-zadd', '-zrem'], async ({ user, limited, lines }) => {
      for (let i = 0; i < 3; i++) {
        const added = await rejects(
          () => limited.groupAdd('acl.room', 'acl.member'),
          LayerUnavailable,
        );
        assert.match((added.cause as Error).message, /^NOPERM .*'zadd' command/);
        const discarded = await rejects(
          () => limited.groupDiscard('acl.room', 'acl.member'),
          LayerUnavailable,
        );
        assert.match((discarded.cause as Error).message, /^NOPERM .*'zrem' command/);
      }
      assert.is(warnings(lines, /lacks \+zadd to run MULTI ZADD EXPIRE EXEC/), 1, 'said once');
      assert.is(warnings(lines, /lacks \+zrem to run ZREM/), 1, 'said once');
      assertRefused(limited, /^NOPERM .*'(zadd|zrem)' command/);
      // The probe asks (MAY_CALL) without running them: still refused, nothing written.
      await user.set('+zadd');
      await sleep(1500);
      assert.not.ok(limited.health().ok, 'ZREM still refused');
      assert.is(await user.admin.exists(`${prefix}:group:acl.room`), 0, 'the probe wrote nothing');
      await grant(user, limited, '+zrem');
      assert.is(warnings(lines, /may run ZREM again/), 1);
      assert.is(warnings(lines, /may run MULTI ZADD EXPIRE EXEC again/), 1);
      await limited.groupAdd('acl.room', 'acl.member');
      await limited.groupDiscard('acl.room', 'acl.member');
    }),
);

faults(
  'an ACL user that may not MULTI: groupAdd is refused, and the probe, which asks about MULTI too, keeps the host refused until it is granted',
  () =>
    withLimitedLayer(['~*', '&*', '+@all', '-multi'], async ({ user, limited }) => {
      const error = await rejects(
        () => limited.groupAdd('acl.room', 'acl.member'),
        LayerUnavailable,
      );
      assert.match((error.cause as Error).message, /^NOPERM .*'multi' command/);
      await sleep(1500);
      assert.not.ok(limited.health().ok, 'still refused');
      await grant(user, limited, '+multi');
    }),
);

faults(
  "an ACL user that may not run the layer's plain commands (the counters' GET, flush's UNLINK, a holder's SADD): each fails as LayerUnavailable, the host is refused, naming each once, until the probe finds them granted",
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all', '-get', '-unlink', '-sadd'],
      async ({ user, limited, lines }) => {
        await limited.send('acl.plain', { n: 1 });
        for (let i = 0; i < 2; i++) {
          const got = await rejects(() => limited.counters.get('acl.count'), LayerUnavailable);
          assert.match((got.cause as Error).message, /^NOPERM .*'get' command/);
          const flushed = await rejects(() => limited.flush(), LayerUnavailable);
          assert.match((flushed.cause as Error).message, /^NOPERM .*'unlink' command/);
        }
        // A socket's first event registers this process as a holder of lanes (SADD).
        await limited.lanes.announceAndSend('acl.socket', 0, { n: 0 }, 'acl.worker');
        await waitFor(
          () => warnings(lines, /lacks \+sadd to run SADD/) === 1,
          ARRIVES_MS,
          'SADD, said',
        );
        assert.is(warnings(lines, /lacks \+get to run GET/), 1, 'said once');
        assert.is(warnings(lines, /lacks \+unlink to run UNLINK/), 1, 'said once');
        assertRefused(limited, /^NOPERM .*'(get|unlink|sadd)' command/);
        await user.set('+get', '+unlink');
        await sleep(1500);
        assert.not.ok(limited.health().ok, 'SADD still refused');
        await grant(user, limited, '+sadd');
        assert.is(await limited.counters.get('acl.count'), 0);
        await limited.flush();
      },
    ),
);

faults(
  "an ACL user refused an effect inside a lane turn's script (a group discard's ZREM) after a send: neither is applied, the turn still ends, its state saved, the refusal is LayerUnavailable naming zrem (logged by finish, thrown by apply), and the host is refused until ZREM is granted",
  () =>
    withLimitedLayer(['~*', '&*', '+@all', '-zrem'], async ({ user, limited, lines }) => {
      const full = layer({}, flaky.url);
      const effects = (reply: string) =>
        [
          { kind: 'send', channel: reply, message: { answer: 1 } },
          { kind: 'groupDiscard', group: 'acl.room', channel: reply },
        ] as const;
      assert.is((await limited.lanes.claim('acl.lane', 0, { e: 0 })).kind, 'run');
      const next = await limited.lanes.finish(
        'acl.lane',
        0,
        { saved: 1 },
        { effects: effects('acl.reply') },
      );
      assert.is(next, undefined, 'the lane is idle');
      // Ended, not held for a lease: the lane's next event runs at once, on the saved state.
      assert.equal(await full.lanes.claim('acl.lane', 1, { e: 1 }), {
        kind: 'run',
        state: { saved: 1 },
      });
      assert.is(await user.admin.exists(`${prefix}acl.reply`), 0, 'the send before it not applied');
      const logged = lines.find((line) => /an effect of a lane turn failed/.test(line.msg));
      assert.ok(logged, 'the refused effect, logged');
      assert.is(logged.err, undefined, 'without a stack');
      assert.match(String(logged.error), /refused for lack of permission: ERR The user/);
      assert.is((await limited.lanes.claim('acl.applied', 0, { e: 0 })).kind, 'run');
      const error = await rejects(
        () => limited.lanes.apply('acl.applied', 0, effects('acl.reply2')),
        LayerUnavailable,
      );
      assert.match(
        (error.cause as Error).message,
        /can't run the 'zrem' command on the key '\S+:group:acl\.room' \(asked by a lane turn's effects before any was applied\)/,
      );
      assert.is(
        await user.admin.exists(`${prefix}acl.reply2`),
        0,
        'the send before it not applied',
      );
      // The probe runs the refused effects dry: still refused, until granted.
      await assertStaysRefused(limited);
      await grant(user, limited, '+zrem');
    }),
);

faults(
  "an ACL user refused HSET (and not the effects' commands) during a turn with effects and a parked next event: nothing is applied until HSET is granted, then the effects land once and that event is handed over; the log names +hset once",
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all'],
      async ({ user, limited, lines }) => {
        const full = layer({}, flaky.url);
        assert.is((await limited.lanes.claim('acl.finish', 0, { e: 0 })).kind, 'run');
        assert.is((await full.lanes.claim('acl.finish', 1, { e: 1 })).kind, 'parked');
        await user.set('-hset');
        const finishing = limited.lanes.finish(
          'acl.finish',
          0,
          { saved: 1 },
          { effects: [{ kind: 'send', channel: 'acl.reply', message: { answer: 1 } }] },
        );
        await assertWaitsToBeAllowed(limited, finishing);
        assert.is(await raw(flaky.url).exists(`${prefix}acl.reply`), 0, 'nothing applied yet');
        assert.match(limited.health().hosts[0]!.refusal!, /can't run the 'hset' command/);
        await user.set('+hset');
        assert.equal(await within(finishing, ARRIVES_MS, 'the finish'), {
          lane: 'acl.finish',
          order: 1,
          event: { e: 1 },
          state: { saved: 1 },
        });
        // Applied once: the next message on the channel is the marker sent after it.
        await full.send('acl.reply', { marker: 1 });
        assert.equal(await within(full.receive('acl.reply'), ARRIVES_MS), { answer: 1 });
        assert.equal(await within(full.receive('acl.reply'), ARRIVES_MS), { marker: 1 });
        assert.is(
          warnings(lines, /lacks \+hset to run the layer's scripts/),
          1,
          'what to grant, said once',
        );
        assert.is(await limited.lanes.finish('acl.finish', 1, { saved: 2 }), undefined);
        assert.equal(await full.lanes.claim('acl.finish', 2, { e: 2 }), {
          kind: 'run',
          state: { saved: 2 },
        });
      },
      { ready: false },
    ),
);

faults(
  "an ACL user refused ZADD when an encrypted layer's turn renews its lease ahead of effects applied one by one (LANE_HOLD, with a parked event to index): nothing changes, rather than a lease renewed and its index left behind; once granted, both are",
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all'],
      async ({ user, limited }) => {
        const full = layer(SEALED, flaky.url);
        assert.is((await limited.lanes.claim('acl.hold', 0, { e: 0 })).kind, 'run');
        assert.is((await full.lanes.claim('acl.hold', 1, { e: 1 })).kind, 'parked');
        const key = `${prefix}gredis:lane:acl.hold`;
        const index = `${prefix}gredis:lanes`;
        const lease = async () => [
          Number(await user.admin.hget(key, 'deadline')),
          Number(await user.admin.zscore(index, 'acl.hold')),
        ];
        const claimed = await lease();
        await sleep(1100); // a lease renewed now ends a second later at least
        await user.set('-zadd');
        const effects = [{ kind: 'groupAdd', group: 'acl.held', channel: 'acl.member' }] as const;
        const error = await rejects(
          () => limited.lanes.apply('acl.hold', 0, effects),
          LayerUnavailable,
        );
        assert.equal(await lease(), claimed, 'neither the lease nor its index changed');
        assert.match((error.cause as Error).message, /can't run the 'zadd' command/);
        assert.is(await user.admin.exists(`${prefix}:group:acl.held`), 0, 'nothing applied');
        await grant(user, limited, '+zadd');
        await limited.lanes.apply('acl.hold', 0, effects);
        const [deadline, indexed] = await lease();
        assert.ok(deadline >= claimed[0]! + 1, 'the lease renewed');
        assert.is(indexed, deadline, 'and its index with it');
      },
      { ready: false, options: { ...SEALED, laneLease: 60 } },
    ),
);

faults(
  'an ACL user refused HSET (and not DEL) during the turn that ends a lane: its end waits until HSET is granted, then the lane is ended, its marker kept, rather than deleted half-way and started anew by a late event',
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all'],
      async ({ user, limited }) => {
        const full = layer({}, flaky.url);
        assert.is((await limited.lanes.claim('acl.end', 0, { e: 0 })).kind, 'run');
        await user.set('-hset');
        const ending = limited.lanes.finish('acl.end', 0, { saved: 1 }, { end: true });
        await assertWaitsToBeAllowed(limited, ending);
        const key = `${prefix}gredis:lane:acl.end`;
        assert.is(await raw(flaky.url).hexists(key, 'owner'), 1, 'still held');
        await user.set('+hset');
        assert.is(await within(ending, ARRIVES_MS, 'the end'), undefined);
        assert.equal(await raw(flaky.url).hgetall(key), { ended: '1' });
        assert.is((await full.lanes.claim('acl.end', 1, { e: 1 })).kind, 'stale');
      },
      { ready: false },
    ),
);

faults(
  'an ACL user refused HINCRBY while a lane event has to be parked: its claim waits until HINCRBY is granted, then parks it counted, and the finish ahead of it hands it over rather than leave it parked for good',
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all'],
      async ({ user, limited, lines }) => {
        const full = layer({}, flaky.url);
        assert.is((await full.lanes.claim('acl.park', 0, { e: 0 })).kind, 'run');
        await user.set('-hincrby');
        const parking = limited.lanes.claim('acl.park', 1, { e: 1 });
        await assertWaitsToBeAllowed(limited, parking);
        const key = `${prefix}gredis:lane:acl.park`;
        assert.is(await raw(flaky.url).hexists(key, 'p:1'), 0, 'nothing written');
        await user.set('+hincrby');
        assert.equal(await within(parking, ARRIVES_MS, 'the claim'), { kind: 'parked' });
        await assertFinishHandsOver(full, 'acl.park');
        assert.is(
          warnings(lines, /lacks \+hincrby to run the layer's scripts/),
          1,
          'what to grant, said once',
        );
      },
      { ready: false },
    ),
);

faults(
  "an ACL user refused HINCRBY when an interface server announces and sends a lane's event: neither happens (LayerUnavailable naming it), rather than an event sent while its sender was told it failed, its deposit uncounted; once granted, it is deposited and handed over",
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all'],
      async ({ user, limited }) => {
        const full = layer({}, flaky.url);
        assert.is((await full.lanes.claim('acl.announced', 0, { e: 0 })).kind, 'run');
        await user.set('-hincrby');
        const announce = () =>
          limited.lanes.announceAndSend('acl.announced', 1, { e: 1 }, 'acl.events');
        const error = await rejects(announce, LayerUnavailable);
        assert.is(await raw(flaky.url).exists(`${prefix}acl.events`), 0, 'not sent');
        const key = `${prefix}gredis:lane:acl.announced`;
        assert.is(await raw(flaky.url).hexists(key, 'p:1'), 0, 'not deposited');
        assert.match((error.cause as Error).message, /can't run the 'hincrby' command/);
        await user.set('+hincrby');
        await announce();
        await assertFinishHandsOver(full, 'acl.announced');
      },
      { ready: false },
    ),
);

faults(
  "an ACL user refused ZREM on a channel key finishes a turn and hands over the event parked behind it all the same, the event's channel copy left there (its claim finds it stale), and its host stays ready: taking the copy back is a saving, not a write the finish needs",
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all', '-zrem', `(+zrem ~${prefix}gredis:*)`],
      async ({ limited, lines }) => {
        const thyme = layer({}, flaky.url);
        await thyme.lanes.announceAndSend('acl.copies', 0, { e: 0 }, 'acl.copies');
        await thyme.lanes.announceAndSend('acl.copies', 1, { e: 1 }, 'acl.copies');
        assert.equal(await limited.receive('acl.copies'), { e: 0 });
        assert.is((await limited.lanes.claim('acl.copies', 0, { e: 0 })).kind, 'run');
        await assertFinishHandsOver(limited, 'acl.copies');
        assert.is(await raw(flaky.url).zcard(`${prefix}acl.copies`), 1, "1's copy is left");
        assert.equal(await limited.receive('acl.copies'), { e: 1 });
        assert.equal(await limited.lanes.claim('acl.copies', 1, { e: 1 }), { kind: 'stale' });
        assert.ok(limited.health().ok, 'ready');
        assert.is(lines.filter((line) => line.level >= WARN).length, 0, 'nothing to warn of');
      },
    ),
);

faults(
  'an ACL user refused HINCRBY when its rescue check takes over a lane from a gap: the parked event stays in its lane until HINCRBY is granted, then the check runs it, rather than take it out and fail',
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all'],
      async ({ user, limited, lines }) => {
        const turns: LaneTurn[] = [];
        limited.lanes.onRescue((turn) => turns.push(turn));
        const full = layer({}, flaky.url);
        assert.is((await full.lanes.claim('acl.gap', 0, { e: 0 })).kind, 'run');
        assert.is(await full.lanes.finish('acl.gap', 0, undefined), undefined);
        // Event 1 never comes: after the gap (1 s), the check runs event 2.
        assert.is((await limited.lanes.claim('acl.gap', 2, { e: 2 })).kind, 'parked');
        await user.set('-hincrby');
        await waitFor(() => !limited.health().ok, ARRIVES_MS, 'the rescue check refused');
        const key = `${prefix}gredis:lane:acl.gap`;
        assert.is(await raw(flaky.url).hexists(key, 'p:2'), 1, 'still parked');
        await user.set('+hincrby');
        const turn = await waitFor(() => turns[0], ARRIVES_MS, 'the rescued event');
        assert.equal([turn.lane, turn.order, turn.event], ['acl.gap', 2, { e: 2 }]);
        assert.is(
          warnings(lines, /lacks \+hincrby to run the layer's scripts/),
          1,
          'what to grant, said once',
        );
      },
      { ready: false, options: { laneGap: 1, laneRescueCheck: 0.5 } },
    ),
);

faults(
  "the dry run's reads (DRY_READS) are exactly the commands of the layer's scripts that Redis flags readonly: each other one a write, which the dry run skips",
  async () => {
    const admin = raw(flaky.url);
    const scripts = [...Object.values(scriptModules), ...Object.values(laneScriptModules)].filter(
      (value): value is LuaScript => value instanceof LuaScript,
    );
    const called = new Set<string>();
    for (const script of scripts) {
      for (const { source } of [script, script.batched]) {
        const names = [...source.matchAll(/redis\.call\('(\w+)'/g)].map(([, name]) => name!);
        // A name computed at run time could be anything: this check could not see it.
        assert.is(names.length, source.split('redis.call(').length - 1, `${script.name}`);
        for (const name of names) called.add(name.toLowerCase());
      }
    }
    assert.ok(called.has('zadd') && called.has('hmget'), 'the scripts were read');
    const reads = new Set<string>(DRY_READS);
    for (const name of called) {
      const [[, , flags]] = (await admin.command('INFO', name)) as [[string, number, string[]]];
      const readonly = flags.includes('readonly');
      assert.ok(readonly || flags.includes('write'), `${name}: neither a read nor a write`);
      assert.is(reads.has(name), readonly, `${name} ${readonly ? 'reads' : 'writes'}`);
    }
    for (const name of reads) assert.ok(called.has(name), `${name}: no script calls it`);
  },
);

faults(
  'an ACL user that may not EXEC: groupAdd is refused with nothing written, and the connection is not left in the MULTI (Redis discards it): the calls after it run',
  () =>
    withLimitedLayer(['~*', '&*', '+@all', '-exec'], async ({ user, limited }) => {
      const error = await rejects(
        () => limited.groupAdd('acl.room', 'acl.member'),
        LayerUnavailable,
      );
      assert.match((error.cause as Error).message, /^EXECABORT .*NOPERM .*'exec' command/);
      assert.is(await user.admin.exists(`${prefix}:group:acl.room`), 0, 'nothing written');
      // Queued in a MULTI left open, these would only answer QUEUED.
      await limited.send('acl.after', { n: 1 });
      assert.equal(await within(layer({}, flaky.url).receive('acl.after'), ARRIVES_MS), {
        n: 1,
      });
      assert.is(await limited.counters.get('acl.count'), 0);
      assert.not.ok(limited.health().ok, 'refused until EXEC is granted');
      await grant(user, limited, '+exec');
      await limited.groupAdd('acl.room', 'acl.member');
    }),
);

faults(
  'the ACL user deleted while a call is on its way: the call fails with the refused reconnection, rather than wait for ever',
  () =>
    withLimitedLayer(
      ['~*', '&*', '+@all'],
      async ({ user, limited }) => {
        await limited.send('deleted.probe', { n: 1 });
        // Writes wait: the send is on its way, unanswered, when its connection is killed.
        await user.admin.client('PAUSE', 300, 'WRITE');
        const sent = limited.send('deleted.probe', { n: 2 }).catch((error: unknown) => error);
        await sleep(100);
        await user.admin.acl('DELUSER', user.name);
        const outcome = await settledWithin(sent, 5000);
        assert.instance(outcome, LayerUnavailable, `the send: ${String(outcome)}`);
        assert.match(((outcome as Error).cause as Error).message, /^WRONGPASS/);
      },
      { ready: false },
    ),
);

faults(
  'a password set on the running server: the refused reconnection says why at warn, once, and the layer works once it is lifted',
  async () => {
    const { logger, lines } = captureLogs();
    const user = layer({ logger }, flaky.url);
    await user.send('auth.probe', { n: 1 });
    const admin = raw(flaky.url);
    await admin.ping(); // authenticated before the password exists: stays so
    await admin.config('SET', 'requirepass', 'changed-meanwhile');
    try {
      await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      const refusal = (line: CapturedLine): boolean =>
        line.level === WARN && /refuses the reconnection \(NOAUTH/.test(line.msg);
      await waitFor(() => lines.some(refusal), ARRIVES_MS, 'the refusal, said at warn');
      await sleep(500); // reconnections go on meanwhile, every 50–400 ms
      assert.is(lines.filter(refusal).length, 1);
      assert.is(user.health().ok, false);
    } finally {
      await admin.config('SET', 'requirepass', '');
    }
    await waitFor(() => user.health().ok, ARRIVES_MS, 'the layer to be ready again');
    await user.send('auth.probe', { n: 2 });
    assert.equal(await within(user.receive('auth.probe'), ARRIVES_MS), { n: 1 });
  },
);

faults(
  'a database the server does not have is refused, never database 0 in its place',
  async () => {
    const { logger, lines } = captureLogs();
    const prefix = `${testPrefix()}.`;
    const layer = createLayer(`redis://127.0.0.1:6379/99?prefix=${prefix}`, { logger });
    const raw = rawClient();
    try {
      // A send made before the server answered fails with the connection.
      const first = await within(layer.send('test.nodb', { x: 1 }), 10_000).catch(
        (caught: unknown) => caught,
      );
      assert.instance(first, LayerUnavailable);
      await waitFor(
        () => lines.some((line) => line.level === ERROR && /no such database/.test(line.msg)),
        5000,
        'the error line',
      );
      assert.not.ok(layer.health().ok);
      const later = await layer.send('test.nodb', { x: 2 }).catch((caught: unknown) => caught);
      assert.instance(later, LayerUnavailable);
      assert.match(String((later as Error).cause), /DB index is out of range/);
      await sleep(300);
      assert.equal(await raw.keys(`${prefix}*`), [], 'nothing written in database 0');
    } finally {
      await layer.close();
      raw.disconnect();
    }
  },
);

faults(
  'a server gone without closing anything: a command gives up after replyTimeout, and blocked reads move to the new connection',
  async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: flaky.port });
    try {
      const { logger, lines } = captureLogs();
      const cut = layer({ logger, replyTimeout: 1 }, `redis://127.0.0.1:${proxy.port}/0`);
      const sender = layer({}, flaky.url);
      const channel = await cut.newChannel();
      const received: unknown[] = [];
      cut.listen(channel, (message) => received.push(message));
      await sender.send(channel, { n: 1 });
      await waitFor(() => received.length === 1, 5000, 'the first message');

      proxy.freeze(); // TCP says nothing: only a reply that never comes tells
      const started = Date.now();
      const failed = await within(
        cut.send('test.frozen', { n: 0 }).catch((error: unknown) => error),
        15_000,
        'the send to give up',
      );
      assert.instance(failed, LayerUnavailable);
      // About replyTimeout (1 s), where TCP would take many minutes; later on a
      // loaded machine, whose late timer ticks the watch takes for a stall of
      // this process and starts over from.
      const gaveUpAfter = Date.now() - started;
      assert.ok(gaveUpAfter < 10_000, `gave up after ${gaveUpAfter} ms`);
      assert.ok(lines.some((line) => line.level === WARN && /stopped answering/.test(line.msg)));

      await proxy.restore(); // the server is back (or a failover put another there)
      // Until its connections are closed, the server still serves the blocked read
      // the frozen proxy holds open: a message sent before would be popped into it.
      await waitFor(
        () => lines.some((line) => /host is back/.test(line.msg)),
        10_000,
        'the reconnection',
      );
      await sender.send(channel, { n: 2 });
      await waitFor(() => received.length === 2, 10_000, 'the message sent once it was back');
      assert.equal(received, [{ n: 1 }, { n: 2 }]);
      await cut.send('test.frozen', { n: 3 });
    } finally {
      proxy.stop();
    }
  },
);

faults(
  'started while the server accepts connections and says nothing: once it answers, the layer is ready and a receive made meanwhile gets its message',
  async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: flaky.port });
    try {
      proxy.stall(); // its process stopped, or a path broken after the TCP handshake
      const { logger, lines } = captureLogs();
      const cut = layer({ logger, replyTimeout: 1 }, `redis://127.0.0.1:${proxy.port}/0`);
      const received = cut.receive('test.silent.start').catch((error: unknown) => error);
      // The command connection and the receive's own, both accepted and silent.
      await waitFor(() => proxy.held >= 2, ARRIVES_MS, 'both connections accepted');
      assert.not.ok(cut.health().ok);

      proxy.unstall(); // the server answers again, on new connections
      // Those two stay silent: before, they were kept for good, the layer
      // "connecting" and the receive unread, however long the server answered.
      await waitFor(() => cut.health().ok, ARRIVES_MS, 'the layer ready');
      await layer({}, flaky.url).send('test.silent.start', { n: 1 });
      assert.equal(await within(received, ARRIVES_MS, 'the receive'), { n: 1 });
      const said = lines.filter((line) => /did not answer/.test(line.msg));
      assert.is(said.length, 1, 'said once');
      assert.is(said[0]!.level, WARN);
    } finally {
      proxy.stop();
    }
  },
);

faults(
  'close() on a server that stopped answering, with a call and blocked reads on their way, returns within its 2 s bound',
  async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: flaky.port });
    try {
      // The default replyTimeout (15 s): the watch for silent servers does not end the wait here.
      const cut = layer({}, `redis://127.0.0.1:${proxy.port}/0`);
      const channel = await cut.newChannel();
      cut.listen(channel, () => undefined); // the process key's reader
      const plain = cut.receive('test.frozen.plain').catch((error: unknown) => error);
      await cut.send('test.frozen.warm', { n: 0 });
      // Waited for, not slept on: a fixed pause can end before the reads are made.
      const inspector = raw(flaky.url);
      await waitFor(
        async () => /blocked_clients:([2-9]|\d\d)/.test(await inspector.info('clients')),
        ARRIVES_MS,
        'both reads blocked in Redis',
      );

      proxy.freeze(); // the connections stay open, and nothing comes back
      const sent = cut.send('test.frozen', { n: 1 }).catch((error: unknown) => error);
      await sleep(50); // on its way
      const started = performance.now();
      await within(cut.close(), 6000, 'close');
      const ms = performance.now() - started;
      // The 2 s bound, with room for a loaded machine's stalls; before the bound,
      // close() never returned here.
      assert.ok(ms < 2000 + 2000, `closed after ${Math.round(ms)} ms`);
      assert.instance(await within(plain, 3000, 'the receive'), LayerClosed);
      // Unanswered, the send fails once its connection is destroyed, 0.5 s on
      // (the server never closes its side): it does not hang either.
      assert.instance(await within(sent, 4000, 'the send'), LayerUnavailable);
    } finally {
      proxy.stop();
    }
  },
);

faults(
  'a process that could not run for longer than replyTimeout does not take a healthy server for gone',
  async () => {
    const { logger, lines } = captureLogs();
    const busy = layer({ logger, replyTimeout: 1 }, flaky.url);
    await busy.send('test.blocked', { n: 1 });
    await sleep(400); // the watch has seen that reply
    const sent = busy.send('test.blocked', { n: 2 }); // leaves in setImmediate...
    setImmediate(() => {
      const until = Date.now() + 2500; // ...then the event loop is blocked, its reply unread
      while (Date.now() < until);
    });
    await sent;
    await sleep(1500);
    assert.equal(
      lines.filter((line) => /stopped answering/.test(line.msg)),
      [],
      'no reconnection',
    );
  },
);

faults(
  'a server that stalls longer than replyTimeout runs a group_send once: the call fails rather than being resent',
  async () => {
    const { logger, lines } = captureLogs();
    const sender = layer({ logger, replyTimeout: 1 }, flaky.url);
    const receiver = layer({}, flaky.url);
    const channel = await receiver.newChannel();
    const received: unknown[] = [];
    receiver.listen(channel, (message) => received.push(message));
    await receiver.groupAdd('stall', channel);
    await sender.groupSend('stall', { n: 1 });
    await waitFor(() => received.length === 1, 5000, 'the first message');

    // The server stops (SIGSTOP: its machine paused, or one long command): healthy,
    // but silent for longer than replyTimeout. It reads the call when it resumes.
    await sleep(500);
    flaky.pause();
    try {
      await sleep(50);
      const sent = sender.groupSend('stall', { n: 2 }).catch((error: unknown) => error);
      // Stopped until the watch gives up on the call: about replyTimeout, but
      // later on a loaded machine, whose late timer ticks the watch takes for a
      // stall of this process and starts over from (a fixed 3 s could end first).
      await waitFor(() => dropsIn(lines) > 0, 10_000, 'the watch to fire');
      flaky.resume();
      assert.instance(await sent, LayerUnavailable, 'the call failed');
      // The server reads the call when it resumes, and runs it once.
      await waitFor(() => received.length >= 2, ARRIVES_MS, 'the call, run once resumed');
      await sleep(1500); // a copy sent again, if any, has arrived
    } finally {
      flaky.resume();
    }
    assert.equal(received, [{ n: 1 }, { n: 2 }]);
    await sender.groupSend('stall', { n: 3 });
    await waitFor(() => received.length === 3, 5000, 'a message once the server answers');
  },
);

faults(
  'a call made while a silent server holds up the reconnection fails at the next drop, not three reconnections later',
  async () => {
    const { logger, lines } = captureLogs();
    const sender = layer({ logger, replyTimeout: 1 }, flaky.url);
    await sender.send('test.silent', { n: 0 });
    flaky.pause(); // its kernel still completes the new connection's handshake
    try {
      const first = sender.send('test.silent', { n: 1 }).catch((error: unknown) => error);
      assert.instance(await within(first, ARRIVES_MS, 'the first call'), LayerUnavailable);
      // The new connection waits for its ready check, which never comes: the
      // call is queued for it, unsent.
      await waitFor(() => !sender.health().ok, ARRIVES_MS, 'the host to be reconnecting');
      const before = dropsIn(lines);
      const second = sender.send('test.silent', { n: 2 }).catch((error: unknown) => error);
      assert.instance(await within(second, 3 * ARRIVES_MS, 'the second call'), LayerUnavailable);
      // One drop after it (about replyTimeout); ioredis alone kept it for three.
      assert.is(dropsIn(lines) - before, 1, 'drops while the second call waited');
    } finally {
      flaky.resume();
    }
    await waitFor(() => sender.health().ok, ARRIVES_MS, 'the host to be back');
    await sender.send('test.silent', { n: 3 });
  },
);

faults(
  'a silence of several reply timeouts is said once at warn, when the server stops answering, and once when it is back',
  async () => {
    const { logger, lines } = captureLogs();
    const sender = layer({ logger, replyTimeout: 1 }, flaky.url);
    await sender.send('test.quiet', { n: 0 });
    // Its check for lost data at connecting is over (it would fail, and say so, too).
    const inspector = raw(flaky.url);
    await waitFor(async () => (await inspector.exists(`${prefix}gredis:epoch`)) === 1);
    flaky.pause(); // its machine paused: connections open, nothing answers
    try {
      // Calls keep coming, as a busy process's do: each reconnection that the
      // silent server holds up is dropped in turn.
      let n = 0;
      await waitFor(
        () => {
          void sender.send('test.quiet', { n: ++n }).catch(() => undefined);
          return dropsIn(lines) >= 3;
        },
        20_000,
        'three drops',
      );
    } finally {
      flaky.resume();
    }
    await waitFor(() => sender.health().ok, ARRIVES_MS, 'the host to be back');
    await sender.send('test.quiet', { n: -1 });
    assert.equal(
      lines.filter((line) => line.level >= WARN).map((line) => line.msg),
      ['the channel layer host stopped answering; reconnecting', 'channel layer host is back'],
    );
  },
);

faults.run();

// ---------------------------------------------------------------------------
let counted: RedisServer;
const connections = layerSuite('redis layer: connections', (server) => (counted = server));

connections(
  'receiving on many short-lived plain channels does not pile up connections',
  async () => {
    const receiver = layer({}, counted.url);
    const sender = layer({}, counted.url);
    for (let i = 0; i < 100; i++) {
      await sender.send(`short.lived${i}`, { i });
      assert.equal(await receiver.receive(`short.lived${i}`), { i });
    }
    const readers =
      ((await raw(counted.url).client('LIST')) as string).match(/name=gredis-reader/g)?.length ?? 0;
    assert.ok(readers <= 33, `${readers} reader connections`);
  },
);

connections(
  'aborted receives on many plain channels do not keep their blocked reads (and lose nothing)',
  async () => {
    const receiver = layer({}, counted.url);
    for (let i = 0; i < 80; i++) {
      const controller = new AbortController();
      const waiting = receiver.receive(`given.up${i}`, { signal: controller.signal });
      waiting.catch(() => undefined);
      await sleep(5);
      controller.abort();
    }
    const inspector = raw(counted.url);
    const readers = async (): Promise<number> =>
      ((await inspector.client('LIST')) as string).match(/name=gredis-reader/g)?.length ?? 0;
    await waitFor(async () => (await readers()) <= 33, ARRIVES_MS, 'idle readers to let go');
    // A message sent to a channel whose reader was let go waits in Redis for the next receive.
    await layer({}, counted.url).send('given.up0', { kept: true });
    assert.equal(await within(receiver.receive('given.up0'), ARRIVES_MS), { kept: true });
  },
);

connections.run();

const urls = layerSuite('redis layer: URLs and Sentinel');

urls('layer URLs: Redis, several Redis (sharding), Sentinel; their options', () => {
  assert.equal(parseLayerUrl('redis://127.0.0.1:6380/2?prefix=app.&expiry=30&capacity=50'), {
    kind: 'redis',
    hosts: [{ kind: 'url', url: 'redis://127.0.0.1:6380/2' }],
    options: { prefix: 'app.', expiry: 30, capacity: 50 },
  });
  assert.equal(hostsOf('redis://a:6379/0,rediss://:pw@b:6380/1?group_expiry=60'), [
    { kind: 'url', url: 'redis://a:6379/0' },
    { kind: 'url', url: 'rediss://:pw@b:6380/1' },
  ]);
  const sentinel = parseLayerUrl(
    'redis+sentinel://:s%40cret@s1:26379,s2:26380,s3/my%20master/3?prefix=p.',
  );
  assert.equal(sentinel, {
    kind: 'redis',
    hosts: [
      {
        kind: 'sentinel',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26380 },
          { host: 's3', port: 26379 },
        ],
        masterName: 'my master',
        db: 3,
        password: 's@cret',
        label: 'redis+sentinel://s1:26379,s2:26380,s3/my%20master',
      },
    ],
    options: { prefix: 'p.' },
  });
  assert.not.match(redactUrl(hostsOf('redis+sentinel://:s%40cret@s1/m')[0]!), 'cret');
  assert.is(redactUrl({ kind: 'url', url: 'redis://:hunter2@h:1/0' }), 'redis://:***@h:1/0');
  assert.equal(parseLayerUrl('memory://?capacity=5'), { kind: 'memory', options: { capacity: 5 } });
});

urls('a bad layer URL says what is wrong, and never shows its password', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['http://h:1/0', /unsupported scheme "http:"/],
    ['redis://h:1/zero', /database must be a number/],
    ['redis://h:1/0?speed=9', /unknown option "speed"/],
    ['redis://h:1/0?expiry=-1', /expiry must be a positive number/],
    ['redis+sentinel://h:26379', /a Sentinel URL looks like/],
    ['redis+sentinel://h:x/m', /bad sentinel address "h:x"/],
    ['redis://:hunter2@h:1/0?capacity=0', /capacity must be a positive number/],
    ['redis+sentinel://:hunter2@h:x/m', /bad sentinel address/],
  ];
  for (const [url, reason] of cases) {
    try {
      parseLayerUrl(url);
      assert.unreachable(url);
    } catch (error) {
      assert.instance(error, InvalidLayerUrl, url);
      assert.match((error as Error).message, reason);
      assert.not.match((error as Error).message, 'hunter2');
      assert.not.match((error as InvalidLayerUrl).url, 'hunter2');
    }
  }
});

urls('through Sentinel: the layer finds the master and works as on a plain URL', async () => {
  const master = await RedisServer.start();
  const sentinel = await RedisSentinel.start(master, 'gredis-test');
  try {
    const url = `redis+sentinel://127.0.0.1:${sentinel.port}/gredis-test/3`;
    const a = layer({}, url);
    const b = layer({}, url);
    await a.send('plain.work', { n: 1 });
    assert.equal(await b.receive('plain.work'), { n: 1 });
    const inbox = await b.newChannel('inbox');
    await a.groupAdd('room', inbox);
    assert.is(await a.groupSend('room', { hello: 'sentinel' }), 0, 'no member skipped');
    assert.equal(await b.receive(inbox), { hello: 'sentinel' });
    assert.equal(a.health(), {
      ok: true,
      hosts: [{ url: `redis+sentinel://127.0.0.1:${sentinel.port}/gredis-test`, status: 'ready' }],
    });
    // It is the master's database 3 that holds the group, found through Sentinel.
    assert.equal(await raw(`redis://127.0.0.1:${master.port}/3`).zcard(`${prefix}:group:room`), 1);
  } finally {
    await cleanup();
    await sentinel.stop();
    await master.stop();
  }
});

urls(
  'through Sentinel: a master that stops answering is failed over, and blocked reads follow to the new one',
  async () => {
    const master = await RedisServer.start();
    const replica = await RedisServer.start(['--replicaof', '127.0.0.1', String(master.port)]);
    const sentinel = await RedisSentinel.start(master, 'gredis-failover', { downAfterMs: 1000 });
    const admin = raw(`redis://127.0.0.1:${sentinel.port}`);
    try {
      // Sentinel learns of the replica from the master (INFO, every 10 s).
      await waitFor(
        async () =>
          ((await admin.call('SENTINEL', 'replicas', 'gredis-failover')) as unknown[]).length > 0,
        15_000,
        'Sentinel to know the replica',
      );
      const url = `redis+sentinel://127.0.0.1:${sentinel.port}/gredis-failover/0`;
      const listener = layer({}, url);
      const inbox = await listener.newChannel('inbox');
      const received: unknown[] = [];
      listener.listen(inbox, (message) => received.push(message));
      const sender = layer({}, url);
      await sender.send(inbox, { n: 1 });
      await waitFor(() => received.length === 1, 5000, 'the first message');

      master.pause(); // its connections stay open: only Sentinel says it is gone
      await waitFor(
        async () =>
          (
            (await admin.call('SENTINEL', 'get-master-addr-by-name', 'gredis-failover')) as string[]
          )[1] === String(replica.port),
        20_000,
        'the failover',
      );
      await within(
        (async () => {
          for (;;) {
            try {
              return await sender.send(inbox, { n: 2 });
            } catch {
              await sleep(200);
            }
          }
        })(),
        20_000,
        'a send to the new master',
      );
      await waitFor(() => received.length === 2, 10_000, 'the message sent after the failover');
      assert.equal(received, [{ n: 1 }, { n: 2 }]);
    } finally {
      master.resume();
      await cleanup();
      await sentinel.stop();
      await replica.stop();
      await master.stop();
    }
  },
);

function hostsOf(url: string): RedisHostConfig[] {
  const parsed = parseLayerUrl(url);
  if (parsed.kind !== 'redis') throw new Error(`${url} is not a Redis layer URL`);
  return parsed.hosts;
}

urls.run();
