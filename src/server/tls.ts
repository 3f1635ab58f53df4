import type { Server, ServerOptions } from 'node:http';
import { createServer, type Server as HttpsServer } from 'node:https';
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

/**
 * Serves `files` to the connections `server` accepts from now on (a renewed
 * certificate); those already open keep theirs. Throws TlsUnusable for a pair
 * TLS cannot use, and the server goes on with the pair it had.
 */
export function replaceTlsFiles(server: Server, files: TlsFiles): void {
  try {
    (server as unknown as HttpsServer).setSecureContext({ cert: files.cert, key: files.key });
  } catch (error) {
    throw new TlsUnusable(error as Error);
  }
}
