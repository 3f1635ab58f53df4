import { isConnectionError, isLostConnection } from '../db/errors.js';
import { isTransientLayerError } from '../layer/errors.js';
import { logFailure, type Logger } from '../logger.js';

/**
 * Logs what application code threw: a bug with its stack, a layer or database
 * that is away or full in one line, a burst at a time (see logFailure).
 */
export function logAppFailure(
  logger: Logger,
  error: unknown,
  fields: Record<string, unknown>,
  message: string,
): void {
  const expected =
    isTransientLayerError(error) || isConnectionError(error) || isLostConnection(error);
  logFailure(logger, error, fields, message, { expected });
}
