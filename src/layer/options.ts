import type { Logger } from '../logger.js';

/** Options shared by both layer implementations; see layer.md for their meaning. */
export interface LayerOptions {
  /** Prefix of every key the layer stores. */
  prefix: string;
  /** Seconds after which an undelivered message is dropped. */
  expiry: number;
  /** Seconds after which a group member that was not re-added is dropped. */
  groupExpiry: number;
  /** Messages a channel may hold before `send` throws ChannelFull. */
  capacity: number;
  /**
   * Glob pattern → capacity; the first pattern that matches a channel name wins.
   * Globs only (strings, as Python's fnmatch reads them): channels_redis also
   * takes compiled regexes, which Redis's scripts could not match, so a RegExp
   * is refused (see resolveOptions).
   */
  channelCapacity: Record<string, number> | [string, number][] | ReadonlyMap<string, number>;
  /** Secrets for Fernet encryption of stored messages: the first encrypts, all decrypt. */
  symmetricEncryptionKeys: string[];
  /** Seconds a process may hold a lane's turn before others consider it dead. */
  laneLease: number;
  /** Seconds a lane waits for a missing earlier event before skipping it. */
  laneGap: number;
  /**
   * Redis: seconds a connection may leave a command unanswered before it is
   * taken for dead and replaced, with its host's blocked reads (a server gone
   * without closing anything: TCP alone would notice only after many minutes).
   */
  replyTimeout: number;
  /**
   * Redis: seconds between a process's checks of the events it parked (is their
   * lane's turn held by a process gone or past its lease, is a gap past
   * laneGap?), made while it has any parked.
   */
  laneRescueCheck: number;
  /**
   * Redis: seconds a lane holder (an interface server) must have been missing
   * from its host, at two checks in a row, before a reaper takes it for dead
   * and ends its sockets' lanes. Longer than reconnecting takes (the retry
   * backoff is at most 2 s), so that a Redis restart reaps nobody.
   */
  laneHolderMissing: number;
  /**
   * Redis: seconds, at least, between a plain channel reader's looks for
   * messages a channels_redis receiver left in `<key>$inflight` (it died handing
   * them over): one is put back at the second look that finds it. Far longer
   * than a live receiver's hand-over, which would otherwise arrive twice.
   */
  inflightLook: number;
  logger: Logger | undefined;
}

export const LAYER_DEFAULTS: Readonly<Omit<LayerOptions, 'logger'>> = Object.freeze({
  prefix: 'asgi',
  expiry: 60,
  groupExpiry: 86400,
  capacity: 100,
  channelCapacity: {},
  symmetricEncryptionKeys: [],
  laneLease: 60,
  laneGap: 5,
  replyTimeout: 15,
  laneRescueCheck: 2,
  laneHolderMissing: 5,
  inflightLook: 5,
});

/** Options checked, defaults filled in, channelCapacity as ordered pairs. */
export type ResolvedLayerOptions = Omit<LayerOptions, 'channelCapacity'> & {
  channelCapacity: [string, number][];
};

export function resolveOptions(options: Partial<LayerOptions> = {}): ResolvedLayerOptions {
  const resolved: LayerOptions = { ...LAYER_DEFAULTS, logger: undefined };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (resolved as unknown as Record<string, unknown>)[key] = value;
  }
  for (const key of [
    'expiry',
    'groupExpiry',
    'capacity',
    'laneLease',
    'laneGap',
    'replyTimeout',
    'laneRescueCheck',
    'laneHolderMissing',
    'inflightLook',
  ] as const) {
    const value = resolved[key];
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`layer option "${key}" must be a positive number, got ${String(value)}`);
    }
  }
  if (typeof resolved.prefix !== 'string') {
    throw new TypeError('layer option "prefix" must be a string');
  }
  return { ...resolved, channelCapacity: capacityRules(resolved.channelCapacity) };
}

/**
 * channelCapacity as checked [glob, capacity] pairs, in order. Anything else
 * failed late and obscurely: a RegExp threw "glob is not iterable", a capacity
 * that is no number failed every send inside Redis's script, a NaN or missing
 * one left the channel unbounded, and a Map was read as no pattern at all.
 */
function capacityRules(value: unknown): [string, number][] {
  const option = 'layer option "channelCapacity"';
  let entries: unknown[];
  if (Array.isArray(value)) entries = value;
  else if (value instanceof Map) entries = [...(value as Map<unknown, unknown>)];
  else if (isPlainObject(value)) entries = Object.entries(value);
  else
    throw new TypeError(
      `${option} must be an object (or Map) of glob → capacity, or a list of [glob, capacity] pairs, got ${describe(value)}`,
    );
  return entries.map((entry) => {
    if (!Array.isArray(entry) || entry.length !== 2)
      throw new TypeError(
        `${option}: each entry must be a [glob, capacity] pair, got ${describe(entry)}`,
      );
    const [glob, capacity] = entry as [unknown, unknown];
    if (glob instanceof RegExp)
      throw new TypeError(
        `${option}: ${String(glob)} is a RegExp; patterns are globs as Python's fnmatch reads them ("http.*", "chat-[0-9]*", "[!a]*"), since Redis's scripts match them too`,
      );
    if (typeof glob !== 'string' || glob === '')
      throw new TypeError(
        `${option}: a pattern must be a non-empty glob string, got ${describe(glob)}`,
      );
    if (typeof capacity !== 'number' || !Number.isFinite(capacity) || capacity <= 0)
      throw new RangeError(
        `${option}: the capacity of ${JSON.stringify(glob)} must be a positive number, got ${describe(capacity)}`,
      );
    return [glob, capacity];
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (typeof value === 'string' || Array.isArray(value)) return JSON.stringify(value);
  if (typeof value === 'object' && value !== null)
    return value.constructor?.name ?? 'an object without prototype';
  return String(value);
}
