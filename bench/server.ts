/**
 * Interface-server benchmark: Thyme against a bare `ws` echo server (the ceiling),
 * every server in its own process, the load generator in this one. See
 * bench/README.md for what each figure means.
 *
 *   npm run bench:server                   # full run, about 3 minutes
 *   npm run bench:server -- --quick        # smoke run, about 55 s (or BENCH_QUICK=1)
 *   npm run bench:server -- --help         # the other knobs
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLayer } from '../src/index.js';
import { DEFAULTS } from '../src/settings.js';
import { RedisServer } from '../test/helpers/redis-server.js';
import { collectGarbage, INSPECT_FLAG, inspectorUrl } from './lib/inspector.js';
import { withPrefix } from './lib/layer-url.js';
import {
  clockTicks,
  commandsBetween,
  type CommandCalls,
  cpuBetween,
  cpuByRole,
  cpuSeconds,
  ensureOpenFiles,
  RedisProbe,
  rssKiB,
} from './lib/proc.js';
import { positiveCount, positiveNumber } from './lib/options.js';
import { describeEnvironment, formatNumber, formatRatio, table } from './lib/report.js';
import { ServerProcesses, type Listening, type Server } from './lib/server-processes.js';
import { EchoLoad, IdleSockets, latencyHistogram, type EchoPlan } from './lib/ws-load.js';

interface Options {
  quick: boolean;
  url: string;
  clients: number;
  inflight: number;
  workers: number;
  receivers: number;
  rounds: number;
  warmupSeconds: number;
  seconds: number;
  idleSockets: number;
  idleSeconds: number;
  profile: boolean;
  /** Thyme's --ping-timeout for the idle servers; undefined keeps Thyme's default. */
  pingTimeout: number | undefined;
}

const USAGE = `usage: npm run bench:server -- [options]
  --quick               smoke run (~55 s; also BENCH_QUICK=1): fewer clients, shorter phases
  --url URL             Redis for the Redis-layer echo (default redis://127.0.0.1:6379/0, or BENCH_REDIS_URL)
  --clients N           echo clients per setup (default 200; quick 50)
  --inflight K          messages each client keeps in flight (default 2)
  --workers W           echo worker processes for the Redis-layer echo (default 1)
  --receivers R         receive loops on websocket.receive per echo worker (default 50)
  --rounds R            echo rounds per setup, order alternating (default 3; quick 1)
  --seconds S           timed seconds per echo round (default 5; quick 2)
  --idle-sockets M      idle connections per server (default 2000; quick 500)
  --idle-seconds S      first idle window (default 30; quick 10); then the steady one (2 keep-alive intervals; quick 1)
  --ping-timeout S      the idle Thymes' --ping-timeout (default: Thyme's own; for diagnosis only)
  --profile             run the servers with --cpu-prof (profiles in bench/results/profiles-<date>/)`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      url: { type: 'string' },
      clients: { type: 'string' },
      inflight: { type: 'string' },
      workers: { type: 'string' },
      receivers: { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      'idle-sockets': { type: 'string' },
      'idle-seconds': { type: 'string' },
      profile: { type: 'boolean', default: false },
      'ping-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick || process.env.BENCH_QUICK === '1';
  return {
    quick,
    url: values.url ?? process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
    clients: positiveCount('clients', values.clients, quick ? 50 : 200),
    inflight: positiveCount('inflight', values.inflight, 2),
    workers: positiveCount('workers', values.workers, 1),
    receivers: positiveCount('receivers', values.receivers, 50),
    rounds: positiveCount('rounds', values.rounds, quick ? 1 : 3),
    warmupSeconds: quick ? 0.5 : 2,
    seconds: positiveNumber('seconds', values.seconds, quick ? 2 : 5),
    idleSockets: positiveCount('idle-sockets', values['idle-sockets'], quick ? 500 : 2000),
    idleSeconds: positiveNumber('idle-seconds', values['idle-seconds'], quick ? 10 : 30),
    profile: values.profile,
    pingTimeout:
      values['ping-timeout'] === undefined
        ? undefined
        : positiveNumber('ping-timeout', values['ping-timeout'], 0),
  };
}

/** The issue's targets. */
const TARGETS = {
  /** Redis-layer echo CPU per message, at most this many times the bare ws echo's. */
  cpuRatio: 1.5,
  /** Thyme's RSS per idle connection, KiB. */
  rssPerConnectionKiB: 8,
  /** Thyme's CPU while holding idle connections, % of one core. */
  idleCpuPercent: 0.3,
  /** Redis commands a Thyme holding idle connections issues. */
  idleRedisCommands: 0,
};
/** Characters per echoed text frame (as the layer benchmark's messages). */
const TEXT_LENGTH = 100;
/** Seconds for freshly started servers (and, after opening, idle sockets) to settle before RSS is read. */
const settleSeconds = (options: Options): number => (options.quick ? 1 : 3);
const idleSettleSeconds = (options: Options): number => (options.quick ? 2 : 5);
/** Connections opened and closed on each idle server before its baseline is read. */
const IDLE_WARMUP_SOCKETS = 200;

type SetupKey = 'ws' | 'embedded' | 'redis';
const SETUP_LABELS: Record<SetupKey, string> = {
  ws: 'bare ws',
  embedded: 'Thyme embedded',
  redis: 'Thyme + Redis layer',
};
const SETUP_KEYS: SetupKey[] = ['ws', 'embedded', 'redis'];

/** A process whose CPU time counts towards a setup. */
interface Accounted {
  role: string;
  pid: number;
}

interface EchoSetup {
  key: SetupKey;
  url: string;
  accounted: Accounted[];
  /** Reads the Redis server's command counter (Redis-layer setup only). */
  probe?: RedisProbe;
  latency: RecordableHistogram;
  rounds: RoundResult[];
}

interface RoundResult {
  messages: number;
  seconds: number;
  /** CPU seconds per accounted role during the timed part. */
  cpu: Record<string, number>;
  /** Commands the whole Redis server executed (other clients' too), in total and per command. */
  redisCommands?: number;
  redisCommandsByName?: Record<string, number>;
}

interface EchoResult {
  setup: SetupKey;
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Microseconds of server CPU per echoed message: all accounted processes, and by role. */
  cpuPerMessageUs: number;
  cpuPerMessageUsByRole: Record<string, number>;
  /** EVALSHA/EVAL and blocking pops per message: the layer's round trips, server-wide. */
  redisRoundTripsPerMessage?: number;
  rounds: RoundResult[];
}

interface IdleResult {
  setup: SetupKey;
  role: string;
  sockets: number;
  rssBeforeKiB: number;
  rssSettledKiB: number;
  rssEndKiB: number;
  /** (settled − before) / sockets, KiB: the figure held against the target. */
  rssPerConnectionKiB: number;
  /** (end of window, no forced GC − before) / sockets, KiB. */
  rssPerConnectionEndKiB: number;
  /** (V8 heap used after − before) / sockets, KiB, both after a forced GC. */
  heapPerConnectionKiB: number;
  /** The first window, right after the sockets opened: includes one-time warm-up. */
  first: CpuWindow;
  /** The window held against the target: whole keep-alive intervals, after the first. */
  steady: CpuWindow;
  /** Commands the private Redis executed during both windows (Redis-layer Thyme only). */
  redisCommands?: number;
  redisCommandsByName?: Record<string, number>;
  /** Close codes of sockets the server dropped while they were held. */
  dropped: number[];
}

/** One server's CPU over one idle window. */
interface CpuWindow {
  seconds: number;
  cpuSeconds: number;
  cpuPercent: number;
  /** CPU milliseconds in each second of the window (tick resolution: 1000 / CLK_TCK ms). */
  traceMs: number[];
  /** Thyme's keep-alive sweeps run every ping interval from its listen. */
  startsAfterListenSeconds: number;
}

/** Opens `clients` sockets, runs the closed loop, closes them: one round of one setup. */
async function echoRound(setup: EchoSetup, options: Options, plan: EchoPlan): Promise<void> {
  const load = await EchoLoad.open(setup.url, options.clients);
  let cpuBefore: Record<string, number> = {};
  let cpuAfter: Record<string, number> = {};
  let commandsBefore: CommandCalls | undefined;
  let commandsAfter: CommandCalls | undefined;
  try {
    const sample = await load.run(plan, setup.latency, {
      start: async () => {
        cpuBefore = cpuByRole(setup.accounted);
        if (setup.probe) commandsBefore = await setup.probe.commandCalls();
      },
      end: async () => {
        cpuAfter = cpuByRole(setup.accounted);
        if (setup.probe) commandsAfter = await setup.probe.commandCalls();
      },
    });
    const commands =
      commandsBefore && commandsAfter ? commandsBetween(commandsBefore, commandsAfter) : undefined;
    setup.rounds.push({
      ...sample,
      cpu: cpuBetween(cpuBefore, cpuAfter),
      ...(commands ? { redisCommands: commands.total, redisCommandsByName: commands.byName } : {}),
    });
  } finally {
    await load.close();
  }
  // Let the servers finish with the disconnects before the next setup is timed.
  await sleep(1000);
}

function summariseEcho(setup: EchoSetup): EchoResult {
  const messages = setup.rounds.reduce((sum, r) => sum + r.messages, 0);
  const seconds = setup.rounds.reduce((sum, r) => sum + r.seconds, 0);
  const cpu: Record<string, number> = {};
  for (const round of setup.rounds) {
    for (const [role, value] of Object.entries(round.cpu)) cpu[role] = (cpu[role] ?? 0) + value;
  }
  const totalCpu = Object.values(cpu).reduce((a, b) => a + b, 0);
  // Commands run by scripts count in commandstats too: count what clients send.
  const roundTrips = setup.rounds.reduce(
    (sum, r) =>
      sum +
      ['evalsha', 'eval', 'bzmpop', 'bzpopmin'].reduce(
        (n, name) => n + (r.redisCommandsByName?.[name] ?? 0),
        0,
      ),
    0,
  );
  return {
    setup: setup.key,
    messages,
    seconds,
    messagesPerSecond: messages / seconds,
    p50Ms: setup.latency.percentile(50) / 1000,
    p99Ms: setup.latency.percentile(99) / 1000,
    maxMs: setup.latency.max / 1000,
    cpuPerMessageUs: (totalCpu / messages) * 1e6,
    cpuPerMessageUsByRole: Object.fromEntries(
      Object.entries(cpu).map(([role, value]) => [role, (value / messages) * 1e6]),
    ),
    ...(setup.probe ? { redisRoundTripsPerMessage: roundTrips / messages } : {}),
    rounds: setup.rounds,
  };
}

/** Echo: the three setups started together, timed one at a time in alternating order. */
async function echoPhase(
  options: Options,
  processes: ServerProcesses,
  prefix: string,
): Promise<EchoResult[]> {
  const probe = await RedisProbe.open(options.url);
  try {
    const redisPid = await probe.pid();
    const layerUrl = withPrefix(options.url, prefix);
    const ws = await processes.wsEcho();
    const embedded = await processes.embeddedEcho();
    const thyme = await processes.thyme(layerUrl);
    const workers: Server[] = [];
    for (let i = 0; i < options.workers; i++) {
      workers.push(await processes.echoWorker(layerUrl, options.receivers));
    }
    const setup = (key: SetupKey, server: Listening, accounted: Accounted[]): EchoSetup => ({
      key,
      url: `ws://127.0.0.1:${server.port}/echo`,
      accounted,
      latency: latencyHistogram(),
      rounds: [],
    });
    const setups: Record<SetupKey, EchoSetup> = {
      ws: setup('ws', ws, [{ role: 'ws echo', pid: ws.pid }]),
      embedded: setup('embedded', embedded, [{ role: 'Thyme+worker', pid: embedded.pid }]),
      redis: {
        ...setup('redis', thyme, [
          { role: 'Thyme', pid: thyme.pid },
          ...workers.map((w) => ({ role: 'echo worker', pid: w.pid })),
          { role: 'redis-server', pid: redisPid },
        ]),
        probe,
      },
    };
    if (options.profile) {
      const pids = [ws, embedded, thyme, ...workers].map((s) => `${s.pid} ${s.role}`);
      console.log(`  profiled processes (pid role): ${pids.join(', ')}`);
    }
    const plan: EchoPlan = {
      inflight: options.inflight,
      textLength: TEXT_LENGTH,
      warmupSeconds: options.warmupSeconds,
      seconds: options.seconds,
    };
    await sleep(settleSeconds(options) * 1000);
    for (let round = 0; round < options.rounds; round++) {
      // ABC then CBA: each setup sees the machine's drift from both sides.
      const order = round % 2 === 0 ? SETUP_KEYS : [...SETUP_KEYS].reverse();
      for (const key of order) {
        const s = setups[key];
        await echoRound(s, options, plan);
        const last = s.rounds[s.rounds.length - 1]!;
        const cpu = Object.values(last.cpu).reduce((a, b) => a + b, 0);
        console.log(
          `  round ${round + 1} ${SETUP_LABELS[key].padEnd(20)} ${formatNumber(last.messages / last.seconds)} messages/s, ` +
            `${formatNumber((cpu / last.messages) * 1e6)} µs CPU/message`,
        );
      }
    }
    await processes.stopAll();
    return SETUP_KEYS.map((key) => summariseEcho(setups[key]));
  } finally {
    probe.close();
  }
}

/**
 * Idle: fresh servers, `idleSockets` idle connections each, memory before and
 * after (each read after a full GC forced through the inspector), then CPU over a
 * window. The Redis-layer Thyme uses a private redis-server so that its command
 * counter counts nothing but this Thyme. The three windows run at the same time:
 * each figure is a process's own CPU time, which its idle neighbours do not
 * change, and the run stays short.
 */
async function idlePhase(
  options: Options,
  processes: ServerProcesses,
  prefix: string,
): Promise<IdleResult[]> {
  const redis = await RedisServer.start();
  let probe: RedisProbe | undefined;
  const held: IdleSockets[] = [];
  try {
    probe = await RedisProbe.open(redis.url);
    const layerUrl = withPrefix(redis.url, prefix);
    const thymeArgs =
      options.pingTimeout === undefined ? [] : ['--ping-timeout', String(options.pingTimeout)];
    const servers: Record<SetupKey, Listening> = {
      ws: await processes.wsEcho(),
      embedded: await processes.embeddedEcho(thymeArgs),
      redis: await processes.thyme(layerUrl, thymeArgs),
    };
    // Accepts the handshakes, then leaves before the window: what is counted is Thyme's.
    const worker = await processes.echoWorker(layerUrl, 1);
    const inspectors = {} as Record<SetupKey, string>;
    const url = (key: SetupKey) => `ws://127.0.0.1:${servers[key].port}/idle`;
    for (const key of SETUP_KEYS) {
      inspectors[key] = await inspectorUrl(servers[key].proc);
      // Warm-up: the baseline then already holds what any process that has served
      // connections holds (compiled code, buffer pools), not only the per-socket cost.
      const warm = await IdleSockets.open(
        url(key),
        Math.min(IDLE_WARMUP_SOCKETS, options.idleSockets),
      );
      await warm.close();
    }
    await sleep(settleSeconds(options) * 1000);
    const before = await memory(servers, inspectors);
    const sockets = {} as Record<SetupKey, IdleSockets>;
    for (const key of SETUP_KEYS) {
      sockets[key] = await IdleSockets.open(url(key), options.idleSockets);
      held.push(sockets[key]);
    }
    await processes.stop(worker);
    await sleep(idleSettleSeconds(options) * 1000);
    const settled = await memory(servers, inspectors);
    console.log(
      `  ${options.idleSockets} idle sockets per server; ${options.idleSeconds} s window...`,
    );
    const commandsBefore = await probe.commandCalls();
    const first = await cpuWindows(servers, options.idleSeconds);
    // The steady window starts once the first sweep (at one interval from listen) is over.
    const firstSweepOver =
      Math.max(...SETUP_KEYS.map((key) => servers[key].listeningAt)) +
      (DEFAULTS.pingInterval + FIRST_SWEEP_SECONDS) * 1000;
    await sleep(Math.max(0, firstSweepOver - performance.now()));
    console.log(`  then ${steadyWindowSeconds(options)} s, whole keep-alive intervals...`);
    const steady = await cpuWindows(servers, steadyWindowSeconds(options));
    const commands = commandsBetween(commandsBefore, await probe.commandCalls());
    // Not after a forced GC: what the process holds after the window on its own.
    const end = mapSetups((key) => rssKiB(servers[key].pid));
    const results = SETUP_KEYS.map((key): IdleResult => {
      const n = options.idleSockets;
      return {
        setup: key,
        role: servers[key].role,
        sockets: n,
        rssBeforeKiB: before[key].rssKiB,
        rssSettledKiB: settled[key].rssKiB,
        rssEndKiB: end[key],
        rssPerConnectionKiB: (settled[key].rssKiB - before[key].rssKiB) / n,
        rssPerConnectionEndKiB: (end[key] - before[key].rssKiB) / n,
        heapPerConnectionKiB: (settled[key].heapUsedBytes - before[key].heapUsedBytes) / 1024 / n,
        first: first[key],
        steady: steady[key],
        ...(key === 'redis'
          ? { redisCommands: commands.total, redisCommandsByName: commands.byName }
          : {}),
        dropped: [...sockets[key].dropped],
      };
    });
    await Promise.all(held.map((h) => h.close()));
    held.length = 0;
    await processes.stopAll();
    return results;
  } finally {
    await Promise.all(held.map((h) => h.close()));
    await processes.stopAll();
    probe?.close();
    await redis.stop();
  }
}

/** Enough for a sweep's pings and pongs (a few hundred milliseconds for 2,000 sockets). */
const FIRST_SWEEP_SECONDS = 3;

/**
 * The steady window: whole keep-alive intervals (two; one in a quick run), so that
 * it holds as many sweeps as any window of that length on average, whatever their
 * phase. It follows the first window, so the one-time costs (the first sweeps
 * compile the ping and pong paths) are behind it.
 */
function steadyWindowSeconds(options: Options): number {
  return (options.quick ? 1 : 2) * DEFAULTS.pingInterval;
}

/** Each server's CPU over the next `seconds`, with a per-second trace. */
async function cpuWindows(
  servers: Record<SetupKey, Listening>,
  seconds: number,
): Promise<Record<SetupKey, CpuWindow>> {
  const cpuBefore = mapSetups((key) => cpuSeconds(servers[key].pid));
  const started = performance.now();
  // CPU each second, so that a figure above zero can be placed in time (a ping sweep, drops).
  const trace: Record<SetupKey, number[]> = { ws: [], embedded: [], redis: [] };
  let previous = cpuBefore;
  for (let second = 1; second <= Math.ceil(seconds); second++) {
    await sleep(Math.max(0, started + Math.min(second, seconds) * 1000 - performance.now()));
    const now = mapSetups((key) => cpuSeconds(servers[key].pid));
    for (const key of SETUP_KEYS) trace[key].push(Math.round((now[key] - previous[key]) * 1000));
    previous = now;
  }
  const elapsed = (performance.now() - started) / 1000;
  const window = (key: SetupKey): CpuWindow => {
    const cpu = previous[key] - cpuBefore[key];
    return {
      seconds: elapsed,
      cpuSeconds: cpu,
      cpuPercent: (cpu / elapsed) * 100,
      traceMs: trace[key],
      startsAfterListenSeconds: (started - servers[key].listeningAt) / 1000,
    };
  };
  return { ws: window('ws'), embedded: window('embedded'), redis: window('redis') };
}

interface Memory {
  rssKiB: number;
  heapUsedBytes: number;
}

/** Each server's RSS and V8 heap in use, read right after a forced full GC. */
async function memory(
  servers: Record<SetupKey, Listening>,
  inspectors: Record<SetupKey, string>,
): Promise<Record<SetupKey, Memory>> {
  const read = async (key: SetupKey): Promise<Memory> => {
    const heap = await collectGarbage(inspectors[key]);
    return { rssKiB: rssKiB(servers[key].pid), heapUsedBytes: heap.usedSize };
  };
  return { ws: await read('ws'), embedded: await read('embedded'), redis: await read('redis') };
}

function mapSetups(read: (key: SetupKey) => number): Record<SetupKey, number> {
  return { ws: read('ws'), embedded: read('embedded'), redis: read('redis') };
}

function wsVersion(): string {
  const entry = createRequire(import.meta.url).resolve('ws');
  const pkg = JSON.parse(readFileSync(join(dirname(entry), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function report(options: Options, echo: EchoResult[], idle: IdleResult[]): string[] {
  const byEcho = (key: SetupKey) => echo.find((e) => e.setup === key)!;
  const byIdle = (key: SetupKey) => idle.find((i) => i.setup === key)!;
  const rows: string[][] = [];
  /** One row: a value per setup and each Thyme setup's ratio to bare ws. */
  const row = (label: string, value: (key: SetupKey) => number | undefined): void => {
    const ws = value('ws');
    const cells = [label, show(ws)];
    for (const key of ['embedded', 'redis'] as const) {
      const v = value(key);
      cells.push(show(v), v === undefined || ws === undefined ? '' : formatRatio(v / ws));
    }
    rows.push(cells);
  };
  const role = (key: SetupKey, name: string) => byEcho(key).cpuPerMessageUsByRole[name];
  row(
    `echo, ${options.clients} clients × ${options.inflight} in flight, messages/s`,
    (k) => byEcho(k).messagesPerSecond,
  );
  row('  round trip p50, ms', (k) => byEcho(k).p50Ms);
  row('  round trip p99, ms', (k) => byEcho(k).p99Ms);
  row('  server CPU per message, µs (all server processes)', (k) => byEcho(k).cpuPerMessageUs);
  row('    of which the ws echo process', (k) => (k === 'ws' ? role(k, 'ws echo') : undefined));
  row('    of which Thyme (+ the worker, embedded)', (k) =>
    k === 'ws' ? undefined : (role(k, 'Thyme') ?? role(k, 'Thyme+worker')),
  );
  row('    of which echo worker process(es)', (k) =>
    k === 'redis' ? role(k, 'echo worker') : undefined,
  );
  row('    of which redis-server', (k) => (k === 'redis' ? role(k, 'redis-server') : undefined));
  row(
    '  Redis scripts + blocking pops per message (whole server)',
    (k) => byEcho(k).redisRoundTripsPerMessage,
  );
  row(
    `idle, ${options.idleSockets} sockets: RSS per connection, KiB (after a forced GC)`,
    (k) => byIdle(k).rssPerConnectionKiB,
  );
  row('  V8 heap per connection, KiB (after a forced GC)', (k) => byIdle(k).heapPerConnectionKiB);
  row(
    '  RSS per connection, KiB (end of the idle window, no forced GC)',
    (k) => byIdle(k).rssPerConnectionEndKiB,
  );
  row(
    `  CPU, first ${options.idleSeconds} s after opening (one-time warm-up in it), % of one core`,
    (k) => byIdle(k).first.cpuPercent,
  );
  row(
    `  CPU, steady: the next ${steadyWindowSeconds(options)} s (whole keep-alive intervals), % of one core`,
    (k) => byIdle(k).steady.cpuPercent,
  );
  row(
    '  Redis commands during the windows (private Redis, incl. in scripts)',
    (k) => byIdle(k).redisCommands,
  );
  row('  sockets dropped by the server while held', (k) => byIdle(k).dropped.length);
  const traces = (which: 'first' | 'steady') =>
    SETUP_KEYS.map((key) => {
      const window = byIdle(key)[which];
      const seconds = window.traceMs.map((ms) => (ms === 0 ? '.' : String(ms))).join(' ');
      const start = window.startsAfterListenSeconds.toFixed(1);
      return `  ${SETUP_LABELS[key].padEnd(20)} ${seconds}  (from ${start} s after listen)`;
    });
  return [
    table(
      ['figure', SETUP_LABELS.ws, SETUP_LABELS.embedded, '/ ws', SETUP_LABELS.redis, '/ ws'],
      rows,
    ),
    '',
    'idle windows, CPU ms in each second (. = none); first:',
    ...traces('first'),
    'steady:',
    ...traces('steady'),
  ];
}

function show(value: number | undefined): string {
  return value === undefined ? '' : formatNumber(value);
}

interface TargetResult {
  description: string;
  value: string;
  met: boolean;
}

function targets(echo: EchoResult[], idle: IdleResult[]): TargetResult[] {
  const cpu = (key: SetupKey) => echo.find((e) => e.setup === key)!.cpuPerMessageUs;
  const idleOf = (key: SetupKey) => idle.find((i) => i.setup === key)!;
  const cpuRatio = cpu('redis') / cpu('ws');
  const results: TargetResult[] = [
    {
      description: `Redis-layer echo CPU per message ≤ ${TARGETS.cpuRatio}× bare ws`,
      value: formatRatio(cpuRatio),
      met: cpuRatio <= TARGETS.cpuRatio,
    },
    {
      description: `Thyme (memory://) RSS per idle connection ≤ ${TARGETS.rssPerConnectionKiB} KiB`,
      value: `${formatNumber(idleOf('embedded').rssPerConnectionKiB)} KiB`,
      met: idleOf('embedded').rssPerConnectionKiB <= TARGETS.rssPerConnectionKiB,
    },
  ];
  for (const key of ['embedded', 'redis'] as const) {
    const { cpuPercent } = idleOf(key).steady;
    results.push({
      description: `${SETUP_LABELS[key]} idle CPU (steady window) ≤ ${TARGETS.idleCpuPercent} % of one core`,
      value: `${cpuPercent.toFixed(3)} %`,
      met: cpuPercent <= TARGETS.idleCpuPercent,
    });
  }
  const commands = idleOf('redis').redisCommands ?? NaN;
  results.push({
    description: `Redis commands by an idle Thyme = ${TARGETS.idleRedisCommands}`,
    value: String(commands),
    met: commands === TARGETS.idleRedisCommands,
  });
  for (const key of ['embedded', 'redis'] as const) {
    const { dropped } = idleOf(key);
    results.push({
      description: `${SETUP_LABELS[key]} keeps every idle socket open`,
      value:
        dropped.length === 0
          ? 'none dropped'
          : `${dropped.length} dropped (codes ${[...new Set(dropped)].join(', ')})`,
      met: dropped.length === 0,
    });
  }
  return results;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  // This process holds every client socket (three servers' idle sockets at once).
  const status = ensureOpenFiles(3 * options.idleSockets + options.clients + 1000);
  if (status !== undefined) {
    process.exitCode = status;
    return;
  }
  const environment = await describeEnvironment(options.url);
  const runPrefix = `bench.${randomBytes(4).toString('hex')}.`;
  const startedAt = performance.now();
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
  const stamp = environment.date.replace(/[:.]/g, '-');
  const profileDir = join(resultsDir, `profiles-${stamp}`);
  // Profiling (sampling at 1 kHz) would show in the idle CPU: echo servers only.
  const echoProcesses = new ServerProcesses(
    options.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  );
  const idleProcesses = new ServerProcesses([INSPECT_FLAG]);

  console.log(`Gredis interface-server benchmark${options.quick ? ' (QUICK smoke run)' : ''}`);
  console.log(`date          ${environment.date}`);
  console.log(`node          ${environment.node}, ws ${wsVersion()}`);
  console.log(`redis-server  ${environment.redisServer} at ${options.url}`);
  console.log(`cpus          ${environment.cpus} × ${environment.cpuModel}`);
  console.log(`load average  ${environment.loadAverage.join(' ')}`);
  console.log(`key prefix    ${runPrefix}* (flushed at the end); CLK_TCK ${clockTicks()}`);
  console.log(
    `method        every server is its own process, the clients are in this one. Echo: ${options.clients}\n` +
      `              clients per setup, each a closed loop of ${options.inflight} ${TEXT_LENGTH}-char text frames in flight;\n` +
      `              ${options.warmupSeconds} s warm-up, then ${options.seconds} s timed, ${options.rounds} round(s) per setup in\n` +
      `              alternating order; CPU = utime+stime from /proc of the server processes\n` +
      `              (for the Redis layer: Thyme, ${options.workers} echo worker(s) with ${options.receivers} receive loops, redis-server).\n` +
      `              Idle: ${options.idleSockets} sockets per fresh server; RSS and V8 heap after a forced GC\n` +
      `              before and ${idleSettleSeconds(options)} s after opening them, then CPU over ${options.idleSeconds} s + ${steadyWindowSeconds(options)} s; the\n` +
      `              Redis-layer Thyme on a private redis-server, its echo worker stopped before the window;\n` +
      `              Thyme keep-alive: ${options.pingTimeout === undefined ? 'defaults (ping every 20 s, drop after 30 s quiet)' : `--ping-timeout ${options.pingTimeout} (NOT the default)`}`,
  );
  console.log('');

  let echo: EchoResult[] = [];
  let idle: IdleResult[] = [];
  try {
    console.log('echo');
    echo = await echoPhase(options, echoProcesses, `${runPrefix}echo.`);
    console.log('idle');
    idle = await idlePhase(options, idleProcesses, `${runPrefix}idle.`);
  } catch (error) {
    for (const line of [...echoProcesses.diagnostics(), ...idleProcesses.diagnostics()]) {
      console.error(line);
    }
    throw error;
  } finally {
    await echoProcesses.stopAll();
    await idleProcesses.stopAll();
    const janitor = createLayer(options.url, { prefix: runPrefix });
    await janitor.flush();
    await janitor.close();
  }
  const seconds = (performance.now() - startedAt) / 1000;

  console.log('');
  for (const line of report(options, echo, idle)) console.log(line);
  console.log('');
  const checked = targets(echo, idle);
  for (const t of checked) {
    console.log(`Target: ${t.description}: ${t.value} — ${t.met ? 'MET' : 'NOT MET'}`);
  }
  console.log(`\nwhole run: ${seconds.toFixed(0)} s`);

  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `server-${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        benchmark: 'server',
        quick: options.quick,
        options,
        environment: { ...environment, ws: wsVersion(), clockTicks: clockTicks() },
        seconds,
        echo,
        idle,
        targets: checked,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
  if (options.profile) console.log(`profiles: ${profileDir}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
