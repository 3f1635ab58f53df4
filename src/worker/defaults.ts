import { DEFAULTS } from '../settings.js';

/**
 * A worker's defaults, apart from the runner so that `gredis runworker --help`
 * shows them without loading the worker.
 */
export const WORKER_DEFAULTS = Object.freeze({
  concurrency: 256,
  orphanCheck: 30,
  stopTimeout: DEFAULTS.stopTimeout,
});
