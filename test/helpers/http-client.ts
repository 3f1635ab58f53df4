import { request } from 'node:http';
import { connect } from 'node:net';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: Buffer;
}

/**
 * One HTTP request over a fresh connection: to 127.0.0.1:port, or to a Unix
 * socket. An answer not whole within `timeoutMs` (a server that hangs) fails
 * the test that waited, rather than the whole file at the runner's timeout,
 * which names no test.
 */
export function httpRequest(
  to: number | { socketPath: string },
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    timeoutMs?: number;
  } = {},
): Promise<HttpResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  // Made here, so that its stack names the test line that waited, not a timer.
  const timedOut = new Error(
    `no whole answer to ${options.method ?? 'GET'} ${path} within ${timeoutMs} ms`,
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(timedOut);
      req.destroy();
    }, timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    const req = request(
      {
        ...(typeof to === 'number' ? { host: '127.0.0.1', port: to } : to),
        path,
        method: options.method ?? 'GET',
        headers: {
          host: typeof to === 'number' ? `localhost:${to}` : 'localhost',
          ...options.headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          });
        });
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(options.body);
  });
}

/**
 * Writes raw bytes on a TCP connection and resolves with everything read until
 * it closes. Bytes given in pieces are written PIECE_PAUSE_MS apart, so that
 * the server reads each apart (a request that comes in pieces, as over a slow
 * network).
 */
export function rawExchange(
  port: number,
  bytes: string | Buffer | readonly (string | Buffer)[],
  timeoutMs = 5000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `connection still open after ${timeoutMs} ms; read: ${Buffer.concat(chunks).toString()}`,
        ),
      );
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    const pieces = typeof bytes === 'string' || Buffer.isBuffer(bytes) ? [bytes] : bytes;
    void (async () => {
      for (const [index, piece] of pieces.entries()) {
        if (index > 0) await new Promise((resolve) => setTimeout(resolve, PIECE_PAUSE_MS));
        if (!socket.destroyed) socket.write(piece);
      }
    })();
  });
}

const PIECE_PAUSE_MS = 50;
