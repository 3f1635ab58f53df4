import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { cutShort, failBody } from './http.js';
import { overflowStatus, tookLaterRead } from './header-overflow.js';
import { answerUnparsed } from './responses.js';
import { invalidMethodStatus } from './unknown-method.js';

/**
 * The status for a clientError Node reports on a connection, or undefined when
 * there is nothing to answer: over TLS, https.Server reports a failed or
 * timed-out handshake (plain HTTP sent to the port, a client that never says
 * hello) as a clientError too, and a response written in the clear would wait
 * for a handshake that never comes, holding the connection (and a shutdown).
 */
function statusFor(error: NodeJS.ErrnoException): number | undefined {
  if (error.code === 'HPE_HEADER_OVERFLOW') return 431; // or 414: overflowStatus
  if (error.code === 'HPE_INVALID_METHOD') return invalidMethodStatus(error);
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return error.code?.startsWith('HPE_') ? 400 : undefined;
}

/** Connections whose malformed HTTP is already being answered (Node reports it again with every read). */
const answering = new WeakSet<Socket>();

/**
 * A connection's responses not yet closed, pipelined ones waiting their turn
 * included (Node keeps those in a queue of its own, their bytes held until the
 * ones before them are sent), each with what ends its wait.
 */
interface Responses {
  unfinished: Map<ServerResponse, () => void>;
  /** Resolves once every response so far has closed, or the connection has. */
  allClosed: Promise<void> | undefined;
  /** Reading is stopped: too many requests wait for their answers (MAX_WAITING). */
  held: boolean;
  /** Requests taken on the connection so far. */
  taken: number;
  /** `taken` once reading was last stopped: while they are equal, no request has been read since. */
  heldAt: number;
  /** Run once reading resumes. */
  onResume: (() => void)[];
}

/**
 * Requests a connection may have waiting for their answers before Thyme stops
 * reading it. Node parses all a client sends and hands over each request at
 * once, some 2.8 KB each: pipelined in one write, 60,000 of them took 174 MB
 * while they were answered in order, one client enough to exhaust the memory.
 * Past this, the connection's bytes wait in the kernel (and the client's
 * writes with them: TCP's own backpressure) until the answers drain, as nginx
 * reads a connection only as it answers it. Browsers do not pipeline, tools
 * pipeline tens: they never wait.
 */
const MAX_WAITING = 100;

const connections = new WeakMap<Socket, Responses>();

function responsesOf(socket: Socket): Responses {
  let responses = connections.get(socket);
  if (!responses) {
    const made: Responses = {
      unfinished: new Map(),
      allClosed: undefined,
      held: false,
      taken: 0,
      heldAt: -1,
      onResume: [],
    };
    connections.set(socket, made);
    // A request that was never answered (one dropped by awaitTurn) has no
    // 'close' of its own: the connection's ends every wait. One listener per
    // connection, not one per request.
    socket.once('close', () => {
      for (const closed of made.unfinished.values()) closed();
    });
    // Node resumes the socket on its own (as each answered request is dumped,
    // as its own write backpressure ends): while held, it is paused again at
    // once, as Node's own listener does for its pause, before any read.
    socket.on('resume', () => {
      if (made.held) socket.pause();
    });
    responses = made;
  }
  return responses;
}

/**
 * What comes of a request once the responses before it on its connection are
 * done (awaitTurn):
 * - 'answer': the connection is still open, the request is served;
 * - 'left': the client reset the connection before the request's turn (it
 *   may be cut mid-body): it has left before its answer, a 499, as it would
 *   be without pipelining;
 * - 'closed': Thyme closed the connection first (a response before it that
 *   closes it, a shutdown): the request is never taken, run or counted.
 */
export type Turn = 'answer' | 'left' | 'closed';

/**
 * Waits until every response before `res` on its connection has closed, then
 * says whether `res` can still be answered there (a Turn); until then it is
 * counted among the connection's responses (see answerClientError). Node
 * parses and hands over every request a client pipelines at once, whatever
 * comes of those before it: after a response that closes the connection (Thyme's refusal of a
 * body too large, a worker's `Connection: close`, a body of no declared length
 * to an HTTP/1.0 keep-alive client, which only the close can end) the next
 * request's answer can never be sent, and run, it would act for a client that
 * is never told (a POST after a refused one). Whether a response closes is
 * known only once it is written, so pipelined requests are taken one at a
 * time, in order, as nginx and uvicorn take them. Each waits on the one before
 * it alone (a chain): waiting on all of them, thousands pipelined in one write
 * cost time and memory in the square of their number. Past MAX_WAITING of
 * them, the connection is not read until they drain.
 */
export async function awaitTurn(res: ServerResponse): Promise<Turn> {
  const { socket } = res.req;
  const responses = responsesOf(socket);
  const closed = new Promise<void>((resolve) => {
    const done = (): void => {
      responses.unfinished.delete(res);
      if (responses.held && responses.unfinished.size < MAX_WAITING) {
        responses.held = false;
        socket.resume();
        for (const resumed of responses.onResume.splice(0)) resumed();
      }
      resolve();
    };
    responses.unfinished.set(res, done);
    res.once('close', done);
  });
  responses.taken++;
  if (responses.unfinished.size > MAX_WAITING && !responses.held) {
    // Node still hands over the rest of the bytes it has read (one read, 64 KB
    // at most): the bound is MAX_WAITING and one read's worth.
    responses.held = true;
    socket.pause();
  }
  // Those still handed over from the last read came before the hold took effect.
  if (responses.held) responses.heldAt = responses.taken;
  const before = responses.allClosed;
  responses.allClosed = before ? before.then(() => closed) : closed;
  // A closing response ends the socket as it finishes (Node's destroySoon),
  // before its 'close': a request after it finds the socket no longer writable.
  if (before && socket.writable) await before;
  if (socket.writable) return 'answer';
  // A socket destroyed by an error was reset by its client (ECONNRESET, or
  // EPIPE on a write); one ended or destroyed without one, reset included (a
  // response cut off), was closed by Thyme.
  return socket.errored ? 'left' : 'closed';
}

/**
 * Node times a request's headers from the read that began them: on a
 * connection held (MAX_WAITING) before the rest of them was read, the time
 * was Thyme's, not the client's. Such a request gets its time again from the
 * resume (Node times it no more), and `timedOut` runs only if no request has
 * come by its end, as a client that stops mid-headers must still be cut.
 * Returns false when the time was the client's own.
 */
function timedWhileHeld(socket: Socket, headersTimeoutMs: number, timedOut: () => void): boolean {
  const responses = connections.get(socket);
  if (responses === undefined || responses.heldAt !== responses.taken) return false;
  responses.heldAt = -1; // once: when its time runs out again, it is the client's
  const { taken } = responses;
  const restart = (): void => {
    const timer = setTimeout(() => {
      if (responses.taken === taken) timedOut();
    }, headersTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
  };
  if (responses.held) responses.onResume.push(restart);
  else restart();
  return true;
}

/** The response to `req` among those of `socket` not yet closed, if it is one of them. */
function responseTo(socket: Socket, req: IncomingMessage): ServerResponse | undefined {
  for (const res of connections.get(socket)?.unfinished.keys() ?? [])
    if (res.req === req) return res;
  return undefined;
}

/**
 * Answers malformed HTTP on `socket` (Node's clientError) and drops the
 * connection, nothing after the error being readable as HTTP. Where the error
 * is depends on what the connection is doing:
 * - no request under way: the headers are malformed (or came too slowly),
 *   answered at once;
 * - the client ended the connection (a FIN) before the body of the last
 *   request it sent was whole: nothing is malformed, the client has given up
 *   on that request (cutShort: a 499 unless answered without its body), and
 *   the responses before it are sent whole first;
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
  headersTimeoutMs: number,
): void {
  const status = statusFor(error);
  if (status === undefined || !socket.writable) {
    socket.destroy();
    return;
  }
  if (tookLaterRead(error, socket)) return;
  if (
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' &&
    timedWhileHeld(socket, headersTimeoutMs, () =>
      answerClientError(error, socket, onAnswer, headersTimeoutMs),
    )
  )
    return;
  if (answering.has(socket)) return;
  if (error.code === 'HPE_INVALID_EOF_STATE') {
    // The request Node was reading when the connection ended: with responses
    // before it still being sent, it waits its turn behind them.
    const last = (socket as { parser?: { incoming?: IncomingMessage | null } }).parser?.incoming;
    if (last && !last.complete) {
      const res = responseTo(socket, last);
      // None: it was answered (before its body came) and its response is done.
      if (res) cutShort(res);
      else socket.end();
      return;
    }
  }
  const current = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (current && failBody(current)) return;
  if (current && !current.req.complete) {
    socket.destroy();
    return;
  }
  answering.add(socket);
  // Taken now: the overflow is told from the read Node failed in.
  const answer = error.code === 'HPE_HEADER_OVERFLOW' ? overflowStatus(error, socket) : status;
  void Promise.all([answer, connections.get(socket)?.allClosed]).then(([decided]) => {
    // A response before it may have closed the connection (Connection: close).
    if (!socket.writable) return;
    onAnswer(decided);
    answerUnparsed(socket, decided);
  });
}
