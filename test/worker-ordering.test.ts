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
    await Promise.all([chat.startWorker(), chat.startWorker(), chat.startWorker()]);
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
