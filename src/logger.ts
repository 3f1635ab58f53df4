import { fileURLToPath } from 'node:url';
import { format } from 'node:util';
import pino from 'pino';
import { escapeWhatJsonLeaves } from './control-chars.js';
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
 * The pretty format's transport: pino-pretty with logged values' control
 * characters escaped (see logger-pretty.ts). By path: pino loads it in a worker.
 */
const PRETTY_TRANSPORT = fileURLToPath(new URL('./logger-pretty.js', import.meta.url));

/**
 * Structured JSON logs on stdout; pretty-printed when stdout is a terminal.
 * GREDIS_LOG_LEVEL overrides the verbosity (e.g. "silent" in tests);
 * GREDIS_LOG_FORMAT (`json` or `pretty`) overrides the terminal check.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const verbosity = Math.max(0, Math.min(2, options.verbosity ?? 1));
  const level = levelFromEnv() ?? LEVELS[verbosity];
  const pretty = formatFromEnv() === 'pretty';
  // Read when the first burst starts too, but a typo must stop the command now, not then.
  foldIntervalFromEnv();
  return pino({
    name: options.name ?? 'gredis',
    level,
    serializers: { err: serializeError },
    // JSON escapes the C0 controls of logged values, not DEL, C1 nor bidi: see escapeWhatJsonLeaves.
    hooks: { streamWrite: escapeWhatJsonLeaves },
    ...(pretty
      ? {
          transport: {
            target: PRETTY_TRANSPORT,
            options: { colorize: Boolean(process.stdout.isTTY), ignore: 'hostname' },
          },
        }
      : {}),
  });
}

/**
 * pino's error serializer, less what must never reach a log: the arguments of
 * the Redis command an error came from (ioredis attaches the command, and
 * AUTH's arguments are the password), the values bound to the SQL statement
 * (knex attaches them to its timeouts, and a password UPDATE's is the new
 * hash), and the row PostgreSQL shows for a constraint the statement broke
 * ("Failing row contains (…)": the whole row, a user's password hash with it).
 * Knex's own messages name no value: see compileSqlOnError in openDatabase.
 */
export function serializeError(error: unknown): unknown {
  const shown = pino.stdSerializers.err(error as Error) as unknown;
  dropSecrets(shown, 0);
  return shown;
}

/** PostgreSQL's DETAIL for a CHECK or NOT NULL violation: the failing row's values follow. */
const FAILING_ROW = /^(Failing row contains )\(.*\)(\.?)$/s;

function dropSecrets(value: unknown, depth: number): void {
  if (typeof value !== 'object' || value === null || depth > 4) return;
  const record = value as Record<string, unknown>;
  const command = record.command;
  if (typeof command === 'object' && command !== null && 'args' in command)
    record.command = { name: (command as { name?: unknown }).name };
  if (Array.isArray(record.bindings)) record.bindings = `(${record.bindings.length} not logged)`;
  if (typeof record.detail === 'string')
    record.detail = record.detail.replace(FAILING_ROW, '$1(not logged)$2');
  for (const key of Object.keys(record)) {
    if (key !== 'command') dropSecrets(record[key], depth + 1);
  }
}

/** GREDIS_LOG_LEVEL, when set: one of pino's levels, or a clear error naming the variable. */
function levelFromEnv(): string | undefined {
  const value = process.env.GREDIS_LOG_LEVEL?.trim().toLowerCase();
  if (!value) return undefined;
  const known = [...Object.keys(pino.levels.values), 'silent'];
  if (!known.includes(value))
    throw new InvalidSetting(
      `GREDIS_LOG_LEVEL must be one of ${known.join(', ')}; got ${JSON.stringify(value)}`,
    );
  return value;
}

/**
 * GREDIS_LOG_FORMAT, when set: `json` or `pretty`; unset, pretty on a terminal
 * only. Any other value is refused rather than silently meaning "auto": a typo
 * such as `JSON ` in a unit file would otherwise send colour codes to a log
 * collector the day someone runs it on a terminal.
 */
function formatFromEnv(): 'json' | 'pretty' {
  const value = process.env.GREDIS_LOG_FORMAT?.trim().toLowerCase();
  if (!value) return process.stdout.isTTY ? 'pretty' : 'json';
  if (value === 'json' || value === 'pretty') return value;
  throw new InvalidSetting(
    `GREDIS_LOG_FORMAT must be json or pretty; got ${JSON.stringify(process.env.GREDIS_LOG_FORMAT)}`,
  );
}

/** A logger that drops everything; the default for library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const burstLoggers = new WeakMap<Logger, BurstLogger>();

/**
 * GREDIS_LOG_FOLD_SECONDS, when set: how long a burst of like lines is counted
 * before the count is written (default 10). A log collector that alerts on
 * counts may want them sooner; a quiet log, later.
 */
function foldIntervalFromEnv(): number {
  const value = process.env.GREDIS_LOG_FOLD_SECONDS?.trim();
  if (!value) return 10_000;
  const seconds = Number(value);
  // At least 0.1 s: below that, a flood's counts would be a flood of their own.
  if (!/^\d+(\.\d+)?$/.test(value) || !(seconds >= 0.1) || seconds > 86_400)
    throw new InvalidSetting(
      `GREDIS_LOG_FOLD_SECONDS must be a number of seconds from 0.1 to 86400; got ${JSON.stringify(process.env.GREDIS_LOG_FOLD_SECONDS)}`,
    );
  return seconds * 1000;
}

interface Burst {
  level: 'warn' | 'error';
  more: number;
  /** When the last counted line came (epoch ms). */
  lastAt: number;
  /** The message of the line written in full, which the count follows. */
  message: string;
  fields: Record<string, unknown>;
}

/**
 * Writes the first of a burst of like lines (same message, or same key) in
 * full, then at most one line per interval counting the rest. A Redis outage
 * or restart touches every socket at once, and a line per socket buries the one
 * that says what happened; a flood of refused requests would fill the log.
 */
export class BurstLogger {
  /** The bursts under way: a key's entry goes when an interval passes with nothing to count. */
  private readonly bursts = new Map<string, Burst>();

  /** The one BurstLogger of a logger, so that every caller's lines count together. */
  static for(logger: Logger): BurstLogger {
    let burst = burstLoggers.get(logger);
    if (!burst) burstLoggers.set(logger, (burst = new BurstLogger(logger)));
    return burst;
  }

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = foldIntervalFromEnv(),
  ) {}

  warn(fields: Record<string, unknown>, message: string): void {
    this.log('warn', fields, message);
  }

  /**
   * As warn, at `level`, counting together the lines of one `key`: lines whose
   * message carries what a client sent (a Host) are alike all the same, and
   * keyed by message each would be a line of its own.
   */
  log(
    level: 'warn' | 'error',
    fields: Record<string, unknown>,
    message: string,
    key = message,
  ): void {
    const burst = this.bursts.get(key);
    if (burst) {
      burst.more++;
      burst.lastAt = Date.now();
      burst.fields = fields;
      return;
    }
    this.logger[level](fields, message);
    const started: Burst = { level, more: 0, lastAt: 0, message, fields };
    this.bursts.set(key, started);
    this.endInterval(key, started);
  }

  /**
   * At the interval's end, the count goes out even if nothing else comes, and
   * starts another interval; an interval with nothing to count ends the burst
   * and its entry, which a key made of varying text (a console warning's)
   * would otherwise leave behind for good.
   */
  private endInterval(key: string, burst: Burst): void {
    setTimeout(() => {
      if (burst.more === 0) {
        this.bursts.delete(key);
        return;
      }
      const more = burst.more;
      burst.more = 0;
      // Written at the interval's end, maybe after the trouble is over (a layer
      // back already): the line says when the last one came.
      const ago = ((Date.now() - burst.lastAt) / 1000).toFixed(1);
      this.logger[burst.level](
        { ...burst.fields, more, lastAt: new Date(burst.lastAt).toISOString() },
        `${burst.message} (${more} more like it in ${this.intervalMs / 1000} s, the last ${ago} s ago)`,
      );
      this.endInterval(key, burst);
    }, this.intervalMs).unref();
  }
}

/**
 * An expected operational error (a layer or database that is away or full) as
 * one line: its message and its cause's, without the stack a bug would need.
 */
export function briefError(error: unknown): { error: string } {
  if (!(error instanceof Error)) return { error: String(error) };
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return { error: `${error.message}${cause}` };
}

/**
 * Logs a request refused as tampering as Django logs it, to its
 * `django.security.<name>` logger (`security` names it; a SuspiciousOperation
 * at error, a CSRF failure at warn), with its status and path and no stack,
 * being no bug: what watches a Django deployment's security log sees Gredis's
 * refusals too. Anyone can send these at line rate, and a line each would fill
 * the log: a burst of one logger's (of any message) is folded as BurstLogger
 * folds lines, the first written at once and in full, then a count per interval.
 */
export function logSecurityEvent(
  logger: Logger,
  level: 'warn' | 'error',
  name: string,
  message: string,
  fields: { status: number; path: string | undefined },
): void {
  const security = `django.security.${name}`;
  BurstLogger.for(logger).log(level, { security, ...fields }, message, security);
}

/**
 * Logs a failure: an expected one (a service away or full, which strikes every
 * socket and request at once and says nothing about the code) as one line at
 * warn, a burst at a time; any other with its stack, at `level`.
 */
export function logFailure(
  logger: Logger,
  error: unknown,
  fields: Record<string, unknown>,
  message: string,
  { expected, level = 'error' }: { expected: boolean; level?: 'warn' | 'error' },
): void {
  if (expected) BurstLogger.for(logger).warn({ ...fields, ...briefError(error) }, message);
  else logger[level]({ ...fields, err: error }, message);
}

/**
 * Makes a library's console warnings log lines (structured, and counted when
 * they repeat, as BurstLogger does): ioredis writes "[WARN] … a password was
 * supplied" at every reconnection when the URL has a password the server does
 * not need. For a command's process only: it replaces the global console.warn.
 * (Every Redis connection of ours has an error listener, so ioredis has no
 * "Unhandled error event" to write on console.error.)
 */
export function logConsoleWarnings(logger: Logger): void {
  const warn = (text: string): void => BurstLogger.for(logger).warn({ source: 'console' }, text);
  console.warn = (...args: unknown[]) => warn(format(...args).replace(/^\[WARN\] /, ''));
}
