import pino from 'pino';
import { InvalidSetting } from './settings.js';

/** The logging surface Gredis code depends on (a subset of pino's). */
export type Logger = pino.Logger;

export interface LoggerOptions {
  /** 0 = warnings and errors, 1 = info (default), 2 = debug. */
  verbosity?: number;
  name?: string;
}

const LEVELS = ['warn', 'info', 'debug'] as const;

/**
 * Structured JSON logs on stdout; pretty-printed when stdout is a terminal.
 * GREDIS_LOG_LEVEL overrides the verbosity (e.g. "silent" in tests).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const verbosity = Math.max(0, Math.min(2, options.verbosity ?? 1));
  const level = levelFromEnv() ?? LEVELS[verbosity];
  const pretty = process.stdout.isTTY && process.env.GREDIS_LOG_FORMAT !== 'json';
  return pino({
    name: options.name ?? 'gredis',
    level,
    ...(pretty
      ? {
          transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } },
        }
      : {}),
  });
}

/** GREDIS_LOG_LEVEL, when set: one of pino's levels, or a clear error naming the variable. */
function levelFromEnv(): string | undefined {
  const value = process.env.GREDIS_LOG_LEVEL?.trim();
  if (!value) return undefined;
  const known = [...Object.keys(pino.levels.values), 'silent'];
  if (!known.includes(value))
    throw new InvalidSetting(
      `GREDIS_LOG_LEVEL must be one of ${known.join(', ')}; got ${JSON.stringify(value)}`,
    );
  return value;
}

/** A logger that drops everything; the default for library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
