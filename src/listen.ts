import type { Server } from 'node:net';

/** Where a server listens: an address and port, or a Unix socket's path. */
export type ListenTarget = { port: number; host: string } | { path: string };

/** `server.listen` that rejects when listening fails (EADDRINUSE, EACCES, …). */
export function listenOn(server: Server, target: ListenTarget): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in target) server.listen(target.path, listening);
    else server.listen(target.port, target.host, listening);
  });
}

/** An address as a URL's host: an IPv6 address in brackets. */
export function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
