/**
 * The server benchmark's processes: each server under test runs as its own OS
 * process, started here and always stopped (a registry kills whatever is left
 * when the benchmark fails or is interrupted).
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { GREDIS_BIN, type GredisProcess } from '../../test/helpers/processes.js';
import { ProcessRegistry } from './process-registry.js';

/** `gredis thyme` flags for a message rate that never binds in the echo benchmark. */
const ECHO_RATE_ARGS = ['--websocket-rate', '1000000', '--websocket-burst', '1000000'];

/** The bench-only server scripts, compiled next to this file's directory. */
const script = (name: string): string =>
  fileURLToPath(new URL(`../server/${name}.js`, import.meta.url));

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

/** The servers under test, started as the real commands and always stopped. */
export class ServerProcesses {
  private readonly registry = new ProcessRegistry();

  /**
   * `nodeFlags`: extra Node flags for every server process (--cpu-prof, --inspect),
   * on the command line: Node 20 refuses --cpu-prof in NODE_OPTIONS.
   */
  constructor(private readonly nodeFlags: readonly string[] = []) {}

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
      // Each client echoes hundreds of messages a second: a rate that never binds,
      // so that checking it is measured but slows no one.
      ...ECHO_RATE_ARGS,
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

  /** What the servers said that may explain a failure (see ProcessRegistry). */
  diagnostics(): string[] {
    return this.registry.diagnostics();
  }

  /** Stops one server (SIGTERM, then SIGKILL after 10 s). */
  stop(server: Server): Promise<void> {
    return this.registry.stop(server.proc);
  }

  stopAll(): Promise<void> {
    return this.registry.stopAll();
  }

  /** `node <flags> <args>`, tracked from the start. */
  private spawn(args: string[]): GredisProcess {
    return this.registry.spawnNode([...this.nodeFlags, ...args]);
  }
}
