import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { httpRequest } from './http-client.js';
import { sleep, waitFor } from './wait.js';

export const GREDIS_BIN = fileURLToPath(new URL('../../../bin/gredis.js', import.meta.url));

/**
 * Waits until process `pid` has `file` open `count` times (Linux's /proc): a
 * command's SQLite connections, once it has opened them.
 */
export async function waitUntilOpen(
  pid: number,
  file: string,
  count: number,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(() => openCount(pid, file) >= count, timeoutMs, what);
}

/** How many times process `pid` has `file` open now. */
function openCount(pid: number, file: string): number {
  const dir = `/proc/${pid}/fd`;
  let count = 0;
  for (const fd of readdirSync(dir)) {
    try {
      if (readlinkSync(join(dir, fd)) === file) count++;
    } catch {
      // Closed since listed.
    }
  }
  return count;
}

/** Every GredisProcess of this test process that has not exited. */
const live = new Set<GredisProcess>();

/**
 * Kills the processes the tests left running (a failed test that never reached
 * its clean-up); returns what each was started as. Once the tests are done
 * (suite.ts): a live child holds the test process open, so the file would run
 * on until the runner's timeout.
 */
export function killLeftovers(): string[] {
  return [...live].map((proc) => {
    proc.child.kill('SIGKILL');
    return proc.child.spawnargs.join(' ');
  });
}

/** A `gredis` subprocess whose JSON log lines are kept for assertions. */
export class GredisProcess {
  readonly lines: Record<string, unknown>[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters: {
    test: (line: Record<string, unknown>) => boolean;
    resolve: (line: Record<string, unknown>) => void;
    /** The process ended, its output read to the end, without the line. */
    ended: () => void;
  }[] = [];
  /** Its output is read to the end and its process gone ('close'). */
  private closed = false;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text };
      }
      this.lines.push(line);
      for (const waiter of [...this.waiters]) {
        if (waiter.test(line)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    });
    createInterface({ input: child.stderr! }).on('line', (text) => this.stderr.push(text));
    live.add(this);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        live.delete(this);
        resolve({ code, signal });
      }),
    );
    // Waiters give up at 'close', not 'exit': 'exit' can come before the last
    // lines the process wrote are read, and a line it wrote just before it
    // exited (a stop's last words) would be missed.
    child.once('close', () => {
      this.closed = true;
      for (const waiter of this.waiters.splice(0)) waiter.ended();
    });
  }

  static start(args: string[], env: Record<string, string> = {}): GredisProcess {
    const child = spawn(process.execPath, ['--enable-source-maps', GREDIS_BIN, ...args], {
      env: { ...process.env, GREDIS_LOG_FORMAT: 'json', GREDIS_LOG_LEVEL: 'debug', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new GredisProcess(child);
  }

  /** The port its metrics server listens on (`--metrics-port 0`), from its "metrics on …" line. */
  async metricsPort(): Promise<number> {
    const line = await this.waitForLine(
      (l) => String(l.msg).startsWith('metrics on '),
      START_TIMEOUT_MS,
    );
    return line.port as number;
  }

  /** Resolves with the first log line (past or future) matching `test`. */
  waitForLine(
    test: (line: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) =>
        reject(
          new Error(
            `${why}; stderr: ${this.stderr.join('\n')}; stdout: ${JSON.stringify(this.lines.slice(-5))}`,
          ),
        );
      const timer = setTimeout(
        () => fail(`no matching log line within ${timeoutMs} ms`),
        timeoutMs,
      );
      const waiter = {
        test,
        resolve: (line: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(line);
        },
        ended: () => {
          clearTimeout(timer);
          fail(
            `process exited (${this.child.exitCode ?? this.child.signalCode}) before the expected log line`,
          );
        },
      };
      if (this.closed) waiter.ended();
      else this.waiters.push(waiter);
    });
  }

  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs = 15_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * How long a gredis process may take to say it is up. Alone it takes about a
 * second; beside another test file and a browser on a busy 2-core machine, a
 * fresh-clone CI run once saw a Thyme miss 10 s, failing a file whose tests
 * never began. A process that fails to start says so on stderr, which the wait
 * reports, and exits: the wait is long only for one that is merely slow.
 */
export const START_TIMEOUT_MS = 30_000;

/** Starts `gredis thyme APP` and resolves once it listens, with its port. */
export async function startThyme(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ proc: GredisProcess; port: number }> {
  const proc = GredisProcess.start(['thyme', 'multichat', '--port', '0', ...args], env);
  try {
    const line = await proc.waitForLine((l) => l.msg === 'Thyme listening', START_TIMEOUT_MS);
    return { proc, port: line.port as number };
  } catch (error) {
    await proc.stop('SIGKILL'); // nobody else holds it
    throw error;
  }
}

/** One /healthz probe of a process that is stopping: its status (0: refused) and body. */
export interface StopProbe {
  status: number;
  body: string;
  /** How long before the process exited it was answered or refused. */
  msBeforeExit: number;
}

/**
 * Sends `signal` to `proc`, then probes /healthz on `port` every 10 ms until
 * the process exits: what a readiness probe sees of a stop.
 */
export async function probeHealthWhileStopping(
  proc: GredisProcess,
  port: number,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<StopProbe[]> {
  let exitedAt: number | undefined;
  void proc.exited.then(() => (exitedAt = performance.now()));
  const probes: { status: number; body: string; at: number }[] = [];
  proc.child.kill(signal);
  const deadline = performance.now() + 15_000;
  while (exitedAt === undefined && performance.now() < deadline) {
    const answer = await httpRequest(port, '/healthz', { timeoutMs: 2000 }).catch(() => undefined);
    probes.push({
      status: answer?.status ?? 0,
      body: answer?.body.toString() ?? '',
      at: performance.now(),
    });
    await sleep(10);
  }
  await proc.stop('SIGKILL', 0); // one that never exited is not left behind
  const exit = exitedAt ?? performance.now();
  return probes.map(({ at, ...probe }) => ({ ...probe, msBeforeExit: exit - at }));
}

/**
 * A process shutting down, probed as it stops, that answered its /healthz 503
 * with `flag` true until it exited: a refusal only in the moment of its exit
 * (the port closes last), not while the stop's last steps (its layer's close)
 * still run. Once stopping, never 200 again.
 */
export function assertUnreadyUntilExit(probes: StopProbe[], flag: 'closing' | 'stopping'): void {
  const seen = probes.map(({ status, msBeforeExit }) => `${status}@-${Math.round(msBeforeExit)}ms`);
  const stopping = probes.findIndex((probe) => probe.status !== 200);
  assert.ok(stopping >= 0, `never unready: ${seen.join(' ')}`);
  const after = probes.slice(stopping);
  const answered = after.filter((probe) => probe.status !== 0);
  assert.ok(answered.length > 0, `no 503 before the port closed: ${seen.join(' ')}`);
  for (const probe of answered) {
    assert.is(probe.status, 503, seen.join(' '));
    assert.is((JSON.parse(probe.body) as Record<string, unknown>)[flag], true, probe.body);
  }
  const refused = after.find((probe) => probe.status === 0);
  assert.ok(
    refused === undefined || refused.msBeforeExit < 150,
    `refused ${Math.round(refused?.msBeforeExit ?? 0)} ms before the exit: ${seen.join(' ')}`,
  );
}
