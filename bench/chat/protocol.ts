/**
 * What the chat benchmark's driver (bench/chat.ts) and its load-generator
 * processes (bench/chat/load.ts) say to each other over Node's IPC channel, and
 * the format of the chat messages the senders send. One request at a time per
 * call, answered by a response with the same id.
 */
import { messageText } from '../lib/workloads.js';
import type { LatencyCounts } from './latency.js';

/**
 * Which chat a client speaks: MultiChat over a raw WebSocket (Gredis, and the
 * Django Channels original, same protocol), or Socket.IO events.
 */
export type ChatKind = 'gredis' | 'socketio';

/**
 * The send phase a message was sent in (its first character) and that a delivery
 * is counted in: warm-up, the timed window, and after it.
 */
export type Phase = 'warmup' | 'timed' | 'tail';
export const PHASES: readonly Phase[] = ['warmup', 'timed', 'tail'];
const TAGS: Record<Phase, string> = { warmup: 'w', timed: 't', tail: 'x' };
const PHASE_OF_TAG: Record<string, Phase> = { w: 'warmup', t: 'timed', x: 'tail' };

/** One simulated user. */
export interface ClientSpec {
  /** Global index (the message id carries it). */
  index: number;
  /** `ws://…/chat/stream/` for Gredis, `http://…` for Socket.IO. */
  url: string;
  sessionKey: string;
  /** The room's id (its database id for Gredis; the same number for Socket.IO). */
  room: number;
  sender: boolean;
}

export interface OpenResult {
  opened: number;
  /** process.hrtime (CLOCK_MONOTONIC, shared by every process on the machine), µs. */
  startedUs: number;
  endedUs: number;
}

/** Counters of one load process, cheap to ask for (no histogram). */
export interface LoadCounters {
  /** Messages sent per phase, per room id. */
  sent: Record<Phase, Record<number, number>>;
  /** Deliveries by the phase their message was sent in. */
  deliveredBySendPhase: Record<Phase, number>;
  /** Deliveries received while this process was in each phase. */
  deliveredDuringPhase: Record<Phase | 'idle', number>;
  /** Frames that were neither a chat message nor an expected reply (errors). */
  unexpected: number;
  /** A few of them, for the report. */
  unexpectedSamples: string[];
  /** Sockets the server closed while they were held, by close code (or reason). */
  dropped: Record<string, number>;
}

/** Counters before anything happened: a load process's at its start, and the sum's. */
export function emptyCounters(): LoadCounters {
  return {
    sent: { warmup: {}, timed: {}, tail: {} },
    deliveredBySendPhase: { warmup: 0, timed: 0, tail: 0 },
    deliveredDuringPhase: { idle: 0, warmup: 0, timed: 0, tail: 0 },
    unexpected: 0,
    unexpectedSamples: [],
    dropped: {},
  };
}

export interface LoadReport extends LoadCounters {
  /** Send → delivery at each member, for messages sent in the timed window. */
  latency: LatencyCounts;
  /** The same for messages sent in the warm-up: how the deployment took the cold start. */
  warmupLatency: LatencyCounts;
  /**
   * This process's event-loop delay during the timed window, ms (p99 and max): when
   * high, the load generator itself was behind and the latencies include its queue.
   */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** The load process's remote API: the driver calls these by name. */
export interface LoadApi {
  /** Opens `clients` (at most `concurrency` handshakes at once) and keeps them. */
  open(kind: ChatKind, clients: ClientSpec[], concurrency: number): Promise<OpenResult>;
  /** Every client joins its room and waits for the confirmation. */
  join(): Promise<number>;
  /** Starts sending `rate` messages/s over this process's senders, in phase `warmup`. */
  start(rate: number, textLength: number): Promise<void>;
  /** Moves to another phase: what is sent from now on carries it. */
  phase(phase: Phase): Promise<void>;
  /** Stops sending (phase `tail` from now on). */
  stop(): Promise<void>;
  counters(): Promise<LoadCounters>;
  report(): Promise<LoadReport>;
  /** Closes every client; counters are reset for the next system. */
  close(): Promise<void>;
  /** process.cpuUsage() of this process, µs (the load generator's own cost). */
  cpu(): Promise<number>;
}

export type Method = keyof LoadApi;

export interface Request<M extends Method = Method> {
  id: number;
  method: M;
  args: Parameters<LoadApi[M]>;
}

export type Response =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** Microseconds on CLOCK_MONOTONIC, comparable between processes on one machine. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * A chat message's text: phase tag, send time (µs, monotonic) and id
 * (`<client>:<seq>`), padded to `length` characters, e.g. `t81234567890 12:345 The quick…`.
 */
export function encodeText(phase: Phase, client: number, seq: number, length: number): string {
  const head = `${TAGS[phase]}${monotonicUs()} ${client}:${seq} `;
  return head + messageText(Math.max(0, length - head.length));
}

export function decodeText(text: string): { phase: Phase; sentUs: number } | undefined {
  const phase = PHASE_OF_TAG[text[0] ?? ''];
  const space = text.indexOf(' ');
  if (!phase || space < 2) return undefined;
  const sentUs = Number(text.slice(1, space));
  return Number.isFinite(sentUs) ? { phase, sentUs } : undefined;
}
