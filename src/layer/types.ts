/** The values a layer message may carry; everything else is refused before any I/O. */
export type MessageValue =
  | string
  | number
  /** An integer beyond ±2^53 (Number.MAX_SAFE_INTEGER), 64 bits at most: it stays exact. */
  | bigint
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
  /**
   * One entry per backend host: `ready`, `connecting` or `down`, or `refused`:
   * reachable, but its server refuses the layer's work for lack of permission
   * (an ACL user without a command or key access: `refusal` is Redis's reason,
   * or its reasons, each distinct one once, separated by "; ").
   */
  hosts: { url: string; status: 'ready' | 'connecting' | 'down' | 'refused'; refusal?: string }[];
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
  /**
   * Seconds a group member stays in its group unless added again (the
   * groupExpiry option): a consumer whose sockets may outlive it re-adds them.
   */
  readonly groupExpiry: number;
  readonly stats: Readonly<LayerStats>;

  send(channel: string, message: Message): Promise<void>;
  receive(channel: string, options?: ReceiveOptions): Promise<Message>;
  newChannel(prefix?: string): Promise<string>;
  /**
   * Push delivery for a process-specific channel of this process: from now on each
   * of its messages is handed to `listener` synchronously as it arrives, in order,
   * instead of waiting for `receive` (what is already buffered goes first). The
   * same message object may go to several channels: treat it as read-only. Ends
   * with releaseChannel. Cheaper than a receive per message for a server holding
   * many sockets.
   */
  listen(channel: string, listener: (message: Message) => void): void;
  /**
   * Forget a process-specific channel made by `newChannel`: its buffered messages are
   * dropped, later ones are discarded, and pending receives on it end with ReceiveAborted.
   */
  releaseChannel(channel: string): void;

  groupAdd(group: string, channel: string): Promise<void>;
  groupDiscard(group: string, channel: string): Promise<void>;
  /** Resolves with the number of members skipped because they were full. Never throws ChannelFull. */
  groupSend(group: string, message: Message): Promise<number>;

  flush(): Promise<void>;
  /**
   * Stops all receives and releases the connections; idempotent. Bounded: the
   * Redis layer waits 2 s at most for its servers, answering or not, and not
   * past `deadline` (performance.now()) when one is given (a process's stop
   * that has its own end).
   */
  close(deadline?: number): Promise<void>;
  /**
   * Whether every backend host is reachable now, and lets the layer work: not
   * while a key reader's last read, or a script, was refused for lack of
   * permission (until a read, or the probe below, is allowed again). The Redis
   * layer also sends each host a PING when nothing else waits for it (one a
   * second at most), so that a server that stopped answering with its
   * connections left open is reported within its reply timeout, however idle
   * the process; after a refused script, the probe asks again instead.
   */
  health(): LayerHealth;
  /**
   * Resolves once every backend host has answered (the in-process layer: at
   * once), so that a process says it is running only when it can be; until then
   * health() is not ok. Never rejects; stays pending while a host is never
   * reached (or the layer closes first).
   */
  whenReady(): Promise<void>;
  /**
   * Calls `listener` when what a backend server stored for this process is gone:
   * the server came back without its data (a Redis restart without
   * persistence), or this process, cut off from it, was taken for dead and its
   * lanes were ended (Lanes.reapOrphans). Groups, connection states and lanes
   * are gone, so whoever holds sockets should have them reconnect and set up
   * again. The in-process layer never loses its storage while it lives.
   */
  onStorageLost(listener: (host: string) => void): void;

  /** Ordered, crash-tolerant per-key execution across processes (see lanes.ts). */
  readonly lanes: Lanes;
  /** Expiring counters in the layer's backend (rate limits, throttles). */
  readonly counters: Counters;
}

/** The outcome of offering an event to its lane. */
export type LaneClaim =
  /** It is this event's turn: run it, then `finish` it. `state` is the lane's saved state. */
  | { kind: 'run'; state: Message | undefined }
  /** An earlier event is running or has not arrived: the event is stored; whoever finishes before it runs it. */
  | { kind: 'parked' }
  /** This event (or a later one) already ran, or the lane ended: drop it. */
  | { kind: 'stale' };

/** One effect of a lane turn: what a consumer asked the layer to do, in order. */
export type LaneEffect =
  | { kind: 'send'; channel: string; message: Message }
  | { kind: 'groupAdd'; group: string; channel: string }
  | { kind: 'groupDiscard'; group: string; channel: string }
  | { kind: 'groupSend'; group: string; message: Message };

export interface LaneClaimOptions {
  /** Stops trying the claim again while the layer is away (a worker stopping). */
  signal?: AbortSignal;
}

export interface LaneFinishOptions {
  /** Close the lane for good (the socket is gone). */
  end?: boolean;
  effects?: readonly LaneEffect[];
  /** Stops trying the finish again while the layer is away (a worker stopping). */
  signal?: AbortSignal;
}

/** An event handed to this process to run: the next in line after a finish, or a rescued one. */
export interface LaneTurn {
  lane: string;
  order: number;
  event: Message;
  state: Message | undefined;
}

/**
 * Most events a lane holds waiting at once; an announce beyond it deposits nothing
 * (the send still goes). A worker that runs lanes claims each event within a
 * round trip of its send, so a lane normally holds none or a few; hundreds mean
 * that nothing claims this socket's events (a consumer written against the
 * channels alone, such as a Django Channels worker), and without a bound its
 * lane would keep a copy of every event of the socket. A claim that has to wait
 * still parks its event, past the bound too: only the crash cover of deposits
 * is given up.
 */
export const MAX_WAITING_EVENTS = 100;

/**
 * Runs the events of one key (a socket's reply channel) one at a time and in
 * `order`, whichever process receives them. A process that dies holding a turn
 * loses only that event: after its lease (or as soon as its connection is seen
 * gone) another process runs the next one. Costs two round trips per event.
 */
export interface Lanes {
  /**
   * Deposits event `order` in its lane before it is sent on a channel (the
   * interface server does this), so that a process that takes it from the channel
   * and dies before claiming it loses nothing: the lane runs it from here.
   * Deposits nothing when the lane already holds MAX_WAITING_EVENTS.
   */
  announce(lane: string, order: number, event: Message): Promise<void>;
  /**
   * The layer's send of `event` on `channel`, and its announce(). On one Redis
   * server (unencrypted) one atomic call whose stored bytes serve both, so the
   * event travels once. When the channel is full (ChannelFull), neither happens.
   * Otherwise the send goes first: an announce that arrives after a worker
   * claimed the event is a no-op, and one that fails is logged, not thrown (the
   * event was sent; only its deposit is missing).
   */
  announceAndSend(lane: string, order: number, event: Message, channel: string): Promise<void>;
  /**
   * Takes the turn of event `order` when it is the lane's next (run it), parks
   * the event when its turn has not come ('parked': whoever finishes the turn
   * before it runs it), or says it ran already ('stale'). A claim the layer
   * cannot take (LayerUnavailable) is tried again, as a finish is, for up to a
   * lease, until the layer closes or `signal` aborts: one that landed and lost
   * its reply gets the turn it took, which would otherwise stay held, not run,
   * for the whole lease.
   */
  claim(
    lane: string,
    order: number,
    event: Message,
    options?: LaneClaimOptions,
  ): Promise<LaneClaim>;
  /**
   * Ends the turn of `order`, saving `state` (undefined keeps the state saved
   * before); `end` closes the lane for good. A state the wire format cannot
   * carry (what `send` refuses in a message: a circular reference, a function,
   * a class instance) rejects with InvalidMessage, its path starting with
   * `state`, with nothing done: the turn is still the caller's to finish.
   * `effects` are the turn's sends and group changes, applied in order before
   * the turn ends; on one Redis server (unencrypted) they and the finish are one
   * atomic script, so a turn's effects and its end are never seen apart.
   * Elsewhere they are applied one by one, once a check found the turn still
   * held and renewed its lease. Either way a turn that lost its lease (taken
   * over by another process) applies none. The first effect that fails (a full
   * channel) stops the ones after it; it is logged, and the turn still ends.
   * A finish the layer cannot take (LayerUnavailable: a failover, a restart)
   * is tried again, for up to a lease, until the layer closes or `signal`
   * aborts: this process holds the turn until it lands, and every later event
   * of the lane would otherwise wait out the lease.
   * Resolves with the next event when it is already waiting (it is now this
   * process's turn to run it), its `state` the one given here (undefined when
   * none was: the lane's own is then known only to a claim), else undefined.
   */
  finish(
    lane: string,
    order: number,
    state: Message | undefined,
    options?: LaneFinishOptions,
  ): Promise<LaneTurn | undefined>;
  /**
   * Applies `effects` of the running turn `order` now, ahead of its finish (a
   * handler that needs them done before it goes on). On one Redis server
   * (unencrypted) one atomic script, as the finish's: nothing lands between
   * them. Elsewhere one by one, once a check found the turn still held and
   * renewed its lease. Either way a turn that lost its lease applies none and
   * rejects with LaneTurnLost. Otherwise rejects with the first failure (a full
   * channel: ChannelFull); the effects after it are dropped.
   */
  apply(lane: string, order: number, effects: readonly LaneEffect[]): Promise<void>;
  /**
   * Gives back a turn this process holds and will not run (a stopping worker's:
   * the next in line after a finish, or a rescued one): the lane waits for that
   * event again, with no owner, and the event is deposited and sent on
   * `channel` again, as its interface server did, so that whichever process
   * receives it runs it at once. Deposited however many events the lane holds
   * (past MAX_WAITING_EVENTS): its copy comes after the socket's later events,
   * and the rescue that runs the lane once they waited the gap must find it
   * there, not skip it as lost. A copy still on the channel is then one too
   * many: the second to be claimed is dropped as stale. Nothing when the turn
   * was not held any more.
   */
  handBack(turn: LaneTurn, channel: string): Promise<void>;
  /** Where events rescued from dead or overdue processes are handed to run. */
  onRescue(handler: (turn: LaneTurn) => void): void;
  /**
   * Runs the rescue check once more, now, then never again (a stopping worker's
   * last: a turn that a dead process held while this one had the lane's next
   * event parked would otherwise wait for someone else to park one); what it
   * takes goes to the onRescue handler. Resolves when the check under way, if
   * any, and this last one are over.
   */
  stopRescue(): Promise<void>;
  /**
   * Ends the lanes of holders that died: a process that announces a lane's
   * events (an interface server, for each of its sockets) and is gone before
   * announcing the last one leaves the lane open, and what its turns did (a
   * socket's groups) in place. `lastEvent` makes that missing last event (a
   * disconnect); it runs through the onRescue handler, after every event the
   * lane already holds, and its turn should end the lane. From now on the layer
   * looks for holders whose connection is gone: at once, then every
   * `everySeconds` while this process claims turns (and until what a check
   * found is settled), never while it is idle; a holder missing at two checks
   * in a row is taken to be dead. A holder taken for dead that comes back (it was only cut
   * off) hears of it through onStorageLost, since what it held is gone.
   * Never needed in one process (the in-process layer does nothing).
   */
  reapOrphans(lastEvent: (lane: string, order: number) => Message, everySeconds: number): void;
  /**
   * Says this process holds no open lane any more (an interface server that
   * closed every socket and sent each one's last event): nobody need look for
   * its lanes once it is gone.
   */
  release(): Promise<void>;
}

export interface Counters {
  /** Increments `key`, starting a window of `windowSeconds` at the first increment; resolves with the count. */
  increment(key: string, windowSeconds: number): Promise<number>;
  /**
   * Takes one back (a place given up): never below 0, and at 0 the key goes, so
   * the next increment starts a new window. Resolves with the count.
   */
  decrement(key: string): Promise<number>;
  /** The count in the current window (0 when none). */
  get(key: string): Promise<number>;
  reset(key: string): Promise<void>;
}
