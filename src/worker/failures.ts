import { isConnectionError, isDatabaseTimeout, isLostConnection } from '../db/errors.js';
import { isTransientLayerError } from '../layer/errors.js';
import { logFailure, type Logger } from '../logger.js';

/** What made application code fail: a dependency that is away or busy, or anything else (a bug). */
export type FailureCause = 'database' | 'layer' | 'other';

/**
 * The one place that tells an outage from a bug. A layer away or full
 * (its error classes), a database that cannot be reached or lost its connection
 * (the driver's codes: pg and better-sqlite3 have no classes for these), a
 * statement it gave up on: a socket is told to try again later (close 1013), as
 * the same request will work once it is back, and the log has one line. Anything
 * else is a bug (close 1011, its stack logged). Pages are 500 either way.
 */
export function failureCause(error: unknown): FailureCause {
  if (isTransientLayerError(error)) return 'layer';
  if (isConnectionError(error) || isLostConnection(error) || isDatabaseTimeout(error))
    return 'database';
  return 'other';
}

/**
 * Failures of application code (views answered 500 or 503, sockets closed 1011 or 1013), by
 * cause, for the worker's metrics: the application catches them itself, so the
 * worker would otherwise count a database outage as events handled, and an
 * operator would see it only in the log. One tally per process (a process runs
 * one worker), kept here because the application's own middleware reports
 * through logAppFailure too, before the worker hears of anything.
 */
export class FailureTally {
  private readonly counts = new Map<FailureCause, number>([
    ['database', 0],
    ['layer', 0],
    ['other', 0],
  ]);

  add(cause: FailureCause): void {
    this.counts.set(cause, (this.counts.get(cause) ?? 0) + 1);
  }

  entries(): [FailureCause, number][] {
    return [...this.counts];
  }
}

export const appFailures = new FailureTally();

/**
 * Logs what application code threw, and counts it in appFailures: a bug with its
 * stack, a layer or database that is away or full in one line, a burst at a
 * time (see logFailure). Returns its cause, for the caller's answer to the client.
 */
export function logAppFailure(
  logger: Logger,
  error: unknown,
  fields: Record<string, unknown>,
  message: string,
): FailureCause {
  const cause = failureCause(error);
  appFailures.add(cause);
  logFailure(logger, error, fields, message, { expected: cause !== 'other' });
  return cause;
}
