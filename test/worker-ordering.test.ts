/**
 * One socket's events run one at a time and in order across several worker
 * processes, and a worker killed mid-load loses at most the event it was
 * handling. MultiChat over Redis with three `gredis runworker` processes, on
 * SQLite and on PostgreSQL.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import { allDatabases } from './helpers/databases.js';
import {
  chatClient,
  DistributedChat,
  Fixtures,
  useMigratedDatabase,
} from './helpers/deployment.js';
import type { GredisProcess } from './helpers/processes.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import type { TestClient } from './helpers/ws-client.js';

const CYCLES = 1000;
/** One socket here sends thousands of commands at once: Thyme's message rate is off (tested in thyme-websocket). */
const NO_RATE = ['--websocket-rate', '0'];
const NO_LIMITS = {
  MULTICHAT_RATE_BURST: '1000000',
  MULTICHAT_RATE_PER_SECOND: '1000000',
  MULTICHAT_NOTIFY_ENTER_LEAVE: 'false',
};

/**
 * What `workers` counted of websocket.receive on their /metrics: events handled,
 * and copies dropped as stale (checked against the drops they logged).
 */
async function receiveCounts(
  workers: readonly GredisProcess[],
): Promise<{ handled: number; stale: number }> {
  let handled = 0;
  let stale = 0;
  for (const worker of workers) {
    const page = await (
      await fetch(`http://127.0.0.1:${await worker.metricsPort()}/metrics`)
    ).text();
    const count = (name: string) =>
      Number(
        new RegExp(`^${name}\\{channel="websocket\\.receive"\\} (\\d+)$`, 'm').exec(page)?.[1] ?? 0,
      );
    handled += count('gredis_worker_events_total');
    const dropped = count('gredis_worker_stale_events_total');
    const logged = worker.lines.filter((line) => line.msg === 'stale WebSocket event dropped');
    assert.is(dropped, logged.length, 'the metric counts the drops the worker logged');
    stale += dropped;
  }
  return { handled, stale };
}

for (const database of allDatabases()) {
  const test = suite(`worker ordering [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let chat: DistributedChat;

  useMigratedDatabase(test, database, (opened, made) => ([db, fixtures] = [opened, made]));
  test.after.each(async () => {
    await chat.stop();
    await database.truncate(db);
  });

  /** Collects a client's JSON replies. */
  async function replies(
    client: TestClient,
    count: number,
    timeoutMs: number,
  ): Promise<Record<string, unknown>[]> {
    const got: Record<string, unknown>[] = [];
    await within(
      (async () => {
        while (got.length < count)
          got.push(JSON.parse(String(await client.next(timeoutMs))) as Record<string, unknown>);
      })(),
      timeoutMs,
      `${count} replies (got ${got.length})`,
    );
    return got;
  }

  test(`join, send, leave back-to-back ${CYCLES} times across 3 workers: every send succeeds, in order`, async () => {
    chat = new DistributedChat(database, NO_LIMITS);
    const metrics = ['--metrics-port', '0'];
    await Promise.all([1, 2, 3].map(() => chat.startWorker(metrics)));
    const port = await chat.startThyme(NO_RATE);
    const room = await fixtures.room('Ordering');
    const others = await fixtures.room('Elsewhere');
    const alice = await fixtures.user('alice');
    const bob = await fixtures.user('bob');
    const client = await chatClient(port, await fixtures.login(alice));
    const bystander = await chatClient(port, await fixtures.login(bob));
    const id = String(room.id);
    for (let i = 0; i < CYCLES; i++) {
      client.send(JSON.stringify({ command: 'join', room: room.id }));
      client.send(JSON.stringify({ command: 'send', room: id, message: `m${i}` }));
      client.send(JSON.stringify({ command: 'leave', room: room.id }));
    }
    // Meanwhile another socket is served too (workers are not serialised behind alice).
    bystander.send(JSON.stringify({ command: 'join', room: others.id }));
    assert.equal(await replies(bystander, 1, 10_000), [
      { join: String(others.id), title: 'Elsewhere' },
    ]);
    const got = await replies(client, CYCLES * 3, 120_000);
    for (let i = 0; i < CYCLES; i++) {
      assert.equal(got[i * 3], { join: id, title: 'Ordering' }, `cycle ${i}: join`);
      assert.equal(
        got[i * 3 + 1],
        { room: id, message: `m${i}`, username: 'alice', msg_type: 0 },
        `cycle ${i}: send`,
      );
      assert.equal(got[i * 3 + 2], { leave: id }, `cycle ${i}: leave`);
    }
    // All three workers took part.
    for (const worker of chat.workers) {
      assert.ok(worker.lines.some((l) => l.component === 'worker' && l.msg === 'worker started'));
    }
    // Each event counted once, as it ran, however it reached its worker (the
    // bystander's join too).
    assert.is((await receiveCounts(chat.workers)).handled, CYCLES * 3 + 1);
  });

  test("a socket's flood on a worker with one slot: its events run from its lane, handed over one by the other, and their channel copies are taken back, not left to be read and dropped as stale", async () => {
    chat = new DistributedChat(database, NO_LIMITS);
    const worker = await chat.startWorker(['--concurrency', '1', '--metrics-port', '0']);
    const port = await chat.startThyme(NO_RATE);
    const room = await fixtures.room('Flood');
    const client = await chatClient(port, await fixtures.login(await fixtures.user('carol')));
    client.send(JSON.stringify({ command: 'join', room: room.id }));
    const sends = 80; // below MAX_WAITING_EVENTS: every one is deposited in the lane
    for (let i = 0; i < sends; i++)
      client.send(JSON.stringify({ command: 'send', room: room.id, message: `f${i}` }));
    const got = await replies(client, sends + 1, 60_000);
    assert.equal(
      got.slice(1).map((reply) => reply.message),
      Array.from({ length: sends }, (_, i) => `f${i}`),
    );
    // One more event, sent once the flood has run: its copy is behind every
    // copy of the flood's left on the channel, and the one slot takes them in
    // turn, so that by its answer each left one has been read and dropped.
    client.send(JSON.stringify({ command: 'leave', room: room.id }));
    assert.equal(await replies(client, 1, 60_000), [{ leave: String(room.id) }]);
    const { handled, stale } = await receiveCounts([worker]);
    assert.is(handled, sends + 2, 'each event counted once, as it ran');
    // A copy taken before its event was handed over is dropped as stale (the
    // one read waiting on the channel may hold one); every other copy was
    // taken back (before, nearly every one was left and dropped).
    assert.ok(stale <= 2, `${stale} copies dropped as stale`);
  });

  test('a worker killed mid-load: its sockets keep being served by the others', async () => {
    chat = new DistributedChat(database, { ...NO_LIMITS });
    await Promise.all([chat.startWorker(), chat.startWorker(), chat.startWorker()]);
    const port = await chat.startThyme(NO_RATE);
    const room = await fixtures.room('Survivors');
    const clients = await Promise.all(
      ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map(async (name) =>
        chatClient(port, await fixtures.login(await fixtures.user(name))),
      ),
    );
    for (const client of clients) client.send(JSON.stringify({ command: 'join', room: room.id }));
    for (const client of clients)
      assert.equal((await replies(client, 1, 10_000))[0]!.join, String(room.id));
    // Keep every socket busy, kill a worker in the middle, keep going.
    const sent = new Map<TestClient, number>(clients.map((c) => [c, 0]));
    const pump = async (rounds: number): Promise<void> => {
      for (let r = 0; r < rounds; r++) {
        for (const client of clients) {
          client.send(
            JSON.stringify({
              command: 'send',
              room: room.id,
              message: `${clients.indexOf(client)}:${sent.get(client)}`,
            }),
          );
          sent.set(client, sent.get(client)! + 1);
        }
        await sleep(5);
      }
    };
    await pump(100);
    chat.workers[0]!.child.kill('SIGKILL');
    await pump(100);
    // Every socket gets the messages of every other socket in the room (6 × 200 sends)
    // minus those the killed worker was handling: at most one event per socket. (An
    // event it had taken from the channel but not yet started is not lost: Thyme
    // deposited it in the socket's lane, and the lane runs it.)
    const expected = clients.length * 200;
    const allowedLoss = clients.length;
    for (const client of clients) {
      const seen = new Set<string>();
      await waitFor(
        async () => {
          while (client.received.length > 0) {
            const reply = JSON.parse(String(client.received.shift())) as { message?: string };
            if (reply.message) seen.add(reply.message);
          }
          return seen.size >= expected - allowedLoss;
        },
        30_000,
        `messages to reach client ${clients.indexOf(client)}`,
      ).catch(() => undefined);
      assert.ok(
        seen.size >= expected - allowedLoss,
        `client ${clients.indexOf(client)} saw ${seen.size} of ${expected}`,
      );
    }
    // After the kill, every socket still gets new traffic.
    clients[0]!.send(JSON.stringify({ command: 'send', room: room.id, message: 'after' }));
    for (const client of clients) {
      await waitFor(
        async () => {
          while (client.received.length > 0) {
            if (
              (JSON.parse(String(client.received.shift())) as { message?: string }).message ===
              'after'
            )
              return true;
          }
          return false;
        },
        10_000,
        'the message after the kill',
      );
    }
  });

  test.run();
}
