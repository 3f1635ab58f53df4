import { globToLuaPattern, globToRegExp } from '../glob.js';
import { InvalidChannelName, InvalidGroupName } from './errors.js';

/** The reserved message key that carries the full process-specific channel name(s). */
export const CHANNEL_KEY = '__asgi_channel__';

/**
 * channels' name patterns as Python's re reads them: "\d" is any Unicode
 * decimal digit (\p{Nd}), "\w" any letter or number or "_", and "$" also
 * matches before a final newline. A name a channels_redis process may use
 * (a group "salle-٣", a channel "x.abc!é") was refused here.
 */
const CHANNEL_NAME = /^[a-zA-Z\p{Nd}\-_.]+(![\p{Nd}\p{L}\p{N}_\-.]*)?\n?$/u;
const GROUP_NAME = /^[a-zA-Z\p{Nd}\-_.]+\n?$/u;
const MAX_NAME_LENGTH = 100;

/** Python's len(): code points, where .length counts a character beyond U+FFFF twice. */
function tooLong(name: string): boolean {
  return name.length >= MAX_NAME_LENGTH && [...name].length >= MAX_NAME_LENGTH;
}

export function assertChannelName(channel: unknown): asserts channel is string {
  if (typeof channel !== 'string') throw new InvalidChannelName(channel, 'not a string');
  if (tooLong(channel)) {
    throw new InvalidChannelName(channel, `must be shorter than ${MAX_NAME_LENGTH} characters`);
  }
  if (!CHANNEL_NAME.test(channel)) {
    throw new InvalidChannelName(
      channel,
      'only ASCII letters, digits, "-", "_", "." and one "!" are allowed (after the "!", any letter or number)',
    );
  }
}

export function assertGroupName(group: unknown): asserts group is string {
  if (typeof group !== 'string') throw new InvalidGroupName(group, 'not a string');
  if (tooLong(group)) {
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
  readonly luaRules: readonly (Buffer | number)[];

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
