import type Client_PG from 'knex/lib/dialects/postgres/index.js';
import pg from 'pg';
import { ConnectInterrupted } from './interrupt-queries.js';

/** pg's Client as far as abandoning its connection attempt goes (its internals, not in its types). */
interface ConnectingClient {
  connection: { _ending?: boolean; stream: { destroy(error?: Error): void } };
}

/**
 * A pool's PostgreSQL connection attempts, so that an interruption (Ctrl-C)
 * can stop them: a server that takes the connection and never answers (a
 * stopped host's kernel, a proxy with nothing behind it) holds each until the
 * connect timeout (8 s), and the process with it, since closing the pool waits
 * for them too. Until an attempt has logged in, nothing has reached the
 * database, so nothing is lost by giving it up.
 */
export class PostgresConnects {
  private readonly attempts = new Set<pg.Client>();
  private readonly interruptions = new Set<AbortSignal>();
  private opened = false;

  /** Whether any attempt has logged in: until one has, nothing reached the database. */
  get connected(): boolean {
    return this.opened;
  }

  /**
   * While `signal` is aborted, until the function returned is called: the
   * attempts under way fail at once with ConnectInterrupted, as do those begun
   * after, before they connect (a query sent after an interruption, which
   * interruptQueriesOnAbort would refuse once it had a connection, would
   * otherwise wait for one first).
   */
  interruptOn(signal: AbortSignal): () => void {
    const abandonAll = (): void => {
      for (const client of this.attempts) abandon(client);
    };
    this.interruptions.add(signal);
    if (signal.aborted) abandonAll();
    else signal.addEventListener('abort', abandonAll, { once: true });
    return () => {
      this.interruptions.delete(signal);
      signal.removeEventListener('abort', abandonAll);
    };
  }

  /** Knex's `client` with its pg clients' connection attempts tracked here. */
  interruptible(Base: typeof Client_PG): typeof Client_PG {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the pool's, seen from knex's client
    const connects = this;
    class InterruptibleClient extends pg.Client {
      override async connect(): Promise<pg.Client> {
        if (connects.interrupted()) throw new ConnectInterrupted();
        connects.attempts.add(this);
        try {
          await super.connect();
        } finally {
          connects.attempts.delete(this);
        }
        connects.opened = true;
        return this;
      }
    }
    return class extends Base {
      override initializeDriver(): void {
        super.initializeDriver();
        // The rest of pg as it is (its lazy `native` getter not touched).
        this.driver = Object.create(this.driver as object, {
          Client: { value: InterruptibleClient },
        }) as unknown;
      }
    };
  }

  private interrupted(): boolean {
    for (const signal of this.interruptions) if (signal.aborted) return true;
    return false;
  }
}

/**
 * Fails a connection attempt now, as pg's own connect timeout does: its socket
 * destroyed with the error, which its connect() rejects with.
 */
function abandon(client: pg.Client): void {
  const { connection } = client as unknown as ConnectingClient;
  // As pg's timeout sets it: the socket's own reset, if any, is not a second error.
  connection._ending = true;
  connection.stream.destroy(new ConnectInterrupted());
}
