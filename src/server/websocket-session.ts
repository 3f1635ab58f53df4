/**
 * One accepted WebSocket (WebSocketSession): its reply channel, its events in
 * order to the layer, its message rate, its outgoing buffer and its liveness.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { ChannelFull, isTransientLayerError } from '../layer/errors.js';
import type { Message } from '../layer/types.js';
import { briefError, BurstLogger } from '../logger.js';
import {
  CHANNELS,
  CLOSE_INTERNAL_ERROR,
  CLOSE_SERVICE_RESTART,
  CLOSE_TRY_AGAIN_LATER,
  type WebSocketDisconnectEvent,
  type WebSocketReceiveEvent,
  type WebSocketReply,
} from '../protocol.js';
import { msUntilToken, refilledTokens, type BucketRate } from '../token-bucket.js';
import type { ThymeContext } from './context.js';
import type { PreparedReply } from './fan-out.js';
import type { WebSocketGateway } from './websocket.js';

/** Layer sends a socket may have in flight before Thyme stops reading from it. */
const PAUSE_AT = 64;
const RESUME_AT = 16;

/**
 * How many times the outgoing buffer limit a socket may have waiting before it
 * is closed at once (see WebSocketSession.write): room for the bursts a fast
 * reader works through, a bound on what a slow one holds.
 */
const BUFFER_CAP = 16;

/** A ping frame (FIN, opcode 9, no payload), written as is: no framing work per ping. */
const PING_FRAME = Buffer.from([0x89, 0x00]);

/** The close code ws sends for one of its errors (ws's doc/ws.md lists them). */
function closeCodeOf(error: Error): number | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return 1009;
    case 'WS_ERR_INVALID_UTF8':
      return 1007;
    case 'WS_ERR_TOO_MANY_BUFFERED_PARTS':
      return 1008;
    default:
      return code?.startsWith('WS_ERR_') ? 1002 : undefined;
  }
}

export function carriesData(reply: WebSocketReply): boolean {
  return reply.text !== undefined || reply.bytes !== undefined;
}

/** A message read from a client and held back to keep it to its rate. */
interface HeldMessage {
  data: Buffer;
  isBinary: boolean;
}

/** One accepted WebSocket: its reply channel, its event order, its liveness. */
export class WebSocketSession {
  private ws: WebSocket | undefined;
  /** The connection under `ws`: ours since the upgrade, corked by FanOut. */
  private socket: Duplex | undefined;
  private order = 0;
  private pendingSends = 0;
  /** Layer sends in flight reached PAUSE_AT and have not yet fallen to RESUME_AT. */
  private sendsBacklogged = false;
  /** The message-rate bucket (see ThymeOptions.websocketRate). */
  private tokens: number;
  /** performance.now(), which no clock adjustment moves: a step back would stall the bucket. */
  private tokensAt = performance.now();
  /**
   * Messages read but not yet passed on, oldest first. Reading stops at the
   * first, so these are at most what one read of the connection brought.
   */
  private held: HeldMessage[] = [];
  private releaseTimer: NodeJS.Timeout | undefined;
  private lastSeen = Date.now();
  /** When the unanswered ping was sent; 0 when none is outstanding. */
  private pingSentAt = 0;
  private closedPromise: Promise<void> | undefined;
  /** The code this side closed with, reported when the client's close frame never came. */
  private closingCode: number | undefined;
  /**
   * When the outgoing buffer was first found over the limit, by a frame that
   * found it so ever since (performance.now()); 0 while it is not over.
   */
  private overLimitSince = 0;

  constructor(
    private readonly ctx: ThymeContext,
    private readonly gateway: WebSocketGateway,
    readonly reply: string,
    readonly path: string,
    private readonly client: string,
    /**
     * The request target as the client sent it, query included, for the access
     * log: a refused handshake (whose target may not even parse) can show only
     * that, and every line of one socket, like every HTTP line, shows the same.
     */
    private readonly target: string,
  ) {
    this.tokens = gateway.messageRate?.burst ?? 0;
  }

  open(ws: WebSocket, socket: Duplex, first: PreparedReply): void {
    this.ws = ws;
    this.socket = socket;
    this.closedPromise = new Promise((resolve) => ws.once('close', () => resolve()));
    const { ctx } = this;
    this.gateway.sessions.add(this);
    ctx.metrics.websocketsOpen++;
    ctx.metrics.websocketsAccepted++;
    ctx.accessLog?.websocket('WSCONNECT', this.client, this.target);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    ws.on('pong', () => {
      this.lastSeen = Date.now();
      this.pingSentAt = 0;
    });
    ws.on('ping', () => {
      // ws drops a client whose pings come faster than it reads their pongs
      // (maxPendingAutoPongs, 60) before it emits the ping, and says nothing
      // else: the worker would see a 1006 no log line explains. Not open now,
      // and Thyme not closing it: that is what happened.
      if (ws.readyState === WebSocket.OPEN || this.closingCode !== undefined) return;
      this.closingCode = 1006;
      BurstLogger.for(ctx.logger).warn(
        { client: this.client, path: this.path },
        'a WebSocket client sent pings faster than it read their pongs: dropped',
      );
    });
    ws.on('close', (code: number) => this.onClose(code));
    ws.on('error', (error: Error) => {
      // ws closes the socket itself on a protocol error, with the code the error
      // carries; its close event then shows 1006 (no close frame read back).
      this.closingCode ??= closeCodeOf(error);
      ctx.logger.debug({ err: error, path: this.path }, 'WebSocket error');
    });
    this.apply(first);
    // From now on replies are pushed to this socket as they arrive: no receive, no
    // promise per reply, and a group message is parsed and framed once for all.
    ctx.layer.listen(this.reply, (message) => this.deliver(message));
  }

  /** Sends `websocket.disconnect`; a full channel drops it silently (protocol.md). */
  sendDisconnect(code: number): void {
    const event: WebSocketDisconnectEvent = {
      reply_channel: this.reply,
      path: this.path,
      code,
      order: ++this.order,
    };
    this.gateway.track(
      this.gateway.sendEvent(CHANNELS.websocketDisconnect, event).catch((error: unknown) => {
        this.gateway.lostDisconnects++;
        this.ctx.logger.debug({ err: error }, 'websocket.disconnect not delivered');
      }),
    );
  }

  /**
   * Called once per ping interval: a socket quiet for half an interval or more,
   * with no ping outstanding, gets a ping. Returns whether it did.
   */
  keepAlive(now: number, intervalMs: number): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.pingSentAt !== 0) return false;
    // Paused, Thyme is not reading from it: its quiet is ours.
    if (ws.isPaused || now - this.lastSeen < intervalMs / 2) return false;
    this.pingSentAt = now;
    // Control frames may go between whole messages, and ws writes each message
    // whole, synchronously: writing the ping straight to the connection is safe.
    this.socket!.write(PING_FRAME);
    return true;
  }

  /** Drops the socket when its ping sent by `sentBy` is still unanswered (any frame or pong answers). */
  expirePing(sentBy: number): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.pingSentAt === 0) return;
    // Paused since the ping, Thyme has not read past whatever came before its pong.
    if (this.pingSentAt <= sentBy && !ws.isPaused) {
      this.closingCode ??= 1006; // no close frame: the worker hears 1006, as before
      ws.terminate();
    }
  }

  shutdown(code: number): Promise<void> {
    this.close(code, 'server shutting down');
    return this.closedPromise ?? Promise.resolve();
  }

  restart(): void {
    this.close(CLOSE_SERVICE_RESTART, 'channel layer restarted');
  }

  /**
   * Closes from this side. Nothing the client sent is passed on after this (see
   * receive): not what is held, and not what it sends before it reads the close.
   */
  private close(code: number, reason?: string): void {
    this.closingCode ??= code;
    this.ws?.close(code, reason);
    this.dropHeld();
    // Read on, even if paused, or the client's closing frame would wait unread
    // until ws gives up on it (its closeTimeout).
    this.ws?.resume();
  }

  private dropHeld(): void {
    clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
    this.ctx.metrics.websocketMessagesDropped += this.held.length;
    this.held = [];
  }

  /** One reply from the layer: written as is, or closing the socket when it is invalid. */
  private deliver(message: Message): void {
    let prepared: PreparedReply;
    try {
      prepared = this.gateway.fanOut.prepare(message);
    } catch (error) {
      this.ctx.logger.error(
        { err: error, path: this.path },
        'invalid reply for a WebSocket; closing it',
      );
      this.close(CLOSE_INTERNAL_ERROR, 'internal error');
      return;
    }
    this.apply(prepared);
  }

  private apply({ reply, frame }: PreparedReply): void {
    const ws = this.ws!;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (frame) this.write(ws, frame);
    if (reply.close !== undefined && ws.readyState === WebSocket.OPEN) {
      this.close(reply.close === true ? 1000 : reply.close);
    }
  }

  /**
   * ws writes each of its own frames (close, pong) whole and synchronously, so a
   * complete data frame written straight to the connection never splits one.
   *
   * A slow client (protocol.md: its buffer *stays* above the limit) is one whose
   * buffer has been over the limit for --slow-client-timeout, as the frames
   * written to it meanwhile found it. Over the limit is not slow in itself: a
   * burst larger than the limit (one layer read bringing many replies, a worker
   * sending many at once) is written in one go at the end of the turn (FanOut
   * corks it), and ws's count (`bufferedAmount`) drops only once the kernel has
   * taken all of it, however fast the client reads; the next reply, a turn
   * later, finds it still there. Memory stays bounded: BUFFER_CAP times the
   * limit closes the socket at once, and a socket no frame comes to buffers no
   * more. The check costs a comparison per frame, and a clock read only while
   * over the limit. No timer: a client left over the limit with nothing more
   * to send it holds what it holds, and the keep-alive finds it if it is gone.
   */
  private write(ws: WebSocket, frame: Buffer): void {
    const buffered = ws.bufferedAmount;
    const limit = this.ctx.options.outgoingBufferLimit;
    if (buffered <= limit) this.overLimitSince = 0;
    else {
      const full = buffered > limit * BUFFER_CAP;
      const now = performance.now();
      if (this.overLimitSince === 0) this.overLimitSince = now;
      const overMs = now - this.overLimitSince;
      if (full || overMs > this.ctx.options.slowClientTimeout * 1000) {
        // Stop buffering for it rather than grow memory.
        this.ctx.metrics.websocketsClosedSlow++;
        this.ctx.logger.info(
          { path: this.path, buffered, overLimitMs: Math.round(overMs) },
          full
            ? 'closing a WebSocket client with more waiting than it may buffer'
            : 'closing a slow WebSocket client',
        );
        // Nothing more is buffered after this; if the client never reads the close
        // frame either, ws drops the connection after its close timeout.
        this.close(CLOSE_TRY_AGAIN_LATER, full ? 'too much waiting' : 'slow client');
        return;
      }
    }
    this.gateway.fanOut.write(this.socket!, frame);
    this.ctx.metrics.websocketMessagesOut++;
  }

  /**
   * A message from the client: passed on at once while the client keeps to its
   * rate. Past it, reading stops (TCP pushes back on the client) and what was
   * already read is held and passed on at the rate, in order: the client is
   * slowed, never dropped, and what it sends reaches the workers at the rate.
   */
  private receive(data: Buffer, isBinary: boolean): void {
    const ws = this.ws!;
    this.lastSeen = Date.now();
    this.pingSentAt = 0;
    this.ctx.metrics.websocketMessagesIn++;
    if (ws.readyState !== WebSocket.OPEN) {
      // Thyme is closing it, and reads on only to find the client's closing
      // frame: passing on what comes meanwhile would bypass the rate and the
      // layer's backpressure alike (a client may go on sending for ws's closeTimeout).
      this.ctx.metrics.websocketMessagesDropped++;
      return;
    }
    if (this.held.length === 0 && this.takeToken(performance.now())) {
      this.forward(data, isBinary);
      return;
    }
    this.held.push({ data, isBinary });
    this.ctx.metrics.websocketMessagesHeld++;
    if (this.held.length === 1) {
      this.armRelease(this.gateway.messageRate!);
      this.updateFlow();
    }
  }

  private takeToken(now: number): boolean {
    const rate = this.gateway.messageRate;
    if (!rate) return true;
    this.tokens = refilledTokens(this.tokens, this.tokensAt, now, rate);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** One timer per slowed socket, none for the others: wakes when the next held message is due. */
  private armRelease(rate: BucketRate): void {
    this.releaseTimer = setTimeout(() => this.release(rate), msUntilToken(this.tokens, rate));
  }

  private release(rate: BucketRate): void {
    this.releaseTimer = undefined;
    while (this.held.length > 0 && this.takeToken(performance.now())) {
      const { data, isBinary } = this.held.shift()!;
      this.forward(data, isBinary);
    }
    if (this.held.length > 0) this.armRelease(rate);
    else this.updateFlow();
  }

  /** Reads from the client unless layer sends are backlogged or messages are held. */
  private updateFlow(): void {
    const ws = this.ws!;
    if (ws.readyState !== WebSocket.OPEN) return;
    const hold = this.sendsBacklogged || this.held.length > 0;
    if (hold && !ws.isPaused) ws.pause();
    else if (!hold && ws.isPaused) ws.resume();
  }

  private forward(data: Buffer, isBinary: boolean): void {
    const event: WebSocketReceiveEvent = isBinary
      ? { reply_channel: this.reply, path: this.path, order: ++this.order, bytes: data }
      : {
          reply_channel: this.reply,
          path: this.path,
          order: ++this.order,
          text: data.toString('utf8'),
        };
    if (++this.pendingSends >= PAUSE_AT && !this.sendsBacklogged) {
      this.sendsBacklogged = true;
      this.updateFlow();
    }
    this.gateway.track(
      this.gateway
        .sendEvent(CHANNELS.websocketReceive, event)
        .catch((error: unknown) => {
          this.ctx.metrics.layerSendFailures++;
          if (isTransientLayerError(error)) {
            BurstLogger.for(this.ctx.logger).warn(
              { ...briefError(error), path: this.path },
              error instanceof ChannelFull
                ? 'workers cannot take more: closing the socket with 1013'
                : 'the channel layer is unreachable or refuses the call: closing the socket with 1013',
            );
            this.close(CLOSE_TRY_AGAIN_LATER, 'try again later');
          } else {
            this.ctx.logger.error(
              { err: error, path: this.path },
              'cannot forward a WebSocket message',
            );
            this.close(CLOSE_INTERNAL_ERROR, 'internal error');
          }
        })
        .finally(() => {
          if (--this.pendingSends <= RESUME_AT && this.sendsBacklogged) {
            this.sendsBacklogged = false;
            this.updateFlow();
          }
        }),
    );
  }

  private onClose(code: number): void {
    // Messages the client sent past its rate and then left: passed on now, they
    // would be a way around the rate (one read can hold thousands).
    this.dropHeld();
    this.gateway.sessions.delete(this);
    this.ctx.metrics.websocketsOpen--;
    // 1005/1006: no close code came back (the peer sent none, or vanished). Report
    // the code this side closed with, if it did; else 1006 as protocol.md says.
    const reported = code === 1005 || code === 1006 || !code ? (this.closingCode ?? 1006) : code;
    this.sendDisconnect(reported);
    this.ctx.layer.releaseChannel(this.reply);
    this.ctx.accessLog?.websocket('WSDISCONNECT', this.client, this.target, reported);
  }
}
