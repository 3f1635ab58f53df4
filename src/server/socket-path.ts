import { lstatSync, unlinkSync, type Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import { listenOn } from '../listen.js';

/** A Unix socket path Thyme cannot listen on: what is there, and why it was left alone. */
export class SocketPathUnavailable extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`cannot listen on ${path}: ${reason}`);
    this.name = 'SocketPathUnavailable';
  }
}

/**
 * Makes `path` free to listen on. A socket left by a server that died (nothing
 * accepts on it) is removed, as gunicorn and uvicorn do: without that, a crash
 * would need a hand to restart. A socket something still accepts on, and any
 * other file, are left alone: the first is another server's, the second is
 * nobody's to delete.
 */
export async function freeSocketPath(path: string): Promise<void> {
  let found: Stats;
  try {
    found = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return directoryExists(path);
    throw new SocketPathUnavailable(path, (error as Error).message);
  }
  if (!found.isSocket())
    throw new SocketPathUnavailable(path, 'a file that is not a socket is there');
  const probed = await probe(path);
  if (probed === 'listening') throw new SocketPathUnavailable(path, 'another server listens there');
  // EACCES, say, is no proof that its server is gone: keep the file.
  if (probed !== 'stale') throw new SocketPathUnavailable(path, probed.message);
  // Removed only if it is still the socket probed: another Thyme starting at the
  // same moment may have removed it and listened there since (synchronous, so
  // nothing of this process runs in between).
  try {
    const now = lstatSync(path);
    if (now.ino !== found.ino || now.dev !== found.dev)
      throw new SocketPathUnavailable(path, 'another server listens there');
    unlinkSync(path);
  } catch (error) {
    if (error instanceof SocketPathUnavailable) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new SocketPathUnavailable(path, (error as Error).message);
  }
}

/**
 * Listens on `path` with mode 666: any local user may connect, as to a port on
 * 127.0.0.1. The proxy in front (nginx as www-data, say) rarely runs as Thyme's
 * user, and a socket made under the usual umask (022) would refuse it. To
 * restrict who may connect, put the socket in a directory only they can enter
 * (uvicorn does the same). The mode comes from the umask around the bind, which
 * happens within listen(), not from a chmod after it: a chmod would follow a
 * symlink put in the socket's place meanwhile.
 */
export function listenOnPath(server: Server, path: string): Promise<void> {
  const umask = process.umask(0o111);
  try {
    return listenOn(server, { path });
  } finally {
    process.umask(umask);
  }
}

/** Linux says EACCES, not ENOENT, for a socket in a directory that is not there. */
async function directoryExists(path: string): Promise<void> {
  const directory = dirname(path);
  try {
    if ((await stat(directory)).isDirectory()) return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new SocketPathUnavailable(path, (error as Error).message);
  }
  throw new SocketPathUnavailable(path, `there is no directory ${directory}`);
}

/** Whether a server accepts on the socket at `path`, or none does (ECONNREFUSED). */
function probe(path: string): Promise<'listening' | 'stale' | Error> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve('listening');
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'ECONNREFUSED' ? 'stale' : error),
    );
  });
}
