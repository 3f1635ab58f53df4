import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { failBody } from './http.js';
import { closesConnection } from './responses.js';

/**
 * The status for a clientError Node reports on a connection, or undefined when
 * there is nothing to answer: over TLS, https.Server reports a failed or
 * timed-out handshake (plain HTTP sent to the port, a client that never says
 * hello) as a clientError too, and a response written in the clear would wait
 * for a handshake that never comes, holding the connection (and a shutdown).
 */
function statusFor(error: NodeJS.ErrnoException): number | undefined {
  if (error.code === 'HPE_HEADER_OVERFLOW') return 431;
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return error.code?.startsWith('HPE_') ? 400 : undefined;
}

/** Connections whose malformed HTTP is already being answered (Node reports it again with every read). */
const answering = new WeakSet<Socket>();
/**
 * Each connection's responses not yet closed, pipelined ones waiting their turn
 * included: Node keeps those in a queue of its own, their bytes held until the
 * ones before them are sent.
 */
const unfinished = new WeakMap<Socket, Set<ServerResponse>>();
/**
 * Connections a sent response closes: Node may parse what followed it only
 * after it is sent (the rest of a body it had not yet read, say).
 */
const closedAfter = new WeakSet<Socket>();

/**
 * Whether a response before `res` on its connection closes the connection
 * (Thyme refused its request: a body too large, a coding it cannot take). Node
 * goes on parsing what the client pipelined after such a request, and hands it
 * over as requests that can never be answered: run, they would act for a
 * client that is never told (a POST after a refused one).
 */
export function followsClosingResponse(res: ServerResponse): boolean {
  const { socket } = res.req;
  if (closedAfter.has(socket)) return true;
  for (const before of unfinished.get(socket) ?? []) {
    if (before !== res && closesConnection(before)) return true;
  }
  return false;
}

/** Counts `res` among its connection's responses until it closes (see answerClientError). */
export function watchResponse(res: ServerResponse): void {
  const { socket } = res.req;
  let responses = unfinished.get(socket);
  if (!responses) unfinished.set(socket, (responses = new Set()));
  responses.add(res);
  res.once('close', () => {
    responses.delete(res);
    if (closesConnection(res)) closedAfter.add(socket);
  });
}

/**
 * Answers malformed HTTP on `socket` (Node's clientError) and drops the
 * connection, nothing after the error being readable as HTTP. Where the error
 * is depends on what the connection is doing:
 * - no request under way: the headers are malformed (or came too slowly),
 *   answered at once;
 * - a request under way whose body is not whole: its body is malformed, and
 *   its own answer is a 400 (failBody), as for any other bad body;
 * - requests under way that are whole: the error is in a request pipelined
 *   after them, and they are answered first (their responses are not cut).
 * A response already started on a malformed body can only be cut off.
 * `onAnswer` is told each status written here (a bad body's 400 is the
 * request's own, counted with it).
 */
export function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Socket,
  onAnswer: (status: number) => void,
): void {
  const status = statusFor(error);
  if (status === undefined || !socket.writable) {
    socket.destroy();
    return;
  }
  if (answering.has(socket)) return;
  const current = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (current && failBody(current)) return;
  if (current && !current.req.complete) {
    socket.destroy();
    return;
  }
  answering.add(socket);
  const before = [...(unfinished.get(socket) ?? [])];
  void Promise.all(before.map((res) => new Promise((resolve) => res.once('close', resolve)))).then(
    () => {
      // A response before it may have closed the connection (Connection: close).
      if (!socket.writable) return;
      onAnswer(status);
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
    },
  );
}
