/**
 * One simulated chat user, in a load-generator process: MultiChat over a raw
 * WebSocket (multichat.md) or the Socket.IO chat of bench/chat/socketio-server.ts.
 * Both report each delivered chat message's text to the same handler, so that
 * everything above this file is the same for both systems.
 */
import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import type { ChatKind, ClientSpec } from './protocol.js';

/** A delivered message's payload, identical on both systems (multichat.md's `send`). */
export interface ChatPayload {
  room: string;
  message: string;
  username: string;
  msg_type: number;
}

export interface ClientEvents {
  /** A chat message reached this client. */
  message(text: string): void;
  /** Anything else the server said (an error frame): counted, a few kept. */
  unexpected(description: string): void;
  /** The server closed the connection while it was held: why (close code or Socket.IO reason). */
  dropped(reason: string): void;
}

export interface ChatClient {
  readonly spec: ClientSpec;
  /** Joins the client's room; resolves once the server confirmed it. */
  join(timeoutMs: number): Promise<void>;
  send(text: string): void;
  close(): Promise<void>;
}

export function openClient(
  kind: ChatKind,
  spec: ClientSpec,
  events: ClientEvents,
  timeoutMs: number,
): Promise<ChatClient> {
  return kind === 'gredis'
    ? GredisClient.open(spec, events, timeoutMs)
    : SocketIoClient.open(spec, events, timeoutMs);
}

/** Rejects with `what` if `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** MultiChat: the `sessionid` cookie at the handshake, one JSON command per text frame. */
class GredisClient implements ChatClient {
  private joined: (() => void) | undefined;
  private closing = false;

  private constructor(
    readonly spec: ClientSpec,
    private readonly ws: WebSocket,
    private readonly events: ClientEvents,
  ) {
    ws.on('message', (data: Buffer) => this.frame(data.toString('utf8')));
    ws.on('error', () => {});
    ws.once('close', (code: number) => {
      if (!this.closing) events.dropped(`close ${code}`);
    });
  }

  static open(spec: ClientSpec, events: ClientEvents, timeoutMs: number): Promise<ChatClient> {
    const ws = new WebSocket(spec.url, {
      // The page's own origin: MultiChat takes only its site's pages to be the user.
      origin: new URL(spec.url).origin.replace(/^ws/, 'http'),
      perMessageDeflate: false,
      headers: { cookie: `sessionid=${spec.sessionKey}` },
      handshakeTimeout: timeoutMs,
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new GredisClient(spec, ws, events)));
      ws.once('unexpected-response', (_request, response) => {
        reject(new Error(`${spec.url}: handshake refused with HTTP ${response.statusCode ?? '?'}`));
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  join(timeoutMs: number): Promise<void> {
    const confirmed = new Promise<void>((resolve) => (this.joined = resolve));
    this.ws.send(JSON.stringify({ command: 'join', room: this.spec.room }));
    return within(confirmed, timeoutMs, `client ${this.spec.index} joining room ${this.spec.room}`);
  }

  send(text: string): void {
    this.ws.send(JSON.stringify({ command: 'send', room: this.spec.room, message: text }));
  }

  close(): Promise<void> {
    this.closing = true;
    return closeWebSocket(this.ws);
  }

  private frame(data: string): void {
    let value: Partial<ChatPayload> & { join?: string; error?: string };
    try {
      value = JSON.parse(data) as typeof value;
    } catch {
      this.events.unexpected(`not JSON: ${data.slice(0, 80)}`);
      return;
    }
    if (typeof value.message === 'string' && value.msg_type === 0)
      this.events.message(value.message);
    else if (value.join !== undefined && this.joined) {
      this.joined();
      this.joined = undefined;
    } else this.events.unexpected(data.slice(0, 120));
  }
}

/** How long a close handshake may take before the socket is dropped. */
const CLOSE_TIMEOUT_MS = 5000;

function closeWebSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => ws.terminate(), CLOSE_TIMEOUT_MS);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    else ws.terminate();
  });
}

/**
 * Socket.IO: the WebSocket transport only (no long-polling upgrade, as the raw
 * WebSocket of the other side), one Manager per client (`forceNew`: io() would
 * otherwise multiplex every client to one host over one connection), no
 * reconnection (a drop is counted, not hidden).
 */
class SocketIoClient implements ChatClient {
  private closing = false;

  private constructor(
    readonly spec: ClientSpec,
    private readonly socket: Socket,
    events: ClientEvents,
  ) {
    socket.on('message', (payload: ChatPayload) => {
      if (payload.msg_type === 0) events.message(payload.message);
      else events.unexpected(JSON.stringify(payload).slice(0, 120));
    });
    socket.on('chat_error', (error: string) => events.unexpected(`error ${error}`));
    socket.once('disconnect', (reason: string) => {
      if (!this.closing) events.dropped(reason);
    });
  }

  static open(spec: ClientSpec, events: ClientEvents, timeoutMs: number): Promise<ChatClient> {
    const socket = io(spec.url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
      extraHeaders: { cookie: `sessionid=${spec.sessionKey}` },
    });
    return new Promise((resolve, reject) => {
      socket.once('connect', () => {
        socket.off('connect_error');
        resolve(new SocketIoClient(spec, socket, events));
      });
      socket.once('connect_error', (error: Error) => {
        socket.disconnect();
        reject(new Error(`${spec.url}: Socket.IO connection refused: ${error.message}`));
      });
    });
  }

  async join(timeoutMs: number): Promise<void> {
    await this.socket.timeout(timeoutMs).emitWithAck('join', this.spec.room);
  }

  send(text: string): void {
    this.socket.emit('send', { room: this.spec.room, message: text });
  }

  close(): Promise<void> {
    this.closing = true;
    if (this.socket.disconnected) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.socket.once('disconnect', () => resolve()));
    this.socket.disconnect();
    return closed;
  }
}
