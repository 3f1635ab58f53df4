import { createLayer, type LayerOptions } from '../layer/index.js';
import type { ChannelLayer } from '../layer/types.js';
import type { Logger } from '../logger.js';
import { EVENT_CHANNEL_CAPACITY } from '../settings.js';
import { CommandFailed } from './errors.js';

/** The layer every command uses: the URL's options plus the event channels' capacities. */
export function openLayer(
  url: string,
  logger: Logger,
  options: Partial<LayerOptions> = {},
): ChannelLayer {
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
