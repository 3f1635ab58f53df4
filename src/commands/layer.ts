import pino from 'pino';
import { createLayer, InMemoryChannelLayer, type LayerOptions } from '../layer/index.js';
import { parseLayerUrl } from '../layer/url.js';
import type { ChannelLayer } from '../layer/types.js';
import { logConsoleWarnings, type Logger } from '../logger.js';
import { EVENT_CHANNEL_CAPACITY } from '../settings.js';
import { CommandFailed } from './errors.js';

/** The layer every command uses: the URL's options plus the event channels' capacities. */
export function openLayer(
  url: string,
  logger: Logger,
  options: Partial<LayerOptions> = {},
): ChannelLayer {
  logConsoleWarnings(logger);
  try {
    return createLayer(url, {
      logger,
      channelCapacity: Object.entries(EVENT_CHANNEL_CAPACITY),
      ...options,
    });
  } catch (error) {
    throw new CommandFailed((error as Error).message, 2);
  }
}

/**
 * What a server's "running" line says of its layer: the hosts (passwords
 * redacted) and, for Redis, the key prefix, so that processes meant to share
 * one crossbar can be seen to (a prefix mistyped in one CHANNEL_LAYER_URL
 * splits them silently: each serves, none reaches the other's sockets).
 */
export function layerLogFields(layer: ChannelLayer): { layer: string[]; prefix?: string } {
  const hosts = layer.health().hosts.map((host) => host.url);
  return layer instanceof InMemoryChannelLayer
    ? { layer: hosts }
    : { layer: hosts, prefix: layer.prefix };
}

/**
 * Whether `url` names the in-process layer, known without connecting to any;
 * a URL that names none is a usage error, as for openLayer.
 */
export function isMemoryLayerUrl(url: string): boolean {
  try {
    return parseLayerUrl(url).kind === 'memory';
  } catch (error) {
    throw new CommandFailed((error as Error).message, 2);
  }
}

/**
 * Whether every host of `layer` is connected within `ms`: for a command that must
 * not start what it cannot finish. (A command's one-off check, so a short poll of
 * the connection state; servers never wait like this.) False at once when
 * `signal` aborts (the command was cancelled).
 */
export async function layerReachable(
  layer: ChannelLayer,
  ms: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!layer.health().ok) {
    if (Date.now() >= deadline || signal?.aborted) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/**
 * The layer's logger for a one-off command, which says itself, once, that it
 * could not reach the layer: the layer's warnings (a server's "cannot reach the
 * channel layer host …; retrying", meant for servers that keep trying) are held
 * back instead of printed before that error, and the last one's reason is kept
 * for it. A command that logs debug lines logs them as they come.
 */
export function heldLayerWarnings(logger: Logger): {
  logger: Logger;
  reason: () => string | undefined;
} {
  if (logger.isLevelEnabled('debug')) return { logger, reason: () => undefined };
  let reason: string | undefined;
  const held = pino(
    { level: 'warn' },
    {
      write(line: string) {
        const record = JSON.parse(line) as { reason?: string; msg?: string };
        reason = record.reason ?? record.msg;
      },
    },
  );
  return { logger: held, reason: () => reason };
}
