import type { IncomingMessage, ServerResponse } from 'node:http';
import { ChannelFull, isTransientLayerError, type LayerUnavailable } from '../layer/errors.js';
import type { Message } from '../layer/types.js';
import { before } from '../deadline.js';
import { logFailure, logSecurityEvent } from '../logger.js';
import {
  CHANNELS,
  parseHttpResponse,
  ProtocolViolation,
  type HeaderList,
  type HttpDisconnectEvent,
  type HttpRequestEvent,
} from '../protocol.js';
import { REPLY_PREFIX, type ThymeContext } from './context.js';
import type { InFlight } from './in-flight.js';
import { clientAddress, headerList, isTls, serverAddress, type Target } from './request-info.js';
import { cutOff, plainResponse } from './responses.js';

class BodyTooLarge extends Error {}
/** No byte of the body came for the idle timeout: the client stalled mid-request. */
class BodyStalled extends Error {}
/** The body broke HTTP/1.1's framing (a bad chunk size, a chunk without its CRLF). */
class MalformedBody extends Error {}
/** The client ended the connection (a FIN) before the body was whole. */
class BodyCutShort extends Error {}

/**
 * Requests whose body Node's parser says will never be whole, with what reading
 * it throws (failBody, cutShort). Node says so only as a clientError on the
 * connection, and leaves the request waiting for bytes that will never count.
 */
const unfinishedBodies = new WeakMap<IncomingMessage, Error>();
/** Emitted, with that error, on such a request while its body is being read. */
const BODY_UNFINISHED = Symbol('body unfinished');

function neverWhole(req: IncomingMessage, error: Error): void {
  unfinishedBodies.set(req, error);
  req.emit(BODY_UNFINISHED, error);
}

/**
 * Node's parser found the body of `res`'s request malformed. Marks it so that
 * its answer is a 400 (readBody), and so that whatever answers it closes the
 * connection: nothing after the error can be read as HTTP. Returns false when
 * the error is not in this request's body (the request is whole: it is in a
 * pipelined one after it) or the response has started (too late for a status).
 */
export function failBody(res: ServerResponse): boolean {
  const { req } = res;
  if (req.complete || res.headersSent) return false;
  res.shouldKeepAlive = false;
  neverWhole(req, new MalformedBody());
  return true;
}

/**
 * The client ended the connection (a FIN) before the body of `res`'s request
 * was whole, whether that request is being read or still waits for the
 * responses before it (pipelined) to be sent: nothing is malformed, the client
 * has given up on it. Reading its body ends it as any request whose client has
 * left (a 499, never answered); an answer that needs no body (a Host not
 * allowed, a static file) is still sent. Either way nothing can follow on the
 * connection, which closes once the response is done.
 */
export function cutShort(res: ServerResponse): void {
  const { req } = res;
  if (!res.headersSent) res.shouldKeepAlive = false;
  else if (res.writableFinished) req.socket.end();
  else res.once('finish', () => req.socket.end());
  neverWhole(req, new BodyCutShort());
}

/**
 * Turns one HTTP request into an `http.request` event and the messages on its
 * reply channel into the response, streamed chunk by chunk. Returns the status.
 */
export async function bridgeHttpRequest(
  ctx: ThymeContext,
  inFlight: InFlight,
  req: IncomingMessage,
  res: ServerResponse,
  target: Target,
): Promise<number> {
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && req.httpVersion === '1.0') {
    // HTTP/1.0 has no chunking: a proxy in front may frame this body otherwise
    // (RFC 9112 §6.1: faulty framing). nginx refuses these too.
    plainResponse(res, 400, 'Bad Request: Transfer-Encoding in an HTTP/1.0 request', true);
    return 400;
  }
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
    // Node takes off the chunking alone (`gzip, chunked`): the worker would take
    // bytes still gzipped for the body. nginx and uvicorn refuse these too.
    plainResponse(res, 501, 'Not Implemented: request bodies may only be chunked', true);
    return 501;
  }
  const limit = ctx.options.httpMaxBodySize;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return refuseBody(ctx, res, target, limit);
  sendHeldContinue(res);
  let body: Buffer;
  try {
    // A body that stops arriving gets the same patience as headers that do.
    body = await readBody(req, limit, ctx.options.headersTimeout * 1000);
  } catch (error) {
    if (error instanceof BodyTooLarge) return refuseBody(ctx, res, target, limit);
    if (error instanceof MalformedBody) {
      plainResponse(res, 400, 'Bad Request: malformed request body', true);
      return 400;
    }
    if (error instanceof BodyCutShort) {
      // Nothing is written, so nothing else would close the connection; the
      // responses before this one on it have been sent (awaitTurn).
      req.socket.destroy();
      return 499;
    }
    if (error instanceof BodyStalled) {
      plainResponse(
        res,
        408,
        'Request Timeout: the request body stopped arriving, or came too slowly',
        true,
      );
      return 408;
    }
    return 499; // the client went away mid-body: nothing to answer (nginx's 499)
  }

  const reply = await ctx.layer.newChannel(REPLY_PREFIX);
  const event: HttpRequestEvent = {
    reply_channel: reply,
    http_version: req.httpVersion,
    method: (req.method ?? 'GET').toUpperCase(),
    scheme: isTls(req, ctx.options.proxyHeaders) ? 'https' : 'http',
    path: target.path,
    query_string: target.query,
    root_path: '',
    headers: headerList(req, target),
    body,
    client: clientAddress(req, ctx.options.proxyHeaders),
    server: serverAddress(req, ctx.socketPath),
  };
  // Watched from before the send: a client that leaves while it is on its way is
  // told to the worker too, once the request has reached it.
  let phase: 'sending' | 'streaming' | 'done' = 'sending';
  let leftWhileSending = false;
  const clientLeft = (): void => {
    const gone: HttpDisconnectEvent = { reply_channel: reply, path: target.path };
    inFlight.track(ctx.layer.send(CHANNELS.httpDisconnect, gone).catch(() => undefined));
    ctx.layer.releaseChannel(reply);
  };
  res.once('close', () => {
    if (phase === 'sending') leftWhileSending = true;
    // The response never ended (the client left, or Thyme cut it off): tell the
    // worker, stop waiting.
    else if (!res.writableEnded) clientLeft();
  });
  // --http-timeout counts from here, the send included: a layer that does not
  // take the request (a Redis that stopped answering, its connections left
  // open) holds it until the layer gives up on the server, 15 s or more.
  const answerBy = performance.now() + ctx.options.httpTimeout * 1000;
  const sent = ctx.layer.send(CHANNELS.httpRequest, event);
  if (!(await before(answerBy, sent))) {
    // Should it land after all, its worker hears that nobody waits for the answer.
    // A failed send is counted once it has failed, as a WebSocket's late connect
    // is (settleLateConnect): one that lands late did not fail.
    inFlight.track(
      sent.then(clientLeft, () => {
        ctx.metrics.layerSendFailures++;
        ctx.layer.releaseChannel(reply);
      }),
    );
    phase = 'done';
    ctx.logger.warn(
      { path: target.path },
      'the channel layer did not take an HTTP request in time',
    );
    plainResponse(res, 504, 'Gateway Timeout: no worker answered in time');
    return 504;
  }
  try {
    await sent;
  } catch (error) {
    ctx.layer.releaseChannel(reply);
    ctx.metrics.layerSendFailures++;
    const busy = isTransientLayerError(error);
    logFailure(
      ctx.logger,
      error,
      { path: target.path },
      'cannot pass an HTTP request to the workers',
      {
        expected: busy,
        level: 'warn',
      },
    );
    plainResponse(res, busy ? 503 : 500, busy ? unavailableReason(error) : undefined);
    return busy ? 503 : 500;
  }

  if (leftWhileSending) {
    clientLeft();
    return 499;
  }
  phase = 'streaming';
  try {
    return await streamResponse(ctx, reply, res, answerBy);
  } finally {
    phase = 'done';
    ctx.layer.releaseChannel(reply);
  }
}

/**
 * The next message on `reply`, or a rejection after `ms` or once a shutdown
 * stops waiting (ctx.stopWaiting). Not AbortSignal.timeout, whose timer cannot
 * be cleared: one per request would stay armed for the whole timeout after its
 * answer came; nor AbortSignal.any, whose dependent signals Node 20 keeps for
 * the life of the one they follow.
 */
async function receiveWithin(ctx: ThymeContext, reply: string, ms: number): Promise<Message> {
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  const timer = setTimeout(stop, ms);
  if (ctx.stopWaiting.aborted) stop();
  else ctx.stopWaiting.addEventListener('abort', stop, { once: true });
  try {
    return await ctx.layer.receive(reply, { signal: abort.signal });
  } finally {
    clearTimeout(timer);
    ctx.stopWaiting.removeEventListener('abort', stop);
  }
}

/** `answerBy` (performance.now()): when the response must have started (--http-timeout). */
async function streamResponse(
  ctx: ThymeContext,
  reply: string,
  res: ServerResponse,
  answerBy: number,
): Promise<number> {
  let status = 0;
  const timeoutMs = ctx.options.httpTimeout * 1000;
  for (;;) {
    // The client left while a chunk waited for it to drain: nothing more to read.
    if (status !== 0 && res.destroyed) return status;
    let message;
    try {
      // The timeout bounds the wait for the response's start, then each wait for
      // its next chunk (as nginx's proxy_read_timeout): a started response may
      // stream for as long as it keeps moving, but a worker that died in the middle
      // must not hold the client forever.
      message = await receiveWithin(
        ctx,
        reply,
        status === 0 ? Math.max(0, answerBy - performance.now()) : timeoutMs,
      );
    } catch {
      if (res.destroyed) return status || 499;
      const stopping = ctx.stopWaiting.aborted;
      if (status !== 0) {
        ctx.logger.warn(
          { reply, status },
          stopping
            ? 'shutting down: an HTTP response still streaming at the stop timeout is cut off'
            : 'a worker stopped in the middle of an HTTP response',
        );
        ctx.metrics.httpResponsesCutOff++;
        cutOff(res);
        return status;
      }
      if (stopping) {
        ctx.logger.warn({ reply }, 'shutting down: no worker answered an HTTP request in time');
        plainResponse(
          res,
          503,
          'Service Unavailable: shutting down before a worker answered',
          true,
        );
        return 503;
      }
      ctx.logger.warn({ reply }, 'no worker answered an HTTP request in time');
      plainResponse(res, 504, 'Gateway Timeout: no worker answered in time');
      return 504;
    }
    let part;
    try {
      part = parseHttpResponse(message, status === 0);
      if (status === 0) {
        // Node sends what it is given past a worker's Content-Length, or stops
        // short of it, and a keep-alive connection would take the difference for
        // (or from) the next response: told to check, it throws instead.
        res.strictContentLength = true;
        const started = part.status!;
        res.writeHead(started, rawHeaders(part.headers ?? [], started, res.shouldKeepAlive));
        status = started;
        // Node holds the head until the first body write: a stream that starts
        // empty (server-sent events, say) must reach the client as started.
        if (part.more_content && !part.content?.length) res.flushHeaders();
      }
    } catch (error) {
      ctx.logger.error({ err: error, reply, status }, 'invalid HTTP response from a worker');
      // A later chunk's fault, the response under way: it is cut off (plainResponse).
      plainResponse(res, 500);
      return status || 500;
    }
    // The client may have left during the last wait: writing on would wait for a
    // drain that never comes, and reading on would reopen the released channel.
    if (res.destroyed) return status;
    // A 205 has no content (RFC 9110 §15.3.6: the server MUST NOT send any);
    // Node drops it only from HEAD, 204 and 304 answers. Not logged, as those are not.
    const content = status === 205 ? undefined : part.content;
    try {
      if (content && content.length > 0 && !res.write(content)) {
        // Wait for the client to take it before pulling more from the layer.
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      if (!part.more_content) {
        res.end();
        return status;
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ERR_HTTP_CONTENT_LENGTH_MISMATCH') throw error;
      ctx.logger.error(
        { err: error, reply, status },
        'a worker sent a body that does not match its Content-Length; the response is cut off',
      );
      cutOff(res);
      return status;
    }
  }
}

/**
 * A worker's headers as writeHead takes them. How the body is framed on the
 * connection is Thyme's to get right: a worker's own Transfer-Encoding: chunked
 * is left out (Node chunks a body of undeclared length itself, and only for
 * HTTP/1.1 clients: an HTTP/1.0 one would read the chunk sizes as the body, and
 * beside a Content-Length it is a request-smuggling shape for a proxy in front).
 * Any other coding is one Thyme does not apply: the client would look for the
 * body's end where it is not. A Content-Length goes out only as RFC 9110 §8.6
 * has it, digits, once: Node counts "+5" or "5, 5" as 5 bytes and sends it as
 * given, which a client (Node's own, nginx in front) refuses as the framing,
 * and two that differ leave each reader to pick one. Repeats of one value are
 * sent once. Throws ProtocolViolation for those.
 *
 * Whether the connection stays open is Thyme's to decide too (`keepAlive`,
 * from the request and Thyme's own refusals): a worker's Connection may close
 * it, never keep it. Node takes any Connection value but close for keep-alive,
 * so a worker's `keep-alive` (or `upgrade` on a 426) held open a connection
 * whose client had sent `Connection: close` (RFC 9112 §9.6: the server MUST
 * close it) or that an HTTP/1.0 client reads to its end, and Node went on to
 * read what came after. The worker's keep-alive option is dropped, close is
 * added to its others when the connection is to close, and its Keep-Alive
 * header, whose timeout is Thyme's (--keep-alive-timeout), is left out.
 *
 * A 204 goes out with no Content-Length (RFC 9110 §8.6: the server MUST NOT
 * send one), a 205 with one of 0 in place of the worker's: it has no content
 * either, but unlike a 204's its end is not implied (RFC 9112 §6.3).
 */
function rawHeaders(headers: HeaderList, status: number, keepAlive: boolean): string[] {
  const raw: string[] = [];
  let length: string | undefined;
  for (const [nameBytes, valueBytes] of headers) {
    const name = Buffer.from(nameBytes).toString('latin1');
    const value = Buffer.from(valueBytes).toString('latin1');
    const lowerName = name.toLowerCase();
    if (lowerName === 'keep-alive') continue;
    if (lowerName === 'connection') {
      const options = connectionOptions(value, keepAlive);
      if (options) raw.push(name, options);
      continue;
    }
    if (lowerName === 'transfer-encoding') {
      if (value.trim().toLowerCase() !== 'chunked')
        throw new ProtocolViolation('"transfer-encoding" may only be chunked');
      continue;
    }
    if (lowerName === 'content-length') {
      if (status === 204 || status === 205) continue;
      const digits = value.trim();
      if (!/^\d+$/.test(digits))
        throw new ProtocolViolation('"content-length" must be a number of bytes, in digits');
      if (length !== undefined && BigInt(digits) !== BigInt(length))
        throw new ProtocolViolation('"content-length" is given twice, with two values');
      if (length !== undefined) continue;
      length = digits;
    }
    raw.push(name, value);
  }
  if (status === 205) raw.push('Content-Length', '0');
  return raw;
}

/**
 * A worker's Connection value as sent (rawHeaders): its options but keep-alive,
 * with close among them unless `keepAlive`; undefined when none is left.
 */
function connectionOptions(value: string, keepAlive: boolean): string | undefined {
  const options = value
    .split(',')
    .map((option) => option.trim())
    .filter((option) => option !== '' && option.toLowerCase() !== 'keep-alive');
  if (!keepAlive && !options.some((option) => option.toLowerCase() === 'close'))
    options.push('close');
  return options.length > 0 ? options.join(', ') : undefined;
}

/**
 * The slowest a body may arrive, on average, once `idleMs` of grace is spent
 * (Apache's mod_reqtimeout MinRate): far below any real upload, far above a
 * client that trickles a byte now and then to hold a connection for ever.
 */
const MIN_BODY_BYTES_PER_SECOND = 500;

/**
 * Reads the whole body, refusing more than `limit` bytes, and giving up when no
 * byte arrives for `idleMs`, or when the bytes come slower than
 * MIN_BODY_BYTES_PER_SECOND after `idleMs` of grace (Node's own timeouts stop at
 * the headers here: requestTimeout is off, since it would also cut long uploads
 * that are moving).
 */
function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Buffer> {
  if (req.complete) return Promise.resolve(Buffer.alloc(0));
  const unfinished = unfinishedBodies.get(req);
  if (unfinished) return Promise.reject(unfinished);
  const { socket } = req;
  let stalled: () => void = () => undefined;
  let ended: (error: Error) => void = () => undefined;
  const started = performance.now();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stalled = () => reject(new BodyStalled());
    ended = reject;
    req.once(BODY_UNFINISHED, ended);
    // The socket's idle timer: Node re-arms it on every read, so it fires only
    // after idleMs of silence, and it costs no timer of our own per chunk. Set
    // through the request: with a listener there, Node leaves the answer to us
    // instead of destroying the socket.
    req.setTimeout(idleMs, stalled);
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      // Checked as bytes come, so no timer: a trickle is cut at its next byte.
      const allowedMs = idleMs + (size / MIN_BODY_BYTES_PER_SECOND) * 1000;
      if (performance.now() - started > allowedMs) {
        req.pause();
        reject(new BodyStalled());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('aborted')));
  }).finally(() => {
    socket.setTimeout(0);
    req.off('timeout', stalled);
    req.off(BODY_UNFINISHED, ended);
  });
}

/** Keep-alive of the responses whose `100 Continue` is held, until it is sent. */
const heldContinues = new WeakMap<ServerResponse, boolean>();

/**
 * For a request with `Expect: 100-continue` (Node's 'checkContinue'): the 100
 * is held until the body is to be read (bridgeHttpRequest), so that a request
 * refused on its headers (a Host not allowed, a body declared too large) gets
 * its final status instead of an invitation to send the body first. Until then
 * the response closes its connection: a client may send the body anyway, and it
 * would be read as the next request.
 */
export function holdContinue(res: ServerResponse): void {
  heldContinues.set(res, res.shouldKeepAlive);
  res.shouldKeepAlive = false;
}

function sendHeldContinue(res: ServerResponse): void {
  const keepAlive = heldContinues.get(res);
  if (keepAlive === undefined) return;
  heldContinues.delete(res);
  res.shouldKeepAlive = keepAlive;
  res.writeContinue();
}

/** 413, logged as Django logs its RequestDataTooBig (which it answers with 400). */
function refuseBody(ctx: ThymeContext, res: ServerResponse, target: Target, limit: number): number {
  logSecurityEvent(
    ctx.logger,
    'error',
    'RequestDataTooBig',
    `Request body exceeded --http-max-body-size (${limit} bytes).`,
    { status: 413, path: target.path },
  );
  plainResponse(res, 413, `Payload Too Large: request bodies are limited to ${limit} bytes`, true);
  return 413;
}

/**
 * Why a request could not reach the workers: a full channel (add workers) and a
 * layer that is away (look at Redis) send the operator to different places.
 */
function unavailableReason(error: ChannelFull | LayerUnavailable): string {
  return error instanceof ChannelFull
    ? 'Service Unavailable: the workers cannot take more requests'
    : 'Service Unavailable: the workers cannot be reached';
}
