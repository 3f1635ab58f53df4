/**
 * Channel-layer benchmark: Gredis's Redis layer against Python's channels_redis 4,
 * same Redis, same workloads, same run (the machine is noisy: ratios are what
 * compare). See bench/README.md for what each figure means.
 *
 *   npm run bench:layer                 # full run, under ~2 minutes
 *   npm run bench:layer -- --quick      # smoke run (or BENCH_QUICK=1)
 *   npm run bench:layer -- --url redis://host:6379/1   (or BENCH_REDIS_URL)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLayer } from '../src/index.js';
import { runGredis } from './lib/gredis-runner.js';
import { PYTHON, runPython, type PythonRuntime } from './lib/python-runner.js';
import { describeEnvironment, formatNumber, formatRatio, table } from './lib/report.js';
import { workloadLabel, type Workload, type WorkloadResult } from './lib/workloads.js';

interface Options {
  quick: boolean;
  url: string;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    quick: process.env.BENCH_QUICK === '1',
    url: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') options.quick = true;
    else if (arg === '--url') options.url = argv[++i] ?? '';
    else if (arg.startsWith('--url=')) options.url = arg.slice('--url='.length);
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: npm run bench:layer -- [--quick] [--url redis://127.0.0.1:6379/0]');
      process.exit(0);
    } else throw new Error(`unknown argument ${JSON.stringify(arg)} (try --help)`);
  }
  if (!options.url) throw new Error('--url needs a value');
  return options;
}

/** The P of the realistic group workloads: receiving processes (interface servers). */
const PROCESSES = 4;
/** Messages in flight end to end in the send workloads; below the default capacity of 100. */
const SEND_WINDOW = 50;
/** Group sends in flight end to end; each key then holds at most this many (capacity 100). */
const GROUP_WINDOW = 8;
const TEXT_LENGTH = 100;
/** The target: Gredis at least this many times channels_redis on groupSend to 100. */
const TARGET_RATIO = 3;

function workloads(quick: boolean): Workload[] {
  const seconds = quick ? 0.3 : 3;
  const send = (channel: 'plain' | 'specific'): Workload => ({
    kind: 'send',
    channel,
    window: SEND_WINDOW,
    textLength: TEXT_LENGTH,
    warmup: quick ? 50 : 500,
    seconds,
  });
  const group = (members: number, memberKind: 'specific' | 'plain'): Workload => ({
    kind: 'group',
    members,
    processes: PROCESSES,
    memberKind,
    window: GROUP_WINDOW,
    textLength: TEXT_LENGTH,
    warmup: quick ? 2 : members >= 1000 ? 5 : 20,
    seconds,
  });
  return [
    send('plain'),
    send('specific'),
    group(10, 'specific'),
    group(100, 'specific'),
    group(1000, 'specific'),
    group(10, 'plain'),
    group(100, 'plain'),
    group(1000, 'plain'),
  ];
}

interface Comparison {
  workload: Workload;
  label: string;
  gredis: WorkloadResult;
  channelsRedis: WorkloadResult;
  /** Gredis / channels_redis, delivered messages per second. */
  throughputRatio: number;
  /** Gredis / channels_redis, sender round trips per operation (lower is better). */
  roundTripRatio: number;
}

function isTarget(workload: Workload): boolean {
  return (
    workload.kind === 'group' && workload.memberKind === 'specific' && workload.members === 100
  );
}

function describeWorkload(workload: Workload): string {
  if (workload.kind === 'send') {
    const channel =
      workload.channel === 'plain'
        ? 'plain channel "bench.requests" (a worker queue)'
        : 'the receiver\'s process-specific channel "bench.<proc>!<n>"';
    return `1 sender layer → 1 receiver layer on ${channel}; ${workload.window} messages in flight; one sequential receive loop`;
  }
  const members =
    workload.memberKind === 'specific'
      ? `process-specific reply channels spread round-robin over ${workload.processes} receiving layers (simulated interface servers): each groupSend stores 1 copy per process key, __asgi_channel__ = list of that process's members`
      : `plain channels "bench.member<i>", each its own Redis key, with receive loops spread over ${workload.processes} receiving layers: 1 stored copy per member`;
  return `1 sender layer; ${workload.members} members: ${members}; ${workload.window} groupSends in flight; one receive loop per member`;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const environment = await describeEnvironment(options.url);
  const runPrefix = `bench.${randomBytes(4).toString('hex')}.`;
  const plan = workloads(options.quick);

  console.log(`Gredis channel-layer benchmark${options.quick ? ' (QUICK smoke run)' : ''}`);
  console.log(`date          ${environment.date}`);
  console.log(`node          ${environment.node}`);
  console.log(`redis-server  ${environment.redisServer} at ${options.url}`);
  console.log(`cpus          ${environment.cpus} × ${environment.cpuModel}`);
  console.log(`load average  ${environment.loadAverage.join(' ')}`);
  console.log(`key prefix    ${runPrefix}* (flushed at the end)`);
  console.log(
    `method        closed loop: a fixed number of messages (or groupSends) in flight from send to\n` +
      `              last delivery; ${plan[0]!.seconds} s timed per workload after a warm-up; Gredis then\n` +
      `              channels_redis (${PYTHON}, asyncio) on each workload; ${TEXT_LENGTH}-char "text" messages;\n` +
      `              each side runs its sender and receivers as separate layer instances (simulated\n` +
      `              processes) in one single-threaded process, Node and Python alike`,
  );
  console.log('');

  const comparisons: Comparison[] = [];
  let pythonRuntime: PythonRuntime | undefined;
  try {
    for (const [index, workload] of plan.entries()) {
      const label = workloadLabel(workload);
      console.log(`${label}\n  ${describeWorkload(workload)}`);
      const gredis = await runGredis(options.url, `${runPrefix}g${index}.`, workload);
      console.log(`  Gredis          ${line(workload, gredis)}`);
      const python = await runPython(options.url, `${runPrefix}py${index}.`, workload);
      pythonRuntime ??= python.runtime;
      console.log(`  channels_redis  ${line(workload, python.result)}`);
      comparisons.push({
        workload,
        label,
        gredis,
        channelsRedis: python.result,
        throughputRatio: gredis.deliveriesPerSecond / python.result.deliveriesPerSecond,
        roundTripRatio: gredis.roundTripsPerOperation / python.result.roundTripsPerOperation,
      });
    }
  } finally {
    const janitor = createLayer(options.url, { prefix: runPrefix });
    await janitor.flush();
    await janitor.close();
  }

  if (pythonRuntime) {
    const py = pythonRuntime;
    console.log(
      `\nchannels_redis ${py.channels_redis}, redis-py ${py.redis_py} (hiredis: ${py.hiredis ? 'yes' : 'no'}), msgpack ${py.msgpack}, Python ${py.python}`,
    );
  }
  console.log('');
  const rows: string[][] = [];
  for (const c of comparisons) {
    const unit = c.workload.kind === 'send' ? 'messages/s' : 'members/s delivered';
    const op = c.workload.kind === 'send' ? 'send' : 'groupSend';
    rows.push([
      `${c.label}, ${unit}`,
      formatNumber(c.gredis.deliveriesPerSecond),
      formatNumber(c.channelsRedis.deliveriesPerSecond),
      formatRatio(c.throughputRatio),
    ]);
    rows.push([
      `  sender round trips per ${op} (lower is better)`,
      formatNumber(c.gredis.roundTripsPerOperation),
      formatNumber(c.channelsRedis.roundTripsPerOperation),
      formatRatio(c.roundTripRatio),
    ]);
  }
  console.log(table(['figure', 'Gredis', 'channels_redis', 'Gredis/channels_redis'], rows));

  const target = comparisons.find((c) => isTarget(c.workload));
  const met = target !== undefined && target.throughputRatio >= TARGET_RATIO;
  if (target) {
    console.log(
      `\nTarget (Gredis ≥ ${TARGET_RATIO}× channels_redis on groupSend to 100 members, ${PROCESSES} processes): ` +
        `${formatRatio(target.throughputRatio)} — ${met ? 'MET' : 'NOT MET'}`,
    );
  }
  const skipped = comparisons.filter((c) => c.gredis.skipped > 0);
  for (const c of skipped) {
    console.log(`warning: ${c.label}: Gredis skipped ${c.gredis.skipped} full members`);
  }

  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `layer-${environment.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        benchmark: 'layer',
        quick: options.quick,
        url: options.url,
        environment,
        channelsRedis: pythonRuntime,
        settings: { processes: PROCESSES, sendWindow: SEND_WINDOW, groupWindow: GROUP_WINDOW },
        comparisons,
        target: target && {
          description: `groupSend to 100 members (${PROCESSES} processes), Gredis/channels_redis members/s`,
          required: TARGET_RATIO,
          ratio: target.throughputRatio,
          met,
        },
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nresults: ${file}`);
}

function line(workload: Workload, result: WorkloadResult): string {
  const rate =
    workload.kind === 'send'
      ? `${formatNumber(result.deliveriesPerSecond)} messages/s`
      : `${formatNumber(result.deliveriesPerSecond)} members/s delivered, ${formatNumber(result.operationsPerSecond)} groupSends/s`;
  return `${rate}, ${formatNumber(result.roundTripsPerOperation)} round trips/op (${result.operations} ops in ${result.seconds.toFixed(2)} s)`;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
