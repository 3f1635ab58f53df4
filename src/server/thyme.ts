import {
  createServer,
  ServerResponse,
  type IncomingMessage,
  type Server,
  type ServerOptions,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BROWSER_HEADERS } from '../browser-headers.js';
import type { ChannelLayer } from '../layer/types.js';
import { BurstLogger, logSecurityEvent, silentLogger, type Logger } from '../logger.js';
import { AccessLog, countBodyBytes } from './access-log.js';
import type { ThymeContext } from './context.js';
import { answerClientError, awaitTurn } from './client-errors.js';
import { ConnectionLimit } from './connection-limit.js';
import { AllowedHosts } from './hosts.js';
import { bridgeHttpRequest, holdContinue } from './http.js';
import { InFlight } from './in-flight.js';
import { ThymeMetrics } from './metrics.js';
import { resolveThymeOptions, type ThymeOptions, type TlsFiles } from './options.js';
import {
  ASTERISK,
  BODY_WITH_UPGRADE,
  clientAddress,
  declaresBody,
  logHost,
  namesHttp09,
  namesHttp2OrLater,
  NO_HTTP1_VERSION,
  requestHost,
  requestTarget,
  VERSION_NOT_SUPPORTED,
} from './request-info.js';
import {
  answerServerOptions,
  destroyOnError,
  methodNotAllowed,
  plainResponse,
  rejectUpgrade,
} from './responses.js';
import { before } from '../deadline.js';
import { listenOn } from '../listen.js';
import {
  HEALTH_PATH,
  isRead,
  serveMetrics,
  writeHealth,
  type HealthReport,
  type MetricsSource,
} from '../metrics/endpoint.js';
import { freeSocketPath, listenOnPath } from './socket-path.js';
import { createSecureServer, replaceTlsFiles, TlsUnusable } from './tls.js';
import { STATIC_PREFIX, StaticFiles } from './static-files.js';
import { WebSocketGateway } from './websocket.js';

export { HEALTH_PATH };

/**
 * How long a shutdown past its stop timeout gives each last step: the answers it
 * writes instead of the workers' (503s, resets) before it closes every
 * connection, and the layer's word that this process holds no socket now.
 */
const LAST_WRITES_MS = 1000;

/**
 * The interface server: terminates HTTP and WebSocket and talks to workers only
 * through the channel layer (protocol.md). It owns sockets, never application logic.
 */
export class Thyme implements ThymeContext {
  readonly options: ThymeOptions;
  readonly hosts: AllowedHosts;
  readonly metrics = new ThymeMetrics();
  readonly accessLog: AccessLog | undefined;
  readonly logger: Logger;
  closing = false;
  socketPath: string | undefined;
  readonly stopWaiting: AbortSignal;

  private readonly server: Server;
  private metricsServer: Server | undefined;
  private readonly gateway: WebSocketGateway;
  private readonly inFlight = new InFlight();
  private readonly httpInFlight = new Set<ServerResponse>();
  private readonly stopWaitingController = new AbortController();
  private readonly staticFiles: StaticFiles | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    readonly layer: ChannelLayer,
    options: Partial<ThymeOptions> = {},
  ) {
    this.options = resolveThymeOptions(options);
    this.stopWaiting = this.stopWaitingController.signal;
    this.logger = (this.options.logger ?? silentLogger()).child({ component: 'thyme' });
    this.hosts = new AllowedHosts(this.options.allowedHosts);
    this.accessLog = this.options.accessLog
      ? new AccessLog(this.options.accessLog, (error) =>
          this.logger.error({ err: error }, 'the access log cannot be written; it stops here'),
        )
      : undefined;
    this.staticFiles = this.options.staticDir ? new StaticFiles(this.options.staticDir) : undefined;
    this.gateway = new WebSocketGateway(this, this.inFlight);
    // Gredis workers (those the events are announced to) keep each socket's
    // state and groups in the layer: when the layer loses them, the sockets
    // must start over. Other workers keep nothing there, and theirs go on.
    if (this.options.announceEvents) {
      layer.onStorageLost((host) => {
        const closed = this.gateway.restartAll();
        this.logger.warn(
          { host, websockets: closed },
          'what the channel layer kept for the sockets is gone: sockets closed with 1012, to reconnect',
        );
      });
    }
    const serverOptions: ServerOptions = {
      headersTimeout: this.options.headersTimeout * 1000,
      requestTimeout: 0,
      // Thyme checks Host itself (route): Node's own 400 for an HTTP/1.1 request
      // without one never reached the access log or the metrics, nor had the
      // headers of Thyme's other errors.
      requireHostHeader: false,
      // Runs from the end of a response; Node times headers from a request's
      // first byte, so the idle time before it never counts as header time and
      // this may exceed headersTimeout (as a load balancer's idle timeout wants).
      keepAliveTimeout: this.options.keepAliveTimeout * 1000,
      // Node checks headersTimeout on this period; its default (30 s) would let a
      // half-open connection linger far past the timeout.
      connectionsCheckingInterval: Math.max(250, (this.options.headersTimeout * 1000) / 4),
    };
    const { tls } = this.options;
    // Node's TLS handshake timeout is 120 s: a client that opens connections and
    // never finishes its handshake would hold each that long. It gets the time it
    // has for its headers. Throws TlsUnusable for a key that is not the certificate's.
    this.server = tls
      ? createSecureServer(tls, serverOptions, this.options.headersTimeout * 1000)
      : createServer(serverOptions);
    // Past its count limit (2000 by default) Node keeps the first headers and
    // drops the rest without a word: the worker would see a cut list (1023 of
    // 2500 short ones). Their size (16 KiB) bounds them, as nginx's does.
    this.server.maxHeadersCount = 0;
    new ConnectionLimit(
      this.options.maxConnections,
      tls !== undefined,
      this.metrics,
      (client, open) =>
        BurstLogger.for(this.logger).warn(
          { client, open },
          'too many connections (--max-connections): a new one refused',
        ),
      // Answered before its request is read: no request line, and no proxy
      // header to name the client.
      (client, status, bytes) => this.answeredUnparsed(client ?? '', status, bytes),
    ).watch(this.server);
    this.server.on(
      'request',
      (req: IncomingMessage, res: ServerResponse) => void this.onRequest(req, res),
    );
    // Without a listener Node drops a CONNECT (a proxy's method) without a word.
    this.server.on('connect', (req: IncomingMessage, socket: Duplex) => {
      socket.on('error', destroyOnError);
      this.refuseRequest(req, socket, 405, 'CONNECT is not supported: this is no proxy');
    });
    // Node would answer `Expect: 100-continue` at once, before any check.
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      holdContinue(res);
      void this.onRequest(req, res);
    });
    // Without a listener Node answers any other expectation with a 417 of its
    // own, never counted or logged. RFC 9110 §10.1.1 makes that 417 a MAY: an
    // expectation Thyme does not know is ignored, and the request is served.
    this.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      void this.onRequest(req, res);
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // The HTTP server no longer watches this connection: its errors are ours.
      socket.on('error', destroyOnError);
      // Already answered (a connection over the limit), and closing: nothing to run.
      if (!socket.writable) return;
      if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
        this.serveIgnoringUpgrade(req, socket as Socket, head);
        return;
      }
      // In flight until decided (the connect timeout at most): a shutdown waits for
      // the websocket.disconnect of a handshake it cut short.
      this.inFlight.track(
        this.gateway.handleUpgrade(req, socket, head).catch((error: unknown) => {
          this.logger.error({ err: error }, 'WebSocket handshake failed');
          socket.destroy();
        }),
      );
    });
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(error, socket),
    );
  }

  /**
   * Serves a new certificate and key (a renewal) to the connections accepted
   * from now on, without a restart; open ones keep theirs. Throws TlsUnusable
   * for a pair TLS cannot use (the current one stays), and when Thyme serves
   * plain HTTP.
   */
  replaceTls(files: TlsFiles): void {
    if (!this.options.tls) throw new TlsUnusable(new Error('Thyme serves plain HTTP'));
    replaceTlsFiles(this.server, files);
  }

  /** Listens on host:port (port 0 picks a free one) and resolves with the bound address. */
  async listen(port: number, host: string): Promise<AddressInfo> {
    await listenOn(this.server, { port, host });
    this.gateway.startKeepAlive();
    const address = this.server.address() as AddressInfo;
    this.logger.info({ address: address.address, port: address.port }, 'Thyme listening');
    return address;
  }

  /**
   * Listens on a Unix socket, for a proxy on the same machine (Daphne's -u). A
   * socket left there by a server that died is replaced; the socket is removed
   * again at shutdown. Throws SocketPathUnavailable when the path is taken.
   */
  async listenOnSocket(path: string): Promise<void> {
    await freeSocketPath(path);
    await listenOnPath(this.server, path);
    this.socketPath = path;
    this.gateway.startKeepAlive();
    this.logger.info({ socket: path }, 'Thyme listening');
  }

  /**
   * Serves /metrics (Prometheus) and /healthz on a separate listener, so that the
   * public port need not expose them.
   */
  async listenMetrics(port: number, host: string): Promise<AddressInfo> {
    const { server, address } = await serveMetrics(this.metricsSource, port, host);
    this.metricsServer = server;
    return address;
  }

  /**
   * What the metrics port serves: for a caller that keeps that port open past
   * close() (gredis thyme: until the process exits, its /healthz 503 meanwhile).
   */
  readonly metricsSource: MetricsSource = {
    metrics: () => this.metrics.render(this.layer),
    health: () => this.health(),
  };

  get openWebSockets(): number {
    return this.gateway.sessions.size;
  }

  /**
   * Graceful shutdown: stop accepting, close every WebSocket with 1001 (each sends
   * its websocket.disconnect), let in-flight HTTP responses finish, and wait until
   * every layer send has left. stopTimeout, from the call, bounds the wait for
   * responses: those still waiting for a worker's answer then are answered 503,
   * and those still streaming are cut off (a reset: the client sees them broken,
   * not complete). It bounds the wait for the sends too: those the layer has not
   * taken by then are given up (logged). Idempotent. The layer itself belongs to
   * the caller.
   */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    const deadline = performance.now() + this.options.stopTimeout * 1000;
    this.closing = true;
    this.logger.info(
      { websockets: this.gateway.sessions.size, http: this.httpInFlight.size },
      'shutting down',
    );
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await this.gateway.closeAll(1001);
    if (!(await before(deadline, this.httpEnded()))) {
      this.stopWaitingController.abort();
      // Time for those 503s to be written before the connections are closed.
      await before(performance.now() + LAST_WRITES_MS, this.httpEnded());
    }
    this.server.closeAllConnections();
    await stopped;
    // The sockets' last events get what is left of the stop timeout: a silent
    // Redis (its machine gone) answers none of them, and the process must still
    // exit. What is left behind is lost like a disconnect the layer refused.
    const unsent = this.inFlight.size;
    if (
      !(await before(
        Math.max(deadline, performance.now() + LAST_WRITES_MS),
        this.inFlight.settle(),
      ))
    ) {
      this.gateway.lostDisconnects += this.inFlight.size;
      this.logger.warn(
        { events: this.inFlight.size, of: unsent },
        'stop timeout: events for the workers not sent (the channel layer did not answer)',
      );
    }
    // Every socket's last event has left: nobody need look for their lanes once
    // this process is gone (Lanes.reapOrphans).
    if (this.options.announceEvents && this.gateway.lostDisconnects === 0) {
      const released = this.layer.lanes.release().catch((error: unknown) => {
        this.logger.warn({ err: error }, 'could not say that no socket is left here');
      });
      if (!(await before(performance.now() + LAST_WRITES_MS, released)))
        this.logger.warn(
          'could not say that no socket is left here: the channel layer did not answer',
        );
    }
    if (this.metricsServer) await new Promise<void>((r) => this.metricsServer!.close(() => r()));
    await this.accessLog?.close();
  }

  /** Resolves once every response in flight now has ended (or its client has left). */
  private httpEnded(): Promise<unknown> {
    return Promise.all(
      [...this.httpInFlight].map((res) => new Promise((r) => res.once('close', r))),
    );
  }

  /**
   * Node hands every request with an Upgrade header to the upgrade listener. A
   * request to switch to a protocol Thyme does not speak (`curl --http2` sends
   * `Upgrade: h2c`) is served as plain HTTP/1.1 instead, since a server may ignore
   * an Upgrade it does not support (RFC 9110 §7.8), on its own connection, closed
   * after the response. Node has already taken what followed the headers as
   * upgrade data, so such a request that declares a body is refused.
   */
  private serveIgnoringUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (head.length > 0 || declaresBody(req)) {
      this.refuseRequest(req, socket, 400, BODY_WITH_UPGRADE);
      return;
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => {
      res.detachSocket(socket);
      socket.end();
    });
    void this.onRequest(req, res);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Node chunks a body of undeclared length for an HTTP/1.0 request that names
    // chunked in TE; RFC 9112 §6.1 allows Transfer-Encoding only in answer to
    // HTTP/1.1, and a proxy speaking HTTP/1.0 would take the chunk sizes for the
    // body. Such a body is ended by the close, as for any other HTTP/1.0 client.
    if (req.httpVersion === '1.0') res.useChunkedEncodingByDefault = false;
    // Taken now: a connection that the client has dropped by the end (or by
    // its turn, pipelined) has no address.
    const client = logHost(clientAddress(req, this.options.proxyHeaders));
    const turn = await awaitTurn(res);
    // Never answered, so never run, and not counted as served either.
    if (turn === 'closed') return;
    this.metrics.httpRequests++;
    if (turn === 'left') {
      this.countAndLog(req, client, 499, 0);
      return;
    }
    this.metrics.httpInFlight++;
    this.httpInFlight.add(res);
    let status = 0;
    const bodyBytes = countBodyBytes(res);
    try {
      status = await this.route(req, res);
    } catch (error) {
      this.logger.error({ err: error, url: req.url }, 'request failed');
      plainResponse(res, 500);
      status = 500;
    } finally {
      this.metrics.httpInFlight--;
      this.httpInFlight.delete(res);
      this.countAndLog(req, client, status, bodyBytes());
    }
  }

  /** Counts an answered request in the metrics and writes its access log line. */
  private countAndLog(req: IncomingMessage, client: string, status: number, bytes: number): void {
    this.metrics.countResponse(status);
    this.accessLog?.http({
      client,
      method: req.method ?? '-',
      path: req.url ?? '-',
      httpVersion: req.httpVersion,
      status,
      bytes,
      referer: req.headers.referer,
      userAgent: req.headers['user-agent'],
    });
  }

  /**
   * Answers a request Node hands over with its socket alone (a CONNECT, an
   * Upgrade that cannot be served), counted and logged like any other.
   */
  private refuseRequest(
    req: IncomingMessage,
    socket: Duplex,
    status: number,
    reason: string,
  ): void {
    // Already answered (a connection over the limit), its 503 counted and logged.
    if (!socket.writable) return;
    const client = logHost(clientAddress(req, this.options.proxyHeaders));
    this.metrics.httpRequests++;
    this.countAndLog(req, client, status, rejectUpgrade(socket, status, reason));
  }

  /**
   * Counts and logs an answer written with no request parsed (malformed HTTP,
   * a connection over the limit): a request received all the same, as
   * gredis_http_requests_total counts every request answered.
   */
  private answeredUnparsed(address: string, status: number, bytes: number): void {
    this.metrics.httpRequests++;
    this.metrics.countResponse(status);
    this.accessLog?.unparsed(logHost([address, 0]), status, bytes);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<number> {
    if (namesHttp2OrLater(req)) {
      plainResponse(res, 505, `HTTP Version Not Supported: ${VERSION_NOT_SUPPORTED}`, true);
      return 505;
    }
    if (namesHttp09(req)) {
      plainResponse(res, 400, `Bad Request: ${NO_HTTP1_VERSION}`, true);
      return 400;
    }
    const target = requestTarget(req);
    if (!target) {
      plainResponse(res, 400, 'Bad Request: malformed request target');
      return 400;
    }
    // Load balancers probe by address, under whatever Host they like. Under a Host
    // that is not allowed (a probe, or a page that DNS rebinding pointed here) the
    // answer is the status alone: the layer's hosts are nobody else's business.
    const host = requestHost(req, target);
    const allowed = this.hosts.allowsHost(host);
    if (target.path === HEALTH_PATH)
      return isRead(req)
        ? writeHealth(res, await this.health(), allowed, BROWSER_HEADERS)
        : methodNotAllowed(res);
    if (!allowed) {
      logSecurityEvent(this.logger, 'error', 'DisallowedHost', this.hosts.refusal(host), {
        status: 400,
        path: target.path,
      });
      plainResponse(res, 400, 'Bad Request: invalid Host header');
      return 400;
    }
    // Thyme's own answer, which needs no worker: shutting down or not.
    if (target === ASTERISK) return answerServerOptions(res);
    if (this.staticFiles && target.path.startsWith(STATIC_PREFIX)) {
      const status = await this.staticFiles.handle(req, res, target.path);
      if (status !== undefined) return status;
    }
    if (this.closing) {
      plainResponse(res, 503, 'Service Unavailable: shutting down', true);
      return 503;
    }
    return bridgeHttpRequest(this, this.inFlight, req, res, target);
  }

  /** Ready while the layer is reachable, every readiness check is ok, and no shutdown has begun. */
  private async health(): Promise<HealthReport> {
    const layer = this.layer.health();
    const checks = Object.entries(this.options.readinessChecks);
    const results = await Promise.all(checks.map(([, check]) => check()));
    return {
      ok: layer.ok && !this.closing && results.every((result) => result.ok),
      details: {
        closing: this.closing,
        layer,
        ...Object.fromEntries(checks.map(([name], i) => [name, results[i]])),
      },
    };
  }

  /** Malformed HTTP never reaches the layer: answered with its status, the connection dropped. */
  private onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
    this.logger.debug({ err: error }, 'malformed HTTP (or a failed TLS handshake) from a client');
    // The peer's address: with no request parsed, no proxy header can name the client.
    const address = socket.remoteAddress ?? '';
    answerClientError(
      error,
      socket,
      (status) => this.answeredUnparsed(address, status, 0),
      this.options.headersTimeout * 1000,
    );
  }
}
