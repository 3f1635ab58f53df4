import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ChannelFull, warnLayerFailure } from '../layer/errors.js';
import type { Message } from '../layer/types.js';
import { before } from '../deadline.js';
import { BurstLogger, logSecurityEvent } from '../logger.js';
import { CHANNELS, ProtocolViolation, type WebSocketConnectEvent } from '../protocol.js';
import type { BucketRate } from '../token-bucket.js';
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
import { WebSocketSession, carriesData } from './websocket-session.js';

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
