import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { ChannelFull, isTransientLayerError, warnLayerFailure } from '../layer/errors.js';
import type { Message } from '../layer/types.js';
import { before } from '../deadline.js';
import { briefError, BurstLogger, logSecurityEvent } from '../logger.js';
import {
  CHANNELS,
  CLOSE_INTERNAL_ERROR,
  CLOSE_SERVICE_RESTART,
  CLOSE_TRY_AGAIN_LATER,
  ProtocolViolation,
  type WebSocketConnectEvent,
  type WebSocketDisconnectEvent,
  type WebSocketReceiveEvent,
  type WebSocketReply,
} from '../protocol.js';
import { msUntilToken, refilledTokens, type BucketRate } from '../token-bucket.js';
import { REPLY_PREFIX, type ThymeContext } from './context.js';
import {
  clientAddress,
  BODY_WITH_UPGRADE,
  declaresBody,
  headerList,
  isTls,
  logHost,
  namesHttp09,
  namesHttp2OrLater,
  NO_HTTP1_VERSION,
  parseTarget,
  requestHost,
  serverAddress,
  VERSION_NOT_SUPPORTED,
} from './request-info.js';
import { FanOut, type PreparedReply } from './fan-out.js';
import { rejectUpgrade } from './responses.js';
import type { InFlight } from './in-flight.js';

/** Layer sends a socket may have in flight before Thyme stops reading from it. */
const PAUSE_AT = 64;
const RESUME_AT = 16;

/**
 * How many times the outgoing buffer limit a socket may have waiting before it
 * is closed at once (see WebSocketSession.write): room for the bursts a fast
 * reader works through, a bound on what a slow one holds.
 */
const BUFFER_CAP = 16;

const VALID_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** The handshake's `head` for ws: the frames in it are already back in the socket (handleUpgrade). */
const NOTHING_AHEAD = Buffer.alloc(0);

/** The versions ws speaks, named in a refusal of any other (RFC 6455 §4.4). */
const VERSIONS_HEADER = 'Sec-WebSocket-Version: 13, 8\r\n';

/**
 * Turns WebSocket handshakes and frames into layer events and replies on each
 * socket's reply channel into frames. The handshake is held until a worker
 * answers; nothing from the client is forwarded before it accepts.
 */
export class WebSocketGateway {
  readonly sessions = new Set<WebSocketSession>();
  readonly fanOut = new FanOut();
  /** Each socket's message rate (ThymeOptions.websocketRate), or undefined for none. */
  readonly messageRate: Readonly<BucketRate> | undefined;
  private readonly wss: WebSocketServer;
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly pingDeadlines = new Set<NodeJS.Timeout>();
  /** Ends, for a shutdown, each handshake still waiting for a worker's decision. */
  private readonly deciding = new Set<() => void>();
  /**
   * websocket.disconnect events that could not be sent, and connects that may
   * have landed unacknowledged (their sockets' lanes may stay open).
   */
  lostDisconnects = 0;

  constructor(
    private readonly ctx: ThymeContext,
    private readonly inFlight: InFlight,
  ) {
    // closeTimeout exists in ws ≥ 8.18 but not yet in its type definitions.
    const options: ConstructorParameters<typeof WebSocketServer>[0] & { closeTimeout: number } = {
      noServer: true,
      maxPayload: ctx.options.websocketMaxMessageSize,
      // Compression costs ~300 KiB of zlib state per socket; the frames are small JSON.
      perMessageDeflate: false,
      clientTracking: false,
      // A client that does not answer our close frame is dropped after this.
      closeTimeout: 5000,
    };
    this.wss = new WebSocketServer(options);
    const { websocketRate, websocketBurst } = ctx.options;
    this.messageRate =
      websocketRate > 0 ? { perSecond: websocketRate, burst: websocketBurst } : undefined;
  }

  /**
   * Starts the keep-alive: one sweep timer for the process (not one per socket),
   * and after a sweep that pinged, one check when those pings' timeout is up.
   */
  startKeepAlive(): void {
    const { pingInterval, pingTimeout } = this.ctx.options;
    this.keepAlive = setInterval(
      () => this.sweep(pingInterval * 1000, pingTimeout * 1000),
      pingInterval * 1000,
    );
    this.keepAlive.unref();
  }

  /** Expects `socket` to have an error listener already (see Thyme's upgrade listener). */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { ctx } = this;
    // Frames sent with the handshake (RFC 6455 §4.1 forbids it, yet a scripted
    // client may) wait in the socket's own buffer, with those read while the
    // worker decides: Node emits a FIN's 'end' only once that buffer is read,
    // so a client that sent frames, a close and its FIN in one write is not
    // taken for gone before the worker hears them (as it was with frames kept
    // apart: 1006, and they were dropped). Passed on after the accept, in order.
    if (head.length > 0) socket.unshift(head);
    const client = clientAddress(req, ctx.options.proxyHeaders);
    const label = logHost(client);
    const refuse = (status: number, reason: string, extraHeaders?: string): void => {
      ctx.metrics.websocketsRejected++;
      ctx.accessLog?.websocket('WSREJECT', label, req.url ?? '', status);
      rejectUpgrade(socket, status, reason, extraHeaders);
      // Read and dropped: a FIN waiting behind them would never end the socket.
      socket.resume();
    };
    if (ctx.closing) return refuse(503, 'server shutting down');
    // The asterisk names the server itself, for the server-wide `OPTIONS *`
    // (answered as plain HTTP), never a resource a socket could open on (RFC
    // 6455 §4.1: the handshake's target is a path). Said first, whatever the
    // method: "malformed" or "not a valid handshake" would not say what is wrong.
    if (req.url === '*') return refuse(400, 'a WebSocket handshake needs a path, not *');
    if (namesHttp2OrLater(req)) return refuse(505, VERSION_NOT_SUPPORTED);
    // As on a page: "not a valid WebSocket handshake" would not say that it is the version.
    if (namesHttp09(req)) return refuse(400, NO_HTTP1_VERSION);
    if (
      req.method !== 'GET' ||
      // RFC 6455 §4.1: HTTP/1.1 or later (ws does not check it).
      req.httpVersionMajor * 10 + req.httpVersionMinor < 11 ||
      req.headers.upgrade?.toLowerCase() !== 'websocket' ||
      !VALID_KEY.test(req.headers['sec-websocket-key'] ?? '') ||
      req.headers['sec-websocket-version'] === undefined
    ) {
      return refuse(400, 'not a valid WebSocket handshake');
    }
    if (!['8', '13'].includes(req.headers['sec-websocket-version'])) {
      // RFC 6455 §4.2.2: 426, naming the versions spoken, so a client can retry with one.
      return refuse(426, 'unsupported WebSocket version', VERSIONS_HEADER);
    }
    // What follows the headers is taken for frames: a declared body would be
    // read as messages from the client (one a proxy passed on as a body, too).
    if (declaresBody(req)) return refuse(400, BODY_WITH_UPGRADE);
    // Parsed first: the host of an absolute-form target is the one checked (requestHost).
    const target = parseTarget(req.url);
    if (!target) return refuse(400, 'malformed request target');
    const host = requestHost(req, target);
    if (!ctx.hosts.allowsHost(host)) {
      logSecurityEvent(ctx.logger, 'error', 'DisallowedHost', ctx.hosts.refusal(host), {
        status: 400,
        path: target.path,
      });
      return refuse(400, 'invalid Host header');
    }
    if (!ctx.hosts.allowsOrigin(req.headers.origin)) return refuse(403, 'origin not allowed');

    const reply = await ctx.layer.newChannel(REPLY_PREFIX);
    const session = new WebSocketSession(ctx, this, reply, target.path, label, req.url ?? '');
    const connect: WebSocketConnectEvent = {
      reply_channel: reply,
      scheme: isTls(req, ctx.options.proxyHeaders) ? 'wss' : 'ws',
      path: target.path,
      query_string: target.query,
      root_path: '',
      headers: headerList(req, target),
      client,
      server: serverAddress(req, ctx.socketPath),
      order: 0,
    };
    // The connect timeout counts from here, the send included: a layer that does
    // not take the connect (a Redis that stopped answering, its connections left
    // open) holds it until the layer gives up on the server, 15 s or more.
    const decideBy = performance.now() + ctx.options.websocketConnectTimeout * 1000;
    const sent = this.sendEvent(CHANNELS.websocketConnect, connect);
    if (!(await before(decideBy, sent))) {
      this.track(this.settleLateConnect(session, sent));
      BurstLogger.for(ctx.logger).warn(
        { path: target.path },
        'the channel layer did not take a WebSocket handshake in time',
      );
      return refuse(503, 'no worker answered in time');
    }
    try {
      await sent;
    } catch (error) {
      // A full channel stored nothing; any other failure (a reply lost, as when
      // the reply watchdog gives up) may come after the connect ran and opened the
      // socket's lane, which no disconnect will end: this process must stay a holder.
      if (!(error instanceof ChannelFull)) this.lostDisconnects++;
      ctx.layer.releaseChannel(reply);
      ctx.metrics.layerSendFailures++;
      warnLayerFailure(
        ctx.logger,
        error,
        { path: target.path },
        'cannot pass a WebSocket handshake to the workers',
      );
      return refuse(503, 'workers unavailable');
    }

    const decision = await this.awaitDecision(session, socket, decideBy);
    if (decision === 'shutdown' || (ctx.closing && typeof decision === 'object')) {
      // The server began to shut down first (ws would refuse the upgrade by now
      // without a word to the worker, which may hold state for this socket).
      session.sendDisconnect(1001);
      ctx.layer.releaseChannel(reply);
      return refuse(503, 'server shutting down');
    }
    if (decision === 'gone' || decision === 'timeout' || decision === 'invalid') {
      // The worker may already hold state for this socket: tell it the socket is gone.
      session.sendDisconnect(1006);
      ctx.layer.releaseChannel(reply);
      if (decision === 'timeout') {
        ctx.logger.warn({ path: target.path }, 'no worker answered a WebSocket handshake in time');
        refuse(503, 'no worker answered in time');
      } else if (decision === 'invalid') refuse(500, 'invalid worker reply');
      else {
        // Gone: closed, or half-closed by the client's FIN, which would hold it
        // open. Neither accepted nor refused, but the worker saw the socket come
        // and go: the log has its disconnect too, as Daphne's has.
        ctx.accessLog?.websocket('WSDISCONNECT', label, req.url ?? '', 1006);
        socket.destroy();
      }
      return;
    }
    if (
      decision.reply.accept === false ||
      (decision.reply.accept === undefined &&
        decision.reply.close !== undefined &&
        !carriesData(decision.reply))
    ) {
      session.sendDisconnect(1006);
      ctx.layer.releaseChannel(reply);
      return refuse(403, 'rejected');
    }
    // No subprotocol is ever agreed to: protocol.md has no way for a worker to
    // choose one (Daphne's accept has `subprotocol`), and the offer has reached
    // the worker, in `sec-websocket-protocol`. ws must not see it: it would claim
    // the first one offered on behalf of an app that never saw it agreed, and it
    // refuses (400) an offer it cannot parse ("chat, chat") without calling back,
    // when this worker has accepted and would never hear the socket is gone.
    delete req.headers['sec-websocket-protocol'];
    this.wss.handleUpgrade(req, socket, NOTHING_AHEAD, (ws) => session.open(ws, socket, decision));
  }

  /**
   * Closes every open socket with 1012 (service restart): the layer lost what the
   * workers kept for them (groups, connection state). Clients reconnect, and
   * their new connections set everything up again. Thyme keeps serving.
   */
  restartAll(): number {
    const sessions = [...this.sessions];
    for (const session of sessions) session.restart();
    return sessions.length;
  }

  /**
   * Ends every socket with `code` and resolves once all have closed. Handshakes
   * still waiting for a worker end at once with 503 (their websocket.disconnect,
   * code 1001, is an in-flight send).
   */
  async closeAll(code: number): Promise<void> {
    for (const endForShutdown of this.deciding) endForShutdown();
    clearInterval(this.keepAlive);
    for (const deadline of this.pingDeadlines) clearTimeout(deadline);
    this.pingDeadlines.clear();
    const closed = [...this.sessions].map((session) => session.shutdown(code));
    await Promise.all(closed);
    this.wss.close();
  }

  track(promise: Promise<unknown>): void {
    this.inFlight.track(promise);
  }

  /**
   * Sends a socket's event to the workers, deposited in its lane as well when
   * ThymeOptions.announceEvents (one call: see Lanes.announceAndSend).
   */
  sendEvent(
    channel: string,
    event: Message & { reply_channel: string; order: number },
  ): Promise<void> {
    if (!this.ctx.options.announceEvents) return this.ctx.layer.send(channel, event);
    return this.ctx.layer.lanes.announceAndSend(event.reply_channel, event.order, event, channel);
  }

  /**
   * A connect refused because the layer had not taken it by the connect
   * timeout: once it has, the worker hears that its socket is gone, as after
   * any handshake that timed out. One that failed may have landed unacknowledged
   * all the same (see handleUpgrade).
   */
  private async settleLateConnect(session: WebSocketSession, sent: Promise<void>): Promise<void> {
    try {
      await sent;
      session.sendDisconnect(1006);
    } catch (error) {
      if (!(error instanceof ChannelFull)) this.lostDisconnects++;
      this.ctx.metrics.layerSendFailures++;
    } finally {
      this.ctx.layer.releaseChannel(session.reply);
    }
  }

  /**
   * Waits for the first reply that decides the handshake, the connect timeout
   * (`decideBy`, performance.now()), or the client leaving.
   */
  private async awaitDecision(
    session: WebSocketSession,
    socket: Duplex,
    decideBy: number,
  ): Promise<PreparedReply | 'gone' | 'timeout' | 'invalid' | 'shutdown'> {
    const abort = new AbortController();
    let outcome: 'gone' | 'timeout' | 'shutdown' | undefined;
    const endForShutdown = (): void => {
      outcome ??= 'shutdown';
      abort.abort();
    };
    this.deciding.add(endForShutdown);
    const timer = setTimeout(
      () => {
        outcome = 'timeout';
        abort.abort();
      },
      Math.max(0, decideBy - performance.now()),
    );
    const onClose = (): void => {
      outcome ??= 'gone';
      abort.abort();
    };
    // The client's FIN ends the socket without closing it (HTTP sockets allow
    // half-open ones), and ws then drops it at the upgrade without a word: the
    // worker, which accepted, would keep the socket's state for ever. A FIN
    // behind frames not read yet ends nothing until they are (handleUpgrade).
    socket.once('close', onClose);
    socket.once('end', onClose);
    const left = (): boolean => !socket.readable || !socket.writable;
    // Either may have come while the connect was being sent.
    if (left()) onClose();
    try {
      for (;;) {
        const message = await this.ctx.layer.receive(session.reply, { signal: abort.signal });
        const prepared = this.fanOut.prepare(message);
        const { reply } = prepared;
        // A client that left in the same turn as the answer came has not had its
        // close emitted yet.
        if (reply.accept !== undefined || reply.close !== undefined || carriesData(reply))
          return left() ? 'gone' : prepared;
      }
    } catch (error) {
      if (error instanceof ProtocolViolation) {
        this.ctx.logger.error(
          { err: error },
          'a worker answered a handshake with an invalid reply',
        );
        return 'invalid';
      }
      return outcome ?? 'gone';
    } finally {
      clearTimeout(timer);
      socket.off('close', onClose);
      socket.off('end', onClose);
      this.deciding.delete(endForShutdown);
    }
  }

  private sweep(intervalMs: number, timeoutMs: number): void {
    const now = Date.now();
    let pinged = false;
    for (const session of this.sessions) pinged = session.keepAlive(now, intervalMs) || pinged;
    if (!pinged) return;
    // These pings' own deadline: the timeout need not be a multiple of the
    // interval, and a socket must go when it is up, not at a later sweep. (One
    // timer per sweep that pinged: with a timeout longer than the interval, two
    // sweeps' deadlines can be pending at once.)
    const deadline = setTimeout(() => {
      this.pingDeadlines.delete(deadline);
      this.expirePings(now);
    }, timeoutMs);
    deadline.unref();
    this.pingDeadlines.add(deadline);
  }

  /**
   * Drops the sockets still waiting for a ping sent at or before `sentBy` (a
   * sweep's time). Not "pinged at least timeout ago by Date.now()": a timer set
   * during a sweep counts from the event loop's cached time, which can lag the
   * clock, and a deadline that fires a millisecond early must not miss its pings.
   */
  private expirePings(sentBy: number): void {
    for (const session of this.sessions) session.expirePing(sentBy);
  }
}

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

function carriesData(reply: WebSocketReply): boolean {
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
