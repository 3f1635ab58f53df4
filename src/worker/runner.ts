import { setMaxListeners } from 'node:events';
import { LayerClosed, ReceiveAborted } from '../layer/errors.js';
import type { ChannelLayer, Message } from '../layer/types.js';
import { silentLogger, type Logger } from '../logger.js';
import { abandonedSocketEvent, CHANNELS, EVENT_CHANNELS } from '../protocol.js';
import type { Application } from './app.js';
import { handleHttpEvent } from './http/handler.js';
import type { HealthReport } from '../metrics/endpoint.js';
import { RESCUED, WorkerMetrics } from './metrics.js';
import { SocketDispatcher } from './websocket/dispatcher.js';

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
  logger: Logger | undefined;
}

export const WORKER_DEFAULTS = Object.freeze({ concurrency: 256, orphanCheck: 30 });

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
  private readonly running = new Set<Promise<void>>();
  private free: number;
  /** Events received, or rescued, waiting for a slot to run in. */
  private readonly workWaiters: (() => void)[] = [];
  /** Receives waiting for a slot before they receive (see start). */
  private readonly receiveWaiters: (() => void)[] = [];
  private readonly metrics = new WorkerMetrics();
  private stopping = false;

  constructor(
    private readonly layer: ChannelLayer,
    private readonly app: Application,
    options: Partial<WorkerOptions> = {},
  ) {
    this.options = {
      channels: options.channels ?? EVENT_CHANNELS,
      concurrency: options.concurrency ?? WORKER_DEFAULTS.concurrency,
      orphanCheck: options.orphanCheck ?? WORKER_DEFAULTS.orphanCheck,
      logger: options.logger,
    };
    this.free = this.options.concurrency;
    this.logger = (this.options.logger ?? silentLogger()).child({ component: 'worker' });
    this.sockets = new SocketDispatcher(layer, app, this.logger, this.abort.signal);
    // Every receive loop listens on this one signal.
    setMaxListeners(0, this.abort.signal);
    layer.lanes.onRescue((turn) => this.spawn(() => this.sockets.runFrom(turn), RESCUED));
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

  /** Stops taking events and waits for those in progress (each finishes its turn). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    await Promise.allSettled(this.loops);
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    await this.app.close?.();
  }

  /** `holdSlot`: take a slot before receiving (see start), rather than for what arrived. */
  private async receiveLoop(channel: string, holdSlot: boolean): Promise<void> {
    const { signal } = this.abort;
    while (!signal.aborted) {
      if (holdSlot) await this.acquireSlot(this.receiveWaiters);
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
      if (!holdSlot) await this.acquireSlot(this.workWaiters);
      this.run(() => this.dispatch(channel, event), channel);
    }
  }

  private dispatch(channel: string, event: Message): Promise<void> {
    switch (channel) {
      case CHANNELS.httpRequest:
        return handleHttpEvent(this.layer, this.app, event, this.logger);
      case CHANNELS.httpDisconnect:
        this.logger.debug({ path: event.path }, 'client left before its response ended');
        return Promise.resolve();
      case CHANNELS.websocketConnect:
      case CHANNELS.websocketReceive:
      case CHANNELS.websocketDisconnect:
        return this.sockets.handle(channel, event);
      default:
        this.logger.warn({ channel }, 'no handler for this channel');
        return Promise.resolve();
    }
  }

  /** The /metrics page (runworker --metrics-port). */
  renderMetrics(): string {
    return this.metrics.render(this.layer, this.running.size);
  }

  /** Ready while the layer is reachable and the worker is not stopping (its /healthz). */
  health(): HealthReport {
    const layer = this.layer.health();
    return {
      ok: layer.ok && !this.stopping,
      details: { stopping: this.stopping, running: this.running.size, layer },
    };
  }

  /** Runs work that already holds a slot; `channel` names it in logs and metrics. */
  private run(work: () => Promise<void>, channel: string): void {
    const started = performance.now();
    let failed = false;
    const task = work()
      .catch((error: unknown) => {
        failed = true;
        this.logger.error({ err: error, channel }, 'event handling failed');
      })
      .finally(() => {
        this.metrics.count(channel, (performance.now() - started) / 1000, failed);
        this.running.delete(task);
        this.releaseSlot();
      });
    this.running.add(task);
  }

  /** Runs work that arrived outside a receive (a rescued turn): it takes a slot when one frees. */
  private spawn(work: () => Promise<void>, channel: string): void {
    void this.acquireSlot(this.workWaiters).then(() => this.run(work, channel));
  }

  /** A free slot at once, else one when it frees, in `queue`'s turn. */
  private acquireSlot(queue: (() => void)[]): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => queue.push(resolve));
  }

  /** A freed slot goes to an event already here before a receive that would wait for one. */
  private releaseSlot(): void {
    const next = this.workWaiters.shift() ?? this.receiveWaiters.shift();
    if (next) next();
    else this.free++;
  }
}
