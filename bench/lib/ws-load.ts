/**
 * The server benchmark's load generator: WebSocket clients in the benchmark's own
 * process (never in a server's), either echoing in a closed loop or holding idle
 * connections.
 */
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { ClosedLoop } from './closed-loop.js';
import { messageText } from './workloads.js';

/** Thyme refuses WebSockets without an allowed Origin; 127.0.0.1 is allowed by default. */
export const ORIGIN = 'http://127.0.0.1';
/** Handshakes in progress at once while opening many sockets. */
const OPEN_BATCH = 100;
const CLOSE_TIMEOUT_MS = 5000;

/** A histogram of round trips in microseconds (HDR, 3 significant figures). */
export function latencyHistogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
}

function openSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { origin: ORIGIN, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.off('error', reject);
      // From now on errors surface as 'close'; an 'error' without a listener would throw.
      ws.on('error', () => {});
      resolve(ws);
    });
    ws.once('unexpected-response', (_request, response) => {
      reject(new Error(`${url}: handshake refused with HTTP ${response.statusCode ?? '?'}`));
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** Opens `count` sockets to `url`, OPEN_BATCH handshakes at a time. */
export async function openSockets(url: string, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; i < count; i += OPEN_BATCH) {
      const batch = Math.min(OPEN_BATCH, count - i);
      const opened = await Promise.allSettled(Array.from({ length: batch }, () => openSocket(url)));
      for (const outcome of opened) {
        if (outcome.status === 'fulfilled') sockets.push(outcome.value);
      }
      const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) throw failed.reason;
    }
    return sockets;
  } catch (error) {
    await closeSockets(sockets);
    throw error;
  }
}

/** Closes every socket (a close handshake, then terminate after CLOSE_TIMEOUT_MS). */
export async function closeSockets(sockets: readonly WebSocket[]): Promise<void> {
  const closed = sockets.map((ws) =>
    ws.readyState === WebSocket.CLOSED
      ? Promise.resolve()
      : new Promise<void>((resolve) => ws.once('close', () => resolve())),
  );
  for (const ws of sockets) {
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  }
  const timer = setTimeout(() => {
    for (const ws of sockets) ws.terminate();
  }, CLOSE_TIMEOUT_MS);
  await Promise.all(closed);
  clearTimeout(timer);
}

/** Idle connections held open; counts those the server closes while they are held. */
export class IdleSockets {
  /** Sockets closed by the server (or the network) before `close()`, with their codes. */
  readonly dropped: number[] = [];
  private closing = false;

  private constructor(readonly sockets: WebSocket[]) {
    for (const ws of sockets) {
      ws.once('close', (code: number) => {
        if (!this.closing) this.dropped.push(code);
      });
    }
  }

  static async open(url: string, count: number): Promise<IdleSockets> {
    return new IdleSockets(await openSockets(url, count));
  }

  close(): Promise<void> {
    this.closing = true;
    return closeSockets(this.sockets);
  }
}

/** Called at the edges of the timed part, while the loop is saturated. */
export interface WindowHooks {
  start(): void | Promise<void>;
  end(): void | Promise<void>;
}

export interface EchoPlan {
  /** Messages each client keeps in flight. */
  inflight: number;
  /** Length of each text frame. */
  textLength: number;
  /** Untimed seconds first (JIT, connection pools, steady state). */
  warmupSeconds: number;
  /** Timed seconds. */
  seconds: number;
}

export interface EchoSample {
  /** Echoes received during the timed part. */
  messages: number;
  /** Length of the timed part as measured. */
  seconds: number;
}

/** Loops keep issuing this long after the timed part, so it ends while still saturated. */
const TAIL_SECONDS = 0.5;

/**
 * N echo clients, each a closed loop of `inflight` messages (ClosedLoop with that
 * window): a client sends a frame each time one comes back. Every frame starts
 * with its send time in microseconds, so the round trip is known without
 * bookkeeping even if echoes come back out of order (several workers).
 */
export class EchoLoad {
  private received = 0;
  private recording = false;

  private constructor(private readonly sockets: WebSocket[]) {}

  static async open(url: string, clients: number): Promise<EchoLoad> {
    return new EchoLoad(await openSockets(url, clients));
  }

  /** Runs the loops for warm-up + timed part (+ a tail), recording round trips into `latency`. */
  async run(plan: EchoPlan, latency: RecordableHistogram, hooks: WindowHooks): Promise<EchoSample> {
    const padding = messageText(plan.textLength);
    const stamped = (): string => {
      const stamp = `${Math.round(performance.now() * 1000)} `;
      return stamp + padding.slice(stamp.length);
    };
    const loops = this.sockets.map((ws) => {
      const loop = new ClosedLoop(plan.inflight);
      ws.on('message', (data: Buffer) => {
        const sent = Number.parseInt(data.toString('latin1', 0, 20), 10);
        if (!Number.isFinite(sent)) {
          loop.fail(new Error(`unexpected echo ${JSON.stringify(data.toString('utf8'))}`));
          return;
        }
        this.received++;
        if (this.recording) {
          latency.record(Math.max(1, Math.round(performance.now() * 1000) - sent));
        }
        loop.complete();
      });
      ws.once('close', (code: number) => {
        loop.fail(new Error(`the server closed a socket during the run (code ${code})`));
      });
      return loop;
    });
    const seconds = plan.warmupSeconds + plan.seconds + TAIL_SECONDS;
    const running = Promise.all(
      loops.map((loop, i) => {
        const ws = this.sockets[i]!;
        return loop.run({ seconds }, async () => ws.send(stamped()));
      }),
    );
    // A failed loop rejects `running` at once; race it against the timer so a
    // failure does not wait for the full run.
    const failed = running.then(
      () => new Promise<never>(() => {}),
      (error: unknown) => Promise.reject(error),
    );
    failed.catch(() => {});
    await Promise.race([failed, sleep(plan.warmupSeconds * 1000)]);
    const before = this.received;
    const started = performance.now();
    this.recording = true;
    await hooks.start();
    await Promise.race([failed, sleep(plan.seconds * 1000)]);
    // Counted before the hook runs: the hook's first (synchronous) act is its CPU reading.
    const sample = {
      messages: this.received - before,
      seconds: (performance.now() - started) / 1000,
    };
    this.recording = false;
    await hooks.end();
    await running;
    return sample;
  }

  close(): Promise<void> {
    for (const ws of this.sockets) ws.removeAllListeners('close');
    return closeSockets(this.sockets);
  }
}
