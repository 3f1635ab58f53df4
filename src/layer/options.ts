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
  /** Glob pattern → capacity; the first pattern that matches a channel name wins. */
  channelCapacity: Record<string, number> | [string, number][];
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
});

export function resolveOptions(options: Partial<LayerOptions> = {}): LayerOptions {
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
  ] as const) {
    const value = resolved[key];
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`layer option "${key}" must be a positive number, got ${String(value)}`);
    }
  }
  if (typeof resolved.prefix !== 'string') {
    throw new TypeError('layer option "prefix" must be a string');
  }
  return resolved;
}
