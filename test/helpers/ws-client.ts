import { WebSocket, type ClientOptions } from 'ws';

export interface Closed {
  code: number;
  reason: string;
}

/** A WebSocket test client that queues what it receives and records how it closed. */
export class TestClient {
  readonly received: (string | Buffer)[] = [];
  readonly closed: Promise<Closed>;
  private waiters: ((value: string | Buffer) => void)[] = [];
  /** The close code, once closed (for a timeout's message). */
  private closedAs: number | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const value = isBinary ? data : data.toString('utf8');
      const waiter = this.waiters.shift();
      if (waiter) waiter(value);
      else this.received.push(value);
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        this.closedAs = code;
        resolve({ code, reason: reason.toString() });
      }),
    );
    ws.on('error', () => undefined);
  }

  /**
   * Opens a socket; rejects with the HTTP status when the handshake is refused,
   * and with an error naming the URL when no answer to it came within
   * `handshakeTimeoutMs` (a server that accepts and says nothing), so that the
   * test that waited fails, not its whole file at the runner's timeout.
   */
  static open(url: string, options: OpenOptions = {}): Promise<TestClient> {
    const { handshakeTimeoutMs = 15_000, ...wsOptions } = options;
    const origin =
      'origin' in wsOptions ? wsOptions.origin : new URL(url).origin.replace(/^ws/, 'http');
    // Made here, so that its stack names the test line that waited, not a timer.
    const timedOut = new Error(
      `no answer to the WebSocket handshake with ${url} within ${handshakeTimeoutMs} ms`,
    );
    const ws = new WebSocket(url, { ...wsOptions, ...(origin === undefined ? {} : { origin }) });
    const client = new TestClient(ws);
    let timer: NodeJS.Timeout | undefined;
    return new Promise<TestClient>((resolve, reject) => {
      timer = setTimeout(() => {
        reject(timedOut);
        ws.terminate();
      }, handshakeTimeoutMs);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        reject(new HandshakeRefused(res.statusCode ?? 0));
        ws.terminate();
      });
      ws.once('error', (error) => reject(error));
    }).finally(() => clearTimeout(timer));
  }

  send(data: string | Buffer): void {
    this.ws.send(data);
  }

  /**
   * The next message. The timeout is generous because it is only reached when a
   * test fails: a loaded CI machine can stall a correct server for seconds.
   */
  next(timeoutMs = 5000): Promise<string | Buffer> {
    const queued = this.received.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    // Made here, so that its stack names the test line that waited, not a timer.
    const timedOut = new Error(`no message within ${timeoutMs} ms`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== deliver);
        timedOut.message +=
          this.closedAs === undefined
            ? ' (the socket is open)'
            : ` (the socket closed with ${this.closedAs})`;
        reject(timedOut);
      }, timeoutMs);
      const deliver = (value: string | Buffer): void => {
        clearTimeout(timer);
        resolve(value);
      };
      this.waiters.push(deliver);
    });
  }

  close(code?: number): void {
    this.ws.close(code);
  }
}

export type OpenOptions = ClientOptions & { origin?: string; handshakeTimeoutMs?: number };

export class HandshakeRefused extends Error {
  constructor(readonly status: number) {
    super(`handshake refused with HTTP ${status}`);
  }
}

/** The status a refused handshake got (throws if it was accepted). */
export async function handshakeStatus(url: string, options: OpenOptions = {}): Promise<number> {
  try {
    const client = await TestClient.open(url, options);
    client.ws.terminate();
  } catch (error) {
    if (error instanceof HandshakeRefused) return error.status;
    throw error;
  }
  throw new Error('the handshake was accepted');
}
