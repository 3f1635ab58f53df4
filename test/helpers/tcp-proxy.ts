import { connect, createServer, type Server, type Socket } from 'node:net';
import { onFreePort, PortTakenError } from './ports.js';

/**
 * A loopback TCP proxy between clients and a server, to break what lies between
 * one process and Redis while others reach Redis directly: cut the connections
 * (the server or the network closed them), or freeze them (the server's machine
 * died, or a network path broke, without closing anything).
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly frozen = new Set<Socket>();
  private stalled = false;
  private readonly draining = new WeakSet<Socket>();
  private cutAfterMatch: ((chunk: Buffer) => boolean) | undefined;

  private constructor(
    private target: { host: string; port: number },
    readonly port: number,
  ) {}

  /**
   * On a port from freePort(), not one the kernel picks: restore() listens on it
   * again after cut() or freeze(), when an ephemeral port could have become some
   * outgoing connection's own.
   */
  static start(target: { host: string; port: number }): Promise<TcpProxy> {
    return onFreePort(async (port) => {
      const proxy = new TcpProxy(target, port);
      await proxy.restore();
      return proxy;
    });
  }

  /** Drops every connection and refuses new ones. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.stopListening();
  }

  /**
   * Open connections stop passing bytes either way, and stay open: TCP alone
   * tells their clients nothing. New connections are refused.
   */
  freeze(): void {
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
      this.frozen.add(socket); // left as they are until stop()
    }
    this.sockets.clear();
    this.stopListening();
  }

  /**
   * New connections are accepted and then hear nothing, as from a server whose
   * process is stopped (its kernel still completes handshakes); open ones go on.
   */
  stall(): void {
    this.stalled = true;
  }

  /**
   * New connections go to `target` from now on, as a load balancer's once it has
   * taken a server out; open ones stay where they are.
   */
  retarget(target: { host: string; port: number }): void {
    this.target = target;
  }

  /** Connections held silent (accepted while stalled, or frozen) until stop(). */
  get held(): number {
    return this.frozen.size;
  }

  /** New connections pass again (those accepted while stalled stay silent until stop()). */
  unstall(): void {
    this.stalled = false;
  }

  /**
   * The next client write that `match` accepts reaches the server, and then
   * every connection is cut and new ones refused (as cut()) before the server's
   * reply comes back: a command that ran, its reply lost. Resolves once it has.
   */
  cutAfter(match: (chunk: Buffer) => boolean): Promise<void> {
    return new Promise((resolve) => {
      this.cutAfterMatch = (chunk) => {
        if (!match(chunk)) return false;
        this.cutAfterMatch = undefined;
        resolve();
        return true;
      };
    });
  }

  /**
   * Accepts connections again, on the same port (frozen ones stay frozen):
   * PortTakenError if another process listens there now.
   */
  async restore(): Promise<void> {
    const server = createServer((client) => {
      if (this.stalled) {
        this.frozen.add(client); // left as it is until stop()
        return;
      }
      const upstream = connect(this.target.port, this.target.host);
      client.on('data', (chunk: Buffer) => {
        // After pipe()'s own listener: the chunk is already on its way upstream.
        if (!this.cutAfterMatch?.(chunk)) return;
        upstream.unpipe(client);
        this.sockets.delete(upstream);
        this.draining.add(upstream); // it lives until the server has answered
        upstream.once('data', () => upstream.destroy());
        this.cut();
      });
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.sockets.add(from);
        from.pipe(to);
        from.on('error', () => to.destroy());
        from.on('close', () => {
          this.sockets.delete(from);
          if (!this.draining.has(to)) to.destroy();
        });
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? new PortTakenError(this.port) : error),
      );
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
  }

  /** Closes everything, frozen connections included. */
  stop(): void {
    this.cut();
    for (const socket of this.frozen) socket.destroy();
    this.frozen.clear();
  }

  /** Refuses new connections at once (close's callback would wait for the open ones to end). */
  private stopListening(): void {
    this.server?.close();
    this.server = undefined;
  }
}
