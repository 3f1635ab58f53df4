/**
 * The processes a benchmark starts: each spawned `node` with JSON logs kept by a
 * GredisProcess, tracked from the start, and all stopped however the run ends
 * (SIGKILL as a last resort on exit or Ctrl-C).
 */
import { spawn } from 'node:child_process';
import { GredisProcess } from '../../test/helpers/processes.js';

/** Open files per process: thousands of sockets per server and per load process. */
const FILE_LIMIT = 65536;

/** What every server process gets: JSON logs at info (debug would log per socket). */
const CHILD_ENV = { GREDIS_LOG_FORMAT: 'json', GREDIS_LOG_LEVEL: 'info' };

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

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Raise the open-file limit first (see withFileLimit). */
  fileLimit?: boolean;
  cwd?: string;
}

export class ProcessRegistry {
  private readonly running = new Set<GredisProcess>();
  /** Every process ever started, stopped or not, for diagnostics. */
  private readonly all: GredisProcess[] = [];

  constructor() {
    process.once('exit', () => this.killAll());
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        this.killAll();
        process.exit(130);
      });
    }
  }

  /** `node --enable-source-maps <nodeArgs>`; `nodeArgs` may start with Node flags. */
  spawnNode(nodeArgs: string[], options: SpawnOptions = {}): GredisProcess {
    return this.spawnProgram(process.execPath, ['--enable-source-maps', ...nodeArgs], options);
  }

  /** Any program (a Python server, say), logging JSON lines on stdout as the Node servers do. */
  spawnProgram(program: string, args: string[], options: SpawnOptions = {}): GredisProcess {
    const [command, argv] = options.fileLimit ? withFileLimit(program, args) : [program, args];
    const child = spawn(command, argv, {
      cwd: options.cwd,
      env: { ...process.env, ...CHILD_ENV, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new GredisProcess(child);
    this.running.add(proc);
    this.all.push(proc);
    return proc;
  }

  /** Stops one process (SIGTERM, then SIGKILL after 10 s). */
  async stop(proc: GredisProcess): Promise<void> {
    await proc.stop('SIGTERM', 10_000);
    this.running.delete(proc);
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.running].map((proc) => proc.stop('SIGTERM', 10_000)));
    this.running.clear();
  }

  /**
   * What the processes said that may explain a failure: their warnings and errors
   * (pino level ≥ 40), their stderr, and how they exited.
   */
  diagnostics(): string[] {
    const lines: string[] = [];
    for (const proc of this.all) {
      const exited =
        proc.child.exitCode !== null || proc.child.signalCode !== null
          ? ` exited ${proc.child.exitCode ?? proc.child.signalCode}`
          : '';
      const notable = proc.lines.filter((l) => typeof l.level === 'number' && l.level >= 40);
      const stderr = proc.stderr.filter((l) => !/Debugger|inspector|For help, see/.test(l));
      if (notable.length === 0 && stderr.length === 0 && !exited) continue;
      lines.push(`pid ${proc.child.pid} (${describe(proc)})${exited}:`);
      for (const l of notable.slice(-10)) lines.push(`  ${JSON.stringify(l)}`);
      for (const l of stderr.slice(-10)) lines.push(`  stderr: ${l}`);
    }
    return lines;
  }

  private killAll(): void {
    for (const proc of this.running) {
      if (proc.child.exitCode === null && proc.child.signalCode === null)
        proc.child.kill('SIGKILL');
    }
  }
}

/** The script (or Python module) a process runs and its first arguments, for diagnostics. */
function describe(proc: GredisProcess): string {
  const args = proc.child.spawnargs;
  const script = args.findIndex((arg) => arg.endsWith('.js') || arg === '-m');
  return args.slice(script === -1 ? 0 : script, (script === -1 ? 0 : script) + 3).join(' ');
}
