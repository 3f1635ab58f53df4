import { setMaxListeners } from 'node:events';
import { isTransientLayerError, LayerClosed, ReceiveAborted } from '../layer/errors.js';
import type { ChannelLayer, LaneTurn, Message } from '../layer/types.js';
import { before } from '../deadline.js';
import { logFailure, silentLogger, type Logger } from '../logger.js';
import { WORKER_DEFAULTS } from './defaults.js';
import { abandonedSocketEvent, CHANNELS, EVENT_CHANNELS } from '../protocol.js';
import type { Application } from './app.js';
import { answerAbandoned, handleHttpEvent, ReplyClaim } from './http/handler.js';
import type { HealthReport } from '../metrics/endpoint.js';
import { RESCUED, WorkerMetrics } from './metrics.js';
import { SocketDispatcher, type EventOutcome } from './websocket/dispatcher.js';

export interface WorkerOptions {
  /** Channels to pull events from (default: every event channel Thyme sends on). */
  channels: readonly string[];
  /** Events handled at once, across all channels (async I/O, like a greenlet each). */
  concurrency: number;
  /**
   * Seconds between checks for sockets of interface servers that died, while
   * this worker handles WebSocket events (see Lanes.reapOrphans); 0 for none. A
   * dead server's sockets are disconnected (left their groups, with leave
   * notices) one to two checks after the first event that follows its death.
   */
  orphanCheck: number;
  /** Seconds a stop waits for the events in progress (see stop); see DEFAULTS.stopTimeout. */
  stopTimeout: number;
  logger: Logger | undefined;
}

/** What a stop left unfinished, and how long what follows it may take. */
export interface StopReport {
  /** Events still running when the stop timeout came: given up, lost. */
  abandoned: number;
  /**
   * When the rest of the process's stop must be over (performance.now()): the
   * layer's close and, with events abandoned, their queries' cancel
   * (WIND_DOWN_MS after the stop timeout).
   */
  windDownEnd: number;
}

/**
 * After the stop timeout, how long the rest of a stop may take in all: giving
 * up abandoned events, the last rescue check, the layer's close and the
 * abandoned queries' cancel share this one deadline rather than each adding a
 * bound of its own. Against a Redis that stopped answering each would wait its
 * full bound, and the process must be gone before its supervisor's SIGKILL
 * (docker's 10 s, the default --stop-timeout's 5 s plus this, plus ioredis's
 * 0.5 s to drop connections the server never closes).
 */
const WIND_DOWN_MS = 2000;

/** When the wind-down after a stop timeout of `deadline` (performance.now()) ends. */
export function windDownEnd(deadline: number): number {
  return deadline + WIND_DOWN_MS;
}

/**
 * Of the wind-down, how long the worker's own part (giving up abandoned turns,
 * a round trip or two each, the last rescue check, and the application's last
 * sends) may take at most: the rest is left for closing the layer and
 * cancelling abandoned queries.
 */
const ABANDON_MS = 1000;

/** Receives waiting at once per channel: the layer pops up to this many per round trip. */
const RECEIVERS_PER_CHANNEL = 8;

/**
 * Runs an application for the events Thyme puts on the layer. Many events run
 * concurrently; a socket's own events run one at a time, in order, through its
 * lane (SocketDispatcher). No polling: receives block in the layer until an event
 * arrives, and a worker with nothing to do makes no calls.
 */
export class Worker {
  private readonly options: WorkerOptions;
  private readonly logger: Logger;
  private readonly sockets: SocketDispatcher;
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  /** Work in progress, and what it is for the log of a stop that abandons it. */
  private readonly running = new Map<Promise<void>, Record<string, unknown>>();
  /** The HTTP requests being handled: a stop that gives them up answers them. */
  private readonly requests = new Map<string, ReplyClaim>();
  /** Turns and events a stopping worker is giving back to the layer. */
  private readonly handovers = new Set<Promise<void>>();
  private free: number;
  /**
   * Events received, or rescued, waiting for a slot to run in; each is told
   * false if the worker stops first.
   */
  private readonly workWaiters: SlotWaiter[] = [];
  /** Receives waiting for a slot before they receive (see start). */
  private readonly receiveWaiters: SlotWaiter[] = [];
  private readonly metrics = new WorkerMetrics();
  private stopping: Promise<StopReport> | undefined;

  constructor(
    private readonly layer: ChannelLayer,
    private readonly app: Application,
    options: Partial<WorkerOptions> = {},
  ) {
    this.options = {
      channels: options.channels ?? EVENT_CHANNELS,
      concurrency: options.concurrency ?? WORKER_DEFAULTS.concurrency,
      orphanCheck: options.orphanCheck ?? WORKER_DEFAULTS.orphanCheck,
      stopTimeout: options.stopTimeout ?? WORKER_DEFAULTS.stopTimeout,
      logger: options.logger,
    };
    this.free = this.options.concurrency;
    this.logger = (this.options.logger ?? silentLogger()).child({ component: 'worker' });
    this.sockets = new SocketDispatcher(layer, app, this.logger, this.abort.signal, (channel) =>
      this.metrics.count(channel, 0, false),
    );
    // Every receive loop listens on this one signal.
    setMaxListeners(0, this.abort.signal);
    layer.lanes.onRescue((turn) => this.spawn(() => this.sockets.runFrom(turn), RESCUED, turn));
  }

  start(): this {
    const receivers = Math.max(
      1,
      Math.min(
        RECEIVERS_PER_CHANNEL,
        Math.floor(this.options.concurrency / this.options.channels.length),
      ),
    );
    // A receive that holds a slot has one for what it pops, but if every receive
    // held one, a concurrency below the channel count would leave channels
    // unread, and one equal to the number of receives would leave no slot for a
    // rescued turn while nothing arrives. So each channel's first receive waits
    // without one (taking one for what it pops): idle receives hold at most
    // concurrency - channels slots.
    for (const channel of this.options.channels) {
      for (let i = 0; i < receivers; i++) this.loops.push(this.receiveLoop(channel, i > 0));
    }
    if (
      this.options.orphanCheck > 0 &&
      this.options.channels.includes(CHANNELS.websocketDisconnect)
    )
      this.layer.lanes.reapOrphans(abandonedSocketEvent, this.options.orphanCheck);
    this.logger.info(
      { channels: this.options.channels, concurrency: this.options.concurrency },
      'worker started',
    );
    return this;
  }

  /**
   * Stops taking events at once and waits up to the stop timeout for those in
   * progress (each finishes its turn). What has not started goes back to the
   * layer for other workers: events received but waiting for a slot are sent
   * again on their channel, and a socket's next event that a finish or a rescue
   * hands over is handed back (Lanes.handBack). What is still running at the
   * timeout is abandoned, logged and lost, as with a worker that died, except
   * that its sockets' next events run elsewhere at once, not after the lease,
   * and its HTTP requests not yet answered are answered 503 at once.
   * Resolves once that is done (an abandoned handler may still be running: the
   * process should exit), with when the rest of the stop must end
   * (StopReport.windDownEnd). `deadline` (performance.now()) stands for the stop
   * timeout when the caller's stop began before this one and the timeout bounds
   * the whole of it (gredis thyme's own worker, stopped after its server).
   */
  stop(deadline = performance.now() + this.options.stopTimeout * 1000): Promise<StopReport> {
    this.stopping ??= this.stopNow(deadline);
    return this.stopping;
  }

  private async stopNow(deadline: number): Promise<StopReport> {
    this.abort.abort();
    for (const waiter of [...this.workWaiters.splice(0), ...this.receiveWaiters.splice(0)])
      waiter(false);
    const finished = await before(deadline, this.settled());
    const abandoned = finished ? 0 : this.running.size;
    if (!finished) {
      this.logger.warn(
        { abandoned, stopTimeout: this.options.stopTimeout },
        `stop timeout: ${abandoned} event(s) still running abandoned`,
      );
      for (const what of this.running.values())
        if (what.channel === CHANNELS.httpRequest)
          this.logger.warn(what, 'stop timeout: abandoned an HTTP request still running');
    }
    // Abandoned turns given up, then a last rescue check (its turns handed back):
    // a socket whose event this worker parked behind a dead one's turn would
    // otherwise wait for another worker to park one.
    const end = windDownEnd(deadline);
    const ownEnd = Math.min(performance.now() + ABANDON_MS, end);
    await before(
      ownEnd,
      (async () => {
        if (!finished) await Promise.all([this.sockets.abandon(), this.answerAbandoned()]);
        await this.layer.lanes.stopRescue();
        await Promise.allSettled([...this.handovers]);
      })(),
    );
    // Then the application's last sends (MultiChat: the closes it still owes,
    // tried once more), in what is left of the worker's part.
    await this.app.close?.(ownEnd);
    return { abandoned, windDownEnd: end };
  }

  /** Resolves once nothing runs and nothing is being handed back. */
  private async settled(): Promise<void> {
    await Promise.allSettled(this.loops);
    while (this.running.size > 0 || this.handovers.size > 0)
      await Promise.allSettled([...this.running.keys(), ...this.handovers]);
  }

  /** Tracks a hand-back of a stopping worker, for stop to wait for. */
  private handOver(work: Promise<void>): void {
    this.handovers.add(work);
    void work.finally(() => this.handovers.delete(work));
  }

  /** `holdSlot`: take a slot before receiving (see start), rather than for what arrived. */
  private async receiveLoop(channel: string, holdSlot: boolean): Promise<void> {
    const { signal } = this.abort;
    while (!signal.aborted) {
      if (holdSlot && !(await this.acquireSlot(this.receiveWaiters))) return;
      let event: Message;
      try {
        event = await this.layer.receive(channel, { signal });
      } catch (error) {
        if (holdSlot) this.releaseSlot();
        if (error instanceof ReceiveAborted || error instanceof LayerClosed || signal.aborted)
          return;
        this.logger.error({ err: error, channel }, 'receive failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      if (!holdSlot && !(await this.acquireSlot(this.workWaiters))) {
        // Received, never started, and the worker stops: another runs it.
        this.handOver(this.sendBack(channel, event));
        return;
      }
      this.run(() => this.dispatch(channel, event), channel, describe(event));
    }
  }

  /** Puts an event this stopping worker received and did not start back on its channel. */
  private async sendBack(channel: string, event: Message): Promise<void> {
    try {
      await this.layer.send(channel, event);
    } catch (error) {
      this.logger.error(
        { err: error, channel },
        'stopping: could not put back an event received and not started; it is lost',
      );
    }
  }

  private dispatch(channel: string, event: Message): Promise<EventOutcome | void> {
    switch (channel) {
      case CHANNELS.websocketConnect:
      case CHANNELS.websocketReceive:
      case CHANNELS.websocketDisconnect:
        return this.sockets.handle(channel, event);
      case CHANNELS.httpRequest:
        return this.handleRequest(event);
      case CHANNELS.httpDisconnect:
        this.logger.debug({ path: event.path }, 'client left before its response ended');
        return Promise.resolve();
      default:
        this.logger.warn({ channel }, 'no handler for this channel');
        return Promise.resolve();
    }
  }

  private async handleRequest(event: Message): Promise<void> {
    const reply = new ReplyClaim();
    const channel = event.reply_channel;
    // Reply channels are unique per request: Thyme makes one for each.
    if (typeof channel === 'string') this.requests.set(channel, reply);
    try {
      await handleHttpEvent(this.layer, this.app, event, this.logger, reply);
    } finally {
      if (typeof channel === 'string') this.requests.delete(channel);
    }
  }

  /** Answers 503 the requests a stop gives up whose handlers have not answered. */
  private async answerAbandoned(): Promise<void> {
    await Promise.allSettled(
      [...this.requests].map(async ([channel, reply]) => {
        try {
          if (await answerAbandoned(this.layer, this.app, channel, reply))
            this.logger.warn({ reply_channel: channel }, 'stop timeout: answered 503');
        } catch (error) {
          this.logger.error({ err: error, reply_channel: channel }, 'could not answer 503');
        }
      }),
    );
  }

  /** The /metrics page (runworker --metrics-port). */
  renderMetrics(): string {
    return this.metrics.render(this.layer, this.running.size);
  }

  /** Ready while the layer is reachable and the worker is not stopping (its /healthz). */
  health(): HealthReport {
    const layer = this.layer.health();
    const stopping = this.stopping !== undefined;
    return {
      ok: layer.ok && !stopping,
      details: { stopping, running: this.running.size, layer },
    };
  }

  /**
   * Runs work that already holds a slot; `channel` names it in logs and metrics,
   * and `what` in the log of a stop that abandons it.
   */
  private run(
    work: () => Promise<EventOutcome | void>,
    channel: string,
    what: Record<string, unknown>,
  ): void {
    const started = performance.now();
    let failed = false;
    let outcome: EventOutcome | void;
    const task = work()
      .then((done) => {
        outcome = done;
      })
      .catch((error: unknown) => {
        failed = true;
        // A layer away or refused fails every event's answer alike: one line a burst.
        logFailure(this.logger, error, { channel }, 'event handling failed', {
          expected: isTransientLayerError(error),
        });
      })
      .finally(() => {
        // A socket event parked behind another is counted when a finish hands
        // it over (SocketDispatcher's onHandedOver); a copy of one that ran, apart.
        if (outcome === 'stale') this.metrics.countStale(channel);
        else if (outcome !== 'parked')
          this.metrics.count(channel, (performance.now() - started) / 1000, failed);
        this.running.delete(task);
        this.releaseSlot();
      });
    this.running.set(task, { channel, ...what });
  }

  /**
   * Runs a rescued turn (it arrived outside a receive): it takes a slot when one
   * frees. A stopping worker starts nothing: the turn goes to another at once.
   */
  private spawn(work: () => Promise<void>, channel: string, turn: LaneTurn): void {
    void this.acquireSlot(this.workWaiters).then((granted) => {
      if (granted) this.run(work, channel, { lane: turn.lane, order: turn.order });
      else this.handOver(this.sockets.handBack(turn));
    });
  }

  /** A free slot at once, else one when it frees, in `queue`'s turn; false if the worker stops first. */
  private acquireSlot(queue: SlotWaiter[]): Promise<boolean> {
    if (this.stopping) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => queue.push(resolve));
  }

  /** A freed slot goes to an event already here before a receive that would wait for one. */
  private releaseSlot(): void {
    const next = this.workWaiters.shift() ?? this.receiveWaiters.shift();
    if (next) next(true);
    else this.free++;
  }
}

/** Told whether it got a slot (true) or the worker stopped first (false). */
type SlotWaiter = (granted: boolean) => void;

/** What names a received event in the log of a stop that abandons it. */
function describe(event: Message): Record<string, unknown> {
  return { method: event.method, path: event.path, reply_channel: event.reply_channel };
}
