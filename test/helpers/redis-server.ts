import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './wait.js';

/** The shared Redis every test may use (DEVELOPERS.md: 127.0.0.1:6379). */
export const SHARED_REDIS_URL = process.env.GREDIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** A free loopback TCP port (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Waits (10 s at most) until the server on `port` answers and `ready` says yes. */
async function until(port: number, ready: (probe: Redis) => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if (await ready(probe)) return;
    } catch {
      // Not listening yet.
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`the server on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A private redis-server on its own loopback port, for tests that restart it or
 * read its server-wide counters. Stopped by PID.
 */
export class RedisServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[],
  ) {}

  /**
   * `extraArgs`: more redis-server options, e.g. `['--replicaof', '127.0.0.1', '6380']`.
   * `port`: a port of the test's choosing (one a process already tries to reach).
   */
  static async start(extraArgs: readonly string[] = [], port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()), extraArgs);
    await server.startProcess();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async startProcess(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        '/tmp',
        ...this.extraArgs,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    await until(this.port, async (probe) => (await probe.ping()) === 'PONG');
  }

  /**
   * SIGSTOP: the server stops answering and its connections stay open, as when
   * its machine vanishes (to clients, until TCP gives up). `resume` undoes it.
   */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILL: the server vanishes as in a crash. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  async restart(downtimeMs = 300): Promise<void> {
    await this.kill();
    await new Promise((r) => setTimeout(r, downtimeMs));
    await this.startProcess();
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}

/** A plain client for inspecting what the layer stored. */
export function rawClient(url = SHARED_REDIS_URL): Redis {
  return new Redis(url);
}

/** Waits until some client of the server at `url` is blocked in a layer read (BZMPOP/BZPOPMIN). */
export async function waitForBlockedReads(url: string, timeoutMs = 5000): Promise<void> {
  const raw = rawClient(url);
  try {
    await waitFor(
      async () => /cmd=bz(mpop|popmin)/.test(String(await raw.client('LIST'))),
      timeoutMs,
      'blocked reads',
    );
  } finally {
    raw.disconnect();
  }
}

/**
 * A private Sentinel (redis-server --sentinel) watching `master` under `name`, for
 * the Sentinel URL tests. Its config file is its own (Sentinel rewrites it).
 * Stopped by PID.
 */
export class RedisSentinel {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  /**
   * `downAfterMs`: how long the master may not answer before it is failed over
   * (Sentinel's 30 s by default). `replicas`: the master's replicas, known from
   * the start; Sentinel would otherwise learn of them from the master's INFO,
   * which it reads every 10 s.
   */
  static async start(
    master: RedisServer,
    name: string,
    { downAfterMs, replicas = [] }: { downAfterMs?: number; replicas?: RedisServer[] } = {},
  ): Promise<RedisSentinel> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'gredis-sentinel-'));
    const config = join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
        ...replicas.map((replica) => `sentinel known-replica ${name} 127.0.0.1 ${replica.port}`),
        ...(downAfterMs === undefined
          ? []
          : [
              `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
              `sentinel failover-timeout ${name} ${Math.max(3000, downAfterMs * 3)}`,
            ]),
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
    const sentinel = new RedisSentinel(port, child, dir);
    try {
      await until(port, async (probe) => {
        const address = (await probe.call('SENTINEL', 'get-master-addr-by-name', name)) as
          string[] | null;
        return address?.[1] === String(master.port);
      });
    } catch (error) {
      await sentinel.stop();
      throw error;
    }
    return sentinel;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
