import { redactSecrets } from '../redact.js';
import { whyNotUrl } from '../url-syntax.js';
import { InvalidLayerUrl } from './errors.js';
import type { LayerOptions } from './options.js';

/** How to reach one Redis server: a redis:// URL or a Sentinel-managed master. */
export type RedisHostConfig =
  | { kind: 'url'; url: string }
  | {
      kind: 'sentinel';
      sentinels: { host: string; port: number }[];
      masterName: string;
      db: number;
      password: string | undefined;
      label: string;
    };

export type ParsedLayerUrl =
  | { kind: 'memory'; options: Partial<LayerOptions> }
  | { kind: 'redis'; hosts: RedisHostConfig[]; options: Partial<LayerOptions> };

const NUMERIC_OPTIONS: Record<string, 'expiry' | 'groupExpiry' | 'capacity'> = {
  expiry: 'expiry',
  group_expiry: 'groupExpiry',
  capacity: 'capacity',
};

/**
 * Parses `memory://`, `redis://host:port/db` (or `rediss://`), several of those
 * separated by commas (sharding), and `redis+sentinel://h1:p1,h2:p2/master/db`.
 * Query parameters `prefix`, `expiry`, `group_expiry` and `capacity` set layer options.
 */
export function parseLayerUrl(input: string): ParsedLayerUrl {
  const text = input.trim();
  if (text === '') throw new InvalidLayerUrl(input, 'empty');
  const parts = splitUrls(text);
  const options: Partial<LayerOptions> = {};
  if (parts.length === 1 && parts[0]!.startsWith('memory:')) {
    readQuery(toUrl(parts[0]!, input), options, input);
    return { kind: 'memory', options };
  }
  const hosts = parts.map((part) => parseHost(part, options, input));
  return { kind: 'redis', hosts, options };
}

/** Splits on commas, keeping a Sentinel URL's host list together. */
function splitUrls(text: string): string[] {
  const parts: string[] = [];
  for (const piece of text.split(',')) {
    const trimmed = piece.trim();
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) || parts.length === 0) parts.push(trimmed);
    else parts[parts.length - 1] += `,${trimmed}`;
  }
  return parts;
}

/** `part` of `input` as a URL; if it is none, the error says why. */
function toUrl(part: string, input: string): URL {
  try {
    return new URL(part);
  } catch {
    // Of several URLs, which one; of one, the message shows it already.
    const which = part === input.trim() ? '' : `${JSON.stringify(part)}: `;
    throw new InvalidLayerUrl(input, `${which}${whyNotUrl(part)}`);
  }
}

function parseHost(part: string, options: Partial<LayerOptions>, input: string): RedisHostConfig {
  if (part.startsWith('redis+sentinel://')) return parseSentinel(part, options, input);
  const url = toUrl(part, input);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidLayerUrl(input, `unsupported scheme ${JSON.stringify(url.protocol)}`);
  }
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d+$/.test(url.pathname)) {
    throw new InvalidLayerUrl(
      input,
      `database must be a number, got ${JSON.stringify(url.pathname.slice(1))}`,
    );
  }
  readQuery(url, options, input);
  url.search = '';
  return { kind: 'url', url: url.toString() };
}

function parseSentinel(
  part: string,
  options: Partial<LayerOptions>,
  input: string,
): RedisHostConfig {
  const match =
    /^redis\+sentinel:\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/?]+)\/([^/?]+)(?:\/(\d+))?(\?.*)?$/.exec(
      part,
    );
  if (!match)
    throw new InvalidLayerUrl(
      input,
      'a Sentinel URL looks like redis+sentinel://host:26379,host2:26379/mymaster/0',
    );
  const [, password, hostList, masterName, db, query] = match;
  const sentinels = hostList!.split(',').map((entry) => {
    const [host, port] = entry.split(':');
    const portNumber = Number(port ?? 26379);
    // As a redis:// host: no space, a port that can be (ioredis would retry these forever).
    if (
      !host ||
      /\s/.test(host) ||
      !Number.isInteger(portNumber) ||
      portNumber < 1 ||
      portNumber > 65535
    )
      throw new InvalidLayerUrl(input, `bad sentinel address ${JSON.stringify(entry)}`);
    return { host, port: portNumber };
  });
  if (query) readQuery(new URL(`http://x/${query}`), options, input);
  return {
    kind: 'sentinel',
    sentinels,
    masterName: decodeURIComponent(masterName!),
    db: Number(db ?? 0),
    password: password ? decodeURIComponent(password) : undefined,
    label: `redis+sentinel://${hostList}/${masterName}`,
  };
}

function readQuery(url: URL, options: Partial<LayerOptions>, input: string): void {
  for (const [name, value] of url.searchParams) {
    if (name === 'prefix') {
      options.prefix = value;
      continue;
    }
    const option = NUMERIC_OPTIONS[name];
    if (!option) throw new InvalidLayerUrl(input, `unknown option ${JSON.stringify(name)}`);
    const number = Number(value);
    if (!Number.isFinite(number) || number <= 0) {
      throw new InvalidLayerUrl(
        input,
        `${name} must be a positive number, got ${JSON.stringify(value)}`,
      );
    }
    options[option] = number;
  }
}

/** The URL with any password replaced, for logs and health output. */
export function redactUrl(config: RedisHostConfig): string {
  return config.kind === 'sentinel' ? config.label : redactSecrets(config.url);
}
