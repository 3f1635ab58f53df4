/**
 * The chat benchmark's server processes (`gredis thyme`, `gredis runworker`, the
 * Socket.IO servers): each its own OS process with a raised open-file limit and
 * JSON logs, tracked so that all of them are stopped however the run ends.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GREDIS_BIN, GredisProcess } from '../../test/helpers/processes.js';

/** Open files per process: thousands of sockets per server and per load process. */
const FILE_LIMIT = 65536;

/**
 * `command args` run through bash after raising the open-file limit (to the hard
 * limit if 65536 is not allowed). `exec` keeps the pid, so the pid the caller
 * holds is the program's own: its /proc CPU time is what gets counted.
 */
export function withFileLimit(command: string, args: string[]): [string, string[]] {
  return [
    'bash',
    [
      '-c',
      `ulimit -n ${FILE_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`,
      command,
      ...args,
    ],
  ];
}

/** A bench/chat/*.js script, compiled next to this file. */
export const chatScript = (name: string): string =>
  fileURLToPath(new URL(`./${name}.js`, import.meta.url));

export interface Started {
  role: string;
  proc: GredisProcess;
  pid: number;
  /** The log line the process was waited for (it may carry a port). */
  ready: Record<string, unknown>;
}

export class ServerRegistry {
  private readonly running = new Set<GredisProcess>();
  private readonly all: GredisProcess[] = [];

  /** `nodeOptions`: Node flags for every server (e.g. --inspect), as NODE_OPTIONS. */
  constructor(private readonly nodeOptions: string) {
    // Last resort on a crash or Ctrl-C: no server may outlive the benchmark.
    process.once('exit', () => this.killAll());
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        this.killAll();
        process.exit(130);
      });
    }
  }

  /** `gredis <args>`, until a log line passes `ready`. */
  gredis(
    role: string,
    args: string[],
    env: Record<string, string>,
    ready: (line: Record<string, unknown>) => boolean,
  ): Promise<Started> {
    return this.start(role, [GREDIS_BIN, ...args], env, ready);
  }

  /** `node bench/chat/<name>.js <args>`, until a log line passes `ready`. */
  script(
    role: string,
    name: string,
    args: string[],
    ready: (line: Record<string, unknown>) => boolean,
  ): Promise<Started> {
    return this.start(role, [chatScript(name), ...args], {}, ready);
  }

  async stop(started: Started): Promise<void> {
    await started.proc.stop('SIGTERM', 10_000);
    this.running.delete(started.proc);
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.running].map((proc) => proc.stop('SIGTERM', 10_000)));
    this.running.clear();
  }

  /** What the servers said that may explain a failure: warnings, errors, stderr, exits. */
  diagnostics(): string[] {
    const lines: string[] = [];
    for (const proc of this.all) {
      const exited =
        proc.child.exitCode !== null || proc.child.signalCode !== null
          ? ` exited ${proc.child.exitCode ?? proc.child.signalCode}`
          : '';
      const notable = proc.lines.filter((l) => typeof l.level === 'number' && l.level >= 40);
      const stderr = proc.stderr.filter((l) => !/Debugger|inspector|For help, see/.test(l));
      if (notable.length === 0 && stderr.length === 0) continue;
      lines.push(`pid ${proc.child.pid} (${proc.child.spawnargs.slice(5, 8).join(' ')})${exited}:`);
      for (const l of notable.slice(-10)) lines.push(`  ${JSON.stringify(l)}`);
      for (const l of stderr.slice(-10)) lines.push(`  stderr: ${l}`);
    }
    return lines;
  }

  private async start(
    role: string,
    nodeArgs: string[],
    env: Record<string, string>,
    ready: (line: Record<string, unknown>) => boolean,
  ): Promise<Started> {
    const child = spawn(...withFileLimit(process.execPath, ['--enable-source-maps', ...nodeArgs]), {
      env: {
        ...process.env,
        // Info, not debug: debug logs a line per socket, which would be measured too.
        GREDIS_LOG_FORMAT: 'json',
        GREDIS_LOG_LEVEL: 'info',
        NODE_OPTIONS: this.nodeOptions,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new GredisProcess(child);
    this.running.add(proc);
    this.all.push(proc);
    const line = await proc.waitForLine(ready, 20_000);
    return { role, proc, pid: child.pid!, ready: line };
  }

  private killAll(): void {
    for (const proc of this.running) {
      if (proc.child.exitCode === null && proc.child.signalCode === null)
        proc.child.kill('SIGKILL');
    }
  }
}
