/**
 * What per-socket ordering costs: WebSocket-like events pushed through the layer
 * and consumed by three "workers" (layer instances), with and without lanes.
 * Prints events/s, time per event and Redis round trips per event for both, and
 * the ratio. `npm run bench:lanes [-- --quick]`.
 */
import { setMaxListeners } from 'node:events';
import { Redis } from 'ioredis';
import { createLayer, type Message } from '../src/index.js';
import { describeEnvironment, formatNumber, formatRatio, table } from './lib/report.js';

const URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
const WORKERS = 3;
const CONCURRENCY = 32;

interface Result {
  seconds: number;
  /** CPU time of this process and of the Redis server during the timed part. */
  nodeCpu: number;
  redisCpu: number;
  events: number;
  roundTrips: number;
  outOfOrder: number;
}

/** Few busy sockets (events of one socket race each other) or many quiet ones. */
const SHAPES = [
  { name: 'busy sockets', sockets: 50, events: quick ? 40 : 400 },
  { name: 'quiet sockets', sockets: quick ? 200 : 2000, events: 10 },
];

async function run(ordered: boolean, SOCKETS: number, EVENTS_PER_SOCKET: number): Promise<Result> {
  const prefix = `bench-lanes-${process.pid}-${ordered ? 'on' : 'off'}.`;
  const producer = createLayer(URL, { prefix, capacity: 100_000 });
  const workers = Array.from({ length: WORKERS }, () =>
    createLayer(URL, { prefix, capacity: 100_000 }),
  );
  const total = SOCKETS * EVENTS_PER_SOCKET;
  const seen = new Map<string, number>();
  let done = 0;
  let outOfOrder = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const handle = (event: Message): void => {
    const lane = event.reply_channel as string;
    const order = event.order as number;
    if ((seen.get(lane) ?? -1) !== order - 1) outOfOrder++;
    seen.set(lane, order);
    if (++done === total) finish();
  };
  // Fill the queue first: what is timed is the consumers' work alone.
  for (let i = 0; i < EVENTS_PER_SOCKET; i++) {
    await Promise.all(
      Array.from({ length: SOCKETS }, (_, s) =>
        producer.send('websocket.receive', {
          reply_channel: `thyme.bench!${s}`,
          path: '/',
          order: i,
          text: 'x'.repeat(60),
        }),
      ),
    );
  }
  const abort = new AbortController();
  setMaxListeners(0, abort.signal);
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const redisBefore = await redisCpu();
  const before = workers.reduce((n, w) => n + w.stats.roundTrips, 0);
  const loops = workers.flatMap((layer) =>
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        let event: Message;
        try {
          event = await layer.receive('websocket.receive', { signal: abort.signal });
        } catch {
          return;
        }
        if (!ordered) {
          handle(event);
          continue;
        }
        const lane = event.reply_channel as string;
        const claim = await layer.lanes.claim(lane, event.order as number, event);
        if (claim.kind !== 'run') continue;
        let turn: { order: number; event: Message } | undefined = {
          order: event.order as number,
          event,
        };
        while (turn) {
          handle(turn.event);
          turn = await layer.lanes.finish(lane, turn.order, { n: turn.order });
        }
      }
    }),
  );
  await finished;
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const nodeCpu = (cpu.user + cpu.system) / 1e6;
  const redisSeconds = (await redisCpu()) - redisBefore;
  const roundTrips = workers.reduce((n, w) => n + w.stats.roundTrips, 0) - before;
  abort.abort();
  await Promise.allSettled(loops);
  await producer.flush();
  for (const layer of [producer, ...workers]) await layer.close();
  return { seconds, nodeCpu, redisCpu: redisSeconds, events: total, roundTrips, outOfOrder };
}

/** The Redis server's CPU seconds so far (user + system, from INFO). */
async function redisCpu(): Promise<number> {
  const client = new Redis(URL);
  try {
    const info = await client.info('cpu');
    const value = (name: string): number =>
      Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    return value('used_cpu_user') + value('used_cpu_sys');
  } finally {
    client.disconnect();
  }
}

const environment = await describeEnvironment(URL);
console.log(
  `lanes benchmark — ${environment.date}, node ${environment.node}, redis ${environment.redisServer}, ${environment.cpus} CPUs`,
);
console.log(
  `${WORKERS} consumers × ${CONCURRENCY} concurrent receives, queue filled before timing\n`,
);
const rows: string[][] = [];
for (const shape of SHAPES) {
  const plain = await run(false, shape.sockets, shape.events);
  const ordered = await run(true, shape.sockets, shape.events);
  const label = `${shape.name} (${shape.sockets} × ${shape.events})`;
  for (const [name, r] of [
    ['no lanes', plain],
    ['lanes', ordered],
  ] as const) {
    rows.push([
      `${label}, ${name}`,
      formatNumber(r.events / r.seconds),
      `${formatNumber((r.seconds / r.events) * 1e6)} µs`,
      `${formatNumber(((r.nodeCpu + r.redisCpu) / r.events) * 1e6)} µs`,
      formatNumber(r.roundTrips / r.events),
      String(r.outOfOrder),
    ]);
  }
  const cpuPerEvent = (r: Result): number => (r.nodeCpu + r.redisCpu) / r.events;
  rows.push([
    `${label}: lanes cost`,
    '',
    formatRatio(ordered.seconds / plain.seconds),
    `+${formatNumber((cpuPerEvent(ordered) - cpuPerEvent(plain)) * 1e6)} µs`,
    '',
    '',
  ]);
}
console.log(
  table(
    [
      'workload',
      'events/s',
      'wall time/event',
      'CPU/event (node+redis)',
      'lane round trips/event',
      'out of order',
    ],
    rows,
  ),
);
