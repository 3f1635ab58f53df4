/**
 * The chat benchmark's server processes (`gredis thyme`, `gredis runworker`, the
 * Socket.IO servers, Daphne): each its own OS process with a raised open-file limit and
 * JSON logs, tracked so that all of them are stopped however the run ends.
 */
import { fileURLToPath } from 'node:url';
import { GREDIS_BIN, type GredisProcess } from '../../test/helpers/processes.js';
import { ProcessRegistry } from '../lib/process-registry.js';
import { PYTHON, PYTHON_SOURCES } from '../lib/python-runner.js';

export { withFileLimit } from '../lib/process-registry.js';

/** A bench/chat/*.js script, compiled next to this file. */
export const chatScript = (name: string): string =>
  fileURLToPath(new URL(`./${name}.js`, import.meta.url));

export interface Started {
  role: string;
  proc: GredisProcess;
  pid: number;
  /** The log line the process was waited for (it may carry a port). */
  ready: Record<string, unknown>;
  /** A Node process with its inspector open (GC and profiles); false for Python. */
  inspector: boolean;
}

export class ServerRegistry {
  private readonly registry = new ProcessRegistry();

  /** `nodeOptions`: Node flags for every server (e.g. --inspect), as NODE_OPTIONS. */
  constructor(private readonly nodeOptions: string) {}

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

  /** `python3 -m <module> <args>` in bench/python/, until a log line passes `ready`. */
  async python(
    role: string,
    module: string,
    args: string[],
    env: Record<string, string>,
    ready: (line: Record<string, unknown>) => boolean,
  ): Promise<Started> {
    const proc = this.registry.spawnProgram(PYTHON, ['-m', module, ...args], {
      fileLimit: true,
      cwd: PYTHON_SOURCES,
      env,
    });
    const line = await proc.waitForLine(ready, 20_000);
    return { role, proc, pid: proc.child.pid!, ready: line, inspector: false };
  }

  stop(started: Started): Promise<void> {
    return this.registry.stop(started.proc);
  }

  stopAll(): Promise<void> {
    return this.registry.stopAll();
  }

  /** What the servers said that may explain a failure (see ProcessRegistry). */
  diagnostics(): string[] {
    return this.registry.diagnostics();
  }

  private async start(
    role: string,
    nodeArgs: string[],
    env: Record<string, string>,
    ready: (line: Record<string, unknown>) => boolean,
  ): Promise<Started> {
    const proc = this.registry.spawnNode(nodeArgs, {
      fileLimit: true,
      env: { NODE_OPTIONS: this.nodeOptions, ...env },
    });
    const line = await proc.waitForLine(ready, 20_000);
    return { role, proc, pid: proc.child.pid!, ready: line, inspector: true };
  }
}
