import { createWriteStream, openSync, type WriteStream } from 'node:fs';

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

/** Keeps a client-controlled value from breaking the line format. */
function clean(value: string): string {
  return value.replace(
    // eslint-disable-next-line no-control-regex -- control characters are what must be escaped
    /[\x00-\x1f\x7f"\\]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function timestamp(date = new Date()): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}
