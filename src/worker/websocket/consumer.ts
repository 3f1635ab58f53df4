import type { Message } from '../../layer/types.js';
import type { SocketUser } from '../app.js';

/** What a socket's handlers see: who and where, its persisted state, and what they may do. */
export interface SocketContext<State extends Message = Message> {
  /** The socket's reply channel: its address on the layer, and its key for groups. */
  readonly channel: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The user found from the session cookie at connect; fixed for the socket's life. */
  readonly user: SocketUser | null;
  /**
   * This connection's state: kept between events (whichever worker runs them) and
   * dropped with the connection. Values must be layer message values.
   */
  state: State;

  accept(): void;
  /** Refuses the handshake (HTTP 403). */
  reject(): void;
  close(code?: number): void;
  send(text: string): void;
  sendJson(value: unknown): void;
  sendBytes(bytes: Uint8Array): void;
  groupAdd(group: string): void;
  groupDiscard(group: string): void;
  groupSendJson(group: string, value: unknown): void;
  /**
   * Applies now, in order, everything this handler asked for so far, and waits
   * for it; rejects with the first failure. On one Redis server they go as one
   * script, so nothing another process does lands between them (a join's answer
   * and its group add); a turn another worker took over (lease lapsed) applies
   * nothing, and the handler stops there. Without it, a handler's effects are
   * applied when it returns, together with the end of its turn (one script on
   * one Redis server), before the socket's next event runs: handlers flush only
   * when they need the result (or an error) of an earlier step.
   */
  flush(): Promise<void>;
}

/**
 * A WebSocket application. Handlers run one at a time per socket, in the order
 * the socket's events happened, on whichever worker gets them; they may run
 * concurrently for different sockets.
 */
export interface WebSocketConsumer<State extends Message = Message> {
  /** Default: accept. Call `reject()` to refuse. */
  connect?(socket: SocketContext<State>): Promise<void> | void;
  receive?(
    socket: SocketContext<State>,
    frame: { text?: string; bytes?: Uint8Array },
  ): Promise<void> | void;
  disconnect?(socket: SocketContext<State>, code: number): Promise<void> | void;
}
