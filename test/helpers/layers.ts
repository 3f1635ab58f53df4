import { randomBytes } from 'node:crypto';
import { createLayer, type ChannelLayer, type LayerOptions } from '../../src/index.js';
import { RedisServer, SHARED_REDIS_URL } from './redis-server.js';

/** A way to make layers that share one backend, for the contract suite. */
export interface LayerBackend {
  name: string;
  /** Whether two layers made by `make` can exchange messages (false for memory). */
  shared: boolean;
  url: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** Two layers made with the same prefix see the same channels (unless !shared). */
  make(options?: Partial<LayerOptions>): ChannelLayer;
}

/** A fresh prefix per test, so tests never see each other's keys. */
export function testPrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

export function memoryBackend(): LayerBackend {
  return {
    name: 'memory',
    shared: false,
    url: 'memory://',
    async setup() {},
    async teardown() {},
    make: (options) => createLayer('memory://', options),
  };
}

export function redisBackend(): LayerBackend {
  return {
    name: 'redis',
    shared: true,
    url: SHARED_REDIS_URL,
    async setup() {},
    async teardown() {},
    make: (options) => createLayer(SHARED_REDIS_URL, options),
  };
}

/** The shared Redis plus a private second server: sharding across two hosts. */
export function shardedBackend(): LayerBackend {
  let second: RedisServer | undefined;
  const backend: LayerBackend = {
    name: 'sharded',
    shared: true,
    url: '',
    async setup() {
      second = await RedisServer.start();
      backend.url = `${SHARED_REDIS_URL},${second.url}`;
    },
    async teardown() {
      await second?.stop();
    },
    make: (options) => createLayer(backend.url, options),
  };
  return backend;
}

export function allBackends(): LayerBackend[] {
  return [memoryBackend(), redisBackend(), shardedBackend()];
}
