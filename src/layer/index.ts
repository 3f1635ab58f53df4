import { InMemoryChannelLayer } from './memory.js';
import type { LayerOptions } from './options.js';
import { RedisChannelLayer } from './redis/layer.js';
import type { ChannelLayer } from './types.js';
import { parseLayerUrl } from './url.js';

/**
 * Makes a layer from a URL: `memory://` (in-process), `redis://host:port/db`,
 * several comma-separated `redis://` URLs (sharded), or `redis+sentinel://…`.
 * Options given here override those in the URL's query.
 */
export function createLayer(url: string, options: Partial<LayerOptions> = {}): ChannelLayer {
  const parsed = parseLayerUrl(url);
  const merged = { ...parsed.options, ...definedOnly(options) };
  if (parsed.kind === 'memory') return new InMemoryChannelLayer(merged);
  return new RedisChannelLayer({ ...merged, hosts: parsed.hosts });
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

export { InMemoryChannelLayer } from './memory.js';
export { RedisChannelLayer, type RedisLayerOptions } from './redis/layer.js';
export { LAYER_DEFAULTS, type LayerOptions } from './options.js';
export { consistentHash } from './hash.js';
export { parseLayerUrl, type RedisHostConfig } from './url.js';
export * from './errors.js';
export { assertMessage } from './message.js';
export { assertChannelName, assertGroupName } from './names.js';
export type * from './types.js';
