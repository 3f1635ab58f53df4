/**
 * Chat benchmark: MultiChat as deployed (2 Thymes, 2 workers, Redis, PostgreSQL)
 * against the same chat on Socket.IO with its Redis adapter (2 servers, same
 * Redis), and MultiChat embedded (one process, memory layer, SQLite), same
 * clients, rooms and message rate, same run; optionally (`--systems …,channels`)
 * the original stack too, Django Channels on 2 Daphnes with channels_redis. The
 * headline figure is server CPU time per delivered message. See bench/README.md
 * (Chat) for every figure.
 *
 *   npm run bench:chat                  # full run, about 2¼ minutes
 *   npm run bench:chat -- --quick       # smoke run, about a minute (or BENCH_QUICK=1)
 *   npm run bench:chat -- --profile     # also profile the servers during the window
 *   npm run bench:chat -- --help        # the other knobs
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Database } from '../src/db/connection.js';
import { createLayer } from '../src/index.js';
import { postgresBackend, sqliteBackend, type DatabaseBackend } from '../test/helpers/databases.js';
import { TEST_SECRET_KEY } from '../test/helpers/deployment.js';
import { RedisServer } from '../test/helpers/redis-server.js';
import {
  SYSTEM_LABELS,
  startDistributed,
  startChannels,
  startEmbedded,
  startSocketIo,
  type Deployment,
  type SystemKey,
} from './chat/deployments.js';
import { createDjangoFixtures, djangoEnv, type DjangoVersions } from './chat/django.js';
import { createChatFixtures, type ChatFixtures } from './chat/fixtures.js';
import { LoadPool } from './chat/load-pool.js';
import { PostgresBackends } from './chat/postgres.js';
import { ServerRegistry } from './chat/processes.js';
import type { RoleSummary } from './chat/profile.js';
import { measure, type RunSettings, type SystemResult } from './chat/run.js';
import { INSPECT_FLAG } from './lib/inspector.js';
import { withPrefix } from './lib/layer-url.js';
import { clockTicks, RedisProbe } from './lib/proc.js';
import { positiveNumber } from './lib/options.js';
import { describeEnvironment, formatNumber, formatRatio, table } from './lib/report.js';

const USAGE = `usage: npm run bench:chat -- [options]
  --quick                  smoke run (~1 min; also BENCH_QUICK=1): fewer clients, shorter phases
  --clients N              chat clients (default 500; quick 200)
  --rooms R                rooms, clients spread evenly (default 10; quick 5)
  --senders S              clients that send (default 50; quick 20)
  --rate M                 messages per second, all senders together (default 1000; quick 400)
  --seconds T              timed send window (default 10; quick 3)
  --warmup W               sending before the window (default 8; quick 1)
  --idle-seconds I         idle CPU window (default 10; quick 2)
  --connect-clients K      clients of the connect burst (default 2000; quick 500)
  --connect-concurrency C  handshakes in progress at once (default 500)
  --load-processes P       load-generator processes (default 2)
  --workers N              gredis runworker processes of the distributed deployment (default 2)
  --worker-args="ARGS"     extra arguments for each runworker (e.g. --worker-args="--concurrency 1024";
                           the "=" keeps a value that starts with a dash)
  --systems LIST           comma-separated, of gredis,socketio,embedded,channels
                           (default gredis,socketio,embedded; channels = Django Channels on Daphne)
  --url URL                use this Redis (or BENCH_REDIS_URL) instead of a private redis-server
  --profile                sample the Node servers' CPU during the window (perturbs the CPU figures)`;

interface Options extends RunSettings {
  quick: boolean;
  loadProcesses: number;
  workers: number;
  workerArgs: string[];
  systems: SystemKey[];
  url: string | undefined;
  profile: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      clients: { type: 'string' },
      rooms: { type: 'string' },
      senders: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'idle-seconds': { type: 'string' },
      'connect-clients': { type: 'string' },
      'connect-concurrency': { type: 'string' },
      'load-processes': { type: 'string' },
      workers: { type: 'string' },
      'worker-args': { type: 'string' },
      systems: { type: 'string' },
      url: { type: 'string' },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick || process.env.BENCH_QUICK === '1';
  const systems = (values.systems ?? 'gredis,socketio,embedded').split(',').map((s) => s.trim());
  for (const s of systems) {
    if (!(s in SYSTEM_LABELS)) throw new Error(`--systems: unknown system ${JSON.stringify(s)}`);
  }
  const options: Options = {
    quick,
    clients: positiveNumber('clients', values.clients, quick ? 200 : 500),
    rooms: positiveNumber('rooms', values.rooms, quick ? 5 : 10),
    senders: positiveNumber('senders', values.senders, quick ? 20 : 50),
    rate: positiveNumber('rate', values.rate, quick ? 400 : 1000),
    textLength: TEXT_LENGTH,
    seconds: positiveNumber('seconds', values.seconds, quick ? 3 : 10),
    warmupSeconds: positiveNumber('warmup', values.warmup, quick ? 1 : 8),
    idleSeconds: positiveNumber('idle-seconds', values['idle-seconds'], quick ? 2 : 10),
    connectClients: positiveNumber(
      'connect-clients',
      values['connect-clients'],
      quick ? 500 : 2000,
    ),
    connectConcurrency: positiveNumber('connect-concurrency', values['connect-concurrency'], 500),
    drainSeconds: 30,
    loadProcesses: positiveNumber('load-processes', values['load-processes'], 2),
    workers: positiveNumber('workers', values.workers, WORKERS),
    workerArgs: (values['worker-args'] ?? '').split(' ').filter((a) => a !== ''),
    systems: systems as SystemKey[],
    url: values.url ?? process.env.BENCH_REDIS_URL,
    profile: values.profile,
    profileDir: undefined,
  };
  if (options.senders > options.clients) throw new Error('--senders must be ≤ --clients');
  return options;
}

/** Characters of each chat message's text (id and timestamp included). */
const TEXT_LENGTH = 100;
/** Server processes of each kind in the distributed deployments. */
const THYMES = 2;
const WORKERS = 2;
const SOCKET_IO_SERVERS = 2;
const DAPHNES = 2;

/** The issue's targets, Gredis distributed against Socket.IO at the default workload. */
const TARGETS = { cpuRatio: 0.5, connectSeconds: 2 };

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function packageVersion(name: string): string {
  const file = join(ROOT, 'node_modules', name, 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

async function postgresVersion(db: Database): Promise<string> {
  const result = (await db.knex.raw('show server_version')) as {
    rows: { server_version: string }[];
  };
  return result.rows[0]?.server_version ?? 'unknown';
}

interface TargetResult {
  description: string;
  value: string;
  met: boolean;
}

function targets(results: SystemResult[]): TargetResult[] {
  const gredis = results.find((r) => r.system === 'gredis');
  const sio = results.find((r) => r.system === 'socketio');
  if (!gredis) return [];
  const checked: TargetResult[] = [];
  if (sio) {
    const ratio = gredis.cpuPerDeliveryUs / sio.cpuPerDeliveryUs;
    checked.push({
      description: `server CPU per delivered message ≤ ${TARGETS.cpuRatio}× Socket.IO's`,
      value: `${formatNumber(gredis.cpuPerDeliveryUs)} vs ${formatNumber(sio.cpuPerDeliveryUs)} µs = ${formatRatio(ratio)}`,
      met: ratio <= TARGETS.cpuRatio,
    });
    checked.push({
      description: "p99 latency no worse than Socket.IO's",
      value: `${formatNumber(gredis.p99Ms)} vs ${formatNumber(sio.p99Ms)} ms`,
      met: gredis.p99Ms <= sio.p99Ms,
    });
  }
  checked.push({
    description: '0 lost messages',
    value: `${gredis.lost} of ${gredis.expectedDeliveries} deliveries lost${gredis.saturated ? ' (saturated)' : ''}`,
    met: gredis.lost === 0,
  });
  checked.push({
    description: `${gredis.connect.clients} clients connect + authenticate ≤ ${TARGETS.connectSeconds} s`,
    value: `${gredis.connect.seconds.toFixed(2)} s`,
    met: gredis.connect.seconds <= TARGETS.connectSeconds,
  });
  return checked;
}

function report(results: SystemResult[]): string {
  const by = (key: SystemKey) => results.find((r) => r.system === key);
  // Django Channels is opt-in: its two columns only when it ran.
  const channels = by('channels');
  const rows: string[][] = [];
  const show = (v: number | undefined): string => (v === undefined ? '' : formatNumber(v));
  const ratio = (a: number | undefined, b: number | undefined): string =>
    a === undefined || b === undefined || b === 0 ? '' : formatRatio(a / b);
  const row = (label: string, value: (r: SystemResult) => number | undefined): void => {
    const g = by('gredis');
    const s = by('socketio');
    const e = by('embedded');
    const gv = g && value(g);
    const sv = s && value(s);
    const cv = channels && value(channels);
    rows.push([
      label,
      show(gv),
      show(sv),
      ratio(gv, sv),
      show(e && value(e)),
      ...(channels ? [show(cv), ratio(gv, cv)] : []),
    ]);
  };
  const first = results[0]!;
  row(
    `delivered messages/s (${first.clients} clients, ${first.rooms} rooms, ${first.senders} senders, ${first.rate} msg/s)`,
    (r) => r.deliveriesPerSecond,
  );
  row(
    "  offered deliveries/s (each sender's rate × members of its room)",
    (r) => r.offeredDeliveriesPerSecond,
  );
  row('  saturated (delivered < 95 % of offered, or a socket closed 1013): 1 = yes', (r) =>
    r.saturated ? 1 : 0,
  );
  row('  messages sent in the window', (r) => r.sent);
  row('  lost deliveries (expected − delivered)', (r) => r.lost);
  row('  latency p50, ms (send → delivery at each member)', (r) => r.p50Ms);
  row('  latency p99, ms', (r) => r.p99Ms);
  row('  latency max, ms', (r) => r.maxMs);
  row('  warm-up (cold start, not timed): latency p99, ms', (r) => r.warmupP99Ms);
  row('  warm-up: latency max, ms', (r) => r.warmupMaxMs);
  row('server CPU per delivered message, µs (HEADLINE)', (r) => r.cpuPerDeliveryUs);
  const roles = [...new Set(results.flatMap((r) => Object.keys(r.cpuPerDeliveryUsByRole)))];
  for (const role of roles) {
    row(`  of which ${role} (all processes)`, (r) => r.cpuPerDeliveryUsByRole[role]);
  }
  row('  server CPU in the window, % of one core', (r) => r.serverCpuPercent);
  row(
    'PostgreSQL CPU per delivered message, µs (not in the headline)',
    (r) => r.postgresCpuPerDeliveryUs,
  );
  row(
    'Redis commands per chat message (incl. those scripts run)',
    (r) => r.redisCommandsPerMessage,
  );
  row(
    '  round trips per chat message (EVALSHA, BZMPOP, PUBLISH, EXEC)',
    (r) => r.redisRoundTripsPerMessage,
  );
  row('load generator CPU in the window, % of one core', (r) => r.loadCpuPercent);
  row(
    '  its event-loop delay p99, ms (high: latencies include its own queue)',
    (r) => r.loadLoopDelayP99Ms,
  );
  row('RSS per connection, KiB (servers + Redis, after a forced GC)', (r) => r.rssPerConnectionKiB);
  row(`idle CPU, all clients connected, % of one core`, (r) => r.idleCpuPercent);
  row(`connect + authenticate ${first.connect.clients} clients, s`, (r) => r.connect.seconds);
  row('  server CPU during the burst, s', (r) =>
    sum(Object.values(r.connect.serverCpuSecondsByRole)),
  );
  row('  load generator CPU during the burst, s', (r) => r.connect.loadCpuSeconds);
  row('unexpected frames', (r) => r.unexpected);
  row('sockets dropped by the servers', (r) => sum(Object.values(r.dropped)));
  return table(
    [
      'figure',
      SYSTEM_LABELS.gredis,
      SYSTEM_LABELS.socketio,
      'Gredis/Socket.IO',
      SYSTEM_LABELS.embedded,
      ...(channels ? [SYSTEM_LABELS.channels, 'Gredis/Channels'] : []),
    ],
    rows,
  );
}

function profileReport(system: SystemKey, summaries: RoleSummary[], unit: string): string[] {
  const lines: string[] = [];
  for (const s of summaries) {
    lines.push(
      `${SYSTEM_LABELS[system]}, ${s.role} (${s.processes} process(es)): ${formatNumber(s.cpuUs)} µs CPU per ${unit} (/proc), ` +
        `split by the profiles' ${s.busySeconds.toFixed(2)} s of busy samples`,
    );
    lines.push(
      table(
        ['area (self time)', `µs/${unit}`, 'share'],
        s.areas
          .slice(0, 12)
          .map((a) => [a.area, a.selfUs.toFixed(3), `${(a.share * 100).toFixed(1)} %`]),
      ),
    );
    lines.push('');
    lines.push(
      table(
        ['function (top self time)', 'area', `self µs/${unit}`, `total µs/${unit}`, 'share'],
        s.top.map((f) => [
          f.name.length > 90 ? `${f.name.slice(0, 87)}...` : f.name,
          f.area,
          f.selfUs.toFixed(3),
          f.totalUs.toFixed(3),
          `${(f.selfShare * 100).toFixed(1)} %`,
        ]),
      ),
    );
    lines.push('');
  }
  return lines;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = performance.now();
  const runId = randomBytes(4).toString('hex');
  const prefix = `bench.${runId}.`;
  const scratch = mkdtempSync(join(tmpdir(), 'gredis-bench-chat-'));
  const resultsDir = join(ROOT, 'bench', 'results');
  const privateRedis = options.url === undefined ? await RedisServer.start() : undefined;
  const redisUrl = options.url ?? privateRedis!.url;
  const environment = await describeEnvironment(redisUrl);
  const stamp = environment.date.replace(/[:.]/g, '-');
  if (options.profile) {
    options.profileDir = join(resultsDir, `chat-profiles-${stamp}`);
    mkdirSync(options.profileDir, { recursive: true });
  }
  const log = (line: string): void => console.log(line);
  const registry = new ServerRegistry(INSPECT_FLAG);
  const loads = LoadPool.start(options.loadProcesses);
  const databases: DatabaseBackend[] = [];
  let probe: RedisProbe | undefined;
  const results: SystemResult[] = [];
  let pgVersion = 'unknown';
  let djangoVersions: DjangoVersions | undefined;

  console.log(`Gredis chat benchmark${options.quick ? ' (QUICK smoke run)' : ''}`);
  console.log(`date          ${environment.date}`);
  console.log(
    `node          ${environment.node}; socket.io ${packageVersion('socket.io')}, ` +
      `@socket.io/redis-adapter ${packageVersion('@socket.io/redis-adapter')}, ` +
      `socket.io-client ${packageVersion('socket.io-client')}, ioredis ${packageVersion('ioredis')}, ws ${packageVersion('ws')}`,
  );
  console.log(
    `redis-server  ${environment.redisServer} at ${redisUrl}${privateRedis ? ' (private, started for this run)' : ''}`,
  );
  console.log(`cpus          ${environment.cpus} × ${environment.cpuModel}`);
  console.log(`load average  ${environment.loadAverage.join(' ')}`);
  console.log(`key prefix    ${prefix}* (flushed at the end); CLK_TCK ${clockTicks()}`);
  console.log(
    `workload      ${options.clients} clients over ${options.rooms} rooms (${options.clients / options.rooms} members each), ` +
      `${options.senders} senders, ${options.rate} msg/s in all, ${TEXT_LENGTH}-char messages;\n` +
      `              ${options.warmupSeconds} s warm-up then ${options.seconds} s timed; idle window ${options.idleSeconds} s; ` +
      `connect burst ${options.connectClients} clients, ${options.connectConcurrency} at once;\n` +
      `              ${options.loadProcesses} load-generator processes; MultiChat: rate limit off, enter/leave notices off
` +
      `servers       distributed: ${THYMES} × gredis thyme + ${options.workers} × gredis runworker${options.workerArgs.length ? ` ${options.workerArgs.join(' ')}` : ''}, ` +
      `Redis, PostgreSQL; Socket.IO: ${SOCKET_IO_SERVERS} servers, same Redis;
` +
      `              embedded: gredis thyme alone (memory://, SQLite)${options.systems.includes('channels') ? `; Django Channels: ${DAPHNES} × Daphne, same Redis, PostgreSQL` : ''}. ` +
      'CPU = utime+stime from /proc',
  );

  try {
    probe = await RedisProbe.open(redisUrl);
    const redisPid = await probe.pid();
    const needed = Math.max(options.clients, options.connectClients);
    const wants = (key: SystemKey) => options.systems.includes(key);

    let pgFixtures: ChatFixtures | undefined;
    let postgres: PostgresBackends | undefined;
    let pgUrl = '';
    if (wants('gredis') || wants('socketio')) {
      const fixtureStarted = performance.now();
      const pg = postgresBackend();
      databases.push(pg);
      await pg.setup();
      const db = await pg.openMigrated();
      pgVersion = await postgresVersion(db);
      pgFixtures = await createChatFixtures(db, needed, options.rooms);
      const appName = `gredis_bench_${runId}`;
      postgres = new PostgresBackends(db, appName);
      pgUrl = PostgresBackends.tag(pg.url, appName);
      log(
        `fixtures      PostgreSQL ${pgVersion}: ${needed} users + sessions, ${options.rooms} rooms in ${((performance.now() - fixtureStarted) / 1000).toFixed(1)} s`,
      );
    }
    let channelsFixtures: ChatFixtures | undefined;
    let channelsPostgres: PostgresBackends | undefined;
    let channelsEnv: Record<string, string> = {};
    if (wants('channels')) {
      // Its own schema (Django migrates its own tables), made and dropped as Gredis's.
      const fixtureStarted = performance.now();
      const pg = postgresBackend();
      databases.push(pg);
      await pg.setup();
      const appName = `channels_bench_${runId}`;
      channelsPostgres = new PostgresBackends(pg.open(), appName);
      channelsEnv = djangoEnv({
        secretKey: TEST_SECRET_KEY,
        databaseUrl: PostgresBackends.tag(pg.url, appName),
        redisUrl,
        channelPrefix: `${prefix}c.`,
      });
      const made = await createDjangoFixtures(channelsEnv, needed, options.rooms);
      djangoVersions = made.versions;
      channelsFixtures = made;
      const v = made.versions;
      log(
        `fixtures      Django ${v.django} (Python ${v.python}, psycopg2 ${v.psycopg2}): ${needed} users + sessions, ` +
          `${options.rooms} rooms in ${((performance.now() - fixtureStarted) / 1000).toFixed(1)} s; ` +
          `channels ${v.channels}, channels_redis ${v.channels_redis}, daphne ${v.daphne}`,
      );
    }
    let sqliteFixtures: ChatFixtures | undefined;
    let sqliteUrl = '';
    if (wants('embedded')) {
      const sqlite = sqliteBackend();
      databases.push(sqlite);
      await sqlite.setup();
      const db = await sqlite.openMigrated();
      sqliteFixtures = await createChatFixtures(db, needed, options.rooms);
      sqliteUrl = sqlite.url;
    }
    console.log('');

    // The key test/helpers' Fixtures sign their sessions with: the servers must share it.
    const secretKey = TEST_SECRET_KEY;
    for (const key of options.systems) {
      log(`${SYSTEM_LABELS[key]}`);
      let deployment: Deployment;
      let fixtures: ChatFixtures;
      if (key === 'gredis') {
        fixtures = pgFixtures!;
        deployment = await startDistributed(registry, {
          layerUrl: withPrefix(redisUrl, `${prefix}g.`),
          databaseUrl: pgUrl,
          secretKey,
          redisPid,
          thymes: THYMES,
          workers: options.workers,
          workerArgs: options.workerArgs,
        });
      } else if (key === 'socketio') {
        fixtures = pgFixtures!;
        const sessionsFile = join(scratch, 'sessions.json');
        writeFileSync(
          sessionsFile,
          JSON.stringify(
            Object.fromEntries(fixtures.sessionKeys.map((k, i) => [k, fixtures.usernames[i]])),
          ),
        );
        deployment = await startSocketIo(registry, {
          redisUrl,
          key: `${prefix}sio`,
          sessionsFile,
          redisPid,
          servers: SOCKET_IO_SERVERS,
        });
      } else if (key === 'channels') {
        fixtures = channelsFixtures!;
        deployment = await startChannels(registry, {
          env: channelsEnv,
          redisPid,
          servers: DAPHNES,
        });
      } else {
        fixtures = sqliteFixtures!;
        deployment = await startEmbedded(registry, { databaseUrl: sqliteUrl, secretKey });
      }
      try {
        results.push(
          await measure(
            {
              settings: options,
              loads,
              fixtures,
              redis: key === 'embedded' ? undefined : probe,
              postgres:
                key === 'gredis' ? postgres : key === 'channels' ? channelsPostgres : undefined,
              log,
            },
            deployment,
          ),
        );
      } finally {
        await registry.stopAll();
      }
    }
  } catch (error) {
    for (const line of registry.diagnostics()) console.error(line);
    throw error;
  } finally {
    await loads.stop();
    await registry.stopAll();
    probe?.close();
    try {
      const janitor = createLayer(redisUrl, { prefix });
      await janitor.flush();
      await janitor.close();
    } finally {
      await privateRedis?.stop();
      for (const db of databases) await db.teardown();
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  const seconds = (performance.now() - startedAt) / 1000;

  console.log('');
  console.log(report(results));
  console.log('');
  const checked = targets(results);
  for (const t of checked) {
    console.log(
      `Target (Gredis distributed): ${t.description}: ${t.value} — ${t.met ? 'MET' : 'NOT MET'}`,
    );
  }
  for (const r of results) {
    const dropped = Object.entries(r.dropped);
    if (dropped.length > 0)
      console.log(
        `${SYSTEM_LABELS[r.system]}: dropped sockets by reason: ${dropped.map(([k, n]) => `${k} × ${n}`).join(', ')}`,
      );
    const warned = Object.entries(r.serverWarnings);
    if (warned.length > 0)
      console.log(
        `${SYSTEM_LABELS[r.system]}: server warnings: ${warned.map(([k, n]) => `"${k}" × ${n}`).join(', ')}`,
      );
    if (r.unexpectedSamples.length > 0)
      console.log(
        `${SYSTEM_LABELS[r.system]}: unexpected frames, e.g. ${r.unexpectedSamples.join(' | ')}`,
      );
  }
  if (options.profile) {
    console.log(
      '\nProfiles of the send window (self time per delivered message; sampling adds overhead):\n',
    );
    for (const r of results) {
      if (r.profile)
        for (const line of profileReport(r.system, r.profile, 'delivery')) console.log(line);
    }
    console.log('Profiles of the connect burst (self time per connection):\n');
    for (const r of results) {
      if (r.connectProfile)
        for (const line of profileReport(r.system, r.connectProfile, 'connection'))
          console.log(line);
    }
    console.log(`profiles: ${options.profileDir}`);
  }
  console.log(`\nwhole run: ${seconds.toFixed(0)} s`);

  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `chat-${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        benchmark: 'chat',
        quick: options.quick,
        options,
        environment: {
          ...environment,
          postgres: pgVersion,
          privateRedis: privateRedis !== undefined,
          clockTicks: clockTicks(),
          packages: Object.fromEntries(
            ['socket.io', '@socket.io/redis-adapter', 'socket.io-client', 'ioredis', 'ws'].map(
              (name) => [name, packageVersion(name)],
            ),
          ),
          ...(djangoVersions ? { django: djangoVersions } : {}),
        },
        seconds,
        results,
        targets: checked,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
