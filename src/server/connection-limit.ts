import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { rejectUpgrade } from './responses.js';

/**
 * How long a refused connection stays open for the request it may already be
 * sending: closed with unread bytes, a socket is reset, and the reset may
 * destroy the 503 before the client has read it.
 */
const REFUSED_LINGER_MS = 1000;

/** What the limit tells Thyme of each connection it refuses. */
export type OnRefused = (client: string | undefined, open: number) => void;

/** What the limit tells Thyme of each 503 it writes: its status and body bytes, for the metrics and access log. */
export type OnAnswered = (client: string | undefined, status: number, bytes: number) => void;

/** Where the limit keeps its counts (ThymeMetrics). */
export interface ConnectionCounts {
  /** Connections open now, refused ones not counted. */
  connectionsOpen: number;
  connectionsRefused: number;
}

/**
 * Caps the connections open at once (--max-connections, as uvicorn's
 * --limit-concurrency and nginx's worker_connections): past it, many slow
 * clients would take every file descriptor, and with them the listener, the
 * layer's connections and the log files. A connection over the limit is
 * answered at once with 503 and Connection: close, and then closed, before any
 * request on it is read (one pipelined behind is dropped unrun, like any after
 * a closing response: client-errors.ts awaitTurn), WebSocket handshakes
 * included. Over TLS the answer can come only after the handshake: a refused
 * connection gets the same REFUSED_LINGER_MS for both, and is closed then, so
 * refusals hold no more descriptors than over plain HTTP. Node's own
 * maxConnections would close every one without a word.
 */
export class ConnectionLimit {
  constructor(
    private readonly limit: number,
    private readonly tls: boolean,
    private readonly counts: ConnectionCounts,
    private readonly onRefused: OnRefused,
    private readonly onAnswered: OnAnswered,
  ) {}

  /** TCP connections refused over TLS, whose answer waits for their handshake. */
  private readonly awaitingHandshake = new WeakSet<Socket>();

  /** Counts every connection `server` accepts (WebSockets too), refusing those over the limit. */
  watch(server: Server): void {
    server.on('connection', (socket: Socket) => this.admit(socket));
    if (this.tls)
      server.on('secureConnection', (socket: TLSSocket) => {
        const tcp = tcpSocketOf(socket);
        if (tcp && this.awaitingHandshake.has(tcp)) this.answer(socket);
      });
  }

  private admit(socket: Socket): void {
    const { counts } = this;
    if (this.limit > 0 && counts.connectionsOpen >= this.limit) {
      this.refuse(socket);
      return;
    }
    counts.connectionsOpen++;
    socket.once('close', () => counts.connectionsOpen--);
  }

  private refuse(socket: Socket): void {
    this.counts.connectionsRefused++;
    this.onRefused(socket.remoteAddress, this.counts.connectionsOpen);
    // The HTTP server still reads (and drops) the request; a client that keeps
    // the connection open past that (or never finishes its handshake) is not
    // waited for. Over TLS this is the TCP socket under the TLS one: its timer
    // runs from here whatever the handshake does, and its end is the TLS one's.
    socket.setTimeout(REFUSED_LINGER_MS, () => socket.destroy());
    if (this.tls) this.awaitingHandshake.add(socket);
    else this.answer(socket);
  }

  /** A connection its client has already closed gets no answer: nothing to count or log. */
  private answer(socket: Socket): void {
    const bytes = rejectUpgrade(socket, 503, 'too many connections; try again later');
    if (bytes > 0) this.onAnswered(socket.remoteAddress, 503, bytes);
  }
}

/**
 * The TCP connection a server-side TLS socket runs on. Node keeps it as
 * `_parent` (and no public way to it): the test of --max-connections over TLS
 * fails if that ever changes.
 */
function tcpSocketOf(socket: TLSSocket): Socket | undefined {
  return (socket as TLSSocket & { _parent?: Socket })._parent;
}
