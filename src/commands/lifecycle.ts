import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';

/**
 * A signal of the same name this soon after the first is the same request
 * delivered twice, not an impatient second one: Ctrl-C on `npm start` reaches
 * the server from the terminal (it signals the whole foreground group) and
 * again from npm, which forwards SIGINT and SIGTERM to its child, a few ms apart.
 */
export const DUPLICATE_SIGNAL_MS = 1000;

/**
 * How long after the first signal a stop that finished sooner still holds the
 * process. npm's copy comes 15–20 ms after the terminal's; a process already
 * tearing down when it lands has no handler left, and dies of it (no exit 0).
 */
const DUPLICATE_SIGNAL_LINGER_MS = 250;

/** The signals a server stops on: see stopOnSignal. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Resolves, with what `stop` resolved with, after SIGINT, SIGTERM or SIGHUP has
 * been handled by `stop`. A second signal while stopping exits at once with
 * status 1, unless it is the first one again (DUPLICATE_SIGNAL_MS). SIGHUP (the
 * terminal went away: a dropped ssh session) would otherwise end the process on
 * the spot, every socket dropped without its 1001.
 */
export function stopOnSignal<T>(
  logger: Logger,
  stop: (signal: NodeJS.Signals) => Promise<T>,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let first: { signal: NodeJS.Signals; at: number } | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (first) {
        if (signal === first.signal && performance.now() - first.at < DUPLICATE_SIGNAL_MS) {
          logger.debug({ signal }, 'the same signal again at once: one request, delivered twice');
          return;
        }
        logger.warn({ signal }, 'second signal: exiting without finishing');
        process.exit(1);
      }
      const started = performance.now();
      first = { signal, at: started };
      logger.info({ signal }, 'stopping');
      stop(signal).then(async (outcome) => {
        // A shutdown waits for sockets and in-flight work: say when it is over.
        logger.info({ ms: Math.round(performance.now() - started) }, 'stopped');
        const linger = started + DUPLICATE_SIGNAL_LINGER_MS - performance.now();
        if (linger > 0) await sleep(linger);
        resolve(outcome);
      }, reject);
    };
    for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  });
}
