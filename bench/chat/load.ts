/**
 * A load-generator process of the chat benchmark, started by bench/chat.ts with an
 * IPC channel (never run by hand). It holds a share of the simulated users, sends
 * its share of the message rate, and counts and times what its users receive.
 * The load runs outside the driver so that the driver's own work (reading /proc,
 * talking to Redis and PostgreSQL) never delays a delivery being timed, and in
 * several processes so that one event loop is not the bottleneck.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { setInterval, clearInterval } from 'node:timers';
import { openClient, type ChatClient, type ClientEvents } from './clients.js';
import { LatencyHistogram } from './latency.js';
import {
  decodeText,
  emptyCounters,
  encodeText,
  monotonicUs,
  type ChatKind,
  type ClientSpec,
  type LoadApi,
  type LoadCounters,
  type LoadReport,
  type OpenResult,
  type Phase,
  type Request,
  type Response,
} from './protocol.js';

/** How often the sender loop wakes up to send what is due (a fixed rate, not a closed loop). */
const TICK_MS = 2;
/** A handshake or a join that takes longer than this fails the run. */
const CLIENT_TIMEOUT_MS = 30_000;
const UNEXPECTED_SAMPLES = 5;

class LoadGenerator implements LoadApi {
  private clients: ChatClient[] = [];
  private counters_ = emptyCounters();
  private latency = new LatencyHistogram();
  private warmupLatency = new LatencyHistogram();
  /** Phase of what is being sent and received now; `idle` before the first start. */
  private current: Phase | 'idle' = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private readonly seq = new Map<number, number>();
  /** Event-loop delay, sampled every 10 ms while the timed window lasts. */
  private loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  private readonly events: ClientEvents = {
    message: (text) => {
      const receivedUs = monotonicUs();
      const counters = this.counters_;
      counters.deliveredDuringPhase[this.current]++;
      const decoded = decodeText(text);
      if (!decoded) {
        this.unexpected(`undecodable message ${text.slice(0, 60)}`);
        return;
      }
      counters.deliveredBySendPhase[decoded.phase]++;
      if (decoded.phase === 'timed') this.latency.record(receivedUs - decoded.sentUs);
      else if (decoded.phase === 'warmup') this.warmupLatency.record(receivedUs - decoded.sentUs);
    },
    unexpected: (description) => this.unexpected(description),
    dropped: (reason) => {
      const dropped = this.counters_.dropped;
      dropped[reason] = (dropped[reason] ?? 0) + 1;
    },
  };

  async open(kind: ChatKind, specs: ClientSpec[], concurrency: number): Promise<OpenResult> {
    const startedUs = monotonicUs();
    let next = 0;
    const opened: ChatClient[] = [];
    // `concurrency` lanes, each opening its next client when the previous one is open.
    const lane = async (): Promise<void> => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        opened.push(await openClient(kind, spec, this.events, CLIENT_TIMEOUT_MS));
      }
    };
    const lanes = await Promise.allSettled(
      Array.from({ length: Math.min(concurrency, specs.length) }, lane),
    );
    const endedUs = monotonicUs();
    this.clients.push(...opened);
    const failed = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (failed) throw failed.reason;
    return { opened: opened.length, startedUs, endedUs };
  }

  async join(): Promise<number> {
    await Promise.all(this.clients.map((client) => client.join(CLIENT_TIMEOUT_MS)));
    return this.clients.length;
  }

  async start(rate: number, textLength: number): Promise<void> {
    const senders = this.clients.filter((client) => client.spec.sender);
    this.current = 'warmup';
    if (senders.length === 0 || rate <= 0) return;
    const started = performance.now();
    let sent = 0;
    let next = 0;
    // Round robin over the senders: each sends rate / senders messages per second.
    this.timer = setInterval(() => {
      if (this.current === 'idle' || this.current === 'tail') return;
      const due = Math.floor(((performance.now() - started) / 1000) * rate) - sent;
      for (let i = 0; i < due; i++) {
        const client = senders[next++ % senders.length]!;
        const seq = (this.seq.get(client.spec.index) ?? 0) + 1;
        this.seq.set(client.spec.index, seq);
        client.send(encodeText(this.current, client.spec.index, seq, textLength));
        const byRoom = this.counters_.sent[this.current];
        byRoom[client.spec.room] = (byRoom[client.spec.room] ?? 0) + 1;
        sent++;
      }
    }, TICK_MS);
  }

  async phase(phase: Phase): Promise<void> {
    this.current = phase;
    if (phase === 'timed') this.loopDelay.enable();
  }

  async stop(): Promise<void> {
    this.loopDelay.disable();
    this.current = 'tail';
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async counters(): Promise<LoadCounters> {
    return this.counters_;
  }

  async report(): Promise<LoadReport> {
    const delay = this.loopDelay;
    return {
      ...this.counters_,
      latency: this.latency.toJSON(),
      warmupLatency: this.warmupLatency.toJSON(),
      // The histogram is in nanoseconds; 0 when it recorded nothing.
      loopDelayP99Ms: delay.count > 0 ? delay.percentile(99) / 1e6 : 0,
      loopDelayMaxMs: delay.count > 0 ? delay.max / 1e6 : 0,
    };
  }

  async close(): Promise<void> {
    await this.stop();
    const clients = this.clients;
    this.clients = [];
    await Promise.all(clients.map((client) => client.close()));
    this.counters_ = emptyCounters();
    this.latency = new LatencyHistogram();
    this.warmupLatency = new LatencyHistogram();
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.seq.clear();
    this.current = 'idle';
  }

  async cpu(): Promise<number> {
    const usage = process.cpuUsage();
    return usage.user + usage.system;
  }

  private unexpected(description: string): void {
    const counters = this.counters_;
    counters.unexpected++;
    if (counters.unexpectedSamples.length < UNEXPECTED_SAMPLES)
      counters.unexpectedSamples.push(description);
  }
}

if (!process.send) throw new Error('bench/chat/load.js runs as a child of bench/chat.js only');
const generator = new LoadGenerator();
process.on('message', (request: Request) => {
  const method = generator[request.method] as (...args: unknown[]) => Promise<unknown>;
  method.apply(generator, request.args).then(
    (result) => process.send!({ id: request.id, ok: true, result } satisfies Response),
    (error: unknown) =>
      process.send!({
        id: request.id,
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      } satisfies Response),
  );
});
// The driver going away (even killed) closes the channel: leave with it.
process.on('disconnect', () => process.exit(0));
