/**
 * The server benchmark's processes: each server under test runs as its own OS
 * process, started here and always stopped (a registry kills whatever is left
 * when the benchmark fails or is interrupted).
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { GREDIS_BIN, GredisProcess } from '../../test/helpers/processes.js';

/** The bench-only server scripts, compiled next to this file's directory. */
const script = (name: string): string =>
  fileURLToPath(new URL(`../server/${name}.js`, import.meta.url));

/** What every server process gets: JSON logs at info (debug would log per socket). */
const CHILD_ENV = { GREDIS_LOG_FORMAT: 'json', GREDIS_LOG_LEVEL: 'info' };

export interface Server {
  /** What the figures call it. */
  role: string;
  proc: GredisProcess;
  pid: number;
}

export interface Listening extends Server {
  port: number;
  /** performance.now() when its "listening" line arrived: Thyme's keep-alive timer starts then. */
  listeningAt: number;
}

/** Every process started, so that all of them are stopped whatever happens. */
export class ServerProcesses {
  private readonly started = new Set<GredisProcess>();
  /** Every process ever started, stopped or not, for diagnostics. */
  private readonly all: GredisProcess[] = [];

  /**
   * `nodeFlags`: extra Node flags for every server process (--cpu-prof, --inspect),
   * on the command line: Node 20 refuses --cpu-prof in NODE_OPTIONS.
   */
  constructor(private readonly nodeFlags: readonly string[] = []) {
    // Last resort on a crash or Ctrl-C: the children must not outlive the benchmark.
    process.once('exit', () => this.killAll());
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        this.killAll();
        process.exit(130);
      });
    }
  }

  /** A bench/server/*.js script, until it logs a line with msg `ready`. */
  private async startScript(
    role: string,
    name: string,
    args: string[],
    ready: string,
  ): Promise<{ server: Server; line: Record<string, unknown> }> {
    const proc = this.spawn([script(name), ...args]);
    const line = await proc.waitForLine((l) => l.msg === ready, 15_000);
    return { server: { role, proc, pid: proc.child.pid! }, line };
  }

  /** The bare `ws` echo server: the ceiling. */
  async wsEcho(): Promise<Listening> {
    const { server, line } = await this.startScript('ws echo', 'ws-echo', [], 'ws echo listening');
    return { ...server, port: line.port as number, listeningAt: performance.now() };
  }

  /** Thyme + echo worker in one process on memory://; `thymeArgs` as for `gredis thyme`. */
  async embeddedEcho(thymeArgs: string[] = []): Promise<Listening> {
    const { server, line } = await this.startScript(
      'Thyme+worker',
      'embedded-echo',
      thymeArgs,
      'Thyme listening',
    );
    return { ...server, port: line.port as number, listeningAt: performance.now() };
  }

  /** `gredis thyme multichat --port 0 --layer <url>`, the real command. */
  async thyme(layerUrl: string, thymeArgs: string[] = []): Promise<Listening> {
    // As test/helpers' startThyme, but with our Node flags, and tracked before
    // waiting so that a Thyme that never listens is stopped too.
    const proc = this.spawn([
      GREDIS_BIN,
      'thyme',
      'multichat',
      '--port',
      '0',
      '--layer',
      layerUrl,
      // The echo worker speaks the layer protocol only, without lanes.
      '--no-event-lanes',
      ...thymeArgs,
    ]);
    const line = await proc.waitForLine((l) => l.msg === 'Thyme listening', 15_000);
    return {
      role: 'Thyme',
      proc,
      pid: proc.child.pid!,
      port: line.port as number,
      listeningAt: performance.now(),
    };
  }

  /** An echo worker process on a shared layer. */
  async echoWorker(layerUrl: string, receivers: number, role = 'echo worker'): Promise<Server> {
    const { server } = await this.startScript(
      role,
      'echo-worker',
      ['--layer', layerUrl, '--receivers', String(receivers)],
      'echo worker ready',
    );
    return server;
  }

  /**
   * What the servers said that may explain a failure: their warnings and errors
   * (pino level ≥ 40), their stderr, and how they exited.
   */
  diagnostics(): string[] {
    const lines: string[] = [];
    for (const proc of this.all) {
      const name = `pid ${proc.child.pid} (${proc.child.spawnargs.slice(2, 4).join(' ')})`;
      const exited =
        proc.child.exitCode !== null || proc.child.signalCode !== null
          ? ` exited ${proc.child.exitCode ?? proc.child.signalCode}`
          : '';
      const notable = proc.lines.filter((l) => typeof l.level === 'number' && l.level >= 40);
      const stderr = proc.stderr.filter((l) => !/Debugger|inspector|For help, see/.test(l));
      if (notable.length === 0 && stderr.length === 0 && !exited) continue;
      lines.push(`${name}${exited}:`);
      for (const l of notable.slice(-10)) lines.push(`  ${JSON.stringify(l)}`);
      for (const l of stderr.slice(-10)) lines.push(`  stderr: ${l}`);
    }
    return lines;
  }

  /** Stops one server (SIGTERM, then SIGKILL after 10 s). */
  async stop(server: Server): Promise<void> {
    await server.proc.stop('SIGTERM', 10_000);
    this.started.delete(server.proc);
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.started].map((proc) => proc.stop('SIGTERM', 10_000)));
    this.started.clear();
  }

  /** `node <flags> <args>`, its JSON log lines kept by a GredisProcess. */
  private spawn(args: string[]): GredisProcess {
    const child = spawn(process.execPath, [...this.nodeFlags, '--enable-source-maps', ...args], {
      env: { ...process.env, ...CHILD_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new GredisProcess(child);
    this.started.add(proc);
    this.all.push(proc);
    return proc;
  }

  private killAll(): void {
    for (const proc of this.started) {
      if (proc.child.exitCode === null && proc.child.signalCode === null)
        proc.child.kill('SIGKILL');
    }
  }
}
