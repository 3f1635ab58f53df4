import type { Logger } from '../logger.js';

/**
 * Resolves, with what `stop` resolved with, after SIGINT, SIGTERM or SIGHUP has
 * been handled by `stop`. A second
 * signal while stopping exits at once with status 1. SIGHUP (the terminal went
 * away: a dropped ssh session) would otherwise end the process on the spot,
 * every socket dropped without its 1001.
 */
export function stopOnSignal<T>(
  logger: Logger,
  stop: (signal: NodeJS.Signals) => Promise<T>,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without finishing');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'stopping');
      const started = performance.now();
      stop(signal).then((outcome) => {
        // A shutdown waits for sockets and in-flight work: say when it is over.
        logger.info({ ms: Math.round(performance.now() - started) }, 'stopped');
        resolve(outcome);
      }, reject);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
  });
}
