import { DEFAULTS } from '../settings.js';
import type { Logger } from '../logger.js';
import type { ReadinessResult } from '../metrics/endpoint.js';

/** Everything Thyme can be told; defaults come from settings.ts (and --help prints them). */
export interface ThymeOptions {
  /** Hosts accepted in `Host` and WebSocket `Origin` ("*" accepts any; ".example.com" any subdomain). */
  allowedHosts: readonly string[];
  /** Directory served under /static/, or undefined for none. */
  staticDir: string | undefined;
  /** Seconds between keep-alive pings to an idle WebSocket. */
  pingInterval: number;
  /** Seconds without any frame or pong after which a WebSocket is dropped. */
  pingTimeout: number;
  /**
   * Seconds to wait for a worker's HTTP response before answering 504, and then
   * for each next chunk of a streamed one before cutting it off.
   */
  httpTimeout: number;
  /** Seconds to wait for a worker to accept or reject a WebSocket before answering 503. */
  websocketConnectTimeout: number;
  /** Largest WebSocket message, bytes; larger closes with 1009. */
  websocketMaxMessageSize: number;
  /** Largest HTTP request body, bytes; larger is refused with 413. */
  httpMaxBodySize: number;
  /**
   * Bytes a socket may have waiting to be written for longer than
   * slowClientTimeout before it counts as a slow client (1013). Sixteen times
   * this closes it at once: the bound on what one socket holds.
   */
  outgoingBufferLimit: number;
  /** Seconds a socket's waiting bytes may stay over outgoingBufferLimit. */
  slowClientTimeout: number;
  /**
   * Messages per second a WebSocket may send after its burst (0: no limit). A
   * faster client is slowed, not dropped: Thyme stops reading from it and passes
   * on what it already read at this rate. Without it one client could fill
   * websocket.receive and get everyone else closed with 1013.
   */
  websocketRate: number;
  /** Messages a WebSocket may send at once before its rate applies. */
  websocketBurst: number;
  /**
   * Client connections open at once (HTTP and WebSocket; 0: no limit). One
   * more is answered 503 and closed at once (over TLS, after its handshake).
   */
  maxConnections: number;
  /** Seconds a client may take to send a request's headers. */
  headersTimeout: number;
  /**
   * Seconds a keep-alive connection may stay idle after a response before it is
   * closed (clients are told, in `Keep-Alive: timeout=N`). Behind a load balancer
   * that reuses connections, longer than its idle timeout, so that it never sends
   * a request down a connection Thyme is closing (a 502).
   */
  keepAliveTimeout: number;
  /**
   * Seconds graceful shutdown waits for in-flight HTTP responses; then those no
   * worker has answered get 503 and those still streaming are cut off.
   */
  stopTimeout: number;
  /**
   * Deposit every WebSocket event in its socket's lane as it is sent (see
   * Lanes.announceAndSend), so a worker that dies right after taking an event
   * loses it not. Turn off only when the workers are not Gredis workers (nothing would
   * collect the deposits but their expiry).
   */
  announceEvents: boolean;
  /**
   * Take the client's address and scheme from the proxy in front (the last
   * X-Forwarded-For entry, X-Forwarded-Proto): https behind a TLS-terminating
   * proxy, so the worker marks cookies Secure and checks Origin against https.
   * Only behind a proxy that sets them: a client reaching Thyme directly could
   * forge them.
   */
  proxyHeaders: boolean;
  /**
   * Serve HTTPS and WSS with this certificate (PEM, the chain after it) and
   * key, or plain HTTP when undefined. Events then carry `https`/`wss`, so the
   * worker marks cookies Secure and checks Origin against https.
   */
  tls: TlsFiles | undefined;
  /**
   * What else /healthz needs to be ready, by name: for a Thyme that runs its own
   * workers, `database`, which its pages need. Each check is answered in its
   * details; one not ok makes the probe 503.
   */
  readinessChecks: Readonly<Record<string, ReadinessCheck>>;
  /** File for NCSA-style access log lines, or undefined. */
  accessLog: string | undefined;
  logger: Logger | undefined;
}

/**
 * Whether something the server depends on is there: cheap and quick, since a
 * probe waits for it, and never rejecting (an error is `ok: false`).
 */
export type ReadinessCheck = () => Promise<ReadinessResult>;

/** A certificate chain and its private key, PEM, as read from their files. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export const THYME_DEFAULTS: Readonly<
  Omit<ThymeOptions, 'logger' | 'staticDir' | 'accessLog' | 'tls' | 'readinessChecks'>
> = Object.freeze({
  allowedHosts: DEFAULTS.allowedHosts,
  pingInterval: DEFAULTS.pingInterval,
  pingTimeout: DEFAULTS.pingTimeout,
  httpTimeout: DEFAULTS.httpTimeout,
  keepAliveTimeout: DEFAULTS.keepAliveTimeout,
  websocketConnectTimeout: DEFAULTS.websocketConnectTimeout,
  websocketMaxMessageSize: DEFAULTS.websocketMaxMessageSize,
  httpMaxBodySize: DEFAULTS.httpMaxBodySize,
  outgoingBufferLimit: DEFAULTS.outgoingBufferLimit,
  slowClientTimeout: DEFAULTS.slowClientTimeout,
  websocketRate: DEFAULTS.websocketRate,
  websocketBurst: DEFAULTS.websocketBurst,
  maxConnections: DEFAULTS.maxConnections,
  headersTimeout: 20,
  stopTimeout: DEFAULTS.stopTimeout,
  announceEvents: true,
  proxyHeaders: false,
});

export function resolveThymeOptions(options: Partial<ThymeOptions>): ThymeOptions {
  const resolved: ThymeOptions = {
    ...THYME_DEFAULTS,
    staticDir: undefined,
    accessLog: undefined,
    tls: undefined,
    readinessChecks: {},
    logger: undefined,
  };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (resolved as unknown as Record<string, unknown>)[key] = value;
  }
  // A bucket that can never hold a whole token would hold every message forever.
  if (resolved.websocketRate > 0 && !(resolved.websocketBurst >= 1))
    throw new RangeError(`websocketBurst must be at least 1, got ${resolved.websocketBurst}`);
  // Node reads 0 as no timeout: idle connections would be kept for ever.
  if (!(resolved.keepAliveTimeout > 0))
    throw new RangeError(`keepAliveTimeout must be more than 0, got ${resolved.keepAliveTimeout}`);
  if (!(Number.isInteger(resolved.maxConnections) && resolved.maxConnections >= 0))
    throw new RangeError(
      `maxConnections must be 0 (no limit) or a whole number more, got ${resolved.maxConnections}`,
    );
  if (!(resolved.websocketRate >= 0))
    throw new RangeError(
      `websocketRate must be 0 (no limit) or more, got ${resolved.websocketRate}`,
    );
  return resolved;
}
