/**
 * The driver's side of the load generator: P child processes running
 * bench/chat/load.js, called by method name over IPC (see protocol.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withFileLimit } from './processes.js';
import type { LoadApi, Method, Request, Response } from './protocol.js';

const LOAD_SCRIPT = fileURLToPath(new URL('./load.js', import.meta.url));

type Result<M extends Method> = Awaited<ReturnType<LoadApi[M]>>;

export class LoadProcess {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  private readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (response: Response) => {
      const waiter = this.pending.get(response.id);
      this.pending.delete(response.id);
      if (response.ok) waiter?.resolve(response.result);
      else waiter?.reject(new Error(`load process ${index}: ${response.error}`));
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        for (const waiter of this.pending.values()) {
          waiter.reject(new Error(`load process ${index} exited (${code ?? signal})`));
        }
        this.pending.clear();
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  call<M extends Method>(method: M, ...args: Parameters<LoadApi[M]>): Promise<Result<M>> {
    const id = this.nextId++;
    const request: Request<M> = { id, method, args };
    return new Promise<Result<M>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send(request, (error) => {
        if (error) {
          this.pending.delete(id);
          reject(error);
        }
      });
    });
  }

  /** Closing the IPC channel makes the process exit (see load.ts); SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export class LoadPool {
  private constructor(readonly processes: LoadProcess[]) {}

  /** Starts `count` load processes with a raised open-file limit (thousands of sockets each). */
  static start(count: number): LoadPool {
    const processes = Array.from({ length: count }, (_, index) => {
      const child = spawn(
        ...withFileLimit(process.execPath, ['--enable-source-maps', LOAD_SCRIPT]),
        {
          // 'advanced': structured clone, so typed arrays and nested records cross as they are.
          serialization: 'advanced',
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        },
      );
      return new LoadProcess(index, child);
    });
    const pool = new LoadPool(processes);
    process.once('exit', () => pool.kill());
    return pool;
  }

  get pids(): number[] {
    return this.processes.map((p) => p.pid);
  }

  /** Calls `method` on every process at once, with arguments chosen per process. */
  all<M extends Method>(
    method: M,
    args: (process: LoadProcess) => Parameters<LoadApi[M]>,
  ): Promise<Result<M>[]> {
    return Promise.all(this.processes.map((p) => p.call(method, ...args(p))));
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
  }

  kill(): void {
    for (const p of this.processes) p.kill();
  }
}
