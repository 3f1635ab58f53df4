import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
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

/** Reads the certificate and key; a file that cannot be read is a CommandFailed naming it. */
export async function readTlsFiles(paths: TlsPaths): Promise<TlsFiles> {
  const read = (file: string, what: string): Promise<Buffer> =>
    readFile(file).catch((error: Error) => {
      throw new CommandFailed(`cannot read the TLS ${what} ${file}: ${error.message}`);
    });
  return { cert: await read(paths.cert, 'certificate'), key: await read(paths.key, 'key') };
}

/**
 * Watches the certificate's and key's directories (a renewal often replaces a
 * link there rather than writing the file itself) and, once they have settled,
 * hands a changed pair to `use`, which throws when TLS cannot use it: then the
 * current pair stays, with a warning, until the next change. Costs nothing while
 * nothing changes (inotify). Returns the function that stops watching.
 */
export function watchTlsFiles(
  paths: TlsPaths,
  current: TlsFiles,
  use: (files: TlsFiles) => void,
  logger: Logger,
): () => void {
  let served = current;
  let timer: NodeJS.Timeout | undefined;
  const reload = async (): Promise<void> => {
    let files: TlsFiles;
    try {
      files = await readTlsFiles(paths);
    } catch (error) {
      logger.warn(
        { err: error },
        'the TLS files changed but cannot be read; still serving the previous certificate',
      );
      return;
    }
    if (files.cert.equals(served.cert) && files.key.equals(served.key)) return;
    try {
      use(files);
    } catch (error) {
      logger.warn(
        { err: error },
        'the TLS files changed but cannot be used; still serving the previous certificate',
      );
      return;
    }
    served = files;
    logger.info(
      describeCertificate(files.cert),
      'serving the renewed TLS certificate to new connections',
    );
  };
  const changed = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), SETTLE_MS);
    timer.unref();
  };
  const directories = new Set([dirname(resolve(paths.cert)), dirname(resolve(paths.key))]);
  const watchers: FSWatcher[] = [...directories].map((directory) =>
    watch(directory, { persistent: false }, changed).on('error', (error) => {
      logger.warn(
        { err: error, directory },
        'cannot watch the TLS files any more; a renewed certificate needs a restart',
      );
    }),
  );
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
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
