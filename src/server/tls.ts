import type { Server, ServerOptions } from 'node:http';
import { createServer } from 'node:https';
import type { TlsFiles } from './options.js';

/** A certificate and key TLS cannot use: a key of another certificate, a file that is not PEM. */
export class TlsUnusable extends Error {
  constructor(cause: Error) {
    super(`cannot use the TLS certificate and key: ${cause.message}`, { cause });
    this.name = 'TlsUnusable';
  }
}

/**
 * An HTTPS server: an http.Server to the rest of Thyme (same events, same
 * options), whose connections are TLS sockets. Those are Duplex streams like
 * plain ones, so WebSocket frames and pings are written to them the same way.
 */
export function createSecureServer(
  files: TlsFiles,
  options: ServerOptions,
  handshakeTimeoutMs: number,
): Server {
  try {
    return createServer({
      ...options,
      cert: files.cert,
      key: files.key,
      handshakeTimeout: handshakeTimeoutMs,
    });
  } catch (error) {
    throw new TlsUnusable(error as Error);
  }
}
