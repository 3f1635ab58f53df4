import { InvalidMessage, LaneTurnLost } from '../../layer/errors.js';
import type { ChannelLayer, LaneFinishOptions, LaneTurn, Message } from '../../layer/types.js';
import { BurstLogger, type Logger } from '../../logger.js';
import {
  CHANNELS,
  CLOSE_INTERNAL_ERROR,
  CLOSE_SERVICE_RESTART,
  CLOSE_TRY_AGAIN_LATER,
  DEFAULT_DISCONNECT_CODE,
  websocketChannelOf,
} from '../../protocol.js';
import type { Application, SocketUser } from '../app.js';
import { logAppFailure } from '../failures.js';
import { headerMap, siteOrigin } from '../headers.js';
import type { WebSocketConsumer } from './consumer.js';
import type { ApplyEffects } from './outbox.js';
import { Socket, type Scope } from './socket.js';

/** What became of an event given to SocketDispatcher.handle. */
export type EventOutcome = 'ran' | 'parked' | 'stale' | 'skipped';

/** A lane's saved state: the connect-time scope and the consumer's own state. */
interface LaneState {
  s: Scope;
  a: Message;
}

/**
 * Runs WebSocket events through their socket's lane, so that each socket's events
 * run one at a time and in order across every worker (see Lanes in the layer):
 * claim the turn, run the consumer, then finish the turn with its effects and
 * state, and run whatever event was parked behind it. Ordering costs two layer
 * round trips per event (claim, finish), plus one when an event had to be parked;
 * the finish carries the consumer's effects, so they cost no round trip of their own.
 */
export class SocketDispatcher {
  /** Turns being run or finished here: what a stop past its grace abandons. */
  private readonly running = new Set<LaneTurn>();

  constructor(
    private readonly layer: ChannelLayer,
    private readonly app: Application,
    private readonly logger: Logger,
    /**
     * The worker's stop: a claim or finish waiting for the layer to come back gives up,
     * and the turn a finish hands over is handed back instead of run.
     */
    private readonly signal?: AbortSignal,
    /**
     * Called as a turn a finish handed over starts: an event that reached this
     * worker by no receive of its own (its channel copy taken back, or to be
     * found stale), for the worker's metrics.
     */
    private readonly onHandedOver: (channel: string) => void = () => {},
  ) {}

  /**
   * Claims and runs a WebSocket event. Resolves with 'stale' for a copy of an
   * event that already ran (a finish handed it over from the lane, where Thyme
   * announced it, before a worker took its copy off the channel), 'parked'
   * for one parked behind the turn running, to be run by that turn's finish,
   * 'skipped' for one without its lane's name and order.
   */
  async handle(channel: string, received: Message): Promise<EventOutcome> {
    // A disconnect without its code (which protocol.md requires; a foreign
    // server's) gets ASGI's default: events in a lane are told apart by their
    // keys (websocketChannelOf), and without one it would run as a receive and
    // never end its lane.
    const event =
      channel === CHANNELS.websocketDisconnect && received.code === undefined
        ? { ...received, code: DEFAULT_DISCONNECT_CODE }
        : received;
    const lane = event.reply_channel;
    const order = event.order;
    if (typeof lane !== 'string' || typeof order !== 'number' || !Number.isInteger(order)) {
      this.logger.error({ channel }, 'WebSocket event without reply_channel/order: skipped');
      return 'skipped';
    }
    const claim = await this.layer.lanes.claim(lane, order, event, { signal: this.signal });
    if (claim.kind !== 'run') {
      if (claim.kind === 'stale')
        this.logger.debug({ lane, order }, 'stale WebSocket event dropped');
      return claim.kind;
    }
    await this.runFrom({ lane, order, event, state: claim.state });
    return 'ran';
  }

  /**
   * Runs a turn and every turn that finishing it hands over. A turn's effects go
   * with its finish, so that on one Redis server they and the turn's end are one
   * script: one round trip per event besides the claim.
   */
  async runFrom(first: LaneTurn): Promise<void> {
    let turn: LaneTurn | undefined = first;
    while (turn) {
      const current: LaneTurn = turn;
      this.running.add(current);
      try {
        turn = await this.runTurn(current);
      } finally {
        this.running.delete(current);
      }
      // A stopping worker starts nothing new: the socket's next event is
      // another worker's to run, at once rather than after this one's grace.
      if (turn && this.signal?.aborted) return this.handBack(turn);
      if (turn) this.onHandedOver(websocketChannelOf(turn.event));
    }
  }

  /** Runs one turn and finishes it; resolves with the turn the finish handed over. */
  private async runTurn(turn: LaneTurn): Promise<LaneTurn | undefined> {
    // Events waiting in a lane were deposited as sent; their keys say which they are.
    const channel = websocketChannelOf(turn.event);
    const saved = turn.state as LaneState | undefined;
    const socket = await this.runOne(channel, turn, saved);
    // Abandoned by the worker's stop, which finished it as lost: nothing of it applies.
    if (!this.running.has(turn)) return undefined;
    const end = channel === CHANNELS.websocketDisconnect;
    // A socket whose state was lost keeps none: its later events must find it
    // missing too (and close it), not a stranger's state made up here. An
    // ending lane keeps nothing either.
    const state: LaneState | undefined =
      !end && (saved || channel === CHANNELS.websocketConnect)
        ? { s: socket.scope, a: socket.state }
        : undefined;
    const effects = socket.outbox.take();
    const options = { end, effects, signal: this.signal };
    try {
      return await this.layer.lanes.finish(
        turn.lane,
        turn.order,
        state as Message | undefined,
        options,
      );
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      return this.finishUnsavable(turn, socket, error, options);
    }
  }

  /**
   * Finishes a turn whose handler left the socket's state as the layer cannot
   * save it (a circular reference, a function, a class instance): a bug in the
   * consumer, which the in-process layer would otherwise let pass and Redis
   * refuse. The turn's effects still apply, then the socket is closed with
   * 1011, as for a handler that threw; the lane keeps the state its last turn
   * saved (connect's scope, with an empty state, if this was connect), so
   * that the disconnect still runs with a state it can read. Left unfinished,
   * the turn would hold the socket's every later event until its lease ran out.
   */
  private async finishUnsavable(
    turn: LaneTurn,
    socket: Socket,
    error: InvalidMessage,
    options: LaneFinishOptions,
  ): Promise<LaneTurn | undefined> {
    logAppFailure(
      this.logger,
      error,
      { path: socket.path, lane: turn.lane },
      "a WebSocket handler left its socket's state as the channel layer cannot save it; closing the socket (1011)",
    );
    socket.close(CLOSE_INTERNAL_ERROR);
    const connecting = websocketChannelOf(turn.event) === CHANNELS.websocketConnect;
    const kept: LaneState | undefined = connecting ? { s: socket.scope, a: {} } : undefined;
    const effects = [...(options.effects ?? []), ...socket.outbox.take()];
    const next = await this.layer.lanes.finish(turn.lane, turn.order, kept as Message | undefined, {
      ...options,
      effects,
    });
    if (!next || kept) return next;
    // The turn handed over would carry no state (the lane kept its own, which
    // this process does not have): given back, it is claimed with it.
    await this.layer.lanes.handBack(next, websocketChannelOf(next.event));
    return undefined;
  }

  /**
   * Gives up the turns still running (a stop past its grace), as a worker that
   * died would lose them: each is finished without its effects or state, so
   * that the socket's next event runs on another worker at once instead of
   * after the lease (--event-timeout), and the event that finish hands over is
   * handed back. Resolves with how many were given up.
   */
  async abandon(): Promise<number> {
    const turns = [...this.running];
    this.running.clear();
    await Promise.all(
      turns.map(async (turn) => {
        const channel = websocketChannelOf(turn.event);
        this.logger.warn(
          { lane: turn.lane, order: turn.order, channel },
          "stop timeout: abandoned a WebSocket event still running (lost, its effects not applied); the socket's next event runs elsewhere",
        );
        try {
          const next = await this.layer.lanes.finish(turn.lane, turn.order, undefined, {
            signal: this.signal,
          });
          if (next) await this.handBack(next);
        } catch (error) {
          this.logger.error(
            { err: error, lane: turn.lane, order: turn.order },
            "could not give up an abandoned WebSocket event's turn: the socket's next event waits until this worker is gone and another finds it so",
          );
        }
      }),
    );
    return turns.length;
  }

  /** A turn this stopping worker will not run goes back to the layer for another (Lanes.handBack). */
  async handBack(turn: LaneTurn): Promise<void> {
    const { lane, order, event } = turn;
    try {
      await this.layer.lanes.handBack(turn, websocketChannelOf(event));
      this.logger.info(
        { lane, order },
        "stopping: a socket's next event handed back to another worker",
      );
    } catch (error) {
      this.logger.error(
        { err: error, lane, order },
        "stopping: could not hand a socket's next event back; it is lost once this worker is gone",
      );
    }
  }

  private async runOne(
    channel: string,
    turn: LaneTurn,
    saved: LaneState | undefined,
  ): Promise<Socket> {
    const { lane: replyChannel, event } = turn;
    const apply: ApplyEffects = (effects) => this.layer.lanes.apply(turn.lane, turn.order, effects);
    if (channel === CHANNELS.websocketConnect) return this.connect(replyChannel, event, apply);
    const scope: Scope = saved?.s ?? { path: String(event.path ?? ''), query: '', user: null };
    const consumer = this.app.consumerFor(scope.path);
    const gone = channel === CHANNELS.websocketDisconnect;
    const socket = new Socket(apply, replyChannel, scope, saved?.a ?? {}, true, gone);
    if (!saved && !gone) {
      // The lane lost what connect saved (a layer server restarted without its
      // data, or a day passed without an event): who the socket is and what it
      // joined are unknown. Running the event would answer as if to a stranger;
      // closing it makes the client reconnect and set everything up again.
      // A Redis restart without its data finds every socket's state gone at once:
      // one line, the rest counted.
      BurstLogger.for(this.logger).warn(
        { lane: replyChannel },
        "a socket's saved state is gone; closing it (1012) so that it reconnects",
      );
      socket.close(CLOSE_SERVICE_RESTART);
      return socket;
    }
    if (consumer) {
      await this.run(socket, scope.path, async () => {
        if (gone) await consumer.disconnect?.(socket, Number(event.code ?? 1006));
        else await consumer.receive?.(socket, frameOf(event));
      });
    }
    return socket;
  }

  private async connect(
    replyChannel: string,
    event: Message,
    apply: ApplyEffects,
  ): Promise<Socket> {
    const path = String(event.path);
    const headers = headerMap(event.headers);
    // The browser sends the site's cookies with a handshake from any page, one on
    // another port or scheme of an allowed host included. Only the site's own
    // pages are taken to be the user, as Django's CSRF check takes only their
    // POSTs; any other handshake is anonymous.
    const fromSite =
      headers.get('origin') === siteOrigin(String(event.scheme), headers.get('host') ?? '');
    const user = fromSite ? await this.identify(headers) : null;
    // A query_string that is no bytes (a foreign server's) is no query: throwing
    // here would leave the turn unfinished, the socket unanswered until the event timeout.
    const query = event.query_string instanceof Uint8Array ? event.query_string : [];
    const scope: Scope = { path, query: Buffer.from(query).toString('latin1'), user };
    const socket = new Socket(apply, replyChannel, scope, {}, false);
    const consumer: WebSocketConsumer | undefined = this.app.consumerFor(path);
    if (!consumer) socket.reject();
    else {
      await this.run(socket, path, async () => {
        await consumer.connect?.(socket);
      });
      socket.accept(); // no-op when the handler decided
    }
    return socket;
  }

  /**
   * Runs a handler; a throw closes the socket rather than taking the worker down:
   * with 1013 when the database or the layer is away (the client reconnects, with
   * backoff, and is served once it is back), with 1011 for a bug.
   */
  private async run(socket: Socket, path: string, handler: () => Promise<void>): Promise<void> {
    try {
      await handler();
    } catch (error) {
      // Another process runs the lane now: nothing of this turn applies any more
      // (its finish says so in the log), closing the socket included.
      if (error instanceof LaneTurnLost) return;
      const cause = logAppFailure(
        this.logger,
        error,
        { path },
        'WebSocket handler failed; closing the socket',
      );
      if (socket.decision === 'pending') socket.reject();
      else socket.close(cause === 'other' ? CLOSE_INTERNAL_ERROR : CLOSE_TRY_AGAIN_LATER);
    }
  }

  private async identify(headers: ReadonlyMap<string, string>): Promise<SocketUser | null> {
    if (!this.app.identifySocket) return null;
    try {
      return await this.app.identifySocket(headers);
    } catch (error) {
      // A database away fails every handshake at once: one counted line, as any
      // handler's failure (logAppFailure), not a stack for each.
      logAppFailure(
        this.logger,
        error,
        {},
        'could not identify a WebSocket user; treating it as anonymous',
      );
      return null;
    }
  }
}

function frameOf(event: Message): { text?: string; bytes?: Uint8Array } {
  if (typeof event.text === 'string') return { text: event.text };
  if (event.bytes instanceof Uint8Array) return { bytes: event.bytes };
  return {};
}
