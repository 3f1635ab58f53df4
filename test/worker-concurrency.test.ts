/**
 * Workers run many events at once on async I/O: a slow database query in one
 * socket's handler does not delay another socket, while each socket's own events
 * still wait their turn. A handler's effects leave with the end of its turn, or
 * earlier when it flushes them.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import { createLayer, type ChannelLayer } from '../src/index.js';
import { Thyme } from '../src/server/index.js';
import type { Application } from '../src/worker/app.js';
import { Worker } from '../src/worker/runner.js';
import type { WebSocketConsumer } from '../src/worker/websocket/consumer.js';
import { allDatabases } from './helpers/databases.js';
import { SHARED_REDIS_URL } from './helpers/redis-server.js';
import { testPrefix } from './helpers/layers.js';
import { within } from './helpers/wait.js';
import { TestClient } from './helpers/ws-client.js';

/**
 * "slow" runs a query that takes a second; anything else is echoed. On SQLite the
 * driver (better-sqlite3) is synchronous, so a slow *query* would block the whole
 * process: SQLite is the development database. There the slow step is an awaited
 * second of I/O instead, which is what the worker must not serialise.
 */
function slowConsumer(db: Database): WebSocketConsumer {
  return {
    async receive(socket, frame) {
      if (frame.text === 'slow') {
        if (db.kind === 'postgres') await db.knex.raw('select pg_sleep(1)');
        else await new Promise((resolve) => setTimeout(resolve, 1000));
        socket.send('slow done');
      } else if (frame.text === 'progress') {
        // Effects go out when the turn ends, unless the handler flushes them.
        socket.send('started');
        await socket.flush();
        await new Promise((resolve) => setTimeout(resolve, 600));
        socket.send('finished');
      } else socket.send(`echo ${frame.text}`);
    },
  };
}

for (const database of allDatabases()) {
  for (const layerUrl of ['memory://', SHARED_REDIS_URL]) {
    const test = suite(`worker concurrency [${database.name}, ${layerUrl.split(':')[0]}]`);
    let db: Database;
    let layer: ChannelLayer;
    let worker: Worker;
    let thyme: Thyme;
    let port: number;

    test.before(async () => {
      await database.setup();
      db = database.open();
      layer = createLayer(layerUrl, { prefix: testPrefix() });
      const consumer = slowConsumer(db);
      const app: Application = {
        name: 'slow',
        handleHttp: () => Promise.reject(new Error('no HTTP here')),
        consumerFor: () => consumer,
      };
      worker = new Worker(layer, app).start();
      thyme = new Thyme(layer, { allowedHosts: ['localhost', '127.0.0.1'] });
      port = (await thyme.listen(0, '127.0.0.1')).port;
    });
    test.after(async () => {
      await thyme.close();
      await worker.stop();
      await layer.flush();
      await layer.close();
      await database.teardown();
    });

    test("a slow query in one socket's handler does not delay another socket", async () => {
      const slow = await TestClient.open(`ws://127.0.0.1:${port}/`);
      const fast = await TestClient.open(`ws://127.0.0.1:${port}/`);
      const started = Date.now();
      slow.send('slow');
      slow.send('after the slow one'); // the same socket's next event waits its turn
      await new Promise((resolve) => setTimeout(resolve, 50));
      fast.send('quick');
      assert.is(await within(fast.next(), 500, 'the fast reply'), 'echo quick');
      const fastAt = Date.now() - started;
      assert.is(await slow.next(3000), 'slow done');
      const slowAt = Date.now() - started;
      assert.is(await slow.next(3000), 'echo after the slow one');
      assert.ok(fastAt < 600, `fast reply after ${fastAt} ms`);
      assert.ok(slowAt >= 950, `slow reply after ${slowAt} ms`);
      slow.ws.terminate();
      fast.ws.terminate();
    });

    test('flush() sends what a handler asked for so far before the handler ends', async () => {
      const client = await TestClient.open(`ws://127.0.0.1:${port}/`);
      const started = Date.now();
      client.send('progress');
      assert.is(await client.next(3000), 'started');
      const startedAt = Date.now() - started;
      assert.is(await client.next(3000), 'finished');
      const finishedAt = Date.now() - started;
      assert.ok(startedAt < 400, `"started" after ${startedAt} ms`);
      assert.ok(finishedAt >= 590, `"finished" after ${finishedAt} ms`);
      client.ws.terminate();
    });

    test.run();
  }
}
