import { globToLuaPattern, globToRegExp } from '../glob.js';
import { InvalidChannelName, InvalidGroupName } from './errors.js';

/** The reserved message key that carries the full process-specific channel name(s). */
export const CHANNEL_KEY = '__asgi_channel__';

const CHANNEL_NAME = /^[a-zA-Z\d\-_.]+(![\d\w\-_.]*)?$/;
const GROUP_NAME = /^[a-zA-Z\d\-_.]+$/;
const MAX_NAME_LENGTH = 100;

export function assertChannelName(channel: unknown): asserts channel is string {
  if (typeof channel !== 'string') throw new InvalidChannelName(channel, 'not a string');
  if (channel.length >= MAX_NAME_LENGTH) {
    throw new InvalidChannelName(channel, `must be shorter than ${MAX_NAME_LENGTH} characters`);
  }
  if (!CHANNEL_NAME.test(channel)) {
    throw new InvalidChannelName(
      channel,
      'only ASCII letters, digits, "-", "_", "." and one "!" are allowed',
    );
  }
}

export function assertGroupName(group: unknown): asserts group is string {
  if (typeof group !== 'string') throw new InvalidGroupName(group, 'not a string');
  if (group.length >= MAX_NAME_LENGTH) {
    throw new InvalidGroupName(group, `must be shorter than ${MAX_NAME_LENGTH} characters`);
  }
  if (!GROUP_NAME.test(group)) {
    throw new InvalidGroupName(group, 'only ASCII letters, digits, "-", "_" and "." are allowed');
  }
}

export function isProcessSpecific(channel: string): boolean {
  return channel.includes('!');
}

/** Everything up to and including the first "!", or the whole name. */
export function nonLocalName(channel: string): string {
  const bang = channel.indexOf('!');
  return bang === -1 ? channel : channel.slice(0, bang + 1);
}

/** Whether `channel` is process-specific and its client part is `clientPrefix`. */
export function belongsTo(channel: string, clientPrefix: string): boolean {
  return nonLocalName(channel).endsWith(`.${clientPrefix}!`);
}

/** Resolves a channel's capacity from glob patterns (fnmatch's, as channels_redis), first match wins. */
export class CapacityTable {
  private readonly patterns: [RegExp, number][];
  private readonly cache = new Map<string, number>();
  /** The table for Lua: fallback, rule count, then each rule's Lua pattern and capacity. */
  readonly luaRules: readonly (string | number)[];

  constructor(
    private readonly fallback: number,
    /** Checked by resolveOptions. */
    entries: readonly [string, number][],
  ) {
    this.patterns = entries.map(([glob, capacity]) => [globToRegExp(glob), capacity]);
    this.luaRules = [
      fallback,
      entries.length,
      ...entries.flatMap(([glob, capacity]) => [globToLuaPattern(glob), capacity]),
    ];
  }

  of(channel: string): number {
    if (this.patterns.length === 0) return this.fallback;
    let capacity = this.cache.get(channel);
    if (capacity === undefined) {
      capacity = this.patterns.find(([re]) => re.test(channel))?.[1] ?? this.fallback;
      // Process-specific names are unbounded in number; cache only the stable ones.
      if (!isProcessSpecific(channel) && this.cache.size < 10_000)
        this.cache.set(channel, capacity);
    }
    return capacity;
  }
}
