import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports for servers a test starts itself on a port it names (redis-server, which
 * cannot listen on port 0 and say which port it got; a proxy or server that must
 * come back on the same port). They are free when handed out, but the test binds
 * them later, so they are chosen where nothing else takes one by chance:
 *
 * - below the kernel's ephemeral range, which it picks from for every outgoing
 *   connection and every listen on port 0: a port from that range, once closed,
 *   can become some connection's local port, so that a server restarted on it
 *   finds it taken;
 * - never twice in one process: the kernel would hand the same port to two
 *   callers that bound and released it one after the other.
 *
 * A process that names ports of its own in this range can still take one first:
 * the servers' helpers start again on another port when that happens.
 */
const FIRST = 10_000;

/** The kernel's ephemeral range starts there (Linux's default when unreadable). */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/);
    return Number(low);
  } catch {
    return 32_768;
  }
}

const END = ephemeralStart();
const handedOut = new Set<number>();

/** Whether nothing listens on `port` on loopback now (bound then released). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free loopback TCP port, outside the ephemeral range, not handed out before. */
export async function freePort(): Promise<number> {
  const span = END - FIRST;
  if (span < 1000) throw new Error(`the ephemeral port range starts at ${END}: too low for tests`);
  for (let tries = 0; tries < 1000 && handedOut.size < span; tries++) {
    const port = FIRST + Math.floor(Math.random() * span);
    if (handedOut.has(port)) continue;
    handedOut.add(port); // taken or not, not worth trying again
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port between ${FIRST} and ${END}`);
}

/** freePort()'s range, for the test that checks it. */
export const FREE_PORT_RANGE = { first: FIRST, end: END } as const;

/** The port was taken between freePort() and the server's own bind. */
export class PortTakenError extends Error {
  constructor(readonly port: number) {
    super(`port ${port} is already in use`);
    this.name = 'PortTakenError';
  }
}

/**
 * Starts a server with `start` on a port from freePort(), and again on another
 * port if that one was taken first (`start` throws PortTakenError).
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 5) throw error;
    }
  }
}
