/** The values a layer message may carry; everything else is refused before any I/O. */
export type MessageValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | readonly MessageValue[]
  | { readonly [key: string]: MessageValue };

/** A layer message: a plain object. The key `__asgi_channel__` is reserved. */
export type Message = { [key: string]: MessageValue };

export interface ReceiveOptions {
  /** Cancels the wait; a message is never consumed for a cancelled receive. */
  signal?: AbortSignal;
}

/** What the layer can report about itself to a readiness probe. */
export interface LayerHealth {
  ok: boolean;
  /** One entry per backend host: `ready`, `connecting` or `down`. */
  hosts: { url: string; status: 'ready' | 'connecting' | 'down' }[];
}

/** Cumulative counters, for metrics. */
export interface LayerStats {
  /** Round trips to the backend (a pipelined batch or script counts once). */
  roundTrips: number;
  /** Sum of the round trips' durations, seconds. */
  roundTripSeconds: number;
  /** Messages dropped from a full local buffer (a reader that stopped reading). */
  bufferDrops: number;
  /** Stored payloads that could not be decoded, logged and skipped. */
  malformed: number;
}

/**
 * The channel layer: named FIFO queues and groups, shared by every process that
 * uses the same backend. See ../../../shared/spec/layer.md for the contract.
 */
export interface ChannelLayer {
  /** Key prefix of everything this layer stores. */
  readonly prefix: string;
  /** The unique part of this process's process-specific channel names. */
  readonly clientPrefix: string;
  readonly stats: Readonly<LayerStats>;

  send(channel: string, message: Message): Promise<void>;
  receive(channel: string, options?: ReceiveOptions): Promise<Message>;
  newChannel(prefix?: string): Promise<string>;
  /**
   * Forget a process-specific channel made by `newChannel`: its buffered messages are
   * dropped, later ones are discarded, and pending receives on it end with LayerClosed.
   */
  releaseChannel(channel: string): void;

  groupAdd(group: string, channel: string): Promise<void>;
  groupDiscard(group: string, channel: string): Promise<void>;
  /** Resolves with the number of members skipped because they were full. Never throws ChannelFull. */
  groupSend(group: string, message: Message): Promise<number>;

  flush(): Promise<void>;
  close(): Promise<void>;
  health(): LayerHealth;
}
