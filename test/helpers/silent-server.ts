import { createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP server on 127.0.0.1 that takes every connection and never answers, as
 * a stopped host's kernel does: a client waits on it until its own timeout.
 */
export interface SilentServer {
  port: number;
  /** The connections taken so far (a client has reached it once there is one). */
  connections: readonly Socket[];
  /** Drops the connections it holds and stops listening. */
  close(): void;
}

export async function startSilentServer(): Promise<SilentServer> {
  const connections: Socket[] = [];
  const server = createServer((socket) => connections.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: () => {
      for (const socket of connections) socket.destroy();
      server.close();
    },
  };
}
