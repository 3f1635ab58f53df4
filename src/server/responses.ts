import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The error listener of a connection taken over from the HTTP server (an
 * upgrade): a module-level function, since a closure made per request would keep
 * that request (and its headers) alive for the connection's whole life.
 */
export function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** Answers a handshake that will not be upgraded with a plain HTTP status, then closes. */
export function rejectUpgrade(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  const body = `${STATUS_CODES[status] ?? 'Error'}: ${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** A short plain-text response for errors Thyme answers itself. */
export function plainResponse(
  res: ServerResponse,
  status: number,
  text?: string,
  close = false,
): void {
  const body = `${text ?? STATUS_CODES[status] ?? 'Error'}\n`;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(body);
}
