import { readlinkSync, statSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash, X509Certificate } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import type { Logger } from '../logger.js';
import type { TlsFiles } from '../server/index.js';
import { CommandFailed } from './errors.js';

/** Where Thyme reads its certificate and key (--ssl-certfile, --ssl-keyfile). */
export interface TlsPaths {
  cert: string;
  key: string;
}

/**
 * How long the files must stay unchanged before they are read again: a renewal
 * writes the key and the certificate one after the other (certbot, a Kubernetes
 * secret swaps a directory link), and a pair read between the two would not match.
 */
const SETTLE_MS = 1000;
/**
 * How often the files are read again while a directory of theirs cannot be
 * watched: it is gone (deleted, to be made again) or may not be listed (a
 * directory such as Debian's /etc/ssl/private lets its group read the key in it,
 * not list it, and watching needs that).
 */
const UNWATCHED_CHECK_MS = 5000;
/** Links followed from a path to the file (the kernel's own limit is 40). */
const MAX_LINKS = 40;

/** Reads the certificate and key; a file that cannot be read is a CommandFailed naming it. */
export async function readTlsFiles(paths: TlsPaths): Promise<TlsFiles> {
  const read = (file: string, what: string): Promise<Buffer> =>
    readFile(file).catch((error: Error) => {
      throw new CommandFailed(`cannot read the TLS ${what} ${file}: ${error.message}`);
    });
  return { cert: await read(paths.cert, 'certificate'), key: await read(paths.key, 'key') };
}

/**
 * Watches the directories the certificate and key are reached through: the
 * given paths' and, when those are links, their targets' (certbot's live/ links
 * swapped, a Kubernetes secret's ..data link, a link of one's own to either).
 * Once they have settled, a changed pair goes to `use`, which throws when TLS
 * cannot use it: then the current pair stays, with a warning, until the next
 * change. Costs nothing while nothing changes (inotify). After each change the
 * directories are looked up again, so that one deleted and made again, or a link
 * now pointing elsewhere, is watched anew; while one cannot be watched (gone, or
 * not listable), the files are read every few seconds instead. Never throws:
 * serving goes on with the pair it has. Returns the function that stops watching.
 */
export function watchTlsFiles(
  paths: TlsPaths,
  current: TlsFiles,
  use: (files: TlsFiles) => void,
  logger: Logger,
): () => void {
  let served = current;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  /** Problems logged: one found again at each check is said once, until things go well. */
  const reported = new Set<string>();
  const warnOnce = (what: string, fields: Record<string, unknown>, msg: string): void => {
    if (reported.has(what)) return;
    reported.add(what);
    logger.warn(fields, msg);
  };
  /** Watched directories by path, with the identity of the one watched (dev:ino). */
  const watchers = new Map<string, { watcher: FSWatcher; id: string }>();

  const later = (ms: number): void => {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => void check(), ms);
    timer.unref();
  };
  const changed = (): void => later(SETTLE_MS);

  /** Watches what the paths lead through now; false when some directory could not be. */
  const sync = (): boolean => {
    const wanted = new Set([...directoriesOf(paths.cert), ...directoriesOf(paths.key)]);
    for (const [directory, { watcher }] of watchers) {
      if (wanted.has(directory)) continue;
      watcher.close();
      watchers.delete(directory);
    }
    let complete = true;
    for (const directory of wanted) {
      const watched = watchers.get(directory);
      let id: string;
      try {
        const stats = statSync(directory);
        id = `${stats.dev}:${stats.ino}`;
      } catch {
        // Gone for now (deleted, to be made again): looked for again shortly.
        watched?.watcher.close();
        watchers.delete(directory);
        complete = false;
        continue;
      }
      if (watched?.id === id) continue;
      watched?.watcher.close();
      watchers.delete(directory);
      try {
        const watcher = watch(directory, { persistent: false }, changed);
        watcher.on('error', (error) => {
          warnOnce(
            `error ${directory} ${(error as NodeJS.ErrnoException).code}`,
            { err: error, directory },
            'watching a TLS directory failed; watching it anew',
          );
          watcher.close();
          if (watchers.get(directory)?.watcher === watcher) watchers.delete(directory);
          changed();
        });
        watchers.set(directory, { watcher, id });
      } catch (error) {
        complete = false;
        warnOnce(
          `watch ${directory} ${(error as NodeJS.ErrnoException).code}`,
          { err: error, directory, everyMs: UNWATCHED_CHECK_MS },
          'cannot watch a TLS directory; reading the TLS files every few seconds instead',
        );
      }
    }
    return complete;
  };

  const check = async (): Promise<void> => {
    if (stopped) return;
    const complete = sync();
    await reload();
    if (!complete) later(UNWATCHED_CHECK_MS);
  };

  const reload = async (): Promise<void> => {
    let files: TlsFiles;
    try {
      files = await readTlsFiles(paths);
    } catch (error) {
      warnOnce(
        `read ${(error as Error).message}`,
        { err: error },
        'the TLS files changed but cannot be read; still serving the previous certificate',
      );
      return;
    }
    for (const what of reported) if (what.startsWith('read ')) reported.delete(what);
    if (stopped || (files.cert.equals(served.cert) && files.key.equals(served.key))) return;
    try {
      use(files);
    } catch (error) {
      warnOnce(
        `use ${createHash('sha256').update(files.cert).update(files.key).digest('hex')}`,
        { err: error },
        'the TLS files changed but cannot be used; still serving the previous certificate',
      );
      return;
    }
    served = files;
    reported.clear();
    logger.info(
      describeCertificate(files.cert),
      'serving the renewed TLS certificate to new connections',
    );
  };

  if (!sync()) later(UNWATCHED_CHECK_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const { watcher } of watchers.values()) watcher.close();
    watchers.clear();
  };
}

/**
 * The directories `file` is reached through: its own and, while it is a link,
 * its target's, and so on. A link that cannot be read ends the list.
 */
function directoriesOf(file: string): string[] {
  const directories: string[] = [];
  let path = resolve(file);
  for (let links = 0; links <= MAX_LINKS; links++) {
    directories.push(dirname(path));
    let target: string;
    try {
      target = readlinkSync(path);
    } catch {
      break; // not a link (or gone)
    }
    path = resolve(dirname(path), target);
  }
  return directories;
}

/** What the log says of a certificate: whom it is for and until when. */
function describeCertificate(pem: Buffer): Record<string, string> {
  try {
    const certificate = new X509Certificate(pem);
    return { subject: certificate.subject, validTo: certificate.validTo };
  } catch {
    return {};
  }
}
