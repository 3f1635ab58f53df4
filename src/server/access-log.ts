import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import type { ServerResponse } from 'node:http';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * NCSA combined-format lines for HTTP, and the same shape for WebSocket events
 * (WSCONNECT, WSREJECT, WSDISCONNECT as the "method"), as Daphne logs them.
 */
export class AccessLog {
  private readonly stream: WriteStream;
  private failed = false;

  /**
   * Opens `path` at once, so that a file that cannot be written is refused at
   * start-up (AccessLogUnavailable), not found out by the first request. A write
   * that fails later is reported once to `onError`, and the log stops: losing
   * the access log must not take the server down.
   */
  constructor(
    readonly path: string,
    onError: (error: Error) => void,
  ) {
    let fd: number;
    try {
      fd = openSync(path, 'a');
    } catch (error) {
      throw new AccessLogUnavailable(path, error as Error);
    }
    this.stream = createWriteStream(path, { fd });
    this.stream.on('error', (error) => {
      if (this.failed) return;
      this.failed = true;
      onError(error);
    });
  }

  http(entry: {
    client: string;
    method: string;
    path: string;
    httpVersion: string;
    status: number;
    bytes: number;
    referer: string | undefined;
    userAgent: string | undefined;
  }): void {
    this.write(
      `${clean(entry.client)} - - [${timestamp()}] "${clean(entry.method)} ${clean(entry.path)} HTTP/${entry.httpVersion}" ${entry.status} ${entry.bytes} "${clean(entry.referer ?? '-')}" "${clean(entry.userAgent ?? '-')}"\n`,
    );
  }

  /**
   * An answer written with no request parsed: HTTP Node could not parse (a
   * 400, 414, 431 or 408 written by client-errors.ts, no body) or a connection
   * refused before its request is read (connection-limit.ts). No request line
   * to show, so "-" as nginx writes it.
   */
  unparsed(client: string, status: number, bytes = 0): void {
    this.write(`${clean(client)} - - [${timestamp()}] "-" ${status} ${bytes} "-" "-"\n`);
  }

  websocket(
    event: 'WSCONNECT' | 'WSREJECT' | 'WSDISCONNECT',
    client: string,
    path: string,
    code?: number,
  ): void {
    this.write(
      `${clean(client)} - - [${timestamp()}] "${event} ${clean(path)}" ${code ?? '-'} -\n`,
    );
  }

  /** After a failed write the log has stopped: lines are dropped, not queued. */
  private write(line: string): void {
    if (!this.failed) this.stream.write(line);
  }

  close(): Promise<void> {
    if (this.failed) return Promise.resolve();
    return new Promise((resolve) => this.stream.end(resolve));
  }
}

/**
 * Counts the body bytes `res` is given to send, for the access log's size
 * field: the body alone, as combined-format lines have it (Apache's %b,
 * nginx's $body_bytes_sent, Daphne's size). Counted on the response, not read
 * off the connection: responses pipelined on one keep-alive connection are
 * written to it in turn, each one's bytes held until those before it are sent,
 * so the connection's byte count over one request's handling mixes them up.
 * Returns the count so far; 0 for a response that has no body (HEAD, 1xx, 204,
 * 304), whose body Node drops.
 */
export function countBodyBytes(res: ServerResponse): () => number {
  let bytes = 0;
  const count = (chunk: unknown, encoding: unknown): void => {
    if (typeof chunk === 'string')
      bytes += Buffer.byteLength(
        chunk,
        typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
      );
    else if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
  };
  const write = res.write as (...args: unknown[]) => boolean;
  const end = res.end as (...args: unknown[]) => ServerResponse;
  // Counted once taken: a write that throws (a body past its Content-Length) sent nothing.
  res.write = ((...args: unknown[]) => {
    const taken = write.apply(res, args);
    count(args[0], args[1]);
    return taken;
  }) as typeof res.write;
  res.end = ((...args: unknown[]) => {
    const ended = end.apply(res, args);
    count(args[0], args[1]);
    return ended;
  }) as typeof res.end;
  return () => {
    const { statusCode } = res;
    const bodyless =
      res.req.method === 'HEAD' || statusCode < 200 || statusCode === 204 || statusCode === 304;
    return bodyless ? 0 : bytes;
  };
}

/** The access log's file could not be opened for appending. */
export class AccessLogUnavailable extends Error {
  constructor(
    readonly path: string,
    cause: Error,
  ) {
    super(`cannot open the access log ${path}: ${cause.message}`, { cause });
    this.name = 'AccessLogUnavailable';
  }
}

/**
 * Keeps a client-controlled value from breaking the line format. Node hands over
 * header values and the request line as latin1, a character per byte, so UTF-8
 * arrives as mojibake with C1 controls (U+0080-U+009F, NEL among them) in it:
 * every byte outside printable ASCII is written as \xNN, as nginx and Apache
 * do, and a line stays one line of ASCII whatever the client sent.
 */
function clean(value: string): string {
  return value.replace(/[^\x20-\x7e]|["\\]/gu, (c) => {
    const code = c.codePointAt(0)!;
    // Past latin1 (a value not read off the wire): its UTF-8 bytes.
    const bytes = code <= 0xff ? [code] : [...Buffer.from(c, 'utf8')];
    return bytes.map((byte) => `\\x${byte.toString(16).padStart(2, '0')}`).join('');
  });
}

function timestamp(date = new Date()): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}
