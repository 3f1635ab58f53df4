import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { onFreePort, PortTakenError } from './ports.js';
import { waitFor } from './wait.js';

/** The shared Redis every test may use (DEVELOPERS.md: 127.0.0.1:6379). */
export const SHARED_REDIS_URL = process.env.GREDIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** redis-server's last words, kept to say why it did not start. */
const LOG_TAIL_CHARS = 2000;

/** Every redis-server this process started that may still run. */
const running = new Set<ChildProcess>();
// None outlives the test file: one a failed test left behind holds its port and CPU.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

interface RedisProcess {
  child: ChildProcess;
  log: () => string;
  /** Whether it has exited and its log has been read to the end. */
  ended: () => boolean;
}

/**
 * A redis-server process whose log (stdout) is kept, its tail, to tell why it
 * stopped. Neither the process nor its log holds the test process open: one
 * that a failed test left running would otherwise keep the file from ending
 * until the runner's timeout; at exit it is killed.
 */
function spawnRedis(args: readonly string[]): RedisProcess {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'ignore'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let ended = false;
  child.once('close', () => (ended = true));
  let log = '';
  // Not started at all (no redis-server on PATH): said as its last words.
  child.once('error', (error) => {
    log += error.message;
    ended = true;
  });
  child.unref();
  const stdout = child.stdout as Socket;
  stdout.unref();
  // Read on for the server's whole life: a full pipe would stop it.
  stdout.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-LOG_TAIL_CHARS);
  });
  return { child, log: () => log, ended: () => ended };
}

/**
 * Waits (10 s at most) until `child`, which is to listen on `port`, answers there
 * and `ready` says yes. Another server that answers on the port (one that took it
 * first) is not taken for `child`: its process id is checked. If `child` exits,
 * says why at once: PortTakenError when the port was in use.
 */
async function until(
  port: number,
  { child, log, ended }: RedisProcess,
  ready: (probe: Redis) => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (ended()) {
      if (log().includes('Address already in use')) throw new PortTakenError(port);
      throw new Error(
        `redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}) before it answered: ${log()}`,
      );
    }
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      // Its default 2 s timer, armed at disconnect() for a refused probe's stream
      // too, would hold the test process that long after its last test.
      disconnectTimeout: 0,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      const info = await probe.info('server');
      if (info.includes(`process_id:${child.pid}\r\n`) && (await ready(probe))) return;
    } catch {
      // Not listening yet.
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`the server on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops `child` with SIGKILL; resolves once it has exited. */
async function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref(); // the test process waits for its exit
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
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
   * `port`: a port of the test's choosing (one a process already tries to reach);
   * without it, one from freePort(), and another if that one is taken first.
   */
  static async start(extraArgs: readonly string[] = [], port?: number): Promise<RedisServer> {
    const startOn = async (chosen: number): Promise<RedisServer> => {
      const server = new RedisServer(chosen, extraArgs);
      await server.startProcess();
      return server;
    };
    return port === undefined ? onFreePort(startOn) : startOn(port);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process on its port: PortTakenError if another holds it. */
  async startProcess(): Promise<void> {
    const redis = spawnRedis([
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
    ]);
    this.child = redis.child;
    try {
      await until(this.port, redis, async (probe) => (await probe.ping()) === 'PONG');
    } catch (error) {
      await this.kill();
      throw error;
    }
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
    if (this.child) await killed(this.child);
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
    return onFreePort(async (port) => {
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
      const redis = spawnRedis([config, '--sentinel']);
      const sentinel = new RedisSentinel(port, redis.child, dir);
      try {
        await until(port, redis, async (probe) => {
          const address = (await probe.call('SENTINEL', 'get-master-addr-by-name', name)) as
            string[] | null;
          return address?.[1] === String(master.port);
        });
      } catch (error) {
        await sentinel.stop();
        throw error;
      }
      return sentinel;
    });
  }

  async stop(): Promise<void> {
    await killed(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
