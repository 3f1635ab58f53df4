import { logFailure, type Logger } from '../logger.js';
import { redactSecrets } from '../redact.js';

/**
 * Every error the channel layer throws. Each carries a stable `code` (a contract:
 * callers branch on it, docs/errors.md lists it) and its context as fields.
 */

export type LayerErrorCode =
  | 'GREDIS_CHANNEL_FULL'
  | 'GREDIS_INVALID_CHANNEL_NAME'
  | 'GREDIS_INVALID_GROUP_NAME'
  | 'GREDIS_INVALID_MESSAGE'
  | 'GREDIS_FOREIGN_CHANNEL'
  | 'GREDIS_LAYER_CLOSED'
  | 'GREDIS_RECEIVE_ABORTED'
  | 'GREDIS_LANE_TURN_LOST'
  | 'GREDIS_LAYER_UNAVAILABLE'
  | 'GREDIS_INVALID_LAYER_URL'
  | 'GREDIS_MALFORMED_PAYLOAD';

/** Thrown by `send` when the channel already holds `capacity` messages. */
export class ChannelFull extends Error {
  readonly code = 'GREDIS_CHANNEL_FULL' as const;
  constructor(
    readonly channel: string,
    readonly capacity: number,
  ) {
    super(
      `channel ${JSON.stringify(channel)} is full (capacity ${capacity}); raise "capacity" or "channelCapacity" if this is normal load`,
    );
    this.name = 'ChannelFull';
  }
}

/** A channel name outside the allowed alphabet or length; thrown before any I/O. */
export class InvalidChannelName extends TypeError {
  readonly code = 'GREDIS_INVALID_CHANNEL_NAME' as const;
  constructor(
    readonly channel: unknown,
    reason: string,
  ) {
    super(`invalid channel name ${describe(channel)}: ${reason}`);
    this.name = 'InvalidChannelName';
  }
}

/** A group name outside the allowed alphabet or length; thrown before any I/O. */
export class InvalidGroupName extends TypeError {
  readonly code = 'GREDIS_INVALID_GROUP_NAME' as const;
  constructor(
    readonly group: unknown,
    reason: string,
  ) {
    super(`invalid group name ${describe(group)}: ${reason}`);
    this.name = 'InvalidGroupName';
  }
}

/** A message the wire format cannot carry; `path` says where in the message. */
export class InvalidMessage extends TypeError {
  readonly code = 'GREDIS_INVALID_MESSAGE' as const;
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`invalid message at ${path}: ${reason}`);
    this.name = 'InvalidMessage';
  }
}

/** Receiving on a process-specific channel that belongs to another process. */
export class ForeignChannel extends Error {
  readonly code = 'GREDIS_FOREIGN_CHANNEL' as const;
  constructor(
    readonly channel: string,
    readonly clientPrefix: string,
  ) {
    super(
      `cannot receive on ${JSON.stringify(channel)}: process-specific channels of this layer look like "<prefix>.${clientPrefix}!<suffix>"`,
    );
    this.name = 'ForeignChannel';
  }
}

/** The layer was closed; pending and later calls reject with this. */
export class LayerClosed extends Error {
  readonly code = 'GREDIS_LAYER_CLOSED' as const;
  constructor() {
    super('the channel layer is closed');
    this.name = 'LayerClosed';
  }
}

/** A receive cancelled through its AbortSignal. Nothing was consumed for it. */
export class ReceiveAborted extends Error {
  readonly code = 'GREDIS_RECEIVE_ABORTED' as const;
  constructor(readonly channel: string) {
    super(`receive on ${JSON.stringify(channel)} was aborted`);
    this.name = 'AbortError';
  }
}

/**
 * A lane turn outlived its lease and another process took the lane over: what
 * the turn still had to do was not applied (`Lanes.apply`). The event is lost,
 * as a turn's whose finish comes too late; the handler should stop.
 */
export class LaneTurnLost extends Error {
  readonly code = 'GREDIS_LANE_TURN_LOST' as const;
  constructor(
    readonly lane: string,
    readonly order: number,
  ) {
    super(`the turn of event ${order} of lane ${JSON.stringify(lane)} was taken over`);
    this.name = 'LaneTurnLost';
  }
}

/**
 * The backend (Redis) could not be reached in time, or refused the call for now
 * (`reason`, e.g. out of memory); the call had no effect or an unknown one.
 */
export class LayerUnavailable extends Error {
  readonly code = 'GREDIS_LAYER_UNAVAILABLE' as const;
  constructor(
    readonly host: string,
    options?: { cause?: unknown; reason?: string },
  ) {
    super(
      `channel layer host ${host} is unavailable${options?.reason ? `: ${options.reason}` : ''}`,
      options,
    );
    this.name = 'LayerUnavailable';
  }
}

/** The layer is full or away: try again later (503, 1013), not a bug to log with its stack. */
export function isTransientLayerError(error: unknown): error is ChannelFull | LayerUnavailable {
  return error instanceof ChannelFull || error instanceof LayerUnavailable;
}

/**
 * Logs a failed layer call as a warning: a full or unreachable layer (which
 * strikes everything at once) as one counted line without a stack, anything
 * else, a bug, with its stack (logFailure).
 */
export function warnLayerFailure(
  logger: Logger,
  error: unknown,
  fields: Record<string, unknown>,
  message: string,
): void {
  logFailure(logger, error, fields, message, {
    expected: isTransientLayerError(error),
    level: 'warn',
  });
}

/**
 * A layer URL that cannot be understood. Its message and `url` show the URL with
 * any password as `***`: the error is printed and logged.
 */
export class InvalidLayerUrl extends TypeError {
  readonly code = 'GREDIS_INVALID_LAYER_URL' as const;
  readonly url: string;
  constructor(url: string, reason: string) {
    const shown = redactSecrets(url);
    super(
      `invalid channel layer URL ${JSON.stringify(shown)}: ${redactSecrets(reason)} (expected memory://, redis://host:port/db, several redis:// URLs separated by commas, or redis+sentinel://host:port/master)`,
    );
    this.name = 'InvalidLayerUrl';
    this.url = shown;
  }
}

/** Stored bytes that are not a message of this format (or cannot be decrypted). */
export class MalformedPayload extends Error {
  readonly code = 'GREDIS_MALFORMED_PAYLOAD' as const;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`malformed stored message: ${reason}`, options);
    this.name = 'MalformedPayload';
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : `(${typeof value})`;
}
