import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { BROWSER_HEADERS } from '../browser-headers.js';

/**
 * The error listener of a connection taken over from the HTTP server (an
 * upgrade): a module-level function, since a closure made per request would keep
 * that request (and its headers) alive for the connection's whole life.
 */
export function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * What a browser is told of every error Thyme answers itself, whether it has a
 * body or not. The application's pages get theirs from its middleware; these
 * never reach it, and a browser may still load them (a 503 during a deploy, a
 * refused handshake opened as a page, a 431 for a cookie grown too large): no
 * framing, nothing to run, no Referer or opener kept, and never from a cache.
 */
const ERROR_POLICY_HEADERS = {
  ...BROWSER_HEADERS,
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Cache-Control': 'no-store',
} as const;

/** Headers of every error Thyme answers itself with a body: plain text, never sniffed as HTML. */
const ERROR_HEADERS = {
  'Content-Type': 'text/plain; charset=utf-8',
  ...ERROR_POLICY_HEADERS,
} as const;

/** `headers` as lines to write straight to a socket, each ending in CRLF. */
function headerLines(headers: Readonly<Record<string, string>>): string {
  return Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
}

const ERROR_HEADER_LINES = headerLines(ERROR_HEADERS);

/** No Content-Type: there is no body to type. */
const UNPARSED_HEADER_LINES = headerLines(ERROR_POLICY_HEADERS);

/**
 * Answers a handshake that will not be upgraded with a plain HTTP status, then
 * closes. `extraHeaders` are complete header lines, each ending in CRLF.
 * Returns the body's bytes, for the access log: 0 when nothing was written.
 */
export function rejectUpgrade(
  socket: Duplex,
  status: number,
  reason: string,
  extraHeaders = '',
): number {
  // Not writable: already answered (a connection over the limit), and closing.
  if (socket.destroyed || !socket.writable) return 0;
  const body = `${STATUS_CODES[status] ?? 'Error'}: ${reason}\n`;
  const bytes = Buffer.byteLength(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n${extraHeaders}${ERROR_HEADER_LINES}Content-Length: ${bytes}\r\n\r\n${body}`,
  );
  return bytes;
}

/**
 * Answers a request Node could not parse (client-errors.ts: 400, 414, 431, 408, 501)
 * with its status alone, then closes: what follows the error is not readable
 * as HTTP. Written straight to the socket, as there is no request to answer
 * through, and with no body, as Node's own answer has none (the access log's
 * size for it stays 0).
 */
export function answerUnparsed(socket: Duplex, status: number): void {
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n${UNPARSED_HEADER_LINES}Content-Length: 0\r\n\r\n`,
  );
}

/**
 * Ends a response that has started but cannot go on, with a reset: too late for
 * an error status, the client must see a broken response, not a complete one
 * (over HTTP/1.0 a plain close would end the body as if it were whole).
 */
export function cutOff(res: ServerResponse): void {
  if (res.socket) res.socket.resetAndDestroy();
  else res.destroy();
}

/**
 * A short plain-text response for errors Thyme answers itself; a response that
 * has started already is cut off instead (cutOff).
 */
export function plainResponse(
  res: ServerResponse,
  status: number,
  text?: string,
  close = false,
): void {
  writePlain(res, status, text, close ? { Connection: 'close' } : {});
}

/**
 * Thyme's 405 for what only GET and HEAD may read (its static files): an error
 * like its others, with the Allow header RFC 9110 §15.5.6 requires. Returns the
 * status.
 */
export function methodNotAllowed(res: ServerResponse): number {
  writePlain(res, 405, undefined, { Allow: 'GET, HEAD' });
  return 405;
}

function writePlain(
  res: ServerResponse,
  status: number,
  text: string | undefined,
  headers: Readonly<Record<string, string>>,
): void {
  const body = `${text ?? STATUS_CODES[status] ?? 'Error'}\n`;
  if (res.headersSent) {
    cutOff(res);
    return;
  }
  // The reason phrase too: a writeHead that threw (a worker's invalid header)
  // may have left its own status's ("OK") behind.
  res.writeHead(status, STATUS_CODES[status] ?? 'Error', {
    ...ERROR_HEADERS,
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * Answers the server-wide `OPTIONS * HTTP/1.1` (RFC 9110 §9.3.7), which tools
 * and proxies send as a ping: 200 with no content, whose Content-Length: 0
 * the RFC requires. No Allow: the methods are the application's, and differ
 * from path to path (an `OPTIONS /path` reaches the worker, which names
 * them); a list for the whole server would promise what a path may refuse.
 * It carries BROWSER_HEADERS as every other answer on the public port does,
 * so that none is left to ask whether it needs them. Returns the status.
 */
export function answerServerOptions(res: ServerResponse): number {
  res.writeHead(200, { ...BROWSER_HEADERS, 'Content-Length': 0 });
  res.end();
  return 200;
}
