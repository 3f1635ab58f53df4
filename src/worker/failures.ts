import { isConnectionError, isLostConnection } from '../db/errors.js';
import { isTransientLayerError } from '../layer/errors.js';
import { briefError, BurstLogger, type Logger } from '../logger.js';

/**
 * Logs what application code threw. A bug gets its stack, at error. A service
 * that is away or full (the layer, the database) strikes every socket and
 * request at once and says nothing about the code: one line at warn, a burst
 * at a time.
 */
export function logFailure(
  logger: Logger,
  error: unknown,
  fields: Record<string, unknown>,
  message: string,
): void {
  if (isTransientLayerError(error) || isConnectionError(error) || isLostConnection(error)) {
    BurstLogger.for(logger).warn({ ...fields, ...briefError(error) }, message);
  } else {
    logger.error({ ...fields, err: error }, message);
  }
}
