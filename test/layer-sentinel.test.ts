/**
 * The Redis layer through Sentinel (`redis+sentinel://`), on real processes: a
 * master, its replica and a Sentinel, private and on loopback, started afresh
 * for each test, since a failover leaves them changed. The URL's forms and
 * errors are tested in layer-redis.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { createLayer, type ChannelLayer, type LayerOptions, type Message } from '../src/index.js';
import { captureLogs, ERROR, WARN, type CapturedLine } from './helpers/log-capture.js';
import { testPrefix } from './helpers/layers.js';
import { freePort, RedisSentinel, RedisServer, rawClient } from './helpers/redis-server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { sleep, waitFor, within } from './helpers/wait.js';

/** The master's name in Sentinel. */
const NAME = 'm';
/** Sentinel fails a master over after 1 s of silence (down-after-milliseconds). */
const DOWN_AFTER_MS = 1000;

let master: RedisServer;
let replica: RedisServer;
let sentinel: RedisSentinel;
/** What each test started, stopped after it whatever happened (last started, first stopped). */
const started: { stop(): Promise<void> | void }[] = [];
const layers: ChannelLayer[] = [];
const raws: Redis[] = [];
let prefix = '';

const test = suite('redis layer through Sentinel');

test.before.each(async () => {
  prefix = testPrefix();
  // No wait before the first sync (5 s by default), so the replica soon has the data.
  master = track(await RedisServer.start(['--repl-diskless-sync-delay', '0']));
  replica = track(await RedisServer.start(['--replicaof', '127.0.0.1', String(master.port)]));
  sentinel = track(
    await RedisSentinel.start(master, NAME, { downAfterMs: DOWN_AFTER_MS, replicas: [replica] }),
  );
});

test.after.each(async () => {
  try {
    for (const made of layers.splice(0)) await made.close();
  } finally {
    for (const client of raws.splice(0)) client.disconnect();
    for (const process of started.splice(0).reverse()) await process.stop();
  }
});

function track<T extends { stop(): Promise<void> | void }>(process: T): T {
  started.push(process);
  return process;
}

function sentinelUrl(sentinels = [sentinel.port]): string {
  const hosts = sentinels.map((port) => `127.0.0.1:${port}`).join(',');
  return `redis+sentinel://${hosts}/${NAME}/0?prefix=${prefix}`;
}

function layer(options: Partial<LayerOptions> = {}, url = sentinelUrl()): ChannelLayer {
  const made = createLayer(url, options);
  layers.push(made);
  return made;
}

function raw(port: number): Redis {
  const client = rawClient(`redis://127.0.0.1:${port}/0`);
  client.on('error', () => {}); // the killed master's
  raws.push(client);
  return client;
}

/** Resolves once Sentinel names `server` as the master (after a failover). */
async function masterBecomes(server: RedisServer, timeoutMs = 20_000): Promise<void> {
  const admin = raw(sentinel.port);
  await waitFor(
    async () =>
      ((await admin.call('SENTINEL', 'get-master-addr-by-name', NAME)) as string[])[1] ===
      String(server.port),
    timeoutMs,
    `Sentinel to name port ${server.port} the master`,
  );
}

/** Waits until the replica has everything written to the master so far. */
async function replicated(): Promise<void> {
  const client = raw(master.port);
  await client.set(`${prefix}written`, 1);
  assert.is(await client.wait(1, 5000), 1, 'the replica has caught up');
}

/** Sends until a send succeeds: during a failover, sends fail with LayerUnavailable. */
async function sendThrough(sender: ChannelLayer, channel: string, message: Message): Promise<void> {
  await within(
    (async () => {
      for (;;) {
        try {
          return await sender.send(channel, message);
        } catch {
          await sleep(100);
        }
      }
    })(),
    20_000,
    'a send to the new master',
  );
}

/** The commands the layer's blocking readers are in, on `server`. */
async function blockedReads(server: RedisServer): Promise<string[]> {
  const list = (await raw(server.port).client('LIST')) as string;
  return [...list.matchAll(/name=gredis-reader .*?cmd=(\S+)/g)].map((match) => match[1]!);
}

function warnings(lines: CapturedLine[]): string[] {
  return lines.filter((line) => line.level >= WARN).map((line) => line.msg);
}

test('finds the master: channels, process-specific channels and groups work', async () => {
  const unreachable = await freePort(); // a Sentinel that is down: the next one answers
  const url = sentinelUrl([unreachable, sentinel.port]);
  const a = layer({}, url);
  const b = layer({}, url);
  await a.send('plain.work', { n: 1 });
  assert.equal(await within(b.receive('plain.work'), 2000), { n: 1 });
  const [one, two] = [await b.newChannel('inbox'), await b.newChannel('inbox')];
  await a.send(one, { to: 'one' });
  assert.equal(await within(b.receive(one), 2000), { to: 'one' });
  await a.groupAdd('room', one);
  await a.groupAdd('room', two);
  assert.is(await a.groupSend('room', { hello: 'sentinel' }), 0, 'no member skipped');
  assert.equal(await within(b.receive(one), 2000), { hello: 'sentinel' });
  assert.equal(await within(b.receive(two), 2000), { hello: 'sentinel' });
  assert.equal(a.health(), {
    ok: true,
    hosts: [
      {
        url: `redis+sentinel://127.0.0.1:${unreachable},127.0.0.1:${sentinel.port}/${NAME}`,
        status: 'ready',
      },
    ],
  });
  assert.is(await raw(master.port).zcard(`${prefix}:group:room`), 2, 'on the master');
  await a.flush();
});

test('a master killed: a waiting receive gets the next message, from the new master', async () => {
  const { logger, lines } = captureLogs();
  const receiver = layer({ logger });
  const sender = layer();
  const inbox = await receiver.newChannel('inbox');
  await sender.send(inbox, { n: 1 });
  assert.equal(await within(receiver.receive(inbox), 2000), { n: 1 });
  const waiting = receiver.receive(inbox);
  await waitFor(async () => (await blockedReads(master)).length > 0, 2000, 'a blocked read');
  await replicated();

  await master.kill();
  await masterBecomes(replica);
  await sendThrough(sender, inbox, { n: 2 });
  assert.equal(await within(waiting, 10_000), { n: 2 });
  assert.equal(await blockedReads(replica), ['bzmpop'], 'reading from the new master');
  assert.equal(warnings(lines), [
    'lost the channel layer host; reconnecting',
    'channel layer host is back',
  ]);
});

test('a Sentinel that accepts connections and never answers does not hold up a failover', async () => {
  const { logger, lines } = captureLogs();
  const hung = track(await TcpProxy.start({ host: '127.0.0.1', port: sentinel.port }));
  const url = sentinelUrl([hung.port, sentinel.port]);
  const receiver = layer({ logger }, url);
  const sender = layer({}, sentinelUrl());
  const inbox = await receiver.newChannel('inbox');
  const work = Array.from({ length: 10 }, (_, i) => `work.${i}`);
  await sender.send(inbox, { n: 1 });
  assert.equal(await within(receiver.receive(inbox), 2000), { n: 1 });
  // Eleven connections, each reconnecting on its own and asking the hung
  // Sentinel first: ioredis waited for its answer forever, and a failover
  // announced meanwhile ended the connection for good (and the reader spun).
  const waiting = [inbox, ...work].map((channel) => receiver.receive(channel));
  await waitFor(async () => (await blockedReads(master)).length === 11, 2000, 'blocked reads');
  await replicated();

  hung.stall();
  await master.kill();
  await masterBecomes(replica);
  for (const channel of [inbox, ...work]) await sendThrough(sender, channel, { to: channel });
  assert.equal(
    await within(Promise.all(waiting), 15_000, 'the receives'),
    [inbox, ...work].map((channel) => ({ to: channel })),
  );
  assert.is((await blockedReads(replica)).length, 11, 'every read on the new master');
  assert.equal(
    lines.filter((line) => line.level >= ERROR),
    [],
  );
});

test.run();
