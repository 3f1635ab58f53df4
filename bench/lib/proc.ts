/**
 * What the kernel and Redis say a process costs: CPU time and resident memory from
 * /proc (Linux only), and Redis's own pid and command counters. The server
 * benchmark reads these from outside, so the processes measured carry no
 * instrumentation of their own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';

let ticks: number | undefined;

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, 100 almost everywhere). */
export function clockTicks(): number {
  if (ticks === undefined) {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (!Number.isInteger(value) || value <= 0) throw new Error(`getconf CLK_TCK said ${value}`);
    ticks = value;
  }
  return ticks;
}

/** User + system CPU time of a process (all its threads), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: count
  // fields from after its closing parenthesis, where field 3 (state) starts.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime))
    throw new Error(`unreadable /proc/${pid}/stat`);
  return (utime + stime) / clockTicks();
}

/** Resident set size of a process (VmRSS), in KiB. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** This process's open-file limits ("unlimited" as Infinity), from /proc/self/limits. */
export function openFileLimits(): { soft: number; hard: number } {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (!match) throw new Error('no "Max open files" in /proc/self/limits');
  const value = (text: string): number => (text === 'unlimited' ? Infinity : Number(text));
  return { soft: value(match[1]!), hard: value(match[2]!) };
}

/**
 * Makes sure this process (and so the servers it starts) may open `needed` files.
 * Node cannot raise its own limit, so when the soft limit is too low but the hard
 * limit allows it, this runs the same command again under `bash -c 'ulimit -n …'`
 * and returns its exit status; undefined means carry on here.
 */
export function ensureOpenFiles(needed: number): number | undefined {
  const { soft, hard } = openFileLimits();
  if (soft >= needed) return undefined;
  if (hard < needed || process.env.BENCH_ULIMIT_RAISED === '1') {
    throw new Error(
      `this run needs about ${needed} open files but the limit is ${soft} (hard ${hard}): ` +
        'raise it (ulimit -n) or ask for fewer sockets',
    );
  }
  const limit = Number.isFinite(hard) ? hard : Math.max(needed, 65536);
  const rerun = spawnSync(
    'bash',
    [
      '-c',
      `ulimit -n ${limit} && exec "$0" "$@"`,
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, BENCH_ULIMIT_RAISED: '1' } },
  );
  return rerun.status ?? 1;
}

/** Summed CPU seconds of several processes. */
export function totalCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** A process whose CPU time counts towards a figure, and which part it plays there. */
export interface RoleProcess {
  role: string;
  pid: number;
}

/** CPU seconds of `processes` so far, summed by role (a deployment's Thymes, its workers…). */
export function cpuByRole(processes: readonly RoleProcess[]): Record<string, number> {
  const cpu: Record<string, number> = {};
  for (const { role, pid } of processes) cpu[role] = (cpu[role] ?? 0) + cpuSeconds(pid);
  return cpu;
}

/** `after − before`, per role: the CPU seconds each role spent in between. */
export function cpuBetween(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

/** INFO commandstats: calls since the server started, in total and per command. */
export interface CommandCalls {
  total: number;
  byName: Record<string, number>;
}

/** `after − before`, per command, leaving out commands not called in between. */
export function commandsBetween(before: CommandCalls, after: CommandCalls): CommandCalls {
  const byName: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after.byName)) {
    const delta = calls - (before.byName[name] ?? 0);
    if (delta > 0) byName[name] = delta;
  }
  return { total: after.total - before.total, byName };
}

/** A short-lived connection for reading a Redis server's INFO. */
export class RedisProbe {
  private readonly client: Redis;

  private constructor(url: string) {
    this.client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    this.client.on('error', () => {});
  }

  static async open(url: string): Promise<RedisProbe> {
    const probe = new RedisProbe(url);
    try {
      await probe.client.connect();
    } catch (error) {
      probe.close();
      throw new Error(`cannot reach Redis at ${url}`, { cause: error });
    }
    return probe;
  }

  /** The server's pid (INFO server → process_id), to read its CPU time from /proc. */
  async pid(): Promise<number> {
    const info = await this.client.info('server');
    const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
    if (!Number.isInteger(pid)) throw new Error('INFO server has no process_id');
    return pid;
  }

  /**
   * Commands the server has executed since its start, from INFO commandstats,
   * leaving out INFO itself (this probe's own reads).
   */
  async commandCalls(): Promise<CommandCalls> {
    const stats = await this.client.info('commandstats');
    const byName: Record<string, number> = {};
    let total = 0;
    for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (match[1] === 'info') continue;
      byName[match[1]!] = Number(match[2]);
      total += Number(match[2]);
    }
    return { total, byName };
  }

  close(): void {
    this.client.disconnect();
  }
}
