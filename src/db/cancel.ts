import { connect, type Socket } from 'node:net';

/**
 * What a cancel request needs of a pg client: the server's key for its backend
 * (BackendKeyData, kept by pg as processID and secretKey, not in its types) and
 * where the server is.
 */
export interface CancelTarget {
  host: string;
  port: number;
  processID: number | null;
  secretKey: number | null;
  /** pg's: false while a statement sent on the connection is unanswered. */
  readyForQuery?: boolean;
}

/** The CancelRequest code of the PostgreSQL protocol (1234 << 16 | 5678). */
const CANCEL_REQUEST_CODE = 80877102;

/**
 * The pg clients a pool has open, so that a process about to leave queries it
 * gave up on can have the server cancel them (see cancelAll), and a query
 * given up waiting for one can learn what they are doing (BusyPool).
 */
export class PostgresBackends {
  private readonly clients = new Set<CancelTarget>();

  /** A pool's afterCreate hook: tracks the client until its connection ends. */
  readonly track = (
    client: CancelTarget & { once(event: 'end', listener: () => void): unknown },
    done: (error?: Error) => void,
  ): void => {
    this.clients.add(client);
    client.once('end', () => this.clients.delete(client));
    done();
  };

  /** The server's process ids of the pool's connections (for pg_stat_activity). */
  pids(): number[] {
    return [...this.clients].flatMap(({ processID }) => (processID === null ? [] : [processID]));
  }

  /**
   * Asks the server to cancel whatever each connection runs, as libpq's PQcancel
   * does: a CancelRequest on a connection of its own, which needs no login and no
   * free connection slot. A query the process gave up on would otherwise run on
   * after the process has gone (closing the socket does not stop a statement
   * waiting for a lock: the server notices only when it writes the result, after
   * an autocommit write has committed). Only connections with a statement
   * unanswered are sent one: an idle connection would ignore it, unless a
   * statement reached it first, such as the ROLLBACK of a transaction whose
   * next statement the process refused (interruptQueriesOnAbort), which
   * would then fail and leave the transaction open. Resolves within `withinMs`
   * (a server that stopped answering cannot be reached to cancel anything)
   * with the number of requests the server took.
   */
  async cancelAll(withinMs: number): Promise<number> {
    const deadline = performance.now() + withinMs;
    const sent = await Promise.all(
      [...this.clients]
        .filter((client) => client.readyForQuery === false)
        .map((client) => sendCancelRequest(client, deadline)),
    );
    return sent.filter(Boolean).length;
  }
}

/**
 * Sends one CancelRequest; resolves true once the server has taken it (it closes
 * the connection after acting on it), false if it failed or `deadline`
 * (performance.now()) came first.
 */
function sendCancelRequest(target: CancelTarget, deadline: number): Promise<boolean> {
  const { processID, secretKey } = target;
  if (processID === null || secretKey === null) return Promise.resolve(false);
  return new Promise((resolve) => {
    // A host starting with / names the directory of the server's Unix socket.
    const socket: Socket = target.host.startsWith('/')
      ? connect(`${target.host}/.s.PGSQL.${target.port}`)
      : connect(target.port, target.host);
    const timer = setTimeout(() => socket.destroy(), Math.max(0, deadline - performance.now()));
    let written = false;
    let taken = false;
    socket.once('connect', () => {
      const request = Buffer.alloc(16);
      request.writeInt32BE(16, 0);
      request.writeInt32BE(CANCEL_REQUEST_CODE, 4);
      request.writeInt32BE(processID, 8);
      request.writeInt32BE(secretKey, 12);
      socket.write(request, () => (written = true));
    });
    // The server answers nothing: it hangs up once it has signalled the backend.
    socket.once('end', () => (taken = written));
    socket.resume();
    socket.once('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(taken);
    });
  });
}
