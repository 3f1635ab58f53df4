/**
 * One deployment measured from start to finish: memory and idle CPU with every
 * client connected, then the fixed-rate send window, then the connect burst. See
 * bench/README.md (Chat) for what each figure means.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectGarbage, inspectorUrl } from '../lib/inspector.js';
import { commandsBetween, cpuBetween, cpuByRole, rssKiB, type RedisProbe } from '../lib/proc.js';
import type { Deployment, ServerProcess, SystemKey } from './deployments.js';
import type { ChatFixtures } from './fixtures.js';
import { LatencyHistogram } from './latency.js';
import type { LoadPool } from './load-pool.js';
import { PostgresBackends } from './postgres.js';
import { Profiling, saveProfiles, summarise, type RoleSummary } from './profile.js';
import {
  emptyCounters,
  PHASES,
  type ClientSpec,
  type LoadCounters,
  type LoadReport,
} from './protocol.js';

export interface RunSettings {
  clients: number;
  rooms: number;
  senders: number;
  /** Messages per second, all senders together. */
  rate: number;
  textLength: number;
  warmupSeconds: number;
  seconds: number;
  idleSeconds: number;
  connectClients: number;
  /** Handshakes in progress at once, all load processes together. */
  connectConcurrency: number;
  /** Longest wait for the last deliveries after the senders stop. */
  drainSeconds: number;
  profileDir: string | undefined;
}

/** What a run needs besides the deployment itself. */
export interface RunContext {
  settings: RunSettings;
  loads: LoadPool;
  fixtures: ChatFixtures;
  /** Counts the commands of the Redis the deployment uses (none for embedded). */
  redis: RedisProbe | undefined;
  postgres: PostgresBackends | undefined;
  log: (line: string) => void;
}

export interface SystemResult {
  system: SystemKey;
  clients: number;
  rooms: number;
  senders: number;
  rate: number;
  /** The send window as measured by the driver (CPU readings at both ends). */
  windowSeconds: number;
  /** Messages sent in the window; the deliveries they should make (× members of their room). */
  sent: number;
  expectedDeliveries: number;
  /** Deliveries of those messages, after the drain; lost = expected − delivered. */
  delivered: number;
  lost: number;
  /** Deliveries received during the window (whenever sent): what the CPU is divided by. */
  deliveriesInWindow: number;
  deliveriesPerSecond: number;
  /** What the senders offer: their rate × the members of their room, per second. */
  offeredDeliveriesPerSecond: number;
  /** Delivered below 95 % of the offered rate: the deployment could not keep up. */
  saturated: boolean;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * The same for messages sent during the warm-up: every process starts cold
   * (nothing compiled by V8 yet), so this shows how a deployment takes the start
   * of the load, and whether the warm-up was long enough for the backlog it built
   * to drain before the window.
   */
  warmupP99Ms: number;
  warmupMaxMs: number;
  /** Server CPU seconds in the window, by role (every process of a role summed). */
  cpuSecondsByRole: Record<string, number>;
  cpuPerDeliveryUs: number;
  cpuPerDeliveryUsByRole: Record<string, number>;
  /** Server CPU in the window, % of one core. */
  serverCpuPercent: number;
  /** PostgreSQL backends serving the deployment (Gredis distributed only). */
  postgresCpuSeconds?: number;
  postgresCpuPerDeliveryUs?: number;
  /** The load generator's own CPU in the window, % of one core (all its processes). */
  loadCpuPercent: number;
  /** The worst load process's event-loop delay in the window, ms (see LoadReport). */
  loadLoopDelayP99Ms: number;
  loadLoopDelayMaxMs: number;
  /**
   * Commands the Redis server executed in the window per message delivered (its
   * deliveries in the window ÷ members per room: what was processed, which is less
   * than what was sent when the deployment is saturated); by command, in total.
   */
  redisCommandsPerMessage?: number;
  /**
   * What clients sent Redis per message: scripts, blocking pops, publishes and
   * transactions (commandstats also counts the commands scripts run).
   */
  redisRoundTripsPerMessage?: number;
  redisCommandsByName?: Record<string, number>;
  idleSeconds: number;
  idleCpuPercent: number;
  idleCpuPercentByRole: Record<string, number>;
  rssBeforeKiB: Record<string, number>;
  rssAfterKiB: Record<string, number>;
  rssPerConnectionKiB: number;
  connect: {
    clients: number;
    concurrency: number;
    seconds: number;
    /** CPU seconds during the burst: the servers (by role) and the load generator. */
    serverCpuSecondsByRole: Record<string, number>;
    loadCpuSeconds: number;
  };
  unexpected: number;
  unexpectedSamples: string[];
  /** Sockets the servers closed during the run, by close code or reason. */
  dropped: Record<string, number>;
  /** Warnings and errors the servers logged during the whole run, by message. */
  serverWarnings: Record<string, number>;
  /** `--profile`: where the CPU went in the send window, per delivery… */
  profile?: RoleSummary[];
  /** …and in the connect burst, per connection. */
  connectProfile?: RoleSummary[];
  profileFiles?: string[];
}

/** Commands only a client issues (never a script of the layer): one round trip each. */
const ROUND_TRIP_COMMANDS = ['evalsha', 'eval', 'bzmpop', 'bzpopmin', 'publish', 'exec'];

/**
 * Delivering less than this share of the offered rate means the deployment is
 * saturated. So does a socket closed with 1013 (Thyme's "workers cannot take
 * more"): draining the backlog can keep the window's rate up while the
 * deployment sheds load.
 */
const SATURATED_BELOW = 0.95;
const BACKPRESSURE_CLOSE = 'close 1013';

/** Connections opened and closed before the memory baseline: code paths compiled, pools grown. */
const WARM_CONNECTIONS = 100;

/**
 * The clients of a run, spread so that every room has members on every server
 * process and in every load process: client i is in room i mod R, on server
 * ⌊i / R⌋ mod servers, in load process ⌊i / (R · servers)⌋ mod P. The first S
 * clients send (so senders spread over rooms, servers and load processes alike).
 */
export function clientSpecs(
  deployment: Deployment,
  fixtures: ChatFixtures,
  count: number,
  rooms: number,
  senders: number,
  loadProcesses: number,
): { specs: ClientSpec[]; process: number[] } {
  const specs: ClientSpec[] = [];
  const process: number[] = [];
  const servers = deployment.urls.length;
  for (let i = 0; i < count; i++) {
    const sessionKey = fixtures.sessionKeys[i];
    if (sessionKey === undefined) throw new Error(`no session for client ${i}`);
    specs.push({
      index: i,
      url: deployment.urls[Math.floor(i / rooms) % servers]!,
      sessionKey,
      room: fixtures.roomIds[i % rooms]!,
      sender: i < senders,
    });
    process.push(Math.floor(i / (rooms * servers)) % loadProcesses);
  }
  return { specs, process };
}

const sum = (values: Iterable<number>): number => {
  let total = 0;
  for (const v of values) total += v;
  return total;
};

/**
 * Waits until the servers are quiet (below 5 % of a core over half a second), at
 * least `minSeconds`: the previous step's stragglers (disconnects, GC) must not be
 * measured as the next step's cost.
 */
async function settle(
  servers: readonly ServerProcess[],
  log: (line: string) => void,
  minSeconds = 1,
  maxSeconds = 15,
): Promise<void> {
  const started = performance.now();
  await sleep(minSeconds * 1000);
  while (performance.now() - started < maxSeconds * 1000) {
    const before = sum(Object.values(cpuByRole(servers)));
    await sleep(500);
    if ((sum(Object.values(cpuByRole(servers))) - before) / 0.5 < 0.05) return;
  }
  log(`  (the servers were still busy after ${maxSeconds} s; going on)`);
}

/** RSS of every server process by role, each Node process read after a forced full GC. */
async function memory(servers: readonly ServerProcess[]): Promise<Record<string, number>> {
  const rss: Record<string, number> = {};
  for (const server of servers) {
    if (server.started?.inspector) await collectGarbage(await inspectorUrl(server.started.proc));
    rss[server.role] = (rss[server.role] ?? 0) + rssKiB(server.pid);
  }
  return rss;
}

/** Opens `specs` through the load processes; the wall time from first to last handshake. */
async function openAll(
  ctx: RunContext,
  deployment: Deployment,
  specs: ClientSpec[],
  process: number[],
): Promise<number> {
  const { loads, settings } = ctx;
  const perProcess = Math.max(1, Math.ceil(settings.connectConcurrency / loads.processes.length));
  const results = await loads.all('open', (p) => [
    deployment.kind,
    specs.filter((_, i) => process[i] === p.index),
    perProcess,
  ]);
  const started = Math.min(...results.map((r) => r.startedUs));
  const ended = Math.max(...results.map((r) => r.endedUs));
  return (ended - started) / 1e6;
}

function mergeCounters(all: readonly LoadCounters[]): LoadCounters {
  const merged = emptyCounters();
  for (const c of all) {
    for (const phase of PHASES) {
      for (const [room, n] of Object.entries(c.sent[phase])) {
        const byRoom = merged.sent[phase];
        byRoom[Number(room)] = (byRoom[Number(room)] ?? 0) + n;
      }
      merged.deliveredBySendPhase[phase] += c.deliveredBySendPhase[phase];
    }
    for (const key of ['idle', ...PHASES] as const)
      merged.deliveredDuringPhase[key] += c.deliveredDuringPhase[key];
    merged.unexpected += c.unexpected;
    merged.unexpectedSamples.push(...c.unexpectedSamples);
    for (const [reason, n] of Object.entries(c.dropped))
      merged.dropped[reason] = (merged.dropped[reason] ?? 0) + n;
  }
  return merged;
}

/** The servers' log lines at warn level or above (pino ≥ 40), counted by message. */
function warnings(servers: readonly ServerProcess[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { started } of servers) {
    for (const line of started?.proc.lines ?? []) {
      if (typeof line.level !== 'number' || line.level < 40) continue;
      const key = `${started!.role}: ${String(line.msg)}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  return counts;
}

/** Deliveries `sent` should make: each message reaches every member of its room. */
function expectedDeliveries(sent: Record<number, number>, members: Map<number, number>): number {
  return sum(Object.entries(sent).map(([room, n]) => n * (members.get(Number(room)) ?? 0)));
}

/** The clients of the send window and how many of them each room has. */
interface Population {
  specs: ClientSpec[];
  process: number[];
  members: Map<number, number>;
}

type MemoryResult = Pick<
  SystemResult,
  | 'rssBeforeKiB'
  | 'rssAfterKiB'
  | 'rssPerConnectionKiB'
  | 'idleSeconds'
  | 'idleCpuPercent'
  | 'idleCpuPercentByRole'
>;

/**
 * Memory with no client and with every client connected and in its room, then
 * CPU while they idle. Leaves the clients connected for the send window.
 */
async function connectAndIdle(
  ctx: RunContext,
  deployment: Deployment,
  population: Population,
): Promise<MemoryResult> {
  const { settings, loads, log } = ctx;
  const { servers } = deployment;
  // Warm-up connections (the last clients of the connect burst: not the senders).
  const warm = clientSpecs(
    deployment,
    ctx.fixtures,
    settings.connectClients,
    settings.rooms,
    0,
    loads.processes.length,
  );
  const warmFrom = Math.max(0, warm.specs.length - WARM_CONNECTIONS);
  await openAll(ctx, deployment, warm.specs.slice(warmFrom), warm.process.slice(warmFrom));
  await loads.all('close', () => []);
  await settle(servers, log, 2);

  const rssBefore = await memory(servers);
  await openAll(ctx, deployment, population.specs, population.process);
  await loads.all('join', () => []);
  await settle(servers, log, 2);
  const rssAfter = await memory(servers);
  const rssPerConnection =
    (sum(Object.values(rssAfter)) - sum(Object.values(rssBefore))) / settings.clients;
  log(
    `  ${settings.clients} clients connected and joined; RSS +${rssPerConnection.toFixed(1)} KiB per connection`,
  );

  await settle(servers, log, 1);
  const idleBefore = cpuByRole(servers);
  const idleStarted = performance.now();
  await sleep(settings.idleSeconds * 1000);
  const idleCpu = cpuBetween(idleBefore, cpuByRole(servers));
  const idleSeconds = (performance.now() - idleStarted) / 1000;
  const idleCpuPercent = (sum(Object.values(idleCpu)) / idleSeconds) * 100;
  log(`  idle ${idleSeconds.toFixed(1)} s: ${idleCpuPercent.toFixed(2)} % of one core`);
  return {
    rssBeforeKiB: rssBefore,
    rssAfterKiB: rssAfter,
    rssPerConnectionKiB: rssPerConnection,
    idleSeconds,
    idleCpuPercent,
    idleCpuPercentByRole: Object.fromEntries(
      Object.entries(idleCpu).map(([role, s]) => [role, (s / idleSeconds) * 100]),
    ),
  };
}

type SendResult = Omit<
  SystemResult,
  keyof MemoryResult | 'system' | 'connect' | 'connectProfile' | 'serverWarnings'
>;

/** Waits until every message sent so far reached every member of its room, or progress stops. */
async function drain(ctx: RunContext, members: Map<number, number>): Promise<void> {
  const started = performance.now();
  let counters = mergeCounters(await ctx.loads.all('counters', () => []));
  const expected = sum(PHASES.map((phase) => expectedDeliveries(counters.sent[phase], members)));
  let lastTotal = -1;
  let lastProgress = performance.now();
  for (;;) {
    const total = sum(Object.values(counters.deliveredBySendPhase));
    if (total >= expected) return;
    if (total !== lastTotal) {
      lastTotal = total;
      lastProgress = performance.now();
    }
    const now = performance.now();
    if (now - lastProgress > 5000 || now - started > ctx.settings.drainSeconds * 1000) return;
    await sleep(200);
    counters = mergeCounters(await ctx.loads.all('counters', () => []));
  }
}

/** The fixed-rate send: warm-up, the timed window, the drain; then the clients close. */
async function sendWindow(
  ctx: RunContext,
  deployment: Deployment,
  population: Population,
): Promise<SendResult> {
  const { settings, loads, log } = ctx;
  const { servers } = deployment;
  const { specs, process, members } = population;
  const senders = specs.filter((s) => s.sender);
  const sendersIn = (p: number): number =>
    specs.filter((s, i) => s.sender && process[i] === p).length;
  const offered = sum(
    senders.map((s) => (settings.rate / senders.length) * (members.get(s.room) ?? 0)),
  );
  await loads.all('start', (p) => [
    (settings.rate * sendersIn(p.index)) / senders.length,
    settings.textLength,
  ]);
  await sleep(settings.warmupSeconds * 1000);
  const profiling = settings.profileDir ? await Profiling.start(servers) : undefined;
  const pgBefore = await ctx.postgres?.cpu();
  const commandsBefore = await ctx.redis?.commandCalls();
  const loadBefore = sum(await loads.all('cpu', () => []));
  const cpuBefore = cpuByRole(servers);
  const windowStarted = performance.now();
  // Not awaited before the sleep: a busy load process may take a while to answer,
  // and the window is the driver's (the counters switch as late at both ends).
  const switched = loads.all('phase', () => ['timed']);
  await sleep(settings.seconds * 1000);
  const cpuAfter = cpuByRole(servers);
  const windowSeconds = (performance.now() - windowStarted) / 1000;
  await switched;
  await loads.all('stop', () => []);
  const loadCpu = (sum(await loads.all('cpu', () => [])) - loadBefore) / 1e6;
  const commandsAfter = await ctx.redis?.commandCalls();
  const pgAfter = await ctx.postgres?.cpu();
  const profiles = await profiling?.stop();

  await drain(ctx, members);
  const reports: LoadReport[] = await loads.all('report', () => []);
  const counters = mergeCounters(reports);
  const latency = new LatencyHistogram();
  const warmupLatency = new LatencyHistogram();
  for (const r of reports) {
    latency.add(r.latency);
    warmupLatency.add(r.warmupLatency);
  }
  await loads.all('close', () => []);

  const cpu = cpuBetween(cpuBefore, cpuAfter);
  const cpuTotal = sum(Object.values(cpu));
  const inWindow = counters.deliveredDuringPhase.timed;
  const perDelivery = (seconds: number): number => (seconds / inWindow) * 1e6;
  const cpuPerDeliveryUsByRole = Object.fromEntries(
    Object.entries(cpu).map(([role, s]) => [role, perDelivery(s)]),
  );
  const expected = expectedDeliveries(counters.sent.timed, members);
  const delivered = counters.deliveredBySendPhase.timed;
  const commands =
    commandsBefore && commandsAfter ? commandsBetween(commandsBefore, commandsAfter) : undefined;
  const sent = sum(Object.values(counters.sent.timed));
  const messagesDelivered = inWindow / (specs.length / members.size);
  const pgCpu = pgBefore && pgAfter ? PostgresBackends.between(pgBefore, pgAfter) : undefined;
  log(
    `  window ${windowSeconds.toFixed(1)} s: ${sent} sent, ${inWindow} delivered in the window ` +
      `(${Math.round(inWindow / windowSeconds)}/s), p99 ${latency.percentileMs(99).toFixed(1)} ms, ` +
      `${expected - delivered} lost, ${perDelivery(cpuTotal).toFixed(2)} µs server CPU per delivery`,
  );
  return {
    clients: settings.clients,
    rooms: settings.rooms,
    senders: senders.length,
    rate: settings.rate,
    windowSeconds,
    sent,
    expectedDeliveries: expected,
    delivered,
    lost: expected - delivered,
    deliveriesInWindow: inWindow,
    deliveriesPerSecond: inWindow / windowSeconds,
    offeredDeliveriesPerSecond: offered,
    saturated:
      inWindow / windowSeconds < SATURATED_BELOW * offered ||
      (counters.dropped[BACKPRESSURE_CLOSE] ?? 0) > 0,
    p50Ms: latency.percentileMs(50),
    p99Ms: latency.percentileMs(99),
    maxMs: latency.maxMicroseconds / 1000,
    warmupP99Ms: warmupLatency.percentileMs(99),
    warmupMaxMs: warmupLatency.maxMicroseconds / 1000,
    cpuSecondsByRole: cpu,
    cpuPerDeliveryUs: perDelivery(cpuTotal),
    cpuPerDeliveryUsByRole,
    serverCpuPercent: (cpuTotal / windowSeconds) * 100,
    ...(pgCpu === undefined
      ? {}
      : { postgresCpuSeconds: pgCpu, postgresCpuPerDeliveryUs: perDelivery(pgCpu) }),
    loadCpuPercent: (loadCpu / windowSeconds) * 100,
    loadLoopDelayP99Ms: Math.max(...reports.map((r) => r.loopDelayP99Ms)),
    loadLoopDelayMaxMs: Math.max(...reports.map((r) => r.loopDelayMaxMs)),
    ...(commands
      ? {
          redisCommandsPerMessage: commands.total / messagesDelivered,
          redisRoundTripsPerMessage:
            sum(ROUND_TRIP_COMMANDS.map((name) => commands.byName[name] ?? 0)) / messagesDelivered,
          redisCommandsByName: commands.byName,
        }
      : {}),
    unexpected: counters.unexpected,
    unexpectedSamples: counters.unexpectedSamples,
    dropped: counters.dropped,
    ...(profiles && settings.profileDir
      ? {
          profile: summarise(profiles, cpuPerDeliveryUsByRole),
          profileFiles: saveProfiles(settings.profileDir, `${deployment.key}-send`, profiles),
        }
      : {}),
  };
}

/** The connect burst, on servers that are warm by now, once any backlog is worked off. */
async function connectBurst(
  ctx: RunContext,
  deployment: Deployment,
): Promise<Pick<SystemResult, 'connect' | 'connectProfile'> & { profileFiles?: string[] }> {
  const { settings, loads, log } = ctx;
  const { servers } = deployment;
  await settle(servers, log, 2, 90);
  const burst = clientSpecs(
    deployment,
    ctx.fixtures,
    settings.connectClients,
    settings.rooms,
    0,
    loads.processes.length,
  );
  const profiling = settings.profileDir ? await Profiling.start(servers) : undefined;
  const cpuBefore = cpuByRole(servers);
  const loadBefore = sum(await loads.all('cpu', () => []));
  const seconds = await openAll(ctx, deployment, burst.specs, burst.process);
  const cpu = cpuBetween(cpuBefore, cpuByRole(servers));
  const loadCpu = (sum(await loads.all('cpu', () => [])) - loadBefore) / 1e6;
  const profiles = await profiling?.stop();
  log(
    `  ${settings.connectClients} clients connected and authenticated in ${seconds.toFixed(2)} s ` +
      `(server CPU ${sum(Object.values(cpu)).toFixed(2)} s, load generator ${loadCpu.toFixed(2)} s)`,
  );
  await loads.all('close', () => []);
  return {
    connect: {
      clients: settings.connectClients,
      concurrency: settings.connectConcurrency,
      seconds,
      serverCpuSecondsByRole: cpu,
      loadCpuSeconds: loadCpu,
    },
    ...(profiles && settings.profileDir
      ? {
          connectProfile: summarise(
            profiles,
            Object.fromEntries(
              Object.entries(cpu).map(([role, s]) => [role, (s / settings.connectClients) * 1e6]),
            ),
          ),
          profileFiles: saveProfiles(settings.profileDir, `${deployment.key}-connect`, profiles),
        }
      : {}),
  };
}

/** Every measurement of one deployment, in order: memory and idle, send window, connect burst. */
export async function measure(ctx: RunContext, deployment: Deployment): Promise<SystemResult> {
  const { settings, loads } = ctx;
  const main = clientSpecs(
    deployment,
    ctx.fixtures,
    settings.clients,
    settings.rooms,
    settings.senders,
    loads.processes.length,
  );
  const members = new Map<number, number>();
  for (const spec of main.specs) members.set(spec.room, (members.get(spec.room) ?? 0) + 1);
  const population = { ...main, members };

  const idle = await connectAndIdle(ctx, deployment, population);
  const send = await sendWindow(ctx, deployment, population);
  const connect = await connectBurst(ctx, deployment);
  const profileFiles = [...(send.profileFiles ?? []), ...(connect.profileFiles ?? [])];
  return {
    system: deployment.key,
    ...idle,
    ...send,
    ...connect,
    serverWarnings: warnings(deployment.servers),
    ...(profileFiles.length > 0 ? { profileFiles } : {}),
  };
}
