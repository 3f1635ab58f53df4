import type { Message } from '../layer/types.js';
import type { Request } from './http/request.js';
import type { Response } from './http/response.js';
import type { WebSocketConsumer } from './websocket/consumer.js';

/** Who opened a WebSocket, found from its session cookie at connect, and kept for its lifetime. */
export interface SocketUser {
  id: number;
  username: string;
  isStaff: boolean;
  isSuperuser: boolean;
  /**
   * The stored hash of the session the socket was opened with (to notice a
   * logout). Not the key: a socket's state is saved in the layer, and what is
   * saved there must not open a session for whoever can read it.
   */
  sessionKeyHash: string;
}

/** What a worker runs: HTTP views (behind their middleware) and WebSocket consumers by path. */
export interface Application {
  readonly name: string;
  /** Answers one HTTP request; errors it throws become 500 pages. */
  handleHttp(request: Request): Promise<Response>;
  /** The consumer for a WebSocket path, if any (none → the handshake is refused). */
  consumerFor(path: string): WebSocketConsumer | undefined;
  /** The user a WebSocket handshake carries (its session cookie), or null. */
  identifySocket?(headers: ReadonlyMap<string, string>): Promise<SocketUser | null>;
  /** Turns a thrown error into a response (404/500 pages in the site's layout). */
  errorResponse?(status: number, request: Request | undefined): Response;
  /**
   * The application's last work at the worker's stop, once its events finished
   * or were abandoned: what it still has to send goes no later than `deadline`
   * (performance.now()), and the layer is open until it resolves.
   */
  close?(deadline: number): Promise<void>;
}

/** A value that can live in a connection's state (persisted between events). */
export type StateValue = Message[string];
